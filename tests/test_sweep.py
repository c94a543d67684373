"""The sweep end to end on tiny models: images, timings, scores, resume, failures."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from bench import store, sweep
from bench.backends.base import Request
from bench.cli import EXIT_CODES, main
from bench.config import load_suite
from bench.errors import ConfigError, StorageError, WeightsError, WeightsMissing
from bench.metrics import written
from bench.schedulers import SCHEDULERS

pytestmark = pytest.mark.slow
REQUEST = Request(
    prompt="a red cube", negative_prompt="", seeds=(0, 1), steps=2, guidance_scale=7.5, width=64, height=64
)


@pytest.fixture(scope="module")
def tiny_sd():
    from bench.backends.pytorch import DiffusersBackend

    suite = load_suite("tiny", {"models": "tiny-sd"})
    backend = DiffusersBackend(suite.model_spec("tiny-sd"), DiffusersBackend.resolve(suite.runtime))
    backend.load()
    yield backend
    backend.close()


def pixels(result) -> list[np.ndarray]:
    return [np.asarray(g.image) for g in result.images]


def test_same_seed_same_pixels_other_seed_other_pixels(tiny_sd):
    tiny_sd.set_scheduler("euler-a")  # ancestral: noise at every step comes from the generators
    first, again = pixels(tiny_sd.generate(REQUEST)), pixels(tiny_sd.generate(REQUEST))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])


def test_batched_seed_matches_the_same_seed_alone(tiny_sd):
    tiny_sd.set_scheduler("ddim")
    batched = pixels(tiny_sd.generate(REQUEST))[1]
    alone = pixels(tiny_sd.generate(Request(**{**REQUEST.__dict__, "seeds": (1,)})))[0]
    assert np.abs(batched.astype(int) - alone.astype(int)).max() <= 1


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_every_scheduler_swaps_in_and_runs(tiny_sd, name):
    tiny_sd.set_scheduler("dpmpp-2m-karras")
    tiny_sd.set_scheduler(name)
    scheduler = tiny_sd.pipe.scheduler
    assert type(scheduler).__name__ == SCHEDULERS[name].class_name
    # options of the previous scheduler never leak into the next one
    assert scheduler.config.get("use_karras_sigmas", False) == SCHEDULERS[name].overrides.get(
        "use_karras_sigmas", False
    )
    result = tiny_sd.generate(Request(**{**REQUEST.__dict__, "seeds": (0,)}))
    assert result.images[0].status == "ok" and result.images[0].image.size == (64, 64)
    assert result.step_ms_p50 is not None and result.latency_s > 0


def test_incompatible_scheduler_rejected_before_any_load(tmp_path, monkeypatch):
    from bench.schedulers import SchedulerSpec

    monkeypatch.setitem(SCHEDULERS, "flow", SchedulerSpec("flow", "FlowMatchEulerDiscreteScheduler"))
    suite = load_suite("tiny", {"models": "tiny-sd", "schedulers": "euler,flow"})
    loads = []
    monkeypatch.setattr("bench.backends.pytorch.DiffusersBackend.load", lambda self: loads.append(1))
    with pytest.raises(ConfigError, match="'flow' is not compatible with model 'tiny-sd'"):
        sweep.run(suite, tmp_path / "data", tmp_path / "images")
    assert loads == []


@pytest.mark.parametrize("scheduler_class", ["PNDMScheduler", "EulerDiscreteScheduler", "DDIMScheduler"])
def test_the_compatibility_check_accepts_exactly_what_diffusers_lists_without_importing_it(scheduler_class):
    """check_compatible reads the class's list of names instead of diffusers' `compatibles`
    property (which imports every scheduler module): both must accept the same schedulers."""
    import diffusers

    from bench.weights.check import check_compatible

    listed = {c.__name__ for c in getattr(diffusers, scheduler_class)().compatibles}
    for name, spec in SCHEDULERS.items():
        if spec.class_name in listed:
            check_compatible(scheduler_class, "m", [name])
        else:
            with pytest.raises(ConfigError, match="is not compatible"):
                check_compatible(scheduler_class, "m", [name])


def test_tiny_sweep_end_to_end(tmp_path):
    suite = load_suite("tiny", {"schedulers": "euler-a,ddim", "backends": "pytorch"})
    data, images = tmp_path / "data", tmp_path / "images"
    report = sweep.run(suite, data, images)
    per_prompt_seed = sum(1 if suite.model_spec(m).family == "gan" else 2 for m in suite.models)
    planned = per_prompt_seed * len(suite.prompts) * len(suite.seeds)
    gen = store.read(data, "generations")
    gen = gen[gen["backend"] == "pytorch"]
    assert report.failed == 0 and len(gen) == planned == report.ok
    assert set(gen["family"]) == {"sd", "sdxl", "gan"} and gen["cell_id"].is_unique
    # every image is where the row says, is a PNG of the right size, with the recorded hash
    for row in gen.itertuples():
        path = images / row.image_path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row.image_sha256
        assert Image.open(path).size == (row.width, row.height)
        assert row.cell_id in row.image_path and row.prompt_id not in row.image_path
    # timings: the first call (one batch) after each load is marked cold, the rest warm
    cold = gen[~gen["warm"]]
    assert cold.groupby("model").size().tolist() == [suite.batch_size] * gen["model"].nunique()
    assert cold.groupby("model")["created_at"].max().lt(gen[gen["warm"]].groupby("model")["created_at"].min()).all()
    assert (
        (gen["latency_s"] > 0).all()
        and (gen["load_s"] > 0).all()
        and gen.loc[gen["family"] != "gan", "step_ms_p50"].notna().all()
    )
    assert (gen["provider"] == "cpu").all() and (gen["dtype"] == "float32").all()
    assert gen["energy_j"].isna().all() and gen["power_w_mean"].isna().all()  # no counter on a CPU
    # SDXL rows carry their LoRA
    assert gen.loc[gen["family"] == "sdxl", "lora"].notna().all()
    # scores: one per ok image and metric, and the long prompt is reported as truncated
    every = store.read(data, "scores")
    # every family the tiny suite names scored every image, each row with its scorer's versions
    assert every.groupby("metric").size().to_dict() == dict.fromkeys(written(suite.metrics), planned)
    # one NSFW rule: every image of every family is flagged or not (none dropped), and both happen
    nsfw = every[every["metric"] == "nsfw_tiny"].merge(gen[["cell_id", "family"]], on="cell_id")
    assert set(nsfw["cell_id"]) == set(gen["cell_id"]) and set(nsfw["family"]) == {"sd", "sdxl", "gan"}
    assert set(nsfw["value"]) == {0.0, 1.0} and (gen["status"] == "ok").all()
    assert every["scorer_version"].str.len().gt(0).all()
    scores = every[every["metric"] == "clip_tiny"].merge(gen[["cell_id", "prompt_id"]], on="cell_id")
    assert len(scores) == planned and scores["value"].between(-1, 1).all()
    truncated = scores.groupby("prompt_id")["truncated_tokens"].max()
    assert truncated["city-long"] > 0 and truncated["lighthouse"] == 0
    # the run's record
    runs = store.read(data, "runs")
    assert runs.loc[0, "suite"] == "tiny" and runs.loc[0, "torch"] and runs.loc[0, "images_ok"] == planned
    # a rerun does nothing new
    again = sweep.run(suite, data, images)
    assert again.skipped_done == planned and again.ok == 0


def test_failing_cells_are_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    from bench.backends.pytorch import DiffusersBackend

    real = DiffusersBackend.generate

    def flaky(self, request):
        if type(self.pipe.scheduler).__name__ == "DDIMScheduler":
            raise RuntimeError("boom")
        if len(request.seeds) > 1:  # looks like CUDA running out of memory
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, request)

    monkeypatch.setattr(DiffusersBackend, "generate", flaky)
    suite = load_suite("tiny", {"models": "tiny-sd", "schedulers": "euler,ddim", "backends": "pytorch"})
    report = sweep.run(suite, tmp_path / "d", tmp_path / "i")
    gen = store.read(tmp_path / "d", "generations")
    ddim, euler = gen[gen["scheduler"] == "ddim"], gen[gen["scheduler"] == "euler"]
    assert (ddim["status"] == "failed").all() and ddim["error"].str.contains("boom").all()
    assert (euler["status"] == "ok").all() and (euler["batch_size"] == 1).all()  # halved after OOM
    assert report.failed == len(ddim) and report.ok == len(euler)


def test_nan_images_are_recorded_and_not_scored(tmp_path, monkeypatch):
    from bench.backends.pytorch import DiffusersBackend

    real_load = DiffusersBackend.load

    def load_a_pipeline_that_overflows(self):
        info = real_load(self)
        pipe = self.pipe

        def overflowing(**kwargs):  # what fp16 overflow looks like at the end of a call
            out = pipe(**kwargs)
            out.images = out.images * np.nan
            return out

        self.pipe = overflowing
        return info

    monkeypatch.setattr(DiffusersBackend, "load", load_a_pipeline_that_overflows)
    suite = load_suite("tiny", {"models": "tiny-sd", "schedulers": "euler", "backends": "pytorch"})
    sweep.run(suite, tmp_path / "d", tmp_path / "i")
    gen = store.read(tmp_path / "d", "generations")
    assert len(gen) and (gen["status"] == "nan").all() and gen["image_path"].isna().all()
    assert store.read(tmp_path / "d", "scores").empty


def test_missing_weights_fail_fast_naming_models(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cli",
            "run",
            "--suite",
            "seed",
            "--models",
            "sd15,sd21",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == EXIT_CODES[WeightsError]
    assert "sd15" in out.stderr and "sd21" in out.stderr and "HF_HUB_OFFLINE" in out.stderr
    assert "Traceback" not in out.stderr


def test_kill_mid_sweep_then_resume_loses_and_duplicates_nothing(tmp_path):
    suite_path = tmp_path / "kill.toml"
    suite_path.write_text(
        'name = "kill"\nmodels = ["tiny-sd"]\nschedulers = ["euler", "ddim", "unipc", "lms", "heun", "pndm"]\n'
        'seeds = "0-3"\nbatch_size = 2\nsteps = 3\nmetrics = ["clip_tiny"]\n'
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
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and len(list((data / "generations").glob("*.parquet"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts = list((data / "generations").glob("*.parquet"))
    assert parts, "the sweep wrote nothing before the kill"
    for part in parts:  # every file on disk is whole
        pq.read_table(part)
    done_before = set(store.read(data, "generations")["cell_id"])
    planned = 6 * 2 * 4
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
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and len(list((data / "generations").glob("*.parquet"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "run the same command to resume" in err and "Traceback" not in err
    kept = store.read(data, "generations")
    assert len(kept) >= 2 and (kept["status"] == "ok").all()
    assert len(store.read(data, "runs")) == 1  # the run's record is written on the way out


def test_a_rerun_with_nothing_to_do_writes_no_run_record(tmp_path):
    suite = load_suite("tiny", {"models": "tiny-sd", "schedulers": "ddim", "backends": "pytorch", "seeds": "0"})
    sweep.run(suite, tmp_path / "d", tmp_path / "i")
    again = sweep.run(suite, tmp_path / "d", tmp_path / "i")
    assert again.skipped_done == again.planned and len(store.read(tmp_path / "d", "runs")) == 1


def test_a_run_made_elsewhere_records_that_machine_and_the_driver_s_command(tmp_path):
    """A Ray run: the workers' GPU and packages go into the runs row, not the driver's (which may
    have no GPU); the command and commit are the driver's (a worker's argv is Ray's)."""
    from datetime import UTC, datetime

    from bench import shard, store
    from bench.environment import describe
    from bench.sweep import SweepReport, record_run

    worker = {
        "gpu_name": "NVIDIA H200",
        "cpu": "Xeon",
        "cuda": "13.0",
        "command": "default_worker.py",
        "git_commit": "x",
    }
    record_run(tmp_path, SweepReport(run_id="r", ok=1), "s", datetime.now(UTC), shard.WHOLE, "ray:r", 2, worker)
    (row,) = store.read(tmp_path, "runs").to_dict("records")
    here = describe()
    assert (row["gpu_name"], row["cpu"], row["cuda"]) == ("NVIDIA H200", "Xeon", "13.0")
    assert (row["command"], row["git_commit"], row["workers"]) == (here["command"], here["git_commit"], 2)


def test_an_output_folder_that_cannot_be_written_fails_before_any_model_loads(tmp_path, monkeypatch):
    from bench.backends.pytorch import DiffusersBackend

    monkeypatch.setattr(DiffusersBackend, "load", lambda self: pytest.fail("loaded a model"))
    (tmp_path / "taken").write_text("a file, not a folder")
    suite = load_suite("tiny", {"models": "tiny-sd", "schedulers": "ddim", "backends": "pytorch", "seeds": "0"})
    with pytest.raises(StorageError, match="is a file, not a folder"):
        sweep.run(suite, tmp_path / "d", tmp_path / "taken")
    assert (
        main(["run", "--suite", "tiny", "--models", "tiny-sd", "--data-dir", str(tmp_path / "taken")])
        == (EXIT_CODES[StorageError])
    )


def test_two_sweeps_on_one_data_dir_make_each_cell_once(tmp_path):
    """Two processes start the same sweep at once: each (model, backend) group is claimed by
    one of them; the other makes its other groups, then finds the claimed one done."""
    cmd = [sys.executable, "-m", "bench.cli", "run", "--suite", "tiny", "--models", "tiny-sd,tiny-biggan",
           "--schedulers", "ddim", "--backends", "pytorch", "--seeds", "0-3", "--data-dir", str(tmp_path / "data"),
           "--images-dir", str(tmp_path / "images")]  # fmt: skip
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    gens = store.read(tmp_path / "data", "generations")
    made = sum(r for r in store.read(tmp_path / "data", "runs")["images_ok"])
    assert len(gens) == made == 2 * 4 * 2  # models x seeds x prompts, each made once, counted once


def test_missing_clip_weights_stop_the_sweep_before_any_image(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty HF cache; HF_HUB_OFFLINE=1 (conftest)
    suite = load_suite("tiny", {"models": "tiny-sd", "backends": "pytorch", "metrics": "clip_vit_b_32"})
    with pytest.raises(WeightsMissing, match="clip_vit_b_32"):
        sweep.run(suite, tmp_path / "d", tmp_path / "i")
    assert store.read(tmp_path / "d", "generations").empty


def test_score_without_the_metrics_weights_says_so(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    suite = load_suite("tiny", {"models": "tiny-sd", "schedulers": "ddim", "backends": "pytorch", "seeds": "0"})
    sweep.run(suite, tmp_path / "d", tmp_path / "i")
    argv = [
        "score",
        "--metrics",
        "clip_vit_l_14",
        "--data-dir",
        str(tmp_path / "d"),
        "--images-dir",
        str(tmp_path / "i"),
    ]
    assert main(argv) == EXIT_CODES[WeightsError]
    err = capsys.readouterr().err
    assert "clip_vit_l_14" in err and "HF_HUB_OFFLINE" in err and "Traceback" not in err


def test_scoring_skips_missing_and_corrupt_images_scores_the_rest_and_says_so(tmp_path, capsys):
    suite = load_suite("tiny", {"models": "tiny-sd", "schedulers": "ddim", "backends": "pytorch", "seeds": "0-1"})
    sweep.run(suite, tmp_path / "d", tmp_path / "i", score=False)
    paths = sorted(store.read(tmp_path / "d", "generations")["image_path"])
    (tmp_path / "i" / paths[0]).unlink()
    (tmp_path / "i" / paths[1]).write_bytes(b"not a png")
    argv = ["score", "--metrics", "clip_tiny", "--data-dir", str(tmp_path / "d"), "--images-dir", str(tmp_path / "i")]
    assert main(argv) == EXIT_CODES[StorageError]
    err = capsys.readouterr().err
    assert "2 image(s) could not be read" in err and paths[0] in err and "Traceback" not in err
    assert len(store.read(tmp_path / "d", "scores")) == len(paths) - 2


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
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["umount", str(images)], check=False)
    assert out.returncode == EXIT_CODES[StorageError], out.stderr
    assert "No space left on device" in out.stderr and "Traceback" not in out.stderr
    kept = store.read(tmp_path / "data", "generations")
    assert len(kept) and (kept["status"] == "ok").all() and len(store.read(tmp_path / "data", "runs")) == 1
