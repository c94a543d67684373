"""The pytorch-compile backend on the tiny models, on the CPU (inductor): compiled once per
graph, compile time recorded apart from the timings, images the twins of eager PyTorch's."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from bench import store, sweep
from bench.config import load_suite
from bench.runtime import Runtime

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """One sweep, eager beside compiled, that both end-to-end tests read: the fewest graphs that
    show each point. One scheduler, one prompt, 2 steps, and seeds 0-3 in batches of 2: the
    first batch compiles (the UNet and the VAE decoder at one shape), the second reuses it.
    Inductor's cache is this run's own, empty folder (conftest), so the compile really happens."""
    root = tmp_path_factory.mktemp("compiled")
    suite = load_suite(
        "tiny",
        {
            "models": "tiny-sd",
            "schedulers": "ddim",
            "backends": "pytorch,pytorch-compile",
            "seeds": "0-3",
            "batch_size": 2,
            "steps": 2,
            "prompts": [{"id": "cube", "text": "a red cube on a table"}],
        },
    )
    report = sweep.run(suite, root / "d", root / "i", score=False)  # parity is recorded all the same
    return SimpleNamespace(
        report=report,
        images=root / "i",
        generations=store.read(root / "d", "generations"),
        scores=store.read(root / "d", "scores"),
    )


def test_compiled_sweep_records_compile_time_apart_and_matches_eager(compiled):
    gen = compiled.generations
    assert compiled.report.failed == 0 and set(gen["backend"]) == {"pytorch", "pytorch-compile"}
    compiled_rows = gen[gen["backend"] == "pytorch-compile"]
    assert set(compiled_rows["backend_options"]) == {json.dumps({"mode": "default"})}
    # the first batch of each graph (a scheduler family and a shape) pays the compilation, apart;
    # how long it took depends on inductor's cache, so only that it was recorded is certain
    first = compiled_rows.sort_values("created_at").groupby("scheduler").head(2)
    assert len(first) == 2 and len(compiled_rows) == 4
    assert first["compile_s"].ge(0).all() and compiled_rows.drop(first.index)["compile_s"].isna().all()
    assert gen.loc[gen["backend"] == "pytorch", "compile_s"].isna().all()
    # compiled images are the eager images up to float reassociation
    key = ["scheduler", "prompt_id", "seed"]
    pairs = compiled_rows.merge(gen[gen["backend"] == "pytorch"], on=key, suffixes=("_c", "_e"))
    assert len(pairs) == len(compiled_rows)
    for row in pairs.itertuples():
        a = np.asarray(Image.open(compiled.images / row.image_path_c), dtype=np.int16)
        b = np.asarray(Image.open(compiled.images / row.image_path_e), dtype=np.int16)
        assert np.abs(a - b).max() <= 2
    # a compiled cell is its own cell: ids differ from the eager twins'
    assert set(compiled_rows["cell_id"]).isdisjoint(gen.loc[gen["backend"] == "pytorch", "cell_id"])


def test_compile_mode_auto_means_what_each_device_wants():
    from bench.backends.compiled import CompiledBackend

    asked = load_suite("tiny", {"backends": "pytorch-compile"}).runtime_for("pytorch-compile")
    assert CompiledBackend.resolve(asked).option("mode") == "default"  # the CPU here
    chosen = CompiledBackend.resolve(Runtime(options=json.dumps({"mode": "max-autotune"})))
    assert chosen.option("mode") == "max-autotune"


def test_a_backend_only_on_cuda_is_left_out_with_a_note_on_a_cpu(tmp_path):
    from bench.plan import make_plan

    path = tmp_path / "suite.toml"
    path.write_text(
        'models = ["tiny-sd"]\nbackends = ["pytorch", "pytorch-compile"]\n'
        '[backend_options.pytorch-compile]\nonly_on = "cuda"\n[[prompts]]\nid = "a"\ntext = "a cube"\n'
    )
    plan = make_plan(load_suite(str(path)), tmp_path / "data")
    assert {c.backend for c in plan.cells} == {"pytorch"}
    assert any("pytorch-compile runs only on CUDA" in note for note in plan.notes)


def test_compiled_images_get_parity_scores_against_eager(compiled):
    gen, scores = compiled.generations, compiled.scores
    compiled_ids = set(gen.loc[gen["backend"] == "pytorch-compile", "cell_id"])
    psnr = scores[scores["metric"] == "psnr_db_vs_pytorch"]
    assert set(psnr["cell_id"]) == compiled_ids and (psnr["value"] > 30).all()


def test_the_first_call_of_each_shape_is_an_untimed_build_whose_time_is_compile_s():
    """The warm-up pytorch-compile and TensorRT share (bench.backends.base.once_per_shape), driven
    by a fake backend whose first call of a shape builds (sleeps): that call's images are dropped,
    its time beyond the timed call is compile_s, and later calls of the shape run once, without."""
    from bench.backends.base import CallResult, Generated, Request, once_per_shape

    calls = []

    def generate(request):
        calls.append(request.width)
        if calls.count(request.width) == 1:
            time.sleep(0.05)  # the build
        return CallResult([Generated(None, extra={"call": len(calls)}) for _ in request.seeds], latency_s=0.001)

    built: set = set()
    small, large = (Request("a cube", "", (0, 1), 2, 7.5, size, size) for size in (64, 128))
    first = once_per_shape(built, 64, generate, small)
    assert calls == [64, 64] and [g.extra["call"] for g in first.images] == [2, 2]
    assert first.compile_s >= 0.05 - 2 * 0.001
    again = once_per_shape(built, 64, generate, small)
    assert calls == [64, 64, 64] and again.compile_s is None and [g.extra["call"] for g in again.images] == [3, 3]
    other = once_per_shape(built, 128, generate, large)
    assert calls[3:] == [128, 128] and other.compile_s >= 0.05 - 2 * 0.001 and built == {64, 128}
    # a build that took no time is 0, not a negative figure
    slow_call = once_per_shape(built, 256, lambda request: CallResult([], latency_s=10.0), small)
    assert slow_call.compile_s == 0.0
