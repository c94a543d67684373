"""One sweep over many processes: shards at once into one data dir, and a local Ray cluster,
each giving exactly the cells and the bytes of a single-process run.

On a CPU, torch's intra-op thread count changes the last bits of some images (a reduction split
differently), so every process here runs one thread, as a Ray worker with num_cpus=1 does.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench import store
from bench.config import load_suite

pytestmark = pytest.mark.slow
SUITE = (
    'name = "scaleout"\nmodels = ["tiny-sd", "tiny-sdxl", "tiny-biggan"]\nschedulers = ["euler", "ddim"]\n'
    'backends = ["pytorch"]\nseeds = "0-1"\nbatch_size = 2\nmetrics = ["clip_tiny"]\n'
    '[[prompts]]\nid = "a"\ntext = "a red cube"\n[[prompts]]\nid = "b"\ntext = "a blue ball on grass"\n'
    '[[prompts]]\nid = "c"\ntext = "a lighthouse at dusk"\n'
)
PLANNED = 2 * (2 * 3 * 2) + 3 * 2  # tiny-sd, tiny-sdxl: schedulers x prompts x seeds; BigGAN: prompts x seeds


def made(data) -> dict[str, str]:
    """cell_id -> sha256 of its image, checked against the file on disk."""
    gen = store.read(data, "generations")
    assert gen["cell_id"].is_unique and (gen["status"] == "ok").all()
    return dict(zip(gen["cell_id"], gen["image_sha256"], strict=True))


def check_files(images, hashes: dict[str, str], data) -> None:
    gen = store.read(data, "generations")
    for row in gen.itertuples():
        assert hashlib.sha256((images / row.image_path).read_bytes()).hexdigest() == row.image_sha256


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("suite") / "scaleout.toml"
    path.write_text(SUITE)
    return path


def command(suite_file, root) -> list[str]:
    return [sys.executable, "-m", "bench.cli", "run", "--suite", str(suite_file), "--data-dir", str(root / "data"),
            "--images-dir", str(root / "images")]  # fmt: skip


# One thread per process; no launcher variables from the environment the tests run in.
ENV = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")} | {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def single_root(suite_file, tmp_path_factory):
    """The reference: the same suite made by one process."""
    root = tmp_path_factory.mktemp("single")
    proc = subprocess.run(command(suite_file, root), env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture(scope="module")
def single(single_root):
    """cell_id -> image sha256 of the reference run."""
    hashes = made(single_root / "data")
    assert len(hashes) == PLANNED
    return hashes


def test_three_shards_at_once_make_the_single_runs_cells_and_bytes(suite_file, single, tmp_path):
    data, images = tmp_path / "data", tmp_path / "images"
    cmd = command(suite_file, tmp_path)
    # Two shards by flag, the third as torchrun would start it (RANK / WORLD_SIZE).
    out = dict(stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    procs = [
        subprocess.Popen([*cmd, "--shard", "0/3"], env=ENV, **out),
        subprocess.Popen([*cmd, "--shard", "1/3"], env=ENV, **out),
        subprocess.Popen(
            cmd,
            env=ENV | {"RANK": "2", "WORLD_SIZE": "3", "BENCH_LAUNCH_ID": "job7"},
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        ),
    ]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errs
    assert made(data) == single  # the same cells, byte-identical images
    check_files(images, single, data)
    runs = store.read(data, "runs")
    assert sorted(runs["shard"]) == ["0/3", "1/3", "2/3"] and runs["images_ok"].sum() == PLANNED
    assert runs.loc[runs["shard"] == "2/3", "launch_id"].tolist() == ["bench_launch_id:job7"]
    scores = store.read(data, "scores")
    assert len(scores) == PLANNED and scores["cell_id"].is_unique  # each shard scored its own


def test_a_local_ray_cluster_makes_the_same_cells_and_bytes(suite_file, single, tmp_path):
    from bench import ray_driver

    data, images = tmp_path / "data", tmp_path / "images"
    report = ray_driver.run(load_suite(str(suite_file)), data, images, workers=2, unit_cells=2)
    assert report.ok == PLANNED and report.failed == 0
    assert made(data) == single
    check_files(images, single, data)
    runs = store.read(data, "runs")
    assert runs.loc[0, "workers"] == 2 and runs.loc[0, "images_ok"] == PLANNED
    assert len(store.read(data, "scores")) == PLANNED
    again = ray_driver.run(load_suite(str(suite_file)), data, images, workers=1)
    assert again.skipped_done == PLANNED and again.ok == 0  # resume: nothing left to do


def test_a_ray_worker_killed_mid_run_loses_and_duplicates_nothing(suite_file, single, tmp_path):
    from bench import ray_driver

    killed = []

    def kill_one(done, cluster, inflight):
        # After the first unit is saved, kill -9 a worker that has a unit in hand.
        if killed or not inflight:
            return
        _, seat = next(iter(inflight.values()))
        pid = cluster.ray.get(seat.actor.where.remote())["pid"]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    data, images = tmp_path / "data", tmp_path / "images"
    report = ray_driver.run(
        load_suite(str(suite_file)), data, images, workers=2, unit_cells=2, score=False, on_result=kill_one
    )
    assert killed and report.ok == PLANNED and report.failed == 0
    assert made(data) == single
    check_files(images, single, data)


def test_on_gpus_each_worker_holds_its_own_and_one_that_cannot_be_placed_does_not_stall_the_sweep(
    suite_file, single, tmp_path, caplog
):
    import logging
    import threading

    import ray

    from bench import ray_driver
    from bench.interrupts import stop_on_signals

    # GPUs are Ray's bookkeeping: two logical ones place workers as two real ones would (the
    # workers then run on the CPU). Three workers asked for, room for two: before, the units
    # handed to the third waited for a GPU forever and the sweep never ended.
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, logging_level=logging.WARNING)
    seen = {}

    def watch(done, cluster, inflight):
        for seat in cluster.seats:
            if seat.started:
                seen[seat.name] = cluster.ray.get(seat.actor.where.remote())

    hang = threading.Timer(300, os.kill, (os.getpid(), signal.SIGTERM))
    hang.start()
    try:
        with stop_on_signals(), caplog.at_level(logging.WARNING, logger="bench.ray_cluster"):
            report = ray_driver.run(
                load_suite(str(suite_file)), tmp_path / "data", tmp_path / "images", workers=3, unit_cells=2,
                score=False, on_result=watch,
            )  # fmt: skip
    except KeyboardInterrupt:
        pytest.fail("the sweep was still running after 300 s")
    finally:
        hang.cancel()
        ray.shutdown()
    assert report.ok == PLANNED and report.failed == 0
    assert made(tmp_path / "data") == single
    assert sorted(w["gpus"] for w in seen.values()) == ["0", "1"]  # one GPU each, none shared
    assert "3 Ray workers asked for, room for 2 now (each holds one GPU)" in caplog.text


def test_workers_of_a_joined_cluster_get_the_driver_s_cache_and_offline_switch_not_its_token(
    tmp_path, monkeypatch, caplog
):
    """A cluster made by `ray start` gives its workers that command's environment: the driver's
    HF_HUB_OFFLINE and BENCH_CACHE (set after the cluster started, as on a real one) must be sent."""
    import logging

    import ray

    from bench.ray_cluster import Cluster, forwarded_env

    ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.WARNING)  # the "ray start"
    try:
        monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "shared-cache"))
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HF_TOKEN", "hf_secret")
        with caplog.at_level(logging.INFO, logger="bench.ray_cluster"):
            cluster = Cluster(None, workers=1)  # joins the running cluster
        seat = cluster.first()
        where = ray.get(seat.actor.where.remote())
        assert where["cache"] == str(tmp_path / "shared-cache") and where["hf_offline"] == "1"
        assert "HF_TOKEN" not in forwarded_env() and "set HF_TOKEN where `ray start` runs" in caplog.text
        cluster.close()
    finally:
        ray.shutdown()


def test_a_sweep_waiting_for_replacement_workers_says_so(monkeypatch, caplog):
    """Every worker dead and their replacements not placed (their node gone): the driver used to
    poll in silence for ever. Ray is faked: the replacement starts on the fourth poll."""
    import logging
    from types import SimpleNamespace

    from bench import ray_cluster

    seat = ray_cluster.Seat(actor=None, name="w3")
    polls = []

    def wait(refs, num_returns, timeout):
        polls.append(refs)
        return (refs if len(polls) == 4 else []), []

    cluster = object.__new__(ray_cluster.Cluster)
    cluster.ray = SimpleNamespace(wait=wait, get=lambda ref: {"pid": 1}, available_resources=lambda: {"CPU": 2.0})
    cluster.starting, cluster.seats, cluster.holds = {"ref": seat}, [seat], "one GPU"
    monkeypatch.setattr(ray_cluster, "WAIT_WARN_S", 0.0)
    with caplog.at_level(logging.WARNING, logger="bench.ray_cluster"):
        assert cluster.wait_started() == [seat] and seat.started
    assert len(polls) == 4 and caplog.text.count("no Ray worker has started in 0 s: each needs one GPU") == 1


@pytest.mark.parametrize("device, kept", [("cpu", 2), ("cuda", 1)])
def test_a_worker_on_a_gpu_keeps_one_model_so_peak_memory_is_that_model_s(monkeypatch, device, kept):
    from dataclasses import replace
    from types import SimpleNamespace

    from bench import ray_worker
    from bench.plan import make_plan

    closed = []
    monkeypatch.setattr(ray_worker, "preflight", lambda *args: None)  # the models are stand-ins
    monkeypatch.setattr(
        ray_worker.Loaded,
        "of",
        lambda spec, cell: SimpleNamespace(group=cell.group, close=lambda: closed.append(cell.group)),
    )
    plan = make_plan(load_suite("tiny", {"backends": "pytorch"}), Path("no-data"))
    firsts = list({c.group: c for c in plan.cells}.values())[:3]  # three models
    worker = ray_worker.Worker(keep_models=2)
    for cell in firsts:
        worker._model(plan.specs[cell.model], replace(cell, runtime=replace(cell.runtime, device=device)))
    assert len(worker.loaded) == kept and closed == [c.group for c in firsts][: 3 - kept]


def test_a_cuda_suite_asks_for_gpu_workers_of_a_cluster_that_has_none_yet(caplog):
    """An autoscaling cluster starts with no GPU node: a sweep that wants CUDA must ask for GPUs
    (so the autoscaler adds nodes), not settle for CPU workers."""
    import logging

    import ray

    from bench.ray_cluster import Cluster

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        with caplog.at_level(logging.WARNING, logger="bench.ray_cluster"):
            wanted = Cluster(None, workers=None, gpus_wanted=True)
        assert wanted.options["num_gpus"] == 1 and wanted.count == 1 and not wanted.poll(timeout_s=1.0)
        assert "1 Ray workers asked for, room for 0 now (each holds one GPU)" in caplog.text
        wanted.close()
        assert "num_gpus" not in Cluster(None, workers=1).options  # device auto: the CPUs it has
    finally:
        ray.shutdown()


def test_missing_weights_on_the_workers_stop_a_ray_sweep_with_their_own_error(tmp_path, monkeypatch):
    from bench import ray_driver
    from bench.errors import WeightsMissing

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))  # the workers inherit it: no sd15 there
    suite = load_suite("tiny", {"models": "sd15", "schedulers": "ddim", "backends": "pytorch"})
    with pytest.raises(WeightsMissing, match="sd15"):
        ray_driver.run(suite, tmp_path / "data", tmp_path / "images", workers=1)
    assert not (tmp_path / "data" / "generations").exists()


def test_a_worker_without_the_weights_raises_instead_of_failing_every_cell(tmp_path, monkeypatch):
    """The driver checks the weights on its first worker only; a node that lacks them must stop
    the sweep with that error (the driver names its host), not fail each unit it is handed."""
    from bench import ray_worker
    from bench.errors import WeightsMissing
    from bench.plan import make_plan

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    suite = load_suite("tiny", {"models": "sd15", "schedulers": "ddim", "backends": "pytorch"})
    cells = make_plan(suite, tmp_path / "data").todo[:2]
    with pytest.raises(WeightsMissing, match="sd15"):
        ray_worker.Worker().make(cells, suite.model_spec("sd15"), 2, "run")


def test_ctrl_c_stops_the_cluster_and_keeps_what_finished(suite_file, single, tmp_path):
    import time

    cmd = [*command(suite_file, tmp_path), "--ray", "--workers", "2"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((tmp_path / "data" / "generations").glob("*.parquet"))) < 2:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command to resume" in err
    kept = made(tmp_path / "data")
    assert 0 < len(kept) < PLANNED and all(single[cid] == sha for cid, sha in kept.items())
    check_files(tmp_path / "images", kept, tmp_path / "data")
    assert store.read(tmp_path / "data", "runs")["images_ok"].sum() == len(kept)
    # the same command resumes: only what is missing is made
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert made(tmp_path / "data") == single


def test_scoring_in_shards_scores_each_image_once(single_root, tmp_path):
    import shutil

    from bench.cli import main

    shutil.copytree(single_root, tmp_path, dirs_exist_ok=True)
    shutil.rmtree(tmp_path / "data" / "scores")
    args = [
        "score",
        "--metrics",
        "clip_tiny",
        "--data-dir",
        str(tmp_path / "data"),
        "--images-dir",
        str(tmp_path / "images"),
    ]
    assert main([*args, "--shard", "0/2"]) == 0
    first = store.read(tmp_path / "data", "scores")
    assert 0 < len(first) < PLANNED
    assert main([*args, "--shard", "1/2"]) == 0
    scores = store.read(tmp_path / "data", "scores")
    assert len(scores) == PLANNED and set(first["cell_id"]) < set(scores["cell_id"])
