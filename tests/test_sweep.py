"""The sweep end to end on tiny models: images, timings, scores, resume, failures."""

from __future__ import annotations

import hashlib
import shutil
from types import SimpleNamespace

import numpy as np
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


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    """The tiny suite (every family, two schedulers, every tiny metric) swept once, on PyTorch;
    the tests that need a finished sweep read it, or copy it before changing anything."""
    root = tmp_path_factory.mktemp("tiny-sweep")
    suite = load_suite("tiny", {"schedulers": "euler-a,ddim", "backends": "pytorch"})
    report = sweep.run(suite, root / "data", root / "images")
    return SimpleNamespace(suite=suite, report=report, data=root / "data", images=root / "images")


def copy_of(tiny_sweep, folder):
    """The shared sweep's data and images, copied into `folder` for a test that changes them."""
    shutil.copytree(tiny_sweep.data, folder / "data")
    shutil.copytree(tiny_sweep.images, folder / "images")
    return folder / "data", folder / "images"


def test_tiny_sweep_end_to_end(tiny_sweep):
    suite, report, data, images = tiny_sweep.suite, tiny_sweep.report, tiny_sweep.data, tiny_sweep.images
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


def test_missing_weights_fail_fast_naming_models(tmp_path, capsys):
    # The run's HF cache is empty (conftest) and the hub offline: no real weights anywhere.
    argv = ["run", "--suite", "seed", "--models", "sd15,sd21", "--data-dir", str(tmp_path / "d")]
    assert main(argv) == EXIT_CODES[WeightsError]
    err = capsys.readouterr().err
    assert "sd15" in err and "sd21" in err and "HF_HUB_OFFLINE" in err
    assert "Traceback" not in err


def test_a_rerun_with_nothing_to_do_writes_no_run_record(tiny_sweep):
    again = sweep.run(tiny_sweep.suite, tiny_sweep.data, tiny_sweep.images)
    assert again.skipped_done == again.planned and len(store.read(tiny_sweep.data, "runs")) == 1


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


def test_missing_clip_weights_stop_the_sweep_before_any_image(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty HF cache; HF_HUB_OFFLINE=1 (conftest)
    suite = load_suite("tiny", {"models": "tiny-sd", "backends": "pytorch", "metrics": "clip_vit_b_32"})
    with pytest.raises(WeightsMissing, match="clip_vit_b_32"):
        sweep.run(suite, tmp_path / "d", tmp_path / "i")
    assert store.read(tmp_path / "d", "generations").empty


def test_score_without_the_metrics_weights_says_so(tiny_sweep, tmp_path, monkeypatch, capsys):
    from bench.cli import main

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    data, images = copy_of(tiny_sweep, tmp_path)
    argv = ["score", "--metrics", "clip_vit_l_14", "--data-dir", str(data), "--images-dir", str(images)]
    assert main(argv) == EXIT_CODES[WeightsError]
    err = capsys.readouterr().err
    assert "clip_vit_l_14" in err and "HF_HUB_OFFLINE" in err and "Traceback" not in err


def test_scoring_skips_missing_and_corrupt_images_scores_the_rest_and_says_so(tiny_sweep, tmp_path, capsys):
    data, images = copy_of(tiny_sweep, tmp_path)
    shutil.rmtree(data / "scores")  # as if the sweep had not scored (run --no-score)
    paths = sorted(store.read(data, "generations")["image_path"])
    (images / paths[0]).unlink()
    (images / paths[1]).write_bytes(b"not a png")
    argv = ["score", "--metrics", "clip_tiny", "--data-dir", str(data), "--images-dir", str(images)]
    assert main(argv) == EXIT_CODES[StorageError]
    err = capsys.readouterr().err
    assert "2 image(s) could not be read" in err and paths[0] in err and "Traceback" not in err
    assert len(store.read(data, "scores")) == len(paths) - 2
