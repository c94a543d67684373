"""Metric registry: metadata here (light), implementations in bench.scorers (heavy imports).

The site sorts and colours by `higher_is_better` and names the backbone from here, and every
caller that needs to know what a metric is asks its `kind`, so a new metric is one entry below
plus, for a new family, one scorer module in bench/scorers/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# clip: open_clip image-text cosine, scored by `bench score` (options: arch, pretrained);
# parity: an image of another backend (ONNX Runtime, torch.compile) against its eager PyTorch
# twin, computed by the sweep itself.
KINDS = ("clip", "parity")


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
