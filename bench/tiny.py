"""Tiny models with random weights, built from small configs the way diffusers' own tests do.

They are saved with `save_pretrained` into the cache and loaded back through the very code path
a real model takes, so the `tiny` suite exercises everything offline in seconds. The images mean
nothing; the code paths are the point. Builds are seeded, so every build is the same model.
Every random-weight recipe lives here: tiny SD, SDXL and its LoRA, CLIP and BigGAN, and the
full-size SD 1.5 architecture that speed benchmarks use.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import shutil
from functools import cache
from pathlib import Path

from bench.files import cache_dir, staged_dir
from bench.models import GAN_CONFIG_FILE, GAN_WEIGHTS_FILE, IMAGENET_CLASSES

# Bump when a recipe below changes, so stale caches are rebuilt rather than silently reused.
RECIPE_VERSION = "3"
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
}
# SD 1.5's own scheduler config: PNDM, whose `compatibles` list every Karras scheduler.
SD_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
}


def tiny_root() -> Path:
    return cache_dir("tiny", f"v{RECIPE_VERSION}")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_clip_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """vocab.json + merges.txt of the real CLIP tokenizer, from the BPE file open_clip ships.

    Same construction as OpenAI's SimpleTokenizer, so token ids equal open_clip's (49408 tokens).
    """
    import open_clip.tokenizer

    bpe = Path(open_clip.tokenizer.default_bpe())
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(_bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    vocab_file.write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    return vocab_file, merges_file


def clip_tokenizer(scratch: Path):
    """The real CLIP tokenizer (SD 1.x/2.x/XL all use it), built offline."""
    from transformers import CLIPTokenizer

    vocab_file, merges_file = write_clip_tokenizer_files(scratch / "_bpe")
    return CLIPTokenizer(str(vocab_file), str(merges_file), pad_token="<|endoftext|>", model_max_length=77)


def save_sd_pipeline(out: Path, scratch: Path, unet, vae, text_encoder) -> None:
    """An SD 1.x pipeline around the given modules, with the real CLIP tokenizer and SD 1.5's
    scheduler, saved the way real checkpoints are (no safety checker: random weights)."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(scratch),
        scheduler=PNDMScheduler.from_config(SD_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)


def _text_config(**sizes):
    """CLIP's text encoder config with the real tokenizer's ids; tiny unless `sizes` say otherwise."""
    from transformers import CLIPTextConfig

    tiny = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=5)
    return CLIPTextConfig(
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        vocab_size=49408,
        layer_norm_eps=1e-05,
        max_position_embeddings=77,
        **(tiny | sizes),
    )


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[32, 64, 64],
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        sample_size=64,
    )


def _build_sd(out: Path, work: Path) -> None:
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    torch.manual_seed(0)
    vae = _vae()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(_text_config())
    save_sd_pipeline(out, work, unet, vae, text_encoder)


def _build_sdxl(out: Path, lora_out: Path, work: Path) -> None:
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        # 6 size/crop ids x 8 + the pooled text embedding (projection_dim 32)
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
    )
    torch.manual_seed(0)
    vae = _vae()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(_text_config(hidden_act="gelu", projection_dim=32))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(hidden_act="gelu", projection_dim=32))
    tokenizer = clip_tokenizer(work)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        scheduler=scheduler,
    )
    pipe.save_pretrained(out, safe_serialization=True)

    # A random LoRA on the UNet's attention, saved the way trainers save theirs.
    torch.manual_seed(1)
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_k", "to_q", "to_v", "to_out.0"])
    )
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionXLPipeline.save_lora_weights(lora_out, unet_lora_layers=layers, safe_serialization=True)


def _build_clip(out: Path, _scratch: Path) -> None:
    import open_clip
    import torch

    (out / "tiny-clip.json").write_text(json.dumps(TINY_CLIP_CONFIG), encoding="utf-8")
    torch.manual_seed(0)
    # The model class itself, not create_model(pretrained=None), which warns on the root logger
    # that the model is random; the weights are the same.
    model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    torch.save(model.state_dict(), out / "open_clip_model.pt")


# 64 px in four up-sampling blocks; channels are multiples of channel_width, and a block that
# changes them must halve them (the residual keeps the first half). 1000 classes as the real one.
TINY_BIGGAN_CONFIG = {
    "output_dim": 64,
    "z_dim": 32,
    "class_embed_dim": 32,
    "channel_width": 8,
    "num_classes": IMAGENET_CLASSES,
    "layers": [(False, 16, 16), (True, 16, 8), (True, 8, 4), (True, 4, 2), (True, 2, 1)],
    "attention_layer_position": 3,
    "eps": 1e-4,
    "n_stats": 51,
}


def _build_biggan(out: Path, _scratch: Path) -> None:
    """A random BigGAN saved exactly as the real ones are (config.json + pytorch_model.bin).

    Two fixes keep it finite: the final batch norm's weight and bias are created uninitialised
    (`torch.Tensor(n)`), so they are set to ones and zeros; and spectral norm's u/v vectors start
    random, which blows activations up to ~1e23 in eval mode, so a few forward passes in training
    mode run its power iteration first (nothing else in BigGAN differs between the two modes).
    """
    import torch
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    torch.manual_seed(0)
    config = BigGANConfig(**TINY_BIGGAN_CONFIG)
    model = BigGAN(config)
    torch.nn.init.ones_(model.generator.bn.weight)
    torch.nn.init.zeros_(model.generator.bn.bias)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(4, config.z_dim, generator=generator) * 0.4
    classes = torch.eye(IMAGENET_CLASSES)[:4]
    model.train()
    with torch.no_grad():
        for _ in range(10):
            model(noise, classes, 0.4)
    model.eval()
    with torch.no_grad():
        if not torch.isfinite(model(noise, classes, 0.4)).all():
            raise RuntimeError("tiny BigGAN still outputs non-finite values")
    (out / GAN_CONFIG_FILE).write_text(config.to_json_string(), encoding="utf-8")
    torch.save(model.state_dict(), out / GAN_WEIGHTS_FILE)


def _ensure(name: str, build) -> Path:
    """Build once into the cache, in a staging folder published whole (bench.files.staged_dir).

    `build(out, scratch)` writes the model into `out`; `scratch` is removed before publishing.
    """
    final = tiny_root() / name
    if final.is_dir():
        return final
    # seconds of silence otherwise, the first time: say what takes them
    logging.getLogger("bench").info("building tiny model %s (once, into %s)", name, tiny_root())
    with staged_dir(final) as work:
        scratch = work / ".scratch"
        scratch.mkdir()
        build(work, scratch)
        shutil.rmtree(scratch)
    return final


# Builders registered by other modules (bench.tiny_scorers' scorer twins, which build on the
# recipes above): tiny name -> build(out, scratch).
BUILDERS: dict = {}

# Tiny names become folder names under the cache: plain names only, never a path.
_TINY_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@cache
def tiny_path(hub_id: str) -> Path:
    """Local folder of a tiny model (or LoRA, or CLIP), built on first use."""
    if hub_id == "tiny-sd":
        return _ensure("tiny-sd", _build_sd)
    if hub_id in ("tiny-sdxl", "tiny-sdxl-lora"):
        root = _ensure("tiny-sdxl", lambda w, s: _build_sdxl(w / "base", w / "lora", s))
        return root / ("lora" if hub_id.endswith("lora") else "base")
    if hub_id == "tiny-clip":
        return _ensure("tiny-clip", _build_clip)
    if hub_id.startswith("tiny-biggan") and _TINY_NAME.fullmatch(hub_id):
        return _ensure(hub_id, _build_biggan)
    if hub_id in BUILDERS:
        return _ensure(hub_id, BUILDERS[hub_id])
    raise KeyError(f"no tiny model named {hub_id!r}")


def _build_full_size_sd(folder: Path, scratch: Path) -> None:
    """SD 1.5's architecture (UNet 860M, VAE, CLIP ViT-L/14 text encoder), random weights."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)  # the defaults are SD 1.x
    vae = AutoencoderKL(
        block_out_channels=[128, 256, 512, 512],
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(  # CLIP ViT-L/14's text tower
        _text_config(
            hidden_size=768,
            intermediate_size=3072,
            num_attention_heads=12,
            num_hidden_layers=12,
            hidden_act="quick_gelu",
        )
    )
    save_sd_pipeline(folder, scratch, unet, vae, text_encoder)


def full_size_sd_path() -> Path:
    """SD 1.5's architecture at full size with random weights (about 4 GB; seconds to build on a
    GPU machine, minutes on a CPU): what speed benchmarks run where no real weights can be had.
    Timings depend on the architecture, not on the weights."""
    return _ensure("sd15-full-size", _build_full_size_sd)


def register_tiny_clip() -> Path:
    """Make `tiny-clip` known to open_clip; returns the weights file."""
    import open_clip

    folder = tiny_path("tiny-clip")
    open_clip.add_model_config(folder / "tiny-clip.json")
    return folder / "open_clip_model.pt"
