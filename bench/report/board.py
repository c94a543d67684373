"""The site's main leaderboard: one row per image set (model x scheduler), quality once, speed per backend.

PyTorch, torch.compile and ONNX Runtime make twins of one image (one pipeline call, CPU
generators), so a model x scheduler has one image set whatever backends ran it. Its quality is
measured once, on the images of the first backend in BACKEND_ORDER that has scores (eager
PyTorch when it ran); each backend's latency gets its own columns. Every quality metric in the
scores table (any kind but "parity") gets a mean, a 95% interval and a rank. Pure pandas.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from bench.metrics import METRICS
from bench.report import downloads
from bench.report.stats import BACKEND_ORDER, backend_rank, join_per_group, t975

KEYS = ["model", "scheduler"]


def quality_metrics(scores: pd.DataFrame) -> list[str]:
    """The quality metrics that have scores, in registry order (parity is a speed-page matter)."""
    # unique() first: iterating a 400,000-row Arrow column into a set costs half a second.
    present = set(scores["metric"].dropna().unique())
    return [name for name, info in METRICS.items() if name in present and info.kind != "parity"]


def tie_ranks(mean: pd.Series, lo: pd.Series, hi: pd.Series, higher_is_better: bool) -> pd.Series:
    """1 + the number of rows whose whole 95% interval is better than this row's interval.

    Rows that share a rank cannot be told apart at 95%; a row without an interval (one image)
    counts its mean as both bounds. A row without a mean has no rank (NaN)."""
    m = mean.to_numpy(float)
    low = np.where(np.isfinite(lo.to_numpy(float)), lo.to_numpy(float), m)
    high = np.where(np.isfinite(hi.to_numpy(float)), hi.to_numpy(float), m)
    if higher_is_better:
        beaten = low[None, :] > high[:, None]  # [i, j]: row j is surely better than row i
    else:
        beaten = high[None, :] < low[:, None]
    ranks = 1.0 + (beaten & np.isfinite(m)[None, :]).sum(axis=1)
    return pd.Series(np.where(np.isfinite(m), ranks, np.nan), index=mean.index)


def _quality(frame: pd.DataFrame, scores: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    ok = frame.loc[frame["status"].eq("ok"), ["cell_id", *KEYS, "backend"]]
    scored = ok.merge(scores.loc[scores["metric"].isin(metrics), ["cell_id", "metric", "value"]], on="cell_id")
    if scored.empty:
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=KEYS))
    # The image set: the first backend in BACKEND_ORDER that has scores for the model x scheduler.
    scored = scored.assign(order=backend_rank(scored["backend"]))
    first = scored.sort_values(["order", "backend"]).groupby(KEYS)["backend"].first().rename("quality_backend")
    scored = scored.merge(first.reset_index(), on=KEYS)
    scored = scored[scored["backend"].eq(scored["quality_backend"])]
    g = scored.assign(value=scored["value"].astype(float)).groupby([*KEYS, "metric"])["value"]
    q = g.agg(n="count", mean="mean", std="std")
    half = q["std"] * q["n"].map(lambda n: t975(n - 1)) / np.sqrt(q["n"])
    q["lo"], q["hi"] = q["mean"] - half, q["mean"] + half
    wide = q.drop(columns="std").unstack("metric")
    wide.columns = [f"{metric}__{stat}" for stat, metric in wide.columns]
    return wide.join(first)


def _speed(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    warm = frame[frame["status"].eq("ok") & frame["warm"]]
    if warm.empty:  # no warm call yet (one image per model): no latency to show
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=KEYS))
    lat = warm.groupby([*KEYS, "backend"])["latency_s"]
    per = pd.DataFrame({"p50": lat.quantile(0.5), "p90": lat.quantile(0.9)})
    per["peak"] = warm.groupby([*KEYS, "backend"])["peak_mem_mb"].max()
    wide = per.unstack("backend")
    wide.columns = [f"{stat}__{backend}" for stat, backend in wide.columns]
    return wide.join(measured_on(frame, runs, KEYS))


def measured_on(frame: pd.DataFrame, runs: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Where and when each group's latencies were measured: the runs' GPU (else "CPU <name>") and
    the newest day of its warm calls, e.g. "NVIDIA H100 · 2026-11-25"."""
    warm = frame[frame["status"].eq("ok") & frame["warm"]]
    if warm.empty:
        return pd.Series(dtype=object, name="measured_on")
    hardware = runs.set_index("run_id").apply(_machine, axis=1) if not runs.empty else pd.Series(dtype=object)
    machines = warm["run_id"].map(hardware).fillna("")
    by = [warm[k] for k in keys]
    where = machines.groupby(by).agg(lambda s: ", ".join(sorted(set(s.unique()) - {""})))
    when = pd.to_datetime(warm["created_at"]).groupby(by).max().dt.strftime("%Y-%m-%d")
    return (where + " · " + when).str.strip(" ·").rename("measured_on")


def _machine(run: pd.Series) -> str:
    gpu, cpu = run.get("gpu_name"), run.get("cpu")
    if isinstance(gpu, str) and gpu:
        return gpu
    return f"CPU {cpu}" if isinstance(cpu, str) and cpu else ""


def _distinct(values: pd.Series) -> str:
    return ", ".join(sorted({str(v) for v in values.dropna() if str(v) != ""}))


def _settings(frame: pd.DataFrame) -> pd.DataFrame:
    groups = frame.groupby(KEYS)
    out = groups.agg(family=("family", "first"))
    out["backends"] = groups["backend"].agg(lambda s: " ".join(sorted(set(s.unique()), key=_backend_key)))
    out["providers"] = groups["provider"].agg(lambda s: " ".join(sorted(set(s.unique()) - {""})))
    ok = frame["status"].eq("ok")
    by = [frame[k] for k in KEYS]
    out["n_images"] = ok.groupby(by).sum().astype(int)
    out["n_failed"] = (~ok).groupby(by).sum().astype(int)
    # Settings take few distinct values: format those, not one string per image (200,000 rows).
    cols = [c for c in ("steps", "width", "height", "dtype") if c in frame.columns]
    distinct = frame[[*KEYS, *cols]].drop_duplicates()
    kinds = distinct.groupby(KEYS)
    out["steps"] = kinds["steps"].agg(lambda s: _distinct(s.map(lambda v: int(v) if pd.notna(v) else None)))
    size = distinct["width"].map(_int) + "×" + distinct["height"].map(_int)
    out["size"] = size.where(distinct["width"].notna()).groupby([distinct[k] for k in KEYS]).agg(_distinct)
    out["dtype"] = kinds["dtype"].agg(_distinct) if "dtype" in frame.columns else ""
    return out


def _backend_key(backend: str) -> tuple[int, str]:
    return (BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER), backend)


def _int(v: object) -> str:
    return str(int(v)) if pd.notna(v) else ""


def image_sets(frame: pd.DataFrame, scores: pd.DataFrame, runs: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    """One row per model x scheduler: settings, `{metric}__mean/lo/hi/n` and `{metric}__rank` per
    quality metric, `p50__{backend}`, `p90__{backend}`, `peak__{backend}`, hardware and date;
    sorted by `rank_by`'s mean, best first (rows without one last)."""
    if frame.empty:
        return pd.DataFrame(columns=KEYS)
    metrics = quality_metrics(scores)
    out = _settings(frame).join(_quality(frame, scores, metrics)).join(_speed(frame, runs))
    out = out.join(downloads.commands(frame, runs))
    for metric in metrics:
        if f"{metric}__mean" not in out.columns:
            continue
        out[f"{metric}__rank"] = tie_ranks(
            out[f"{metric}__mean"], out[f"{metric}__lo"], out[f"{metric}__hi"], METRICS[metric].higher_is_better
        )
    out = out.reset_index()
    if f"{rank_by}__mean" in out.columns:
        up = not METRICS[rank_by].higher_is_better
        out = out.sort_values([f"{rank_by}__mean", *KEYS], ascending=[up, True, True], na_position="last")
    return out.reset_index(drop=True)


def agreement(frame: pd.DataFrame, scores: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Spearman rank correlation between each pair of quality metrics across image sets (model x
    scheduler means), with the number of images scored by both and of image sets compared."""
    ok = frame.loc[frame["status"].eq("ok"), ["cell_id", *KEYS]]
    s = scores.loc[scores["metric"].isin(metrics), ["cell_id", "metric", "value"]].merge(ok, on="cell_id")
    per_image = s.pivot_table(index=["cell_id", *KEYS], columns="metric", values="value", aggfunc="mean")
    rows = []
    for i, a in enumerate(metrics):
        for b in metrics[i + 1 :]:
            both = per_image[[a, b]].dropna() if {a, b} <= set(per_image.columns) else pd.DataFrame(columns=[a, b])
            means = both.groupby(level=KEYS).mean()
            rho = means[a].rank().corr(means[b].rank()) if len(means) >= 3 else np.nan
            rows.append({"a": a, "b": b, "rho": rho, "sets": len(means), "images": len(both)})
    return pd.DataFrame(rows, columns=["a", "b", "rho", "sets", "images"])


def score_texts(scores: pd.DataFrame, skip: str) -> pd.Series:
    """Per cell_id, every metric but `skip` as escaped HTML ("PSNR vs eager PyTorch 41.20 dB · …"),
    for the lightbox: one string per image, built once per build."""
    s = scores.loc[scores["metric"].isin(list(METRICS)) & scores["metric"].ne(skip), ["cell_id", "metric", "value"]]
    if s.empty:
        return pd.Series(dtype=object)
    s = s.sort_values(["cell_id", "metric"])
    label = s["metric"].map({m: f"{escape(i.title)} " for m, i in METRICS.items()})
    unit = s["metric"].map({m: f" {escape(i.unit)}" for m, i in METRICS.items()})
    text = label + s["value"].astype(float).round(3).map("{:.3f}".format) + unit
    return join_per_group(s.assign(text=text), ["cell_id"], "text", " · ")


def categories(frame: pd.DataFrame) -> dict[str, str]:
    """prompt_id -> its category (PartiPrompts' nullable `category` column); empty without one."""
    if "category" not in frame.columns or frame["category"].isna().all():
        return {}
    cats = frame.dropna(subset=["category"]).drop_duplicates("prompt_id").set_index("prompt_id")["category"]
    return {str(k): str(v) for k, v in cats.items()}


def by_category(frame: pd.DataFrame, scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean `metric` per image set (model x scheduler) and prompt category: one column per
    category, plus n (images); empty when the generations have no category."""
    cats = categories(frame)
    if not cats:
        return pd.DataFrame()
    ok = frame.loc[frame["status"].eq("ok"), ["cell_id", *KEYS, "prompt_id"]]
    s = scores.loc[scores["metric"].eq(metric), ["cell_id", "value"]].merge(ok, on="cell_id")
    s = s.assign(category=s["prompt_id"].map(cats), value=s["value"].astype(float)).dropna(subset=["category"])
    return s.pivot_table(index=KEYS, columns="category", values="value", aggfunc="mean").reset_index()
