"""The ONNX Runtime backend on tiny models, CPU provider: export once, reuse, parity, providers,
the fp16 SDXL VAE, ORT's own log, and ORT's optimized graphs."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bench import parity, store, sweep
from bench.backends import onnxruntime as ort_backend
from bench.backends.onnxruntime import OrtBackend
from bench.config import load_suite
from bench.errors import ConfigError, DeviceUnavailable, InstallError
from bench.files import STAGING_MARKER, cache_dir

pytestmark = pytest.mark.slow
MODELS = ("tiny-sd", "tiny-sdxl")
ONE_LEVEL = 1 / 255


def write_suite(folder: Path, backend_options: dict | None = None, **settings) -> Path:
    """A small suite: one prompt, one scheduler, 2 steps at 64 px; `settings` replace keys;
    `backend_options` ({backend: {option: value}}) become [backend_options.<backend>] tables."""
    values = {
        "models": list(MODELS),
        "backends": ["pytorch", "onnxruntime"],
        "schedulers": ["euler-a"],
        "seeds": "0-1",
        "steps": 2,
        "metrics": ["clip_tiny"],
        **settings,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    for backend, options in (backend_options or {}).items():
        lines += [f"[backend_options.{backend}]"] + [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    lines += ["[[prompts]]", 'id = "cube"', 'text = "a red cube on a table"']
    path = folder / "suite.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(folder: Path, **settings):
    """A sweep into `folder`: its report, tables and what it logged ("LEVEL: message" lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    suite = load_suite(str(write_suite(folder, **settings)))
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("bench")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        report = sweep.run(suite, folder / "data", folder / "images")
    finally:
        logger.removeHandler(handler)
    return SimpleNamespace(
        report=report,
        generations=store.read(folder / "data", "generations"),
        scores=store.read(folder / "data", "scores"),
        logged=logged.getvalue(),
        folder=folder,
    )


def exports() -> list[str]:
    return sorted(p.name for p in cache_dir("onnx").iterdir())


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """Both backends, both families, one sweep; the exports it makes are reused below.

    An export cache of this module's own: other tests' sweeps of the tiny suite export too, and
    this one must see the first export happen. The tiny models themselves stay in the run's
    cache, built once for every test (tiny_path remembers where it found them).
    """
    from bench.tiny import tiny_path

    for name in ("tiny-sd", "tiny-sdxl", "tiny-sdxl-lora", "tiny-clip"):
        tiny_path(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield run(tmp_path_factory.mktemp("first"))


def test_both_backends_in_one_sweep_with_the_provider_that_ran(first):
    report, generations, logged = first.report, first.generations, first.logged
    assert report.failed == 0 and report.ok == 2 * 2 * 2
    for model in MODELS:
        rows = generations[generations["model"] == model]
        assert sorted(rows["backend"].unique()) == ["onnxruntime", "pytorch"]
        ort = rows[rows["backend"] == "onnxruntime"]
        assert set(ort["provider"]) == {"cpu"} and set(ort["dtype"]) == {"float32"}
        # export time is recorded apart from load time, and showed progress while it ran
        assert (ort["export_s"] > 0).all() and (ort["load_s"] > 0).all()
        assert f"exporting {model} (float32) to ONNX" in logged and f"exported {model} in" in logged


def test_ort_images_match_their_pytorch_twins(first):
    generations, scores = first.generations, first.scores
    ort_ids = set(generations.loc[generations["backend"] == "onnxruntime", "cell_id"])
    for metric in (parity.PSNR_METRIC, parity.MAX_DIFF_METRIC):
        values = scores[scores["metric"] == metric].set_index("cell_id")["value"]
        assert set(values.index) == ort_ids  # every ORT image has a twin, PyTorch rows get none
    psnr = scores[scores["metric"] == parity.PSNR_METRIC]["value"]
    diff = scores[scores["metric"] == parity.MAX_DIFF_METRIC]["value"]
    # Same noise, same scheduler, fp32 on both: float differences of ~1e-6 move a pixel by one
    # level at most. The SDXL LoRA, fused for ONNX, moves pixels by up to ~240 levels if its
    # scale were lost, so this bound also checks the fusing.
    assert (diff <= ONE_LEVEL + 1e-9).all() and (psnr >= 60).all()


def test_second_run_reuses_the_export(first, tmp_path, monkeypatch):
    before = exports()

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr("optimum.exporters.onnx.onnx_export_from_model", no_export)
    second = run(tmp_path, backends=["onnxruntime"], seeds=[0])
    assert second.report.failed == 0 and len(second.generations) == len(MODELS)
    assert (second.generations["export_s"] == 0).all() and "exporting" not in second.logged
    assert exports() == before


def test_parity_is_not_recorded_twice(first, tmp_path):
    data = shutil.copytree(first.folder / "data", tmp_path / "data")
    # no images folder: reading any image would raise
    assert parity.record(data, tmp_path / "no-images", set(first.generations["cell_id"])) == 0


def test_cuda_requested_without_cuda_fails_the_cells(first, tmp_path, monkeypatch):
    monkeypatch.setattr("optimum.exporters.onnx.onnx_export_from_model", pytest.fail)
    failed = run(tmp_path, models=["tiny-sd"], backends=["onnxruntime"], provider="cuda", provider_fallback="error")
    generations = failed.generations
    assert failed.report.failed == 2 and set(generations["status"]) == {"failed"}
    assert generations["error"].str.contains("DeviceUnavailable: provider 'cuda' cannot run here").all()
    assert generations["provider"].isna().all()  # nothing ran


def test_cuda_requested_with_warn_runs_on_the_cpu_and_says_so(first, tmp_path):
    warned = run(
        tmp_path,
        models=["tiny-sd"],
        backends=["onnxruntime"],
        provider="cuda",
        provider_fallback="warn",
        dtype="float16",
    )
    assert warned.report.failed == 0 and set(warned.generations["provider"]) == {"cpu"}
    assert set(warned.generations["dtype"]) == {"float32"}
    assert "WARNING: tiny-sd [onnxruntime]: provider 'cuda' cannot run here" in warned.logged


def test_silent_session_fallback_is_caught(first, caplog):
    """ONNX Runtime itself only warns when asked for CUDA it lacks, and runs on the CPU."""
    import onnxruntime

    folder = next(cache_dir("onnx").glob("tiny-sd-float32-*"))
    session = onnxruntime.InferenceSession(
        str(folder / "vae_decoder" / "model.onnx"), providers=ort_backend.EXECUTION_PROVIDERS["cuda"]
    )
    pipe = SimpleNamespace(unet=None, vae_decoder=SimpleNamespace(session=session))
    active = ort_backend.active_providers(pipe)
    assert active == {"vae_decoder": "CPUExecutionProvider"}
    with pytest.raises(
        DeviceUnavailable,
        match=r"'cuda' was requested but ONNX Runtime did not load it \(vae_decoder=cpu\)",
    ):
        ort_backend.check_providers("cuda", active, "error")
    with caplog.at_level(logging.WARNING, logger="bench"):
        assert ort_backend.check_providers("cuda", active, "warn") == "cpu"
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert caplog.records[0].getMessage().startswith("provider 'cuda' was requested")
    assert "tensorrt" not in caplog.records[0].getMessage()  # the TensorRT fix is for TensorRT only


def test_a_tensorrt_provider_that_did_not_load_says_how_to_install_it():
    """On the H200, TensorRT fell back to CUDA for want of libnvinfer.so.10: the message names the
    wheels that ship it and the folder the loader must search, on one line."""
    active = {"unet": "CUDAExecutionProvider", "vae_decoder": "CUDAExecutionProvider"}
    with pytest.raises(DeviceUnavailable) as failed:
        ort_backend.check_providers("tensorrt", active, "error")
    message = str(failed.value)
    assert "'tensorrt' was requested but ONNX Runtime did not load it (unet=cuda, vae_decoder=cuda)" in message
    assert "pip install 'tensorrt-cu13-libs==10.16.1.11'" in message and "\n" not in message
    assert re.search(r"LD_LIBRARY_PATH=/\S+/tensorrt_libs; ", message)
    import onnxruntime  # pip puts the libraries beside it (the GPU checks import it from PYTHONPATH)

    assert f"LD_LIBRARY_PATH={Path(onnxruntime.__file__).parent.parent / 'tensorrt_libs'};" in message


@pytest.mark.parametrize(
    "installed, message",
    [
        (("onnxruntime", "onnxruntime-gpu"), "both onnxruntime and onnxruntime-gpu are installed"),
        ((), r"ONNX Runtime is not installed; install exactly one: pip install '\.\[onnxruntime\]'"),
    ],
)
def test_install_problems_stop_the_plan(installed, message, monkeypatch, tmp_path, capsys):
    from bench.cli import EXIT_CODES, main

    assert ort_backend.installed_distributions() == ["onnxruntime"]  # this environment's truth
    monkeypatch.setattr(ort_backend, "installed_distributions", lambda: list(installed))
    suite = load_suite("tiny", {"backends": "onnxruntime"})
    with pytest.raises(InstallError, match=message):
        OrtBackend.resolve(suite.runtime)
    # on the command line: one line and the install exit code, before anything loads
    argv = ["run", "--suite", "tiny", "--backends", "pytorch,onnxruntime", "--dry-run", "--data-dir", str(tmp_path)]
    assert main(argv) == EXIT_CODES[InstallError]
    assert "bench: error: onnxruntime backend:" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_dtypes_onnx_cannot_run_on_the_cpu_are_config_errors(dtype):
    with pytest.raises(ConfigError, match=f"dtype: '{dtype}'"):
        OrtBackend.resolve(load_suite("tiny", {"dtype": dtype, "device": "cpu"}).runtime)


def test_export_key_names_what_changes_the_export():
    from dataclasses import replace

    from bench.backends import export
    from bench.models import MODELS

    spec = MODELS["tiny-sdxl"]
    base = export.key_fields(spec, "float32")
    assert export.export_key(base) == export.export_key(export.key_fields(spec, "float32"))
    changed = [
        export.key_fields(spec, "float16"),
        export.key_fields(replace(spec, lora=replace(spec.lora, scale=0.5)), "float32"),
        dict(base, opset=export.OPSET + 1),
        dict(base, libraries=dict(base["libraries"], diffusers="0.0")),
    ]
    assert len({export.export_key(base)} | {export.export_key(f) for f in changed}) == 1 + len(changed)


def test_psnr_and_max_diff_against_the_closed_form():
    a = np.zeros((64, 64, 3), np.uint8)
    b = a.copy()
    b[5, 7, 1] = 255  # one value off by the full range: MSE = 255^2 / 12288
    assert parity.psnr_db(a, b) == pytest.approx(10 * np.log10(64 * 64 * 3))
    assert parity.max_abs_diff(a, b) == 1.0
    b[5, 7, 1] = 1
    assert parity.max_abs_diff(a, b) == pytest.approx(ONE_LEVEL)
    assert parity.psnr_db(a, a) == parity.PSNR_CAP_DB and parity.max_abs_diff(a, a) == 0.0


def test_twin_prefers_the_same_run_and_needs_every_field_to_match():
    row = {
        "model": "m",
        "hub_id": "h",
        "revision": None,
        "lora": None,
        "lora_scale": np.nan,
        "vae": None,
        "scheduler": "ddim",
        "prompt_id": "p",
        "prompt": "x",
        "negative_prompt": "",
        "seed": 0,
        "steps": 2,
        "guidance_scale": 7.5,
        "width": 64,
        "height": 64,
        "status": "ok",
        "dtype": "float32",
    }
    frame = pd.DataFrame(
        [
            dict(row, cell_id="ort", backend="onnxruntime", run_id="r2", image_path="o.png", created_at=2),
            dict(row, cell_id="old", backend="pytorch", run_id="r1", image_path="old.png", created_at=1),
            dict(row, cell_id="new", backend="pytorch", run_id="r2", image_path="same-run.png", created_at=0),
            dict(
                row, cell_id="bad", backend="pytorch", run_id="r3", image_path="bad.png", created_at=3, status="failed"
            ),
            dict(row, cell_id="seed", backend="pytorch", run_id="r3", image_path="seed.png", created_at=3, seed=1),
        ]
    )
    pairs = parity.twins(frame, {"ort"})
    assert pairs.to_dict("records") == [{"cell_id": "ort", "other_image": "o.png", "torch_image": "same-run.png"}]
    assert parity.twins(frame[frame["cell_id"] != "new"], {"ort"})["torch_image"].tolist() == ["old.png"]
    # a shard that made only the PyTorch side compares the pair too (its ORT twin came first)
    assert parity.twins(frame, {"new"}).to_dict("records") == pairs.to_dict("records")
    assert parity.twins(frame, {"seed"}).empty  # a PyTorch cell without an ORT twin: nothing


def test_a_sweep_that_makes_only_the_pytorch_side_records_the_pairs_parity(first, tmp_path):
    """Shards split by backend: the one with ONNX Runtime's cells finished first and found no
    twin; the PyTorch shard must compare the pairs, or they never get parity scores."""
    ort_only = run(tmp_path, models=["tiny-sd"], backends=["onnxruntime"])
    assert ort_only.report.failed == 0 and parity.PSNR_METRIC not in set(ort_only.scores["metric"])
    both = run(tmp_path, models=["tiny-sd"], backends=["pytorch"])
    psnr = both.scores[both.scores["metric"] == parity.PSNR_METRIC]
    ort_cells = set(both.generations.loc[both.generations["backend"] == "onnxruntime", "cell_id"])
    assert len(ort_cells) == 2 and set(psnr["cell_id"]) == ort_cells and (psnr["value"] >= 60).all()


def sd_with_its_own_safety_checker(folder: Path) -> Path:
    """A copy of tiny SD as SD 1.x checkpoints ship: model_index.json lists a safety checker and its
    feature extractor, and this checker flags every image (every threshold below any cosine)."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    from bench.tiny import tiny_path

    shutil.copytree(tiny_path("tiny-sd"), folder)
    small = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2}
    checker = StableDiffusionSafetyChecker(
        CLIPConfig(text_config=small, vision_config=dict(small, image_size=32, patch_size=16), projection_dim=32)
    )
    checker.concept_embeds_weights.data.fill_(-2.0)  # below any cosine: every image is flagged
    checker.save_pretrained(folder / "safety_checker", safe_serialization=True)
    CLIPImageProcessor(size=32, crop_size=32).save_pretrained(folder / "feature_extractor")
    index = json.loads((folder / "model_index.json").read_text())
    index |= {
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "requires_safety_checker": True,
    }
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def test_a_model_that_ships_a_safety_checker_keeps_every_image_on_both_backends(tmp_path, monkeypatch):
    """One NSFW rule: no pipeline's own checker blanks an image (the nsfw metric flags it instead).
    A model whose model_index.json lists a checker that flags everything loads without it on both
    backends, and every image comes back ok and not black."""
    from dataclasses import replace

    from diffusers import StableDiffusionPipeline

    from bench.backends.base import Request
    from bench.backends.pytorch import DiffusersBackend
    from bench.models import MODELS
    from bench.runtime import Runtime

    folder = sd_with_its_own_safety_checker(tmp_path / "sd-with-checker")
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))  # its export stays out of the others' way
    request = Request("a red cube", "", (0, 1), 2, 7.5, 64, 64)
    # with its checker, as the folder asks, diffusers' own pipeline would blank both images
    with_it = StableDiffusionPipeline.from_pretrained(folder)
    with_it.set_progress_bar_config(disable=True)
    out = with_it("a red cube", num_inference_steps=2, height=64, width=64, num_images_per_prompt=2, output_type="np")
    assert out.nsfw_content_detected == [True, True] and not out.images.any()

    spec = replace(MODELS["tiny-sd"], key="sd-with-checker", hub_id=str(folder), tiny=False)
    asked = Runtime("cpu", "float32", "cpu")
    for backend in (
        DiffusersBackend(spec, DiffusersBackend.resolve(asked)),
        OrtBackend(spec, OrtBackend.resolve(asked)),
    ):
        backend.load()
        assert backend.pipe.safety_checker is None, type(backend).__name__
        result = backend.generate(request)
        assert [g.status for g in result.images] == ["ok", "ok"], type(backend).__name__
        assert all(np.asarray(g.image).max() > 0 for g in result.images), type(backend).__name__
        backend.close()


def test_export_is_published_whole_and_a_lost_race_uses_the_winner(monkeypatch, caplog):
    """No lock: each exporter writes its own temporary folder; the first rename wins."""
    from dataclasses import replace

    from bench.backends import export
    from bench.models import MODELS

    spec = replace(MODELS["tiny-sd"], key="race")
    final = cache_dir("onnx") / f"race-float32-{export.export_key(export.key_fields(spec, 'float32'))}"
    dead = cache_dir("onnx") / f".tmp-{final.name}-999999999-00000000"  # a killed exporter's
    dead.mkdir()
    (dead / STAGING_MARKER).touch()

    def export_while_another_process_wins(pipe, out, **kwargs):
        assert not dead.exists()  # orphans are cleared before a new export starts
        (Path(out) / "model.onnx").write_text("ours")
        final.mkdir()
        (final / export.MANIFEST).write_text("{}")  # theirs, published first

    monkeypatch.setattr("optimum.exporters.onnx.onnx_export_from_model", export_while_another_process_wins)
    with caplog.at_level(logging.INFO, logger="bench"):
        made = export.ensure(spec, "float32", "cpu", build=lambda: object())
    assert made.path == final and made.export_s > 0
    assert not (final / "model.onnx").exists()  # the winner's folder, untouched
    assert not list(cache_dir("onnx").glob(".tmp-race-*"))
    assert any("another process published" in r.getMessage() for r in caplog.records)
    # and a later call is a plain cache hit
    assert export.ensure(spec, "float32", "cpu", build=pytest.fail).export_s == 0.0
    shutil.rmtree(final)


def test_rows_record_the_io_binding_the_pipeline_used_and_the_plain_graph(first):
    ort = first.generations[first.generations["backend"] == "onnxruntime"]
    # optimum binds IO for CUDA sessions only; on the CPU it runs without
    assert set(ort["backend_options"]) == {json.dumps({"graph": "plain", "io_binding": False})}
    assert ort["compile_s"].isna().all()  # no engines to build, so no untimed first call


def test_io_binding_is_read_from_the_sessions():
    def pipe(**used):
        return SimpleNamespace(**{name: SimpleNamespace(use_io_binding=value) for name, value in used.items()})

    assert ort_backend.io_binding(pipe(unet=True, text_encoder=True, vae_decoder=True)) is True
    assert ort_backend.io_binding(pipe(unet=True, vae_decoder=False)) == {"unet": True, "vae_decoder": False}


def unused_initializer_model(folder: Path) -> Path:
    """A graph ONNX Runtime warns about when it loads it (an initializer no node uses)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1]) for name in ("x", "y")]
    unused = numpy_helper.from_array(np.zeros(1, np.float32), "unused")
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", io[:1], io[1:], [unused])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, folder / "warns.onnx")
    return folder / "warns.onnx"


def test_ort_logs_errors_only_unless_bench_debugs(tmp_path, capfd):
    import onnxruntime

    path = str(unused_initializer_model(tmp_path))
    onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert "Removing initializer 'unused'" in capfd.readouterr().err  # ORT's default: warnings

    logger = logging.getLogger("bench")
    level = logger.level
    try:
        logger.setLevel(logging.INFO)
        quiet = ort_backend.session_options()
        onnxruntime.InferenceSession(path, quiet, providers=["CPUExecutionProvider"])
        assert quiet.log_severity_level == 3 and "Removing initializer" not in capfd.readouterr().err
        logger.setLevel(logging.DEBUG)  # bench --debug
        loud = ort_backend.session_options()
        onnxruntime.InferenceSession(path, loud, providers=["CPUExecutionProvider"])
        assert loud.log_severity_level == 2 and "Removing initializer 'unused'" in capfd.readouterr().err
    finally:
        logger.setLevel(level)


def test_the_backends_sessions_use_those_options(first):
    from bench.models import MODELS
    from bench.runtime import Runtime

    backend = OrtBackend(MODELS["tiny-sd"], Runtime("cpu", "float32", "cpu"))
    backend.load()
    sessions = [getattr(backend.pipe, name) for name in ("unet", "text_encoder", "vae_decoder")]
    assert {part.session.get_session_options().log_severity_level for part in sessions} == {3}


@pytest.mark.parametrize("scheduler", ["ddim", "dpmpp-2m", "euler"])
def test_io_binding_without_guidance_leaves_the_latents_alone(first, scheduler):
    """Guidance 1 (no classifier-free guidance) with IO binding, optimum's default on CUDA and
    forced here on the CPU: its UNet wrote into the latents (13 dB for ddim and dpmpp-2m)."""
    from bench.backends.base import Request
    from bench.models import MODELS
    from bench.runtime import Runtime

    backend = OrtBackend(MODELS["tiny-sd"], Runtime("cpu", "float32", "cpu"))
    backend.load()
    backend.set_scheduler(scheduler)
    request = Request("a lighthouse", "", (0, 1), 4, 1.0, 64, 64)
    images = {}
    for bound in (False, True):
        backend.pipe.use_io_binding = bound
        images[bound] = [np.asarray(i.image) for i in backend.generate(request).images]
    assert backend.pipe.unet.use_io_binding and "forward" not in vars(backend.pipe.unet)  # restored
    assert all(parity.psnr_db(b, u) >= 60 for b, u in zip(images[True], images[False]))


def test_the_vae_is_exported_in_fp32_where_the_pytorch_pipeline_upcasts_it(tmp_path):
    from dataclasses import replace

    from bench.backends import export
    from bench.models import MODELS

    sd, sdxl = MODELS["tiny-sd"], MODELS["tiny-sdxl"]
    assert export.vae_dtype(sdxl, "float16") == "float32"  # its VAE config says force_upcast
    assert export.vae_dtype(sdxl, "float32") == "float32"
    assert export.vae_dtype(sd, "float16") == "float16"  # StableDiffusionPipeline never upcasts
    # a replacement VAE that is safe in fp16 (madebyollin/sdxl-vae-fp16-fix says so) is not upcast
    (tmp_path / "config.json").write_text(json.dumps({"force_upcast": False}))
    assert export.vae_dtype(replace(sdxl, vae=str(tmp_path)), "float16") == "float16"


def test_sdxl_in_fp16_decodes_like_its_pytorch_twin():
    """On a GPU every tiny SDXL cell in fp16 failed with "'ORTVae' object has no attribute
    'post_quant_conv'": diffusers' SDXL pipeline upcasts an fp16 VAE whose config says
    force_upcast, through `vae.post_quant_conv`, which optimum's ORT VAE does not have.

    fp16 on the CPU, which the plan refuses (slow), runs that very path here: torch traces the
    fp16 pipeline on the CPU, and ORT's CPU provider runs the fp16 graph by casting around
    kernels it lacks. Both backends then decode in fp32, as PyTorch does on the GPU.
    """
    from bench.backends.base import Request
    from bench.backends.pytorch import DiffusersBackend
    from bench.models import MODELS
    from bench.runtime import Runtime

    images = {}
    request = Request("a red cube on a table", "", (0,), 2, 7.5, 64, 64)
    for name, backend_class in (("ort", OrtBackend), ("torch", DiffusersBackend)):
        backend = backend_class(MODELS["tiny-sdxl"], Runtime("cpu", "float16", "cpu"))
        backend.load()
        backend.set_scheduler("euler-a")
        (generated,) = backend.generate(request).images
        assert generated.status == "ok"
        images[name] = np.asarray(generated.image)
        if name == "ort":
            pipe = backend.pipe
            inputs = {part: getattr(pipe, part).session.get_inputs()[0].type for part in ("unet", "vae_decoder")}
            assert inputs == {"unet": "tensor(float16)", "vae_decoder": "tensor(float)"}
    # fp16 UNets differ between the two by fp16 rounding: the GPU's fp16 SD twins gave 55-57 dB
    assert parity.psnr_db(images["ort"], images["torch"]) >= 45
    assert parity.max_abs_diff(images["ort"], images["torch"]) <= 4 * ONE_LEVEL


def test_tensorrt_with_the_optimized_graph_is_a_config_error():
    from dataclasses import replace

    from bench.runtime import Runtime

    asked = replace(Runtime(provider="tensorrt"), options=json.dumps({"optimize": True}))
    with pytest.raises(ConfigError, match="optimize: .* the tensorrt provider builds its engines from the plain graph"):
        OrtBackend.resolve(asked)


@pytest.fixture(scope="module")
def optimized(first, tmp_path_factory):
    """tiny-sd with ORT's optimized graphs, in the module's cache (the fp32 export is `first`'s)."""
    return run(
        tmp_path_factory.mktemp("optimized"),
        models=["tiny-sd"],
        backends=["pytorch", "onnxruntime"],
        backend_options={"onnxruntime": {"optimize": True}},
    )


def test_the_optimized_graph_is_made_once_and_recorded(optimized, tmp_path, monkeypatch):
    from bench.backends import ort_optimize

    assert optimized.report.failed == 0
    ort = optimized.generations[optimized.generations["backend"] == "onnxruntime"]
    assert set(ort["backend_options"]) == {json.dumps({"graph": "optimized", "io_binding": False})}
    # the fp32 export was `first`'s: export_s is the optimizer's own time
    assert (ort["export_s"] > 0).all() and "exporting" not in optimized.logged
    assert "optimizing the ONNX graphs of tiny-sd-float32-" in optimized.logged

    (folder,) = cache_dir("onnx-optimized").glob("tiny-sd-float32-*")
    fused = json.loads((folder / ort_optimize.MANIFEST).read_text())["fused"]
    # Every attention of the UNet (6 self, 6 cross) fused: NumPy 2.4 stopped the optimizer at the
    # first one without bench's fix. On the CPU: no CUDA-only operators.
    unet = fused["unet"]
    assert unet.get("Attention", 0) + unet.get("MultiHeadAttention", 0) == 12
    assert unet["SkipLayerNormalization"] > 0 and fused["text_encoder"]["SkipLayerNormalization"] > 0
    assert not any(op in part for part in fused.values() for op in ("NhwcConv", "GroupNorm", "BiasAdd"))

    def no_optimizer(*args, **kwargs):
        raise AssertionError("optimized again")

    monkeypatch.setattr("bench.backends.ort_optimize._in_child", no_optimizer)
    again = run(
        tmp_path,
        models=["tiny-sd"],
        backends=["onnxruntime"],
        seeds=[0],
        backend_options={"onnxruntime": {"optimize": True}},
    )
    assert again.report.failed == 0 and (again.generations["export_s"] == 0).all()


@pytest.fixture(scope="module")
def unet_fused_for_cuda(first, tmp_path_factory):
    """tiny-sd's UNet through ORT's optimizer with the CUDA fusions, asked for directly (what a
    full-size SD UNet gets on CUDA), in this process, with what it wrote on stderr: one run of the
    optimizer's longest part for the two tests below."""
    import os
    import tempfile

    from bench.backends import ort_optimize

    export = next(cache_dir("onnx").glob("tiny-sd-float32-*"))
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as err:
        os.dup2(err.fileno(), 2)
        try:
            fused = ort_optimize._optimize_part(
                export / "unet" / "model.onnx", tmp_path_factory.mktemp("unet"), "unet", True, True
            )
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        return SimpleNamespace(fused=fused, stderr=err.read())


def test_the_optimizer_draws_no_progress_bar_of_its_own(unet_fused_for_cuda):
    """ORT's UNet optimizer draws a tqdm "fusion" bar on stderr, which would sit under the
    sweep's own bar; bench creates it disabled, and tqdm is itself again afterwards."""
    import tqdm

    fused = unet_fused_for_cuda.fused
    assert fused.get("Attention", 0) + fused.get("MultiHeadAttention", 0) == 12  # it really ran
    assert "fusion" not in unet_fused_for_cuda.stderr
    assert tqdm.tqdm.__name__ == "tqdm"


def test_optimized_images_stay_close_to_the_plain_graphs(first, optimized):
    """The fusions reorder float arithmetic (fp32 throughout on the CPU): images move by at most
    a level or two, against their plain-graph and PyTorch twins alike."""
    from PIL import Image

    def ort_images(result):
        rows = result.generations.query("backend == 'onnxruntime' and model == 'tiny-sd' and status == 'ok'")
        return {
            row.seed: np.asarray(Image.open(result.folder / "images" / row.image_path)) for row in rows.itertuples()
        }

    plain, fused = ort_images(first), ort_images(optimized)
    assert sorted(plain) == sorted(fused) == [0, 1]
    for seed in plain:
        assert parity.psnr_db(plain[seed], fused[seed]) >= 60
        assert parity.max_abs_diff(plain[seed], fused[seed]) <= 2 * ONE_LEVEL
    scores = optimized.scores
    assert (scores[scores["metric"] == parity.PSNR_METRIC]["value"] >= 60).all()


def test_a_cpu_makes_the_optimized_graphs_of_a_cuda_run_ahead_of_it(optimized, monkeypatch):
    """scripts/bench_gpu.py --prepare: the CPU traces the fp32 export and runs ORT's optimizer with
    the CUDA fusions and fp16, and the CUDA run then finds both cached instead of spending its
    GPU time on them."""
    from dataclasses import replace

    from bench.backends import ort_optimize
    from bench.models import MODELS
    from bench.runtime import Runtime

    asked = replace(Runtime(device="cuda", dtype="float16"), options=json.dumps({"optimize": True}))
    ahead = OrtBackend(MODELS["tiny-sd"], OrtBackend.resolve(asked))
    assert (ahead.runtime.provider, ahead.runtime.dtype) == ("cuda", "float16")
    path, made_s = ahead.graphs(trace_on="cpu")
    manifest = json.loads((path / ort_optimize.MANIFEST).read_text())
    assert made_s > 0 and manifest["target"] == "cuda" and manifest["float16"] is True
    # tiny-sd's UNet is 32 and 64 channels wide: ORT's CUDA BiasAdd kernel would refuse it at the
    # first call, so it gets the fusions every provider runs (test below: SD widths get them all)
    assert manifest["cuda_fusions"] is False and manifest["fused"]["unet"]["MultiHeadAttention"] == 12
    cuda_only = ("NhwcConv", "GroupNorm", "SkipGroupNorm", "BiasAdd", "BiasSplitGelu")
    assert not any(op in part for part in manifest["fused"].values() for op in cuda_only)

    def made_again(*args, **kwargs):
        raise AssertionError("made again")

    monkeypatch.setattr("bench.backends.ort_optimize._in_child", made_again)
    monkeypatch.setattr("bench.backends.onnxruntime.pipeline_for_export", made_again)
    assert OrtBackend(MODELS["tiny-sd"], OrtBackend.resolve(asked)).graphs() == (path, 0.0)


def test_cuda_only_fusions_go_to_unets_of_stable_diffusion_s_widths(unet_fused_for_cuda, tmp_path):
    """The choice reads the exported UNet's config; the fusions themselves still run here on the
    tiny graph when asked for directly (what a full-size SD UNet gets on CUDA)."""
    from bench.backends import ort_optimize

    def export_of(widths):
        folder = tmp_path / f"export-{'-'.join(map(str, widths))}"
        (folder / "unet").mkdir(parents=True)
        (folder / "unet" / "config.json").write_text(json.dumps({"block_out_channels": widths}))
        return folder

    for widths, fit in [([320, 640, 1280, 1280], True), ([320, 640, 1280], True), ([32, 64], False)]:
        fields = ort_optimize.key_fields(export_of(widths), cuda=True, float16=True, fp32_parts=())
        assert fields["cuda_fusions"] is fit and fields["fusions"]["unet"]["enable_bias_add"] is fit
    assert (
        ort_optimize.key_fields(export_of([320, 640]), cuda=False, float16=False, fp32_parts=())["cuda_fusions"]
        is False
    )
    assert ort_optimize.cuda_kernels_fit(tmp_path / "no-export") is False

    fused = unet_fused_for_cuda.fused
    assert fused["NhwcConv"] > 0 and fused["BiasAdd"] > 0 and fused["MultiHeadAttention"] == 12


@pytest.mark.parametrize("stop", ["kill -9 of the optimizer", "Ctrl-C in the sweep"])
def test_a_stopped_optimizer_publishes_nothing_and_leaves_no_process(first, tmp_path, monkeypatch, stop):
    """The optimizer runs in a child process. Killed (as the out-of-memory killer does), the
    model's cells fail with the likely cause instead of the sweep dying with "Killed"; and when
    the sweep itself is stopped, the child goes too. Either way no folder is published."""
    import os
    import signal
    import subprocess
    import threading
    import time

    from bench.backends import ort_optimize

    export = next(cache_dir("onnx").glob("tiny-sd-float32-*"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    children, started = [], threading.Event()

    class Recorded(subprocess.Popen):
        def __init__(self, args, *rest, **kwargs):
            super().__init__(args, *rest, **kwargs)
            if "_child_main" in " ".join(map(str, args)):  # the optimizer's child, no other process
                children.append(self)
                started.set()

    monkeypatch.setattr(ort_optimize.subprocess, "Popen", Recorded)
    missed = []

    def stop_it():
        if not started.wait(60):
            return missed.append("the optimizer's child did not start within 60 s")
        time.sleep(1)  # mid-work, as a user's Ctrl-C or the OOM killer would come
        if children[0].poll() is not None:
            return missed.append(f"the optimizer's child ended before the stop (exit {children[0].returncode})")
        if stop.startswith("kill"):
            os.kill(children[0].pid, signal.SIGKILL)
        else:
            # to this process alone, at its main thread (where a terminal's Ctrl-C lands, and the
            # one thread whose wait for the child it interrupts): it must stop the child
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    stopper = threading.Thread(target=stop_it, daemon=True)
    stopper.start()
    expected = (
        pytest.raises(RuntimeError, match=r"stopped by signal 9; most likely out of memory: .* about \d+ GB of RAM")
        if stop.startswith("kill")
        else pytest.raises(KeyboardInterrupt)
    )
    try:
        with expected:
            ort_optimize.ensure(export, cuda=False, float16=False)
    finally:  # a stop that never came says why, rather than "DID NOT RAISE"
        stopper.join(5)
        assert not missed, missed
    # killed, or terminated by the stopped parent: never left to run on, nor ended on its own
    assert children[0].returncode == (-signal.SIGKILL if stop.startswith("kill") else -signal.SIGTERM)
    assert list((tmp_path / "onnx-optimized").iterdir()) == []  # nothing published, no staging left


def test_the_optimizer_dies_with_a_parent_that_ran_no_finally(first, tmp_path):
    """A script stopped by a SIGTERM it does not handle (gpu_checks.sh ending its background
    prepare) runs no `finally`; the optimizer must not go on alone for minutes with GBs of RAM."""
    import os
    import signal
    import subprocess
    import sys
    import time

    export = next(cache_dir("onnx").glob("tiny-sd-float32-*"))
    script = "\n".join(
        [
            "import subprocess, sys",
            "from pathlib import Path",
            "from bench.backends import ort_optimize",
            "class Shown(subprocess.Popen):",
            "    def __init__(self, *a, **k):",
            "        super().__init__(*a, **k)",
            "        print(self.pid, flush=True)",
            "ort_optimize.subprocess.Popen = Shown",
            "ort_optimize.ensure(Path(sys.argv[1]), cuda=False, float16=False)",
        ]
    )
    env = dict(os.environ, BENCH_CACHE=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", script, str(export)], stdout=subprocess.PIPE, text=True, env=env)
    child = int(parent.stdout.readline())
    time.sleep(2)  # mid-work

    def running(pid: int) -> bool:  # a zombie left for a non-reaping init counts as ended
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    assert running(child)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(30) == -signal.SIGTERM
    deadline = time.monotonic() + 120
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(child)
    # killed with its parent, not ended on its own: the result a finished child writes is absent
    (staging,) = (tmp_path / "onnx-optimized").glob(".tmp-*")  # the dead parent's: removed next run
    assert not (staging / ".optimizer-result.json").exists()


def test_the_optimizer_warns_before_it_starts_when_memory_looks_short(first, tmp_path, monkeypatch, caplog):
    """The warning comes before the optimizer's child starts, and it is only a warning: the
    child still runs. (The child here writes an empty result at once: what it would fuse is the
    tests above's business, and a real one takes seconds.)"""
    import subprocess
    import sys

    from bench.backends import ort_optimize

    export = next(cache_dir("onnx").glob("tiny-sd-float32-*"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    assert ort_optimize.available_memory_bytes() > 0  # Linux: read from /proc/meminfo
    monkeypatch.setattr(ort_optimize, "available_memory_bytes", lambda: 1000)
    logged_at_start = []

    class Child(subprocess.Popen):
        def __init__(self, args, **kwargs):
            logged_at_start.append(caplog.text)
            result = args[4]  # [python, -c, code, job, result path, sys.path]
            write = (
                "import json, sys; open(sys.argv[1], 'w').write(json.dumps(dict(fused={}, warnings=[], error=None)))"
            )
            super().__init__([sys.executable, "-c", write, result], **kwargs)

    monkeypatch.setattr(ort_optimize.subprocess, "Popen", Child)
    with caplog.at_level(logging.WARNING, logger="bench"):
        made = ort_optimize.ensure(export, cuda=False, float16=False)
    assert made.optimize_s > 0 and (made.path / ort_optimize.MANIFEST).is_file()
    warning = r"needs about \d+ GB of RAM for tiny-sd-float32-\w+ .* and 0 GB are available"
    assert len(logged_at_start) == 1 and re.search(warning, logged_at_start[0])
