"""Views across metrics and prompt categories: the leaderboard by category (PartiPrompts) and
how far the quality metrics agree on the order of the image sets."""

from __future__ import annotations

import pandas as pd

from bench.metrics import METRICS
from bench.report.html import Col, Num, table
from bench.report.sections.common import Scale, note
from bench.report.sections.leaderboard import metric_num, metric_title


def category_table(wide: pd.DataFrame, metric: str, scale: Scale) -> str:
    """board.by_category: an image set per row, a category per column (the metric's mean)."""
    if wide.empty:
        return ""
    better = "higher" if METRICS[metric].higher_is_better else "lower"
    cats = [c for c in wide.columns if c not in ("model", "scheduler")]
    columns = [Col("Model", "model"), Col("Scheduler", "scheduler")] + [
        Col(str(c), c, metric_num(metric, scale), f"mean over the prompts of category {c}", better, name=f"cat:{c}")
        for c in cats
    ]
    return (
        "<h2>By prompt category</h2>"
        + note(f"Mean {metric_title(metric, scale)} of each image set over the prompts of each category.")
        + table(columns, wide)
    )


def agreement_table(pairs: pd.DataFrame) -> str:
    """board.agreement: Spearman's rank correlation of each pair of quality metrics."""
    if pairs.empty:
        return ""
    rows = pairs.assign(
        a_title=pairs["a"].map(lambda m: METRICS[m].title), b_title=pairs["b"].map(lambda m: METRICS[m].title)
    )
    columns = [
        Col("Metric", "a_title"),
        Col("and metric", "b_title"),
        Col("Spearman ρ", "rho", Num(2), "rank correlation of the image sets' means (1: the same order)", "higher"),
        Col("image sets", "sets", Num(0), "model x scheduler means compared", "higher"),
        Col("images", "images", Num(0), "images scored by both metrics", "higher"),
    ]
    return (
        "<h3>Do the metrics agree?</h3>"
        + note("Spearman's ρ between the image sets' mean scores under two metrics; a dash with fewer than 3 sets.")
        + table(columns, rows)
    )
