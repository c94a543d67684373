"""One sweep over many processes: shards at once into one data dir (and, in
tests/test_scaleout_ray.py, a local Ray cluster), each giving exactly the cells and the bytes
of a single-process run.

On a CPU, torch's intra-op thread count changes the last bits of some images (a reduction split
differently), so every process here runs one thread, as a Ray worker with num_cpus=1 does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from preloaded import BENCH

from bench import store
from bench.config import load_suite

pytestmark = pytest.mark.slow
SUITE = (
    'name = "scaleout"\nmodels = ["tiny-sd", "tiny-sdxl", "tiny-biggan"]\nschedulers = ["euler", "ddim"]\n'
    'backends = ["pytorch"]\nseeds = "0-1"\nbatch_size = 2\nmetrics = ["clip_tiny"]\n'
    '[[prompts]]\nid = "a"\ntext = "a red cube"\n[[prompts]]\nid = "b"\ntext = "a blue ball on grass"\n'
    '[[prompts]]\nid = "c"\ntext = "a lighthouse at dusk"\n'
)
SD_CELLS = 2 * 3 * 2  # tiny-sd (as tiny-sdxl): schedulers x prompts x seeds
BIGGAN_CELLS = 3 * 2  # prompts x seeds
PLANNED = 2 * SD_CELLS + BIGGAN_CELLS


def made(data) -> dict[str, str]:
    """cell_id -> sha256 of its image, checked against the file on disk."""
    gen = store.read(data, "generations")
    assert gen["cell_id"].is_unique and (gen["status"] == "ok").all()
    return dict(zip(gen["cell_id"], gen["image_sha256"], strict=True))


def check_files(images, hashes: dict[str, str], data) -> None:
    gen = store.read(data, "generations")
    for row in gen.itertuples():
        assert hashlib.sha256((images / row.image_path).read_bytes()).hexdigest() == row.image_sha256


def write_suite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "scaleout.toml"
    path.write_text(SUITE)
    return path


def reference_run(suite_file) -> Path:
    """The reference: the same suite made by one process, on one thread (as the processes the
    tests start run). Made once per test run and kept in the run's folder: this module and
    tests/test_scaleout_ray.py both read it, from whichever test workers they run in; the first
    to get here makes it in-process (which spares a process start and its imports), under a lock
    the other waits on. Readers copy it before they change anything."""
    from filelock import FileLock

    from bench import sweep

    root = Path(os.environ["BENCH_TEST_RUN_DIR"]) / "scaleout-reference"
    with FileLock(f"{root}.lock"):
        if not (root / "done").exists():
            shutil.rmtree(root, ignore_errors=True)  # a run stopped half-way
            with one_thread():
                report = sweep.run(load_suite(str(suite_file)), root / "data", root / "images")
            assert report.failed == 0
            (root / "done").touch()
    hashes = made(root / "data")
    assert len(hashes) == PLANNED
    return root


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    return write_suite(tmp_path_factory)


def command(suite_file, root) -> list[str]:
    return [sys.executable, "-m", "bench.cli", "run", "--suite", str(suite_file), "--data-dir", str(root / "data"),
            "--images-dir", str(root / "images")]  # fmt: skip


# One thread per process; no launcher variables from the environment the tests run in.
ENV = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")} | {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def single_root(suite_file):
    return reference_run(suite_file)


@contextmanager
def one_thread():
    """torch in this process on one thread, as in the processes the tests start."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def single(single_root):
    """cell_id -> image sha256 of the reference run."""
    hashes = made(single_root / "data")
    assert len(hashes) == PLANNED
    return hashes


def test_three_shards_at_once_make_the_single_runs_cells_and_bytes(suite_file, single, tmp_path):
    from bench.cli import main

    data, images = tmp_path / "data", tmp_path / "images"
    cmd = command(suite_file, tmp_path)
    # Two shards by flag (one of them this process), the third as torchrun would start it
    # (RANK / WORLD_SIZE).
    out = dict(stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    # (forked from an interpreter that has imported torch and diffusers: tests/preloaded.py; the
    # launcher's variables are read when the sweep plans, not at import)
    launcher = {"RANK": "2", "WORLD_SIZE": "3", "BENCH_LAUNCH_ID": "job7"}
    procs = [
        BENCH.popen([*cmd, "--shard", "1/3"], env=ENV, **out),
        BENCH.popen(cmd, env=ENV | launcher, run_time_env=tuple(launcher), **out),
    ]
    with one_thread():
        here = main([*cmd[3:], "--shard", "0/3"])
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [here] + [p.returncode for p in procs] == [0, 0, 0], errs
    assert made(data) == single  # the same cells, byte-identical images
    check_files(images, single, data)
    runs = store.read(data, "runs")
    assert sorted(runs["shard"]) == ["0/3", "1/3", "2/3"] and runs["images_ok"].sum() == PLANNED
    assert runs.loc[runs["shard"] == "2/3", "launch_id"].tolist() == ["bench_launch_id:job7"]
    scores = store.read(data, "scores")
    assert len(scores) == PLANNED and scores["cell_id"].is_unique  # each shard scored its own


def test_a_sweep_waiting_for_replacement_workers_says_so(monkeypatch, caplog):
    """Every worker dead and their replacements not placed (their node gone): the driver used to
    poll in silence for ever. Ray is faked: the replacement starts on the fourth poll."""
    import logging

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


def test_scoring_in_shards_scores_each_image_once(single_root, tmp_path):
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
