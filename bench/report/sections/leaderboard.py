"""The leaderboard: one row per model x scheduler x backend, and the quality-speed chart."""

from __future__ import annotations

import pandas as pd

from bench.report.html import Col, Flag, Num, Text, missing, table
from bench.report.sections.common import Scale, chart, note

PARETO = Flag("pareto", "◆", "on the quality-speed Pareto front", "bench-front")


def _half_width(row: dict) -> float | None:
    return None if missing(row["clip_hi"]) else row["clip_hi"] - row["clip_mean"]


def columns(scale: Scale) -> list[Col]:
    return [
        Col("Model", "model", Text(flag=PARETO)),
        Col("Scheduler", "scheduler"),
        Col("Backend", "backend", Text(note="provider"), "backend (execution provider that really ran)"),
        Col(
            "CLIP mean", "clip_mean", scale.num, f"mean {scale.label()} over prompts and seeds", "higher", default=True
        ),
        Col("±95%", _half_width, scale.num, "half-width of the 95% t-interval of the mean", "lower"),
        Col("CLIP best", "clip_best", scale.num, "best single image", "higher"),
        Col("p50 s", "latency_p50_s", Num(3), "median latency per image, warm calls", "lower"),
        Col("p90 s", "latency_p90_s", Num(3), "90th percentile latency per image, warm calls", "lower"),
        Col("img/s", "images_per_s", Num(3), "images per second of generation time (warm)", "higher"),
        Col("load s", "load_s", Num(1), "model load (and ONNX export) time", "lower"),
        Col("peak MB", "peak_mem_mb", Num(0), "peak memory: CUDA allocated, or process RSS on CPU", "lower"),
        Col("images", "n_images", Num(0), "images with status ok", "higher"),
        Col("failed", "n_failed", Num(0), "failed, NaN or NSFW images", "lower"),
    ]


def leaderboard_table(board: pd.DataFrame, scale: Scale) -> str:
    """The board (stats.leaderboard) as it arrives: sorted by mean CLIP, best first."""
    caption = f"CLIP: {scale.metric_title}, {scale.unit}. Latency: seconds per image. Memory: MB."
    return table(columns(scale), board, caption)


def pareto_chart(root: str, site_path: str) -> str:
    """The quality-speed chart (charts.pareto_svg) under its heading, with the key to the ◆ mark."""
    return (
        "<h2>Quality against speed</h2>"
        + chart(root, site_path, "mean CLIP against p50 latency; the dashed line is the Pareto front")
        + note("◆ marks the Pareto front: no other row is both faster (p50) and better (mean CLIP).")
    )
