"""`bench summary`: the leaderboard's rows for the terminal, from the same statistics the site uses."""

from __future__ import annotations

from pathlib import Path

from bench import store
from bench.errors import ConfigError
from bench.metrics import METRICS, of_kind
from bench.report import stats


def summary_rows(data_dir: Path, metric: str | None) -> tuple[str, list[dict]]:
    """(metric shown, one row per model x scheduler x backend, best mean first): counts, mean
    score with its 95% t-interval, best image, latency p50 and throughput. No rows: no data yet.

    Without `metric`, the first CLIP metric that has scores is shown.
    """
    if metric is not None and metric not in of_kind("clip"):
        raise ConfigError(f"metric: unknown value {metric!r}; allowed: {', '.join(of_kind('clip'))}")
    generations = store.read(data_dir, "generations")
    scores = store.read(data_dir, "scores")
    if metric is None:
        scored = [m for m in of_kind("clip") if m in set(scores["metric"])]
        metric = scored[0] if scored else "clip_vit_b_32"
    if generations.empty:
        return metric, []
    board = stats.leaderboard(stats.with_scores(generations, scores, metric))
    board = board.assign(clip_half_width=board["clip_hi"] - board["clip_mean"])
    return metric, board.to_dict("records")


def title(metric: str) -> str:
    return f"{METRICS[metric].title}, raw cosine; mean over prompts and seeds ± 95% interval"
