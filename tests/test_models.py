"""Each model's quirks: native defaults, the suite's overrides on top, and that the backend applies
them (LoRA scale, VAE override, upcast attention, no safety checker, NaN flags)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.backends.base import Request
from bench.config import BACKENDS, OVERRIDABLE, load_suite
from bench.errors import ConfigError
from bench.models import FAMILIES, MODELS, ModelSpec
from bench.plan import cells_for
from bench.runtime import Runtime

REQUEST = Request(prompt="a red cube", negative_prompt="", seeds=(0,), steps=2, guidance_scale=7.5, width=64, height=64)


def cpu_cells(suite) -> list:
    """The suite's cells as a CPU-only machine plans them (no backend asked to resolve)."""
    cpu = Runtime("cpu", "float32", "cpu")
    specs = {key: suite.model_spec(key) for key in suite.models}
    return cells_for(suite, specs, {(b, f): cpu for b in BACKENDS for f in FAMILIES})[0]


def suite(tmp_path: Path, body: str):
    path = tmp_path / "suite.toml"
    path.write_text(body + '\n[[prompts]]\nid = "p"\ntext = "a red cube"\n', encoding="utf-8")
    return load_suite(str(path))


# --- registry defaults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, size",
    [
        ("sd15", 512),
        ("sd21", 768),
        ("sd21-base", 512),
        ("openjourney-v4", 512),
        ("dreamlike-photoreal-2", 768),  # its card: "trained on 768x768px images"
        ("dalle3-xl", 1024),
        ("dalle3-xl-sdxl", 1024),
        ("biggan-deep-128", 128),
        ("biggan-deep-256", 256),
        ("biggan-deep-512", 512),
    ],
)
def test_native_size(key, size):
    assert (MODELS[key].width, MODELS[key].height) == (size, size)


def test_the_quirks_users_of_each_model_expect():
    assert MODELS["sd21"].upcast_attention and MODELS["sd21-base"].upcast_attention
    assert not MODELS["sd15"].upcast_attention
    assert "own terms" in MODELS["dreamlike-photoreal-2"].licence
    assert all(m.licence for m in MODELS.values() if not m.tiny)


def test_the_dalle3_lora_runs_on_its_cards_base_as_its_author_runs_it_and_on_sdxl_beside_it():
    dalle, on_sdxl = MODELS["dalle3-xl"], MODELS["dalle3-xl-sdxl"]
    assert dalle.hub_id == "fluently/Fluently-XL-v2" and "Fluently-XL v2" in dalle.title
    assert on_sdxl.hub_id == "stabilityai/stable-diffusion-xl-base-1.0" and "SDXL base 1.0" in on_sdxl.title
    for spec in (dalle, on_sdxl):  # the author's Space: Euler Ancestral, 25 steps, slider at 6, scale 0.65
        assert spec.family == "sdxl" and (spec.steps, spec.guidance_scale, spec.scheduler_hint) == (25, 6.0, "euler-a")
        assert (spec.lora.hub_id, spec.lora.weight_name, spec.lora.scale) == (
            "ehristoforu/dalle-3-xl-v2",
            "dalle-3-xl-lora-v2.safetensors",
            0.65,
        )
        assert spec.lora.revision == "34e6b1b7b8327ffd89930f9ec7ae5beb92b3d4d4"
        assert spec.negative_prompt.startswith("(deformed, distorted")
    assert dalle.vae is None  # the author loads Fluently's own VAE
    assert (on_sdxl.vae, on_sdxl.vae_revision) == (
        "madebyollin/sdxl-vae-fp16-fix",
        "207b116dae70ace3637169f1ddd2434b91b3a8cd",
    )


def test_every_real_diffusion_model_pins_a_commit_and_cites_its_settings():
    from bench.schedulers import SCHEDULERS

    real = [m for m in MODELS.values() if not m.tiny and m.family != "gan"]
    assert {m.key for m in real} == {
        "sd15", "sd21", "sd21-base", "openjourney-v4", "dreamlike-photoreal-2", "dalle3-xl", "dalle3-xl-sdxl",
        "sdxl", "sd15-lcm", "sdxl-lcm", "sd15-tcd", "sdxl-tcd",
    }  # fmt: skip
    for m in real:
        assert m.revision and len(m.revision) == 40 and int(m.revision, 16) >= 0, m.key
        assert m.source.startswith("https://huggingface.co/"), m.key
        assert m.scheduler_hint is None or m.scheduler_hint in SCHEDULERS, m.key
    assert MODELS["dalle3-xl-sdxl"].revision == "462165984030d82259a11f4367a4eed129e94a7b"


def test_a_suite_that_runs_a_model_off_its_card_is_warned_once_per_model(tmp_path):
    from bench.models import off_card
    from bench.plan import card_warnings

    forced = suite(tmp_path, 'models = ["sd21", "sd15", "dalle3-xl"]\nwidth = 512\nheight = 512\nsteps = 50')
    specs = {k: forced.model_spec(k) for k in forced.models}
    assert off_card(specs["sd15"]) == []  # 512 px and 50 steps are its card's
    assert off_card(specs["sd21"]) == ["size 512x512 (native 768x768)"]
    assert off_card(specs["dalle3-xl"]) == ["size 512x512 (native 1024x1024)", "steps 50 (card 25)"]
    (sd21, dalle) = card_warnings(specs)
    assert sd21.startswith("sd21 runs off its card") and dalle.startswith("dalle3-xl runs off its card")
    native = suite(tmp_path, 'models = ["sd21", "dalle3-xl"]')
    assert card_warnings({k: native.model_spec(k) for k in native.models}) == []


def test_biggan_entries_fetch_from_the_package_urls_and_pin_what_is_known():
    for size in (128, 256, 512):
        spec = MODELS[f"biggan-deep-{size}"]
        assert spec.family == "gan" and spec.truncation == 0.4 and spec.class_top_k == 1
        assert spec.weights_url == f"https://s3.amazonaws.com/models.huggingface.co/biggan/biggan-deep-{size}-{{name}}"
        assert not spec.trust_unpinned_weights
    assert MODELS["biggan-deep-128"].weights_sha256  # the only hash published where we could read it
    assert MODELS["tiny-biggan"].tiny and MODELS["tiny-biggan"].class_clip == "clip_tiny"


# --- overrides ---------------------------------------------------------------------------------


def test_overrides_layer_model_then_suite_then_per_model(tmp_path):
    s = suite(
        tmp_path,
        """models = ["sd21", "dalle3-xl", "sd15"]
steps = 20
width = 512
[model_overrides.dalle3-xl]
hub_id = "/models/another-sdxl"
revision = "abc123"
lora_scale = 0.6
vae = "stabilityai/sd-vae-ft-mse"
negative_prompt = "blurry"
width = 1024
""",
    )
    sd21, dalle, sd15 = (s.model_spec(k) for k in ("sd21", "dalle3-xl", "sd15"))
    assert (sd21.steps, sd21.width, sd21.height, sd21.upcast_attention) == (20, 512, 768, True)
    assert (dalle.hub_id, dalle.revision, dalle.lora.scale, dalle.vae) == (
        "/models/another-sdxl",
        "abc123",
        0.6,
        "stabilityai/sd-vae-ft-mse",
    )
    assert (dalle.negative_prompt, dalle.width, dalle.steps) == ("blurry", 1024, 20)
    assert dalle.lora.hub_id == "ehristoforu/dalle-3-xl-v2"  # only the scale changed
    assert (sd15.negative_prompt, sd15.vae, sd15.lora) == ("", None, None)
    assert MODELS["dalle3-xl"].lora.scale == 0.65  # the registry itself is untouched


def test_gan_keeps_its_native_size_under_suite_settings_and_takes_its_own_knobs(tmp_path):
    s = suite(
        tmp_path,
        """models = ["biggan-deep-256", "sd15"]
steps = 30
guidance_scale = 7.5
width = 512
height = 512
[model_overrides.biggan-deep-256]
truncation = 0.7
class_top_k = 3
weights_sha256 = "%s"
"""
        % ("ab" * 32),
    )
    gan = s.model_spec("biggan-deep-256")
    assert (gan.width, gan.height, gan.steps, gan.guidance_scale) == (256, 256, 0, 0.0)
    assert (gan.truncation, gan.class_top_k, gan.weights_sha256) == (0.7, 3, "ab" * 32)
    assert gan.image_knobs()["truncation"] == 0.7 and s.model_spec("sd15").image_knobs() == {}
    gan_cells = [c for c in cpu_cells(s) if c.model == "biggan-deep-256"]
    assert len(gan_cells) == 1 and gan_cells[0].scheduler is None and gan_cells[0].width == 256


@pytest.mark.parametrize(
    "key, value, hint",
    [
        ("truncation", 0, "(0, 1]"),
        ("truncation", 1.5, "(0, 1]"),
        ("class_top_k", 0, "1..1000"),
        ("class_clip", '"fid"', "clip_vit_b_32"),
        ("class_templates", '"fancy"', "openai"),
        ("weights_sha256", '"abc"', "64 lowercase hex"),
        ("weights_url", '"https://x/y.bin"', "{name}"),
    ],
)
def test_bad_gan_knobs_fail_naming_the_field(tmp_path, key, value, hint):
    s = suite(tmp_path, f'models = ["biggan-deep-256"]\n[model_overrides.biggan-deep-256]\n{key} = {value}')
    with pytest.raises(ConfigError, match=key) as e:
        s.model_spec("biggan-deep-256")
    assert hint in str(e.value)


def test_every_overridable_key_is_a_model_setting():
    # lora_scale is the one key that lands inside a field (ModelSpec.lora.scale).
    assert set(OVERRIDABLE) - {"lora_scale"} <= set(ModelSpec.__dataclass_fields__)
    assert {"truncation", "class_top_k", "weights_sha256"} <= set(OVERRIDABLE)


def test_negative_prompt_default_and_per_prompt(tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "sd15", replace(MODELS["sd15"], negative_prompt="lowres"))
    path = tmp_path / "suite.toml"
    path.write_text(
        'models = ["sd15"]\n[[prompts]]\nid = "a"\ntext = "x"\n'
        '[[prompts]]\nid = "b"\ntext = "y"\nnegative = "text, watermark"\n',
        encoding="utf-8",
    )
    cells = cpu_cells(load_suite(str(path)))
    assert {c.prompt_id: c.negative_prompt for c in cells} == {"a": "lowres", "b": "text, watermark"}


# --- the backend applies them ------------------------------------------------------------------


def load(spec, **suite_values):
    from bench.backends.pytorch import DiffusersBackend

    s = load_suite("tiny", {"models": spec.key, **suite_values})
    backend = DiffusersBackend(spec, DiffusersBackend.resolve(s.runtime))
    backend.load()
    backend.set_scheduler("ddim")
    return backend


def image(backend) -> np.ndarray:
    return np.asarray(backend.generate(REQUEST).images[0].image)


@pytest.mark.slow
def test_sdxl_lora_changes_the_image_and_scale_zero_gives_the_base(tmp_path):
    s = suite(tmp_path, 'models = ["tiny-sdxl"]\n[model_overrides.tiny-sdxl]\nlora_scale = 0.0')
    zero = s.model_spec("tiny-sdxl")
    assert zero.lora.scale == 0.0
    at_zero = image(load(zero))
    full = load(MODELS["tiny-sdxl"])
    at_one = image(full)
    full.pipe.unload_lora_weights()  # without fusing, unloading restores the base exactly
    base = image(full)
    assert np.array_equal(at_zero, base)
    assert not np.array_equal(at_one, base)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["tiny-sd", "tiny-sdxl"])
def test_fused_qkv_keeps_the_lora_and_the_image(key):
    """fuse_qkv_projections concatenates to_q/k/v's base weights: tiny-sdxl's LoRA, on those very
    layers, was dropped (30 dB from eager) until it was merged first."""
    from bench.backends.pytorch import DiffusersBackend
    from bench.parity import psnr_db

    s = load_suite("tiny", {"models": key, "backend_options": {"pytorch": {"fused_qkv": True}}})
    fused = DiffusersBackend(MODELS[key], DiffusersBackend.resolve(s.runtime_for("pytorch")))
    applied = fused.load().options
    fused.set_scheduler("ddim")
    assert applied == ({"lora_fused": True, "fused_qkv": True} if MODELS[key].lora else {"fused_qkv": True})
    assert any(getattr(m, "fused_projections", False) for m in fused.pipe.unet.modules())
    assert psnr_db(image(fused), image(load(MODELS[key]))) >= 60


@pytest.mark.slow
def test_vae_override_is_the_vae_that_decodes(tmp_path):
    import torch
    from diffusers import AutoencoderKL

    from bench.tiny import tiny_path

    vae = AutoencoderKL.from_pretrained(tiny_path("tiny-sd") / "vae")
    with torch.no_grad():  # another VAE than the tiny model's own
        vae.decoder.conv_out.weight.add_(
            torch.randn(vae.decoder.conv_out.weight.shape, generator=torch.Generator().manual_seed(1))
        )
    vae.save_pretrained(tmp_path / "vae")
    spec = MODELS["tiny-sd"]
    own, other = load(spec), load(replace(spec, vae=str(tmp_path / "vae")))
    weight = "decoder.conv_out.weight"
    saved = type(other.pipe.vae).from_pretrained(tmp_path / "vae").state_dict()[weight]
    # on a GPU the pipeline holds it in float16 on the device: compare what it holds
    held = other.pipe.vae.state_dict()[weight]
    assert torch.equal(held.cpu(), saved.to(held.dtype))
    assert not np.array_equal(image(own), image(other))


@pytest.mark.slow
@pytest.mark.parametrize("dtype, upcast", [("float16", True), ("float32", False)])
def test_upcast_attention_is_applied_in_half_precision(dtype, upcast):
    backend = load(replace(MODELS["tiny-sd"], upcast_attention=True), dtype=dtype, device="cpu")
    assert backend.pipe.unet.config.upcast_attention is upcast


def test_nan_images_are_flagged_not_kept_and_a_pipelines_nsfw_flag_decides_nothing():
    """One NSFW rule: a pipeline's own `nsfw_content_detected` never drops an image (the backends
    load none that could set it; the nsfw metric flags images instead)."""
    from bench.backends.diffusion import run_pipeline

    class Pipe:  # a pipeline that reports its own NSFW flags
        def __call__(self, **kwargs):
            images = np.full((3, 8, 8, 3), 0.5, dtype=np.float32)
            images[0, 0, 0, 0] = np.nan
            return type("Out", (), {"images": images, "nsfw_content_detected": [False, True, False]})()

    result = run_pipeline(Pipe(), replace(REQUEST, seeds=(0, 1, 2)), "cpu")
    assert [g.status for g in result.images] == ["nan", "ok", "ok"]
    assert result.images[0].image is None and result.images[1].image is not None


def test_sd_pipelines_load_without_their_safety_checker_and_sdxl_gets_no_such_argument():
    import diffusers

    from bench.backends.diffusion import without_safety_checker

    sd = without_safety_checker(diffusers.StableDiffusionPipeline)
    assert sd == {"safety_checker": None, "requires_safety_checker": False}
    assert without_safety_checker(diffusers.StableDiffusionXLPipeline) == {}


def test_only_ok_images_are_scored():
    from bench.scoring import pending

    # "nsfw": an older run's image, blanked by a pipeline's own checker (nothing writes it now)
    generations = pd.DataFrame({"cell_id": list("abcd"), "status": ["ok", "nan", "nsfw", "failed"]})
    scores = pd.DataFrame({"cell_id": [], "metric": []})
    assert list(pending(generations, scores, "clip_vit_b_32")["cell_id"]) == ["a"]


def test_a_few_step_loras_card_scheduler_fits_it_and_nowhere_else():
    """No base scheduler lists LCMScheduler or TCDScheduler among its compatibles: the card's
    scheduler of a model with such a LoRA is accepted for that model only."""
    from bench.weights.check import check_compatible, preflight

    lcm = MODELS["tiny-sdxl-lcm"]
    preflight([lcm], {lcm.key: ["lcm", "euler"]}, [])
    with pytest.raises(ConfigError, match="'lcm' is not compatible with model 'tiny-sdxl'"):
        preflight([MODELS["tiny-sdxl"]], {"tiny-sdxl": ["lcm"]}, [])
    with pytest.raises(ConfigError, match="'tcd' is not compatible"):
        check_compatible("EulerDiscreteScheduler", "tiny-sdxl-lcm", ["tcd"], card="lcm")
    real = {k: MODELS[k] for k in ("sd15-lcm", "sdxl-lcm", "sd15-tcd", "sdxl-tcd")}
    assert {(m.steps, m.scheduler_hint, m.eta) for m in real.values()} == {(4, "lcm", None), (4, "tcd", 0.3)}
    assert all(m.lora.revision and len(m.lora.revision) == 40 for m in real.values())


@pytest.mark.slow
def test_tcd_runs_with_its_cards_eta_and_lcm_runs_its_few_steps():
    from dataclasses import replace

    from bench.backends.base import Request
    from bench.sweep import eta_of

    tcd = MODELS["tiny-sdxl-tcd"]
    backend = load(tcd)
    backend.set_scheduler("tcd")
    request = replace(REQUEST, steps=tcd.steps, guidance_scale=tcd.guidance_scale)
    # the card's eta (TCD's gamma) reaches the pipeline call: its noise changes the picture
    cell = cpu_cells(load_suite("tiny", {"models": tcd.key, "seeds": "0"}))[0]
    assert eta_of(cell) == 0.3 and "eta" in cell.knobs  # and so the cell id says which eta made it
    with_eta = np.asarray(backend.generate(replace(request, eta=0.3)).images[0].image, dtype=float)
    without = np.asarray(backend.generate(replace(request, eta=0.0)).images[0].image, dtype=float)
    assert np.isfinite(with_eta).all() and np.abs(with_eta - without).max() > 1
    again = np.asarray(backend.generate(replace(request, eta=0.3)).images[0].image, dtype=float)
    assert np.array_equal(with_eta, again)  # its noise comes from the seed's generator
    lcm = load(MODELS["tiny-sdxl-lcm"])
    lcm.set_scheduler("lcm")
    result = lcm.generate(Request("a red cube", "", (0, 1), 4, 1.0, 64, 64))
    assert [g.status for g in result.images] == ["ok", "ok"]
