"""The plan: cell ids that published data relies on, and a Runtime worked out once per
(backend, family) and carried by every cell."""

from __future__ import annotations

import pytest

from bench import plan
from bench.backends import IMPLEMENTATIONS
from bench.backends.biggan import BigGANBackend
from bench.backends.pytorch import DiffusersBackend
from bench.config import BACKENDS, load_suite
from bench.models import FAMILIES
from bench.plan import batches, cells_for
from bench.runtime import Runtime

CPU = Runtime("cpu", "float32", "cpu")


def cells(suite, runtimes) -> dict[tuple, plan.Cell]:
    specs = {key: suite.model_spec(key) for key in suite.models}
    made, _ = plan.cells_for(suite, specs, runtimes)
    return {(c.model, c.backend, c.scheduler): c for c in made if c.seed == 0 and c.prompt_id == "lighthouse"}


def test_cell_ids_of_existing_data_stay_valid():
    """Ids computed by the code that wrote the data before the Runtime existed (commit 6c2c939):
    a change here orphans every published row, so it must be deliberate and explained."""
    tiny = cells(load_suite("tiny"), {(b, f): CPU for b in BACKENDS for f in FAMILIES})
    assert tiny[("tiny-sd", "pytorch", "euler-a")].cell_id == "45c731716d83ed3a888d"
    assert tiny[("tiny-sd", "onnxruntime", "euler-a")].cell_id == "34e4adf85edbf5e5f841"
    assert tiny[("tiny-sdxl", "pytorch", "euler-a")].cell_id == "3f3b91fdef2c5520722a"
    assert tiny[("tiny-sdxl", "onnxruntime", "euler-a")].cell_id == "3ee510a97746cd15ac7b"
    assert tiny[("tiny-biggan", "pytorch", None)].cell_id == "394299771e45aafb4fc3"
    # on a GPU, a provider asked for by name is part of the id: TensorRT and CUDA cells differ
    suite = load_suite("tiny", {"provider": "tensorrt", "models": "tiny-sd", "schedulers": "ddim"})
    gpu = {
        ("pytorch", "sd"): Runtime("cuda", "float16", "cuda"),
        ("onnxruntime", "sd"): Runtime("cuda", "float16", "tensorrt", requested="tensorrt"),
    }
    on_gpu = cells(suite, gpu)
    assert on_gpu[("tiny-sd", "pytorch", "ddim")].cell_id == "2c48ae0d552a89832e13"
    assert on_gpu[("tiny-sd", "onnxruntime", "ddim")].cell_id == "2fb205291e430e37ecd4"


def test_each_backend_and_family_is_resolved_once_and_every_cell_carries_it(monkeypatch):
    calls = []
    for cls in set(IMPLEMENTATIONS.values()):
        real = cls.resolve
        monkeypatch.setattr(cls, "resolve", classmethod(lambda c, asked, real=real: calls.append(c) or real(asked)))
    suite = load_suite("tiny", {"backends": "pytorch"})
    specs = {key: suite.model_spec(key) for key in suite.models}
    runtimes = plan.resolve_runtimes(suite, specs)
    assert sorted(runtimes) == [("pytorch", "gan"), ("pytorch", "sd"), ("pytorch", "sdxl")] and len(calls) == 3
    made, _ = plan.cells_for(suite, specs, runtimes)
    assert all(c.runtime is runtimes[(c.backend, c.family)] for c in made)


@pytest.mark.parametrize("cuda", [False, True])
def test_biggan_is_planned_in_the_float32_its_rows_record(monkeypatch, cuda):
    """On CUDA "auto" means float16 for diffusion but float32 for BigGAN: the cell (and so its
    id) must say float32 too, or a GPU sweep records rows that disagree with their ids."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    asked = load_suite("tiny").runtime
    gan, sd = BigGANBackend.resolve(asked), DiffusersBackend.resolve(asked)
    assert (gan.device, gan.dtype) == ("cuda" if cuda else "cpu", "float32")
    assert (sd.device, sd.dtype) == ("cuda", "float16") if cuda else ("cpu", "float32")


def test_every_backend_name_a_suite_accepts_has_an_implementation():
    assert set(BACKENDS) == {backend for backend, _ in IMPLEMENTATIONS}


def test_pairs_left_out_make_one_note_per_reason_naming_every_model():
    suite = load_suite(
        "tiny",
        {
            "backends": "pytorch,pytorch-compile,onnxruntime",
            "backend_options": {"pytorch-compile": {"only_on": "cuda"}},
        },
    )
    specs = {key: suite.model_spec(key) for key in suite.models}
    made, notes = plan.cells_for(suite, specs, {(b, f): CPU for b in BACKENDS for f in FAMILIES})
    assert notes == [
        "pytorch-compile runs only on CUDA (only_on), and there is none here; skipped for tiny-sd, tiny-sdxl",
        "the gan family has no pytorch-compile backend; skipped for tiny-biggan",
        "the gan family has no onnxruntime backend; skipped for tiny-biggan",
    ]
    assert {(c.model, c.backend) for c in made} == {
        ("tiny-sd", "pytorch"),
        ("tiny-sd", "onnxruntime"),
        ("tiny-sdxl", "pytorch"),
        ("tiny-sdxl", "onnxruntime"),
        ("tiny-biggan", "pytorch"),
    }


def test_each_value_of_a_sweep_axis_is_its_own_cell_and_a_single_value_keeps_its_id(tmp_path):
    """steps = [2, 4] makes the 4-step cells of steps = 4, ids and all; the GAN ignores the axes."""

    def cells(body: str):
        path = tmp_path / "axes.toml"
        path.write_text(
            f'models = ["tiny-sd", "tiny-biggan"]\nschedulers = ["euler"]\nseeds = [0, 1]\n{body}\n'
            '[[prompts]]\nid = "p"\ntext = "a red cube"\n',
            encoding="utf-8",
        )
        suite = load_suite(str(path))
        specs = {key: suite.model_spec(key) for key in suite.models}
        cpu = Runtime("cpu", "float32", "cpu")
        return cells_for(suite, specs, {(b, f): cpu for b in ("pytorch",) for f in ("sd", "gan")})[0]

    swept = cells("steps = [2, 4]\nguidance_scale = [1.0, 7.5]")
    sd = [c for c in swept if c.model == "tiny-sd"]
    assert sorted({(c.steps, c.guidance_scale) for c in sd}) == [(2, 1.0), (2, 7.5), (4, 1.0), (4, 7.5)]
    assert len(sd) == 4 * 2  # every (steps, guidance) for each seed
    gan = [c for c in swept if c.model == "tiny-biggan"]
    assert len(gan) == 2 and {(c.steps, c.guidance_scale) for c in gan} == {(0, 0.0)}  # fixed by its weights
    single = {c.cell_id for c in cells("steps = 4\nguidance_scale = 7.5") if c.model == "tiny-sd"}
    assert single == {c.cell_id for c in sd if (c.steps, c.guidance_scale) == (4, 7.5)}
    # one call makes one setting: a batch never mixes steps or guidance
    for batch in batches(sd, 8):
        assert len({(c.steps, c.guidance_scale) for c in batch}) == 1
    # a per-model override fixes that model's setting, whatever the suite sweeps
    fixed = cells("steps = [2, 4]\n[model_overrides.tiny-sd]\nsteps = 3")
    assert {c.steps for c in fixed if c.model == "tiny-sd"} == {3}
