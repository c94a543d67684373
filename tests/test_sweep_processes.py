"""Sweeps in processes of their own, stopped or crowded: kill -9 then resume, the stop signals,
two sweeps on one data dir, a full disk. Each test starts its own `bench run` (forked from an
interpreter that has imported torch and diffusers: tests/preloaded.py), so they share no
fixture and run in whichever test worker is free."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from preloaded import BENCH

from bench import store
from bench.cli import EXIT_CODES, main
from bench.errors import StorageError

pytestmark = pytest.mark.slow


def saved_batches(data, count: int, proc, timeout_s: float = 180) -> None:
    """Wait until the sweep in `proc` has saved `count` batches (the background writer appends
    one part file per batch, after its images), so a kill lands mid-sweep, never by the clock."""
    deadline = time.monotonic() + timeout_s
    while len(list((data / "generations").glob("*.parquet"))) < count:
        assert proc.poll() is None, "the sweep ended before it had saved the batches waited for"
        assert time.monotonic() < deadline, f"the sweep saved fewer than {count} batches in {timeout_s} s"
        time.sleep(0.02)


def test_kill_mid_sweep_then_resume_loses_and_duplicates_nothing(tmp_path):
    suite_path = tmp_path / "kill.toml"
    suite_path.write_text(
        'name = "kill"\nmodels = ["tiny-sd"]\nschedulers = ["euler", "ddim", "unipc"]\n'
        'seeds = "0-3"\nbatch_size = 2\nsteps = 2\nmetrics = ["clip_tiny"]\n'
        '[[prompts]]\nid = "a"\ntext = "a red cube"\n[[prompts]]\nid = "b"\ntext = "a blue ball"\n'
    )
    data, images = tmp_path / "data", tmp_path / "images"
    cmd = [
        sys.executable,
        "-m",
        "bench.cli",
        "run",
        "--suite",
        str(suite_path),
        "--data-dir",
        str(data),
        "--images-dir",
        str(images),
    ]
    proc = BENCH.popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # killed as soon as the writer has saved two batches, with ten more to make
    saved_batches(data, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts = list((data / "generations").glob("*.parquet"))
    assert parts, "the sweep wrote nothing before the kill"
    for part in parts:  # every file on disk is whole
        pq.read_table(part)
    done_before = set(store.read(data, "generations")["cell_id"])
    planned = 3 * 2 * 4
    assert 0 < len(done_before) < planned
    # the background writer appends a row only after its image is whole on disk
    for row in store.read(data, "generations").itertuples():
        assert hashlib.sha256((images / row.image_path).read_bytes()).hexdigest() == row.image_sha256

    from bench.cli import main

    assert main(cmd[3:]) == 0
    gen = store.read(data, "generations")
    resumed = gen[gen["run_id"] != gen.loc[gen["cell_id"].isin(done_before), "run_id"].iloc[0]]
    assert len(gen) == planned and gen["cell_id"].is_unique
    assert set(resumed["cell_id"]).isdisjoint(done_before) and len(resumed) == planned - len(done_before)
    assert (gen["status"] == "ok").all()
    assert len(store.read(data, "scores")) == planned


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_keeps_finished_batches_and_says_how_to_resume(tmp_path, signum):
    """Ctrl-C, and what timeout, Slurm and Kubernetes (SIGTERM) or a closed terminal (SIGHUP)
    send: the same clean stop, exit 128 + the signal, the run's record written."""
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "bench.cli", "run", "--suite", "tiny", "--models", "tiny-sd", "--backends",
           "pytorch", "--seeds", "0-5", "--batch-size", "1", "--data-dir", str(data), "--images-dir",
           str(tmp_path / "images")]  # fmt: skip
    proc = BENCH.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    saved_batches(data, 2, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "run the same command to resume" in err and "Traceback" not in err
    kept = store.read(data, "generations")
    assert len(kept) >= 2 and (kept["status"] == "ok").all()
    assert len(store.read(data, "runs")) == 1  # the run's record is written on the way out


def test_two_sweeps_on_one_data_dir_make_each_cell_once(tmp_path):
    """Two processes run the same sweep at once: each (model, backend) group is claimed by
    one of them; the other makes its other groups, then finds the claimed one done."""
    cmd = [sys.executable, "-m", "bench.cli", "run", "--suite", "tiny", "--models", "tiny-sd,tiny-biggan",
           "--schedulers", "ddim", "--backends", "pytorch", "--seeds", "0-3", "--data-dir", str(tmp_path / "data"),
           "--images-dir", str(tmp_path / "images")]  # fmt: skip
    # The second sweep is this process, started once the other has saved its first batch: it
    # finds tiny-sd claimed, and the rest of the race (who makes tiny-biggan) is theirs.
    other = BENCH.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    saved_batches(tmp_path / "data", 1, other)
    assert main(cmd[3:]) == 0
    _, err = other.communicate(timeout=300)
    assert other.returncode == 0, err
    gens = store.read(tmp_path / "data", "generations")
    made = sum(r for r in store.read(tmp_path / "data", "runs")["images_ok"])
    assert len(gens) == made == 2 * 4 * 2  # models x seeds x prompts, each made once, counted once


def test_a_full_disk_stops_the_sweep_with_one_line_and_keeps_what_was_saved(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(images)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        cmd = [sys.executable, "-m", "bench.cli", "run", "--suite", "tiny", "--models", "tiny-sd", "--backends",
               "pytorch", "--schedulers", "ddim", "--seeds", "0-15", "--data-dir", str(tmp_path / "data"),
               "--images-dir", str(images)]  # fmt: skip
        out = BENCH.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["umount", str(images)], check=False)
    assert out.returncode == EXIT_CODES[StorageError], out.stderr
    assert "No space left on device" in out.stderr and "Traceback" not in out.stderr
    kept = store.read(tmp_path / "data", "generations")
    assert len(kept) and (kept["status"] == "ok").all() and len(store.read(tmp_path / "data", "runs")) == 1
