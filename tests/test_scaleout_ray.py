"""The scale-out sweep on a local Ray cluster: the cells and bytes of a single-process run,
a worker killed mid-run, Ctrl-C, GPU placement, workers of a joined cluster.

Apart from tests/test_scaleout.py (shards in processes), which it takes its suite and reference
run from, so that the two modules run side by side in two test workers; the reference run is
made once per test run, by whichever gets to it first. Every process here runs one torch thread,
as a Ray worker with num_cpus=1 does (see tests/test_scaleout.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest
from test_scaleout import BIGGAN_CELLS, ENV, PLANNED, SD_CELLS, check_files, command, made, reference_run, write_suite

from bench import store
from bench.config import load_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    return write_suite(tmp_path_factory)


@pytest.fixture(scope="module")
def single(suite_file):
    """cell_id -> image sha256 of the reference run (shared with tests/test_scaleout.py)."""
    return made(reference_run(suite_file) / "data")


def ray_cluster(**resources):
    """A local Ray cluster of these resources, shared by the tests that ask for the same ones:
    bench joins a running cluster as it joins one `ray start` made, and each start costs
    seconds. One of other resources replaces it; the module's last test stops it (ray_stopped)."""
    import logging

    import ray

    if ray.is_initialized() and _RAY.get("resources") == resources:
        return ray
    ray.shutdown()
    ray.init(include_dashboard=False, logging_level=logging.WARNING, **resources)
    _RAY["resources"] = resources
    return ray


_RAY: dict = {}


@pytest.fixture(scope="module", autouse=True)
def ray_stopped():
    yield
    if "ray" in sys.modules:
        sys.modules["ray"].shutdown()
    _RAY.clear()


@pytest.fixture
def cpu_cluster():
    """Two CPUs and no GPU: each sweep's workers hold one CPU each, as on a laptop."""
    return ray_cluster(num_cpus=2)


@pytest.fixture(scope="module")
def ray_run(suite_file, single, tmp_path_factory):
    """The suite made by a local Ray cluster's two workers, one of which is killed with kill -9
    mid-run (after the first unit is saved, one that has a unit in hand): what both tests below
    check, from one sweep."""
    from bench import ray_driver

    killed = []

    def kill_one(done, cluster, inflight):
        if killed or not inflight:
            return
        _, seat = next(iter(inflight.values()))
        pid = cluster.ray.get(seat.actor.where.remote())["pid"]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    ray_cluster(num_cpus=2)
    root = tmp_path_factory.mktemp("ray")
    report = ray_driver.run(
        load_suite(str(suite_file)), root / "data", root / "images", workers=2, unit_cells=2, on_result=kill_one
    )
    return SimpleNamespace(report=report, killed=killed, data=root / "data", images=root / "images")


def test_a_local_ray_cluster_makes_the_same_cells_and_bytes(ray_run, suite_file, single, cpu_cluster):
    from bench import ray_driver

    report, data, images = ray_run.report, ray_run.data, ray_run.images
    assert report.ok == PLANNED and report.failed == 0
    assert made(data) == single
    check_files(images, single, data)
    runs = store.read(data, "runs")
    assert runs.loc[0, "workers"] == 2 and runs.loc[0, "images_ok"] == PLANNED
    assert len(store.read(data, "scores")) == PLANNED
    again = ray_driver.run(load_suite(str(suite_file)), data, images, workers=1)
    assert again.skipped_done == PLANNED and again.ok == 0  # resume: nothing left to do


def test_a_ray_worker_killed_mid_run_loses_and_duplicates_nothing(ray_run, single):
    assert ray_run.killed and ray_run.report.ok == PLANNED and ray_run.report.failed == 0
    assert made(ray_run.data) == single
    check_files(ray_run.images, single, ray_run.data)


def test_workers_of_a_joined_cluster_get_the_driver_s_cache_and_offline_switch_not_its_token(
    tmp_path, monkeypatch, caplog, cpu_cluster
):
    """A cluster made by `ray start` gives its workers that command's environment: the driver's
    HF_HUB_OFFLINE and BENCH_CACHE (set after the cluster started, as on a real one) must be sent."""
    import logging

    from bench.ray_cluster import Cluster, forwarded_env

    ray = cpu_cluster  # the "ray start": running before the settings below are made
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "shared-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    with caplog.at_level(logging.INFO, logger="bench.ray_cluster"):
        cluster = Cluster(None, workers=1)  # joins the running cluster
    try:
        seat = cluster.first()
        where = ray.get(seat.actor.where.remote())
        assert where["cache"] == str(tmp_path / "shared-cache") and where["hf_offline"] == "1"
        assert "HF_TOKEN" not in forwarded_env() and "set HF_TOKEN where `ray start` runs" in caplog.text
    finally:
        cluster.close()


def test_a_cuda_suite_asks_for_gpu_workers_of_a_cluster_that_has_none_yet(caplog, cpu_cluster):
    """An autoscaling cluster starts with no GPU node: a sweep that wants CUDA must ask for GPUs
    (so the autoscaler adds nodes), not settle for CPU workers."""
    import logging

    from bench.ray_cluster import Cluster

    with caplog.at_level(logging.WARNING, logger="bench.ray_cluster"):
        wanted = Cluster(None, workers=None, gpus_wanted=True)
    try:
        assert wanted.options["num_gpus"] == 1 and wanted.count == 1 and not wanted.poll(timeout_s=1.0)
        assert "1 Ray workers asked for, room for 0 now (each holds one GPU)" in caplog.text
    finally:
        wanted.close()
    plain = Cluster(None, workers=1)
    plain.close()
    assert "num_gpus" not in plain.options  # device auto: the CPUs it has


def test_missing_weights_on_the_workers_stop_a_ray_sweep_with_their_own_error(tmp_path, monkeypatch, cpu_cluster):
    from bench import ray_driver
    from bench.errors import WeightsMissing

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))  # the workers are sent it: no sd15 there
    suite = load_suite("tiny", {"models": "sd15", "schedulers": "ddim", "backends": "pytorch"})
    with pytest.raises(WeightsMissing, match="sd15"):
        ray_driver.run(suite, tmp_path / "data", tmp_path / "images", workers=1)
    assert not (tmp_path / "data" / "generations").exists()


def test_ctrl_c_stops_the_cluster_and_keeps_what_finished(suite_file, single, tmp_path, cpu_cluster):
    import time

    # One worker and two of the models: three units of 6 cells (one per model and scheduler, see
    # ray_driver.units_of), made in turn. The stop comes once the first is saved, with two still
    # to make (one of them BigGAN's, to load first). What is shown needs no more, and each worker
    # and model is a start paid twice (the stopped run and the resume).
    cmd = [*command(suite_file, tmp_path), "--ray", "--workers", "1", "--models", "tiny-sd,tiny-biggan"]
    planned = SD_CELLS + BIGGAN_CELLS
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "data" / "generations").glob("*.parquet")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command to resume" in err
    kept = made(tmp_path / "data")
    assert 0 < len(kept) < planned and kept.items() <= single.items()
    check_files(tmp_path / "images", kept, tmp_path / "data")
    assert store.read(tmp_path / "data", "runs")["images_ok"].sum() == len(kept)
    # the same command resumes: only what is missing is made. It runs here, where a cluster is
    # already up, which it joins as `--ray` joins one that `ray start` made (a second start of
    # a local cluster in a second process would only repeat what the first half showed).
    from bench.cli import main

    assert main(cmd[3:]) == 0
    resumed = made(tmp_path / "data")
    assert len(resumed) == planned and resumed.items() <= single.items()


# Last: its cluster has GPUs, and the tests above share one without (ray_cluster).
def test_on_gpus_each_worker_holds_its_own_and_one_that_cannot_be_placed_does_not_stall_the_sweep(
    suite_file, single, tmp_path, caplog
):
    import logging
    import threading

    from bench import ray_driver
    from bench.interrupts import stop_on_signals

    # GPUs are Ray's bookkeeping: two logical ones place workers as two real ones would (the
    # workers then run on the CPU). Three workers asked for, room for two: before, the units
    # handed to the third waited for a GPU forever and the sweep never ended.
    ray_cluster(num_cpus=2, num_gpus=2)
    seen = {}

    def watch(done, cluster, inflight):
        for seat in cluster.seats:
            if seat.started:
                seen[seat.name] = cluster.ray.get(seat.actor.where.remote())

    hang = threading.Timer(300, os.kill, (os.getpid(), signal.SIGTERM))
    hang.start()
    # tiny-sd's cells alone (12, six units): enough to keep both workers busy
    suite = load_suite(str(suite_file), {"models": ["tiny-sd"]})
    try:
        with stop_on_signals(), caplog.at_level(logging.WARNING, logger="bench.ray_cluster"):
            report = ray_driver.run(
                suite, tmp_path / "data", tmp_path / "images", workers=3, unit_cells=2, score=False, on_result=watch
            )
    except KeyboardInterrupt:
        pytest.fail("the sweep was still running after 300 s")
    finally:
        hang.cancel()
    assert report.ok == SD_CELLS and report.failed == 0
    hashes = made(tmp_path / "data")
    assert len(hashes) == SD_CELLS and hashes.items() <= single.items()
    assert sorted(w["gpus"] for w in seen.values()) == ["0", "1"]  # one GPU each, none shared
    assert "3 Ray workers asked for, room for 2 now (each holds one GPU)" in caplog.text
