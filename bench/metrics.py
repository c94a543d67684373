"""Metric registry: metadata here (light), implementations in bench.scorers (heavy imports).

The site sorts and colours by `higher_is_better` and names the backbone from here, and every
caller that needs to know what a metric is asks its `kind`, so a new metric is one entry below
plus, for a new family, one scorer module in bench/scorers/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# clip: open_clip image-text cosine, scored by `bench score` (options: arch, pretrained);
# preference: a reward model trained on human choices between images of one prompt (PickScore,
# HPS v2.1, ImageReward); aesthetic: a prompt-free rating of the image (LAION aesthetic v2);
# iqa: no-reference image quality (CLIP-IQA);
# parity: an image of another backend (ONNX Runtime, torch.compile) against its eager PyTorch
# twin, computed by the sweep itself.
KINDS = ("clip", "preference", "aesthetic", "iqa", "parity")

# What the relative metrics' pages say: their numbers rank images of one prompt.
PER_PROMPT_NOTE = (
    "Relative: {name} was trained to rank images of the same prompt, and its level shifts from "
    "prompt to prompt, so compare models within a prompt (or over one shared prompt set), never "
    "scores of different prompts."
)


# What transformers' CLIPProcessor.from_pretrained reads (slow tokenizer: vocab + merges).
HF_CLIP_PROCESSOR_FILES = (
    "preprocessor_config.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
)


@dataclass(frozen=True)
class Weights:
    """Files of one hub repo a scorer reads, through the HF cache (bench.weights.hub)."""

    hub_id: str  # a hub repo, or a tiny twin's name (bench.tiny_scorers) when tiny
    files: tuple[str, ...]
    revision: str | None = None  # None: the default branch (`bench fetch` prints the commit)
    # sha256 of files[0] when it is a pickle (.pt, .pth): checked before it is unpickled; None
    # refuses to load it and names the hash to pin.
    sha256: str | None = None
    licence: str = ""
    tiny: bool = False

    @property
    def pickled(self) -> bool:
        return self.files[0].endswith((".pt", ".pth", ".bin")) and not self.tiny


@dataclass(frozen=True)
class MetricInfo:
    name: str
    title: str  # what the site prints
    kind: str  # one of KINDS
    higher_is_better: bool
    unit: str  # "cosine", "dB", "0..1 pixel"
    # Dotted path ("module:name", pkgutil.resolve_name) of the scorer class; None for metrics the
    # sweep computes itself (parity).
    scorer: str | None = None
    options: dict = field(default_factory=dict)
    # Hub weights the scorer reads besides open_clip's own pretrained tags (`options`), the
    # first the metric's own; `bench fetch` and the weights preflight go through this list.
    weights: tuple[Weights, ...] = ()
    value_range: tuple[float | None, float | None] = (None, None)  # None: unbounded that side
    note: str = ""  # what the site says beside the metric (how to read it)


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo(
            "clip_vit_b_32",
            "CLIP ViT-B/32 (OpenAI)",
            "clip",
            True,
            "cosine",
            "bench.scorers.clip:ClipScorer",
            {"arch": "ViT-B-32", "pretrained": "openai"},
        ),
        MetricInfo(
            "clip_vit_l_14",
            "CLIP ViT-L/14 (OpenAI)",
            "clip",
            True,
            "cosine",
            "bench.scorers.clip:ClipScorer",
            {"arch": "ViT-L-14", "pretrained": "openai"},
        ),
        # The tiny suite's CLIP: random weights, same code path, numbers mean nothing.
        MetricInfo(
            "clip_tiny",
            "CLIP tiny (random weights, tests only)",
            "clip",
            True,
            "cosine",
            "bench.scorers.clip:ClipScorer",
            {"arch": "tiny-clip", "pretrained": "tiny"},
        ),
        MetricInfo(
            "pickscore",
            "PickScore v1",
            "preference",
            True,
            "logit (100 x cosine)",
            "bench.scorers.pickscore:PickScorer",
            weights=(
                Weights(
                    "yuvalkirstain/PickScore_v1",
                    ("config.json", "model.safetensors"),
                    licence="MIT (PickScore's code repo; the model card names none)",
                ),
                Weights(
                    "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",  # the processor PickScore's code loads
                    HF_CLIP_PROCESSOR_FILES,
                    licence="MIT",
                ),
            ),
            value_range=(-100.0, 100.0),
            note=PER_PROMPT_NOTE.format(name="PickScore"),
        ),
        MetricInfo(
            "hpsv2",
            "HPS v2.1",
            "preference",
            True,
            "cosine",
            "bench.scorers.hpsv2:HpsScorer",
            {"arch": "ViT-H-14"},
            weights=(Weights("xswu/HPSv2", ("HPS_v2.1_compressed.pt",), licence="Apache-2.0"),),
            value_range=(-1.0, 1.0),
            note=PER_PROMPT_NOTE.format(name="HPS v2.1")
            + " Papers print it x100 (HPSv2's table: Dreamlike Photoreal 2.0 at 27.86, Openjourney at 27.45).",
        ),
        MetricInfo(
            "imagereward",
            "ImageReward v1.0",
            "preference",
            True,
            "z-score",
            "bench.scorers.imagereward:ImageRewardScorer",
            {"image_size": 224, "vision_width": 1024, "vision_depth": 24, "vision_heads": 16},
            weights=(
                Weights("THUDM/ImageReward", ("ImageReward.pt", "med_config.json"), licence="Apache-2.0"),
                Weights("google-bert/bert-base-uncased", ("vocab.txt",), licence="Apache-2.0"),
            ),
            note="Standardised over ImageReward's own training set (mean 0, sd 1 there); unbounded.",
        ),
        MetricInfo(
            "laion_aesthetic",
            "LAION aesthetic v2",
            "aesthetic",
            True,
            "rating 1..10",
            "bench.scorers.aesthetic:AestheticScorer",
            {"arch": "ViT-L-14", "pretrained": "openai"},
            weights=(
                Weights(
                    "camenduru/improved-aesthetic-predictor",  # a mirror of the GitHub original
                    ("sac+logos+ava1-l14-linearMSE.pth",),
                    # As pinned in public code (not re-hashed here): checked before loading.
                    sha256="21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0",
                    licence="Apache-2.0",
                ),
            ),
            note="Reads the image only, not the prompt; a linear-MSE head trained on 1..10 ratings, unclamped.",
        ),
        MetricInfo(
            "clip_iqa",
            "CLIP-IQA (torchmetrics, ViT-B/16)",
            "iqa",
            True,
            "probability",
            "bench.scorers.clip_iqa:ClipIqaScorer",
            {"prompts": ("quality",)},
            # torchmetrics' default "clip_iqa" fetches piq's weights by URL: an HF CLIP goes through
            # the HF cache instead (torchmetrics' own list of such models).
            weights=(
                Weights(
                    "openai/clip-vit-base-patch16",
                    ("config.json", "model.safetensors", *HF_CLIP_PROCESSOR_FILES),
                    licence="MIT (OpenAI CLIP's code repo; the model card names none)",
                ),
            ),
            value_range=(0.0, 1.0),
            note="P(image is a good photo rather than a bad one), from the prompt pair "
            "'Good photo.' / 'Bad photo.'; reads the image only.",
        ),
        # Tiny random-weight twins (bench.tiny_scorers): same code paths, numbers mean nothing.
        *[
            MetricInfo(
                f"{name}_tiny",
                f"{title} tiny (random weights, tests only)",
                kind,
                True,
                unit,
                scorer,
                options,
                weights=tuple(Weights(f"tiny-{twin}", files, tiny=True) for twin, files in twins),
            )
            for name, title, kind, unit, scorer, options, twins in [
                (
                    "pickscore",
                    "PickScore",
                    "preference",
                    "logit (100 x cosine)",
                    "bench.scorers.pickscore:PickScorer",
                    {},
                    [("pickscore", ("config.json", "model.safetensors")), ("pickscore", ("preprocessor_config.json",))],
                ),
                (
                    "hpsv2",
                    "HPS v2.1",
                    "preference",
                    "cosine",
                    "bench.scorers.hpsv2:HpsScorer",
                    {"arch": "tiny-clip"},
                    [("hpsv2", ("HPS_v2.1_compressed.pt",))],
                ),
                (
                    "imagereward",
                    "ImageReward",
                    "preference",
                    "z-score",
                    "bench.scorers.imagereward:ImageRewardScorer",
                    {"image_size": 32, "vision_width": 32, "vision_depth": 2, "vision_heads": 2},
                    [("imagereward", ("ImageReward.pt", "med_config.json")), ("imagereward", ("vocab.txt",))],
                ),
                (
                    "laion_aesthetic",
                    "LAION aesthetic",
                    "aesthetic",
                    "rating 1..10",
                    "bench.scorers.aesthetic:AestheticScorer",
                    {"arch": "tiny-clip", "pretrained": "tiny"},
                    [("aesthetic", ("sac+logos+ava1-l14-linearMSE.pth",))],
                ),
                (
                    "clip_iqa",
                    "CLIP-IQA",
                    "iqa",
                    "probability",
                    "bench.scorers.clip_iqa:ClipIqaScorer",
                    {"prompts": ("quality",)},
                    [("clip-iqa", ("config.json", "model.safetensors"))],
                ),
            ]
        ],
        # Parity between another backend's image and its eager PyTorch twin (same cell but backend).
        MetricInfo("psnr_db_vs_pytorch", "PSNR vs eager PyTorch", "parity", True, "dB"),
        MetricInfo("max_abs_diff_vs_pytorch", "max |Δ| vs eager PyTorch", "parity", False, "0..1 pixel"),
    ]
}


def of_kind(kind: str) -> list[str]:
    """Names of the metrics of one kind, in registry order."""
    return [name for name, info in METRICS.items() if info.kind == kind]


# Metrics `bench score` can compute: the ones with a scorer.
SCORABLE = [name for name, info in METRICS.items() if info.scorer]
