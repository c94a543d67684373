"""Fixed initial latents: a suite's .npy file read safely, checked against every model's latent
space, part of the cell id only when given, and the very noise both backends start from."""

from __future__ import annotations

import hashlib
import math
import re
from importlib import resources

import numpy as np
import pytest

from bench import latents, plan, store, sweep
from bench.backends.base import Request
from bench.backends.onnxruntime import OrtBackend
from bench.backends.pytorch import DiffusersBackend
from bench.config import BACKENDS, Suite, load_suite
from bench.errors import ConfigError
from bench.models import FAMILIES, MODELS
from bench.runtime import Runtime

CPU = Runtime("cpu", "float32", "cpu")
TWO_PROMPTS = [{"id": "cube", "text": "a red cube"}, {"id": "ball", "text": "a blue ball"}]


def tiny_latents(folder, count: int = 1, size: int = 16, seed: int = 0):
    """`count` latents for tiny SD/SDXL at 64 px (their VAE quarters the size), saved as .npy."""
    path = folder / f"latents-{count}-{size}-{seed}.npy"
    np.save(path, np.random.default_rng(seed).standard_normal((count, 4, size, size)).astype(np.float32))
    return path


def suite(**settings) -> Suite:
    return Suite(**{"name": "t", "models": ["tiny-sd"], "prompts": TWO_PROMPTS, "steps": 2, **settings})


def planned(s: Suite) -> list[plan.Cell]:
    specs = {key: s.model_spec(key) for key in s.models}
    return plan.cells_for(s, specs, {(b, f): CPU for b in BACKENDS for f in FAMILIES})[0]


def test_the_shipped_mlperf_latent_is_the_file_its_readme_pins():
    folder = resources.files("bench").joinpath("data", "mlperf-sdxl")
    readme = folder.joinpath("README.md").read_text()
    pinned = re.search(r"\| latents\.npy \| \S+ \| ([0-9a-f]{40}) \| ([0-9a-f]{64}) \|", readme)
    data = folder.joinpath("latents.npy").read_bytes()
    assert hashlib.sha256(data).hexdigest() == pinned[2] == latents.SHIPPED["mlperf-sdxl"][1]
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == pinned[1]  # git's blob id
    read = latents.read("mlperf-sdxl")
    assert read.shape == (1, 4, 128, 128) and read.count == 1


def test_one_latent_serves_every_prompt_and_a_stack_gives_one_per_prompt(tmp_path):
    one = suite(latents=str(tiny_latents(tmp_path, 1)))
    assert [c.latent_index for c in planned(one)] == [0, 0]
    each = suite(latents=str(tiny_latents(tmp_path, 2)))
    assert [(c.prompt_id, c.latent_index) for c in planned(each)] == [("cube", 0), ("ball", 1)]
    with pytest.raises(
        ConfigError, match=r"^latents: .* holds 3 latents; need 1 \(for every prompt\) or one per prompt \(2\)$"
    ):
        suite(latents=str(tiny_latents(tmp_path, 3)))


def test_a_suite_file_names_its_latents_relative_to_itself(tmp_path):
    (tmp_path / "sub").mkdir()
    tiny_latents(tmp_path / "sub")
    (tmp_path / "sub" / "s.toml").write_text(
        'models = ["tiny-sd"]\nlatents = "latents-1-16-0.npy"\n[[prompts]]\nid = "a"\ntext = "a cat"\n'
    )
    assert load_suite(str(tmp_path / "sub" / "s.toml")).latents.path == str(tmp_path / "sub" / "latents-1-16-0.npy")


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: np.save(p, np.array([{"code": 1}], dtype=object)), "not a plain .npy array"),
        (lambda p: np.save(p, np.zeros((4, 32, 32), np.float32)), r"must have shape \(N, C, H, W\)"),
        (lambda p: np.save(p, np.zeros((1, 4, 32, 32), np.int64)), "must hold floats"),
        (lambda p: np.save(p, np.full((1, 4, 32, 32), np.nan, np.float32)), "non-finite"),
        (lambda p: p.write_bytes(b"not numpy"), "not a plain .npy array"),
    ],
)
def test_bad_latent_files_fail_with_one_line_and_a_pickle_is_never_loaded(tmp_path, make, reason):
    path = tmp_path / "bad.npy"
    make(path)
    with pytest.raises(ConfigError, match=f"^latents: .*{reason}") as error:
        suite(latents=str(path))
    assert "\n" not in str(error.value)


def test_latents_that_do_not_fit_a_model_fail_before_anything_loads(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^latents: 'mlperf-sdxl' holds .* \(4, 128, 128\), but tiny-sd at 64x64 starts from \(4, 16, 16\)$",
    ):
        planned(suite(latents="mlperf-sdxl"))
    with pytest.raises(ConfigError, match="tiny-sd at 128x128 starts from"):
        planned(suite(latents=str(tiny_latents(tmp_path)), width=128, height=128))
    with pytest.raises(ConfigError, match="tiny-biggan is a GAN"):
        planned(suite(latents=str(tiny_latents(tmp_path)), models=["tiny-biggan"]))
    # SDXL base at its native 1024 px starts from MLPerf's latent
    assert len(planned(suite(latents="mlperf-sdxl", models=["sdxl"]))) == 2


def test_the_latents_hash_and_index_are_identity_only_when_given(tmp_path):
    plain = {c.prompt_id: c.cell_id for c in planned(suite())}
    first = {c.prompt_id: c for c in planned(suite(latents=str(tiny_latents(tmp_path, seed=0))))}
    other = {c.prompt_id: c.cell_id for c in planned(suite(latents=str(tiny_latents(tmp_path, seed=1))))}
    assert first["cube"].latents_sha256 == latents.read(first["cube"].latents_file).sha256
    assert len({plain["cube"], first["cube"].cell_id, other["cube"]}) == 3
    # the file's place on disk is not identity: a moved copy makes the same cells
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "l.npy").write_bytes((tmp_path / "latents-1-16-0.npy").read_bytes())
    assert {c.prompt_id: c.cell_id for c in planned(suite(latents=str(moved / "l.npy")))} == {
        k: c.cell_id for k, c in first.items()
    }


def test_the_tiny_specs_state_the_latent_geometry_their_pipelines_have():
    backend = DiffusersBackend(MODELS["tiny-sdxl"], CPU)
    backend.load()
    assert backend.pipe.vae_scale_factor == MODELS["tiny-sdxl"].vae_scale_factor
    assert backend.pipe.unet.config.in_channels == MODELS["tiny-sdxl"].latent_channels


def first_inputs(backend, request: Request) -> tuple[np.ndarray, np.ndarray]:
    """What the denoising loop starts from: the latents handed to the scheduler's first
    scale_model_input, and the UNet's first `sample` input."""
    pipe, seen = backend.pipe, {}
    scale, forward = pipe.scheduler.scale_model_input, pipe.unet.forward

    def record_scale(sample, *args, **kwargs):
        seen.setdefault("loop", sample.detach().float().numpy().copy())
        return scale(sample, *args, **kwargs)

    def record_unet(sample, *args, **kwargs):
        seen.setdefault("unet", sample.detach().float().numpy().copy())
        return forward(sample, *args, **kwargs)

    pipe.scheduler.scale_model_input = record_scale
    pipe.unet.forward = record_unet
    try:
        backend.generate(request)
    finally:
        del pipe.unet.forward
    return seen["loop"], seen["unet"]


@pytest.mark.slow
@pytest.mark.parametrize("backend_class", [DiffusersBackend, OrtBackend], ids=["pytorch", "onnxruntime"])
def test_the_denoising_loop_starts_from_the_file_times_init_noise_sigma(tmp_path, backend_class):
    latent = np.load(tiny_latents(tmp_path), allow_pickle=False)[0]
    backend = backend_class(MODELS["tiny-sd"], backend_class.resolve(CPU))
    backend.load()
    backend.set_scheduler("euler")  # MLPerf's: init_noise_sigma and the input scaling are not 1
    request = Request("a red cube", "", (0, 1), 2, 7.5, 64, 64, latents=latent)
    loop, unet = first_inputs(backend, request)
    scheduler = backend.pipe.scheduler
    sigma = float(scheduler.init_noise_sigma)
    assert sigma > 1.5
    # both seeds start from the same latent; classifier-free guidance doubles the batch
    # ([uncond, cond]) before the scheduler scales the UNet's input
    expected = np.broadcast_to(latent * sigma, (4, *latent.shape))
    np.testing.assert_allclose(loop, expected, rtol=1e-6, atol=1e-6)
    # Euler's input scaling, 1 / sqrt(sigma_0^2 + 1) (Karras et al. 2022, EDM's c_in)
    first_sigma = float(scheduler.sigmas[0])
    np.testing.assert_allclose(unet, expected / math.sqrt(first_sigma**2 + 1), rtol=1e-5, atol=1e-5)
    # without the file, the seeds' own noise: the check above could fail
    seeded, _ = first_inputs(backend, Request("a red cube", "", (0, 1), 2, 7.5, 64, 64))
    assert not np.allclose(seeded, expected, atol=0.1)
    backend.close()


@pytest.mark.slow
def test_a_sweep_records_the_latents_it_started_from(tmp_path):
    path = tiny_latents(tmp_path, 2)
    s = suite(latents=str(path), schedulers=["euler"], seeds=[0], metrics=["clip_tiny"])
    report = sweep.run(s, tmp_path / "data", tmp_path / "images", score=False)
    assert report.ok == 2
    rows = store.read(tmp_path / "data", "generations").set_index("prompt_id")
    sha = latents.read(str(path)).sha256
    assert list(rows.loc[["cube", "ball"], "latents_sha256"]) == [sha, sha]
    assert list(rows.loc[["cube", "ball"], "latent_index"]) == [0, 1]
    # two prompts from two latents, the same seed: their images differ, and rerunning is a no-op
    assert rows.loc["cube", "image_sha256"] != rows.loc["ball", "image_sha256"]
    assert sweep.run(s, tmp_path / "data", tmp_path / "images", score=False).skipped_done == 2


def test_the_mlperf_suite_plans_5000_captions_on_one_latent_with_mlperfs_settings():
    s = load_suite("mlperf-sdxl")
    made = planned(s)
    assert len(made) == 5000 and len({c.prompt_id for c in made}) == 5000
    assert {c.latents_sha256 for c in made} == {latents.SHIPPED["mlperf-sdxl"][1]} and {
        c.latent_index for c in made
    } == {0}
    assert {(c.model, c.scheduler, c.steps, c.guidance_scale, c.width, c.height) for c in made} == {
        ("sdxl", "euler", 20, 8.0, 1024, 1024)
    }
    assert {c.negative_prompt for c in made} == {
        "normal quality, low quality, worst quality, low res, blurry, nsfw, nude"
    }


@pytest.mark.slow
def test_the_tiny_mlperf_twin_runs_offline_from_its_latent_and_writes_clip_fid_and_kid(tmp_path):
    s = load_suite("mlperf-tiny")
    report = sweep.run(s, tmp_path / "data", tmp_path / "images")
    rows = store.read(tmp_path / "data", "generations")
    assert report.ok == 4 and set(rows["latents_sha256"]) == {latents.SHIPPED["mlperf-tiny"][1]}
    assert set(rows["model"]) == {"tiny-sdxl-base"} and rows["lora"].isna().all()
    assert len(store.read(tmp_path / "data", "scores").query("metric == 'clip_tiny'")) == 4
    # one image set (one model, backend, scheduler and settings): one FID and one KID row, over
    # its 4 images, indicative beside the protocol's 5,000
    sets = store.read(tmp_path / "data", "set_scores").set_index("metric")
    assert sorted(sets.index) == ["fid_tiny", "kid_tiny"]
    assert list(sets["n_images"]) == [4, 4] and sets["indicative"].all() and set(sets["protocol_images"]) == {5000}
    assert (sets["value"] > 0).all() and sets["set_key"].nunique() == 1
    assert sets.loc["fid_tiny", "value_std"] != sets.loc["fid_tiny", "value_std"]  # null: FID has no spread
    assert report.scored == 4 + 2
    # a second sweep finds the set scored on the same images: nothing is scored again
    assert sweep.run(s, tmp_path / "data", tmp_path / "images").scored == 0
