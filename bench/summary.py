"""`bench summary`: the leaderboard in the terminal, from the same statistics the site uses."""

from __future__ import annotations

import math
from pathlib import Path

from bench import store
from bench.metrics import METRICS, of_kind
from bench.report import stats


def _fmt(value: float, spec: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def print_summary(data_dir: Path, metric: str | None, console) -> bool:
    """Print model x scheduler x backend (and the provider that ran) with mean CLIP (95%
    t-interval) and latency p50.

    Returns False when there is nothing to show yet.
    """
    from rich.table import Table

    generations = store.read(data_dir, "generations")
    scores = store.read(data_dir, "scores")
    if generations.empty:
        console.print(f"no results in {data_dir}/ yet: run `bench run --suite tiny` first")
        return False
    if metric is None:
        scored = [m for m in of_kind("clip") if m in set(scores["metric"])]
        metric = scored[0] if scored else "clip_vit_b_32"
    board = stats.leaderboard(stats.with_scores(generations, scores, metric))
    table = Table(title=f"{METRICS[metric].title}, raw cosine; mean over prompts and seeds [95% interval]")
    for col in (
        "model",
        "scheduler",
        "backend",
        "provider",
        "images",
        "failed",
        "CLIP mean [95% CI]",
        "best",
        "latency p50 (s)",
        "img/s",
    ):
        table.add_column(col, justify="right" if col not in ("model", "scheduler", "backend", "provider") else "left")
    for r in board.itertuples():
        interval = f"{_fmt(r.clip_mean, '.4f')} [{_fmt(r.clip_lo, '.4f')}, {_fmt(r.clip_hi, '.4f')}]"
        table.add_row(
            r.model,
            r.scheduler or "—",
            r.backend,
            r.provider or "—",
            str(r.n_images),
            str(r.n_failed),
            interval,
            _fmt(r.clip_best, ".4f"),
            _fmt(r.latency_p50_s, ".3f"),
            _fmt(r.images_per_s, ".2f"),
        )
    console.print(table)
    return True
