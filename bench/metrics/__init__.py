"""Metric registry: metadata here (light), implementations in one module each (heavy imports).

The site sorts and colours by `higher_is_better` and names the backbone from here, so a new
metric is one entry below plus one file in this folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MetricInfo:
    name: str
    title: str  # what the site prints
    higher_is_better: bool
    unit: str  # "cosine", "dB", "0..1 pixel"
    # Dotted path to the scorer factory; None for metrics computed by the sweep itself (parity).
    scorer: str | None = None
    options: dict = field(default_factory=dict)


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo(
            "clip_vit_b_32",
            "CLIP ViT-B/32 (OpenAI)",
            True,
            "cosine",
            "bench.metrics.clip:ClipScorer",
            {"arch": "ViT-B-32", "pretrained": "openai"},
        ),
        MetricInfo(
            "clip_vit_l_14",
            "CLIP ViT-L/14 (OpenAI)",
            True,
            "cosine",
            "bench.metrics.clip:ClipScorer",
            {"arch": "ViT-L-14", "pretrained": "openai"},
        ),
        # The tiny suite's CLIP: random weights, same code path, numbers mean nothing.
        MetricInfo(
            "clip_tiny",
            "CLIP tiny (random weights, tests only)",
            True,
            "cosine",
            "bench.metrics.clip:ClipScorer",
            {"arch": "tiny-clip", "pretrained": "tiny"},
        ),
        # Parity between an ONNX Runtime image and its PyTorch twin (same cell but backend).
        MetricInfo("psnr_db_vs_pytorch", "PSNR vs PyTorch", True, "dB"),
        MetricInfo("max_abs_diff_vs_pytorch", "max |Δ| vs PyTorch", False, "0..1 pixel"),
    ]
}

CLIP_METRICS = tuple(name for name, m in METRICS.items() if name.startswith("clip_"))
