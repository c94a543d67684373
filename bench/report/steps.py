"""The scheduler question in numbers: quality and latency against steps (and guidance) per model and
scheduler, and each scheduler's knee: the fewest steps whose images are not worse than its best.

Every steps value of one prompt and seed starts from the same noise, so the comparison of two step
counts is paired (bench.report.paired, the test the leaderboard uses). The knee is the fewest
steps whose paired difference against the scheduler's best step count has a 95% interval that
reaches zero: within noise of its best. Its saving is the latency the knee saves against the
default, the model card's steps when they were run (else the most steps run). Images of one
backend per model and scheduler: the first of BACKEND_ORDER that ran it (its twins elsewhere would
count each picture twice). Pure pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.models import MODELS
from bench.report.paired import align, paired
from bench.report.stats import backend_rank, t975

SETTING = ["model", "scheduler", "guidance_scale"]  # a curve: quality against steps


def scored(frame: pd.DataFrame, scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The ok images of one backend per model x scheduler with their `metric` value: model,
    scheduler, backend, steps, guidance_scale, prompt_id, seed, value, latency_s, warm."""
    cols = ["cell_id", "model", "scheduler", "backend", "steps", "guidance_scale", "prompt_id", "seed",
            "latency_s", "warm"]  # fmt: skip
    ok = frame.loc[frame["status"].eq("ok") & frame["scheduler"].notna(), [c for c in cols if c in frame.columns]]
    values = scores.loc[scores["metric"].eq(metric), ["cell_id", "value"]]
    out = ok.merge(values, on="cell_id").assign(value=lambda d: d["value"].astype(float))
    if out.empty:
        return out
    first = out.assign(rank=backend_rank(out["backend"])).groupby(["model", "scheduler"])["rank"].transform("min")
    return out[backend_rank(out["backend"]) == first].reset_index(drop=True)


def curves(images: pd.DataFrame) -> pd.DataFrame:
    """Per model x scheduler x guidance x steps: n, mean, 95% t-interval (lo, hi), warm p50 latency."""
    if images.empty:
        return pd.DataFrame(columns=[*SETTING, "steps", "n", "mean", "lo", "hi", "latency_p50_s"])
    g = images.groupby([*SETTING, "steps"])
    out = g["value"].agg(n="count", mean="mean", std="std")
    half = out["std"] * out["n"].map(lambda n: t975(n - 1)) / np.sqrt(out["n"])
    out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    warm = images[images["warm"].fillna(False).astype(bool)] if "warm" in images.columns else images
    out["latency_p50_s"] = warm.groupby([*SETTING, "steps"])["latency_s"].median()
    return out.drop(columns="std").reset_index()


def knees(images: pd.DataFrame, higher_is_better: bool = True) -> pd.DataFrame:
    """Per model x scheduler x guidance that ran two or more step counts: its best steps, its knee
    (the fewest steps not worse than the best, by the paired test), the paired difference there,
    and the seconds per image the knee saves against the default steps."""
    columns = [*SETTING, "best_steps", "knee_steps", "diff", "diff_lo", "diff_hi", "default_steps",
               "latency_default_s", "latency_knee_s", "saved_s", "steps_run"]  # fmt: skip
    if images.empty:
        return pd.DataFrame(columns=columns)
    table = curves(images).set_index([*SETTING, "steps"])
    rows = []
    for key, part in images.groupby(SETTING, sort=True):
        means = part.groupby("steps")["value"].mean()
        if len(means) < 2:
            continue
        best = means.idxmax() if higher_is_better else means.idxmin()
        at_best = part[part["steps"].eq(best)]
        knee, found = best, None
        for s in sorted(means.index):
            if s == best:
                break
            found = paired(align(part[part["steps"].eq(s)], at_best), higher_is_better)
            if found is not None and (found.hi >= 0 if higher_is_better else found.lo <= 0):
                knee = s
                break
            found = None
        card = MODELS[key[0]].steps if key[0] in MODELS else None
        default = card if card in means.index else int(means.index.max())
        latency = table["latency_p50_s"]
        at_default, at_knee = latency.get((*key, default)), latency.get((*key, knee))
        rows.append(
            {
                **dict(zip(SETTING, key)),
                "best_steps": int(best),
                "knee_steps": int(knee),
                "diff": found.mean if found else 0.0,
                "diff_lo": found.lo if found else np.nan,
                "diff_hi": found.hi if found else np.nan,
                "default_steps": int(default),
                "latency_default_s": at_default,
                "latency_knee_s": at_knee,
                "saved_s": None if at_default is None or at_knee is None else at_default - at_knee,
                "steps_run": ", ".join(str(int(s)) for s in sorted(means.index)),
            }
        )
    return pd.DataFrame(rows, columns=columns)
