"""`bench summary`: who wins, by how much, at what speed, from the tables under data/.

One row per image set (model x scheduler, and steps and guidance where a suite swept them): its
mean quality over the images of one backend (the first of BACKEND_ORDER that has scores: the
others make twins of the same pictures), its rank from paired tests (bench.report.paired: every
set on the same prompts and seeds, Holm-corrected; sets of one rank tie), and its p50 seconds per
image on each backend. Then the winner, its margin over the runner-up with the interval, and a
warning when the intervals are wider than the spread of the means. Pure pandas: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench import store
from bench.errors import ConfigError
from bench.metrics import METRICS
from bench.report.paired import Paired, Ranking, comparable, p_text, rank_sets
from bench.report.stats import BACKEND_ORDER, backend_rank

SET_KEYS = ["model", "scheduler", "steps", "guidance_scale"]


def quality_metrics() -> list[str]:
    """Metrics a summary can rank by: every scored quality metric (not parity, not the NSFW flag)."""
    return [m for m, info in METRICS.items() if info.scorer and info.kind not in ("parity", "safety")]


@dataclass
class Summary:
    metric: str
    rows: list[dict]  # best first: rank, tie, set, mean, half_width, n_pairs, p50__<backend>
    backends: list[str]  # the p50 columns, in BACKEND_ORDER
    ranking: Ranking | None
    winner: str = ""  # the sentence naming the winner and its margin
    warning: str = ""  # the intervals swallow the differences
    unranked: list[str] = field(default_factory=list)  # sets sharing no (prompt, seed) with the ranked ones

    def versus(self, a: str, b: str) -> Paired:
        known = [r["set"] for r in self.rows]
        for name in (a, b):
            if name not in known:
                raise ConfigError(f"--vs: no image set {name!r}; sets: {', '.join(known)}")
        return self.ranking.versus(a, b, METRICS[self.metric].higher_is_better)


def summarize(data_dir: Path, metric: str | None) -> Summary:
    """The summary of the data in `data_dir`, ranked by `metric` (default: the first CLIP metric
    with scores, else the first quality metric with scores). No rows: no scored data yet."""
    allowed = quality_metrics()
    if metric is not None and metric not in allowed:
        raise ConfigError(f"metric: unknown value {metric!r}; allowed: {', '.join(allowed)}")
    generations = store.read(data_dir, "generations")
    scores = store.read(data_dir, "scores")
    present = set(scores["metric"].dropna().unique())
    if metric is None:
        scored = [m for m in allowed if m in present]
        metric = next((m for m in scored if METRICS[m].kind == "clip"), scored[0] if scored else "clip_vit_b_32")
    values = _values(generations, scores, metric)
    if values.empty:
        return Summary(metric, [], [], None)
    ranking = rank_sets(comparable(values), METRICS[metric].higher_is_better)
    speed = _speed(generations, values)
    backends = sorted(speed.columns, key=lambda b: (BACKEND_ORDER.index(b) if b in BACKEND_ORDER else 99, b))
    if ranking is None:
        return Summary(metric, [], backends, None)
    rows = ranking.table.join(speed.rename(columns=lambda b: f"p50__{b}"), on="set").to_dict("records")
    ranked = {r["set"] for r in rows}
    summary = Summary(
        metric, rows, backends, ranking, unranked=[s for s in dict.fromkeys(values["set"]) if s not in ranked]
    )
    summary.winner, summary.warning = _verdict(summary)
    return summary


def _values(generations: pd.DataFrame, scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """set, prompt_id, seed, value, backend: the ok images of each set's quality backend."""
    if generations.empty:
        return pd.DataFrame(columns=["set", "prompt_id", "seed", "value", "backend"])
    ok = generations[generations["status"].eq("ok")]
    scored = ok.merge(scores.loc[scores["metric"].eq(metric), ["cell_id", "value"]], on="cell_id")
    if scored.empty:
        return pd.DataFrame(columns=["set", "prompt_id", "seed", "value", "backend"])
    scored = scored.assign(set=_labels(scored), value=scored["value"].astype(float))
    first = backend_rank(scored["backend"]).groupby(scored["set"]).transform("min")
    return scored[backend_rank(scored["backend"]).eq(first)]


def _labels(frame: pd.DataFrame) -> pd.Series:
    """Each image set's name as a reader types it after --vs: model/scheduler, plus /<n> steps
    and /cfg <g> where the data holds more than one value of them."""
    label = frame["model"].astype(str) + frame["scheduler"].map(lambda s: f"/{s}" if isinstance(s, str) else "")
    diffusion = frame["scheduler"].notna()
    if frame.loc[diffusion, "steps"].nunique() > 1:
        label = label.where(~diffusion, label + "/" + frame["steps"].astype("Int64").astype(str) + " steps")
    if frame.loc[diffusion, "guidance_scale"].nunique() > 1:
        label = label.where(~diffusion, label + frame["guidance_scale"].map(lambda g: f"/cfg {g:g}"))
    return label


def _speed(generations: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """p50 seconds per image of every set on every backend (warm ok calls), one column a backend."""
    ok = generations[generations["status"].eq("ok") & generations["warm"].fillna(False).astype(bool)]
    if ok.empty:
        return pd.DataFrame(index=pd.Index([], name="set"))
    ok = ok.assign(set=_labels(ok))
    return ok.groupby(["set", "backend"])["latency_s"].median().unstack("backend")


def _verdict(summary: Summary) -> tuple[str, str]:
    """The winner's sentence, and the warning when intervals are wider than the spread."""
    rows, ranking = summary.rows, summary.ranking
    top = rows[0]
    fast = {b: top.get(f"p50__{b}") for b in summary.backends if pd.notna(top.get(f"p50__{b}"))}
    speed = f"; {min(fast.values()):.3f} s per image on {min(fast, key=fast.get)}" if fast else ""
    if len(rows) == 1:
        winner = f"only one image set: {top['set']}, mean {top['mean']:.4f}{speed}"
    else:
        second = rows[1]
        d = ranking.versus(top["set"], second["set"], METRICS[summary.metric].higher_is_better)
        verdict = (
            f"significant (Holm p {p_text(d.p)})"
            if top["rank"] < second["rank"]
            else f"not significant (Holm p {p_text(d.p)}): tied with {int((ranking.table['rank'] == 1).sum()) - 1} other set(s)"
        )
        winner = (
            f"winner: {top['set']}, by {d.mean:+.4f} (95% {d.lo:+.4f} to {d.hi:+.4f}) over {second['set']}, "
            f"{verdict}; wins {d.win_rate:.0%} of {d.n_prompts} prompts{speed}"
            + ("" if d.by == "prompt" else f" (only {d.n_prompts} prompts: the interval resamples images)")
        )
    spread = float(np.ptp([r["mean"] for r in rows]))
    width = float(np.median([r["half_width"] for r in rows]))
    warning = ""
    if len(rows) > 1 and 2 * width > spread:
        warning = (
            f"warning: the means' 95% intervals (median ±{width:.4f}) are wider than their whole spread "
            f"({spread:.4f}): most of this order is noise; more prompts or seeds would tell the sets apart"
        )
    return winner, warning


def title(metric: str) -> str:
    unit = "raw cosine" if METRICS[metric].kind == "clip" else METRICS[metric].unit
    return f"{METRICS[metric].title} ({unit}): rank from paired tests on the same prompts and seeds"
