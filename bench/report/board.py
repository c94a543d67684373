"""The site's main leaderboard: one row per image set (model x scheduler), quality once, speed per backend.

PyTorch, torch.compile and ONNX Runtime make twins of one image (one pipeline call, CPU
generators), so a model x scheduler has one image set whatever backends ran it. Its quality is
measured once, on the images of the first backend in BACKEND_ORDER that has scores (eager
PyTorch when it ran); each backend's latency gets its own columns. Every quality metric in the
scores table (any kind but "parity" and "safety") gets a mean, a 95% interval and a rank. The
NSFW flag is no quality: each row shows the share of its images flagged, never ranked by it.
Pure pandas.
"""

from __future__ import annotations

import re
from html import escape

import numpy as np
import pandas as pd

from bench.metrics import METRICS, NSFW_FLAGS
from bench.models import MODELS
from bench.report import downloads
from bench.report.paired import Ranking, comparable, rank_sets
from bench.report.stats import (
    BACKEND_ORDER,
    EAGER,
    GROUP,
    as_objects,
    backend_rank,
    join_per_group,
    pareto_within,
    summarize,
    t975,
)

KEYS = ["model", "scheduler"]


def quality_metrics(scores: pd.DataFrame) -> list[str]:
    """The quality metrics that have scores, in registry order (parity is a speed-page matter; the
    NSFW flag and its margin are no quality, see nsfw_rates)."""
    # unique() first: iterating a 400,000-row Arrow column into a set costs half a second.
    present = set(scores["metric"].dropna().unique())
    return [name for name, info in METRICS.items() if name in present and info.kind not in ("parity", "safety")]


def nsfw_flag(scores: pd.DataFrame) -> str | None:
    """The NSFW flag metric the scores hold (the first in registry order), or None."""
    present = set(scores["metric"].dropna().unique())
    return next((m for m in NSFW_FLAGS if m in present), None)


def flagged_cells(scores: pd.DataFrame) -> set[str]:
    """The cell_ids of the images the NSFW flag marks: their thumbnails are blurred until clicked."""
    flag = nsfw_flag(scores)
    if flag is None:
        return set()
    rows = scores.loc[scores["metric"].eq(flag), ["cell_id", "value"]]
    return set(rows.loc[rows["value"].astype(float) > 0.5, "cell_id"])


def nsfw_rates(frame: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per model x scheduler: `nsfw__rate`, the share of its images the NSFW flag marks (the flag's
    mean), and `nsfw__n`, the images flagged or not, over the image set's quality backend like
    the quality means beside it. Every image counts; empty without NSFW scores."""
    flag = nsfw_flag(scores)
    scored = _scored(frame, scores, [flag]) if flag else pd.DataFrame()
    if scored.empty:
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=KEYS))
    return scored.groupby(KEYS)["value"].agg(**{"nsfw__rate": "mean", "nsfw__n": "count"})


def tie_ranks(mean: pd.Series, lo: pd.Series, hi: pd.Series, higher_is_better: bool) -> pd.Series:
    """1 + the number of rows whose whole 95% interval is better than this row's interval.

    Rows that share a rank cannot be told apart at 95%; a row without an interval (one image)
    counts its mean as both bounds. A row without a mean has no rank (NaN)."""
    ranks = _tie_ranks(*(s.to_numpy(float) for s in (mean, lo, hi)), higher_is_better)
    return pd.Series(ranks, index=mean.index)


def _tie_ranks(m: np.ndarray, lo: np.ndarray, hi: np.ndarray, higher_is_better: bool) -> np.ndarray:
    low, high = np.where(np.isfinite(lo), lo, m), np.where(np.isfinite(hi), hi, m)
    if higher_is_better:
        beaten = low[None, :] > high[:, None]  # [i, j]: row j is surely better than row i
    else:
        beaten = high[None, :] < low[:, None]
    ranks = 1.0 + (beaten & np.isfinite(m)[None, :]).sum(axis=1)
    return np.where(np.isfinite(m), ranks, np.nan)


def _scored(frame: pd.DataFrame, scores: pd.DataFrame, metrics: list[str], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The scores of each image set's images, from its quality backend only: the first backend in
    BACKEND_ORDER that has scores for the model x scheduler (its twins on other backends would
    count each picture twice). Columns: cell_id, model, scheduler, backend, quality_backend,
    metric, value (float) and `extra` columns of the frame."""
    ok = frame.loc[frame["status"].eq("ok"), ["cell_id", *KEYS, "backend", *extra]]
    scored = ok.merge(scores.loc[scores["metric"].isin(metrics), ["cell_id", "metric", "value"]], on="cell_id")
    if scored.empty:
        return scored.assign(quality_backend=pd.Series(dtype=object))
    scored = scored.assign(order=backend_rank(scored["backend"]), value=scored["value"].astype(float))
    first = scored.sort_values(["order", "backend"]).groupby(KEYS)["backend"].first().rename("quality_backend")
    scored = scored.merge(first.reset_index(), on=KEYS)
    return scored[scored["backend"].eq(scored["quality_backend"])].drop(columns="order")


def _quality(frame: pd.DataFrame, scores: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    scored = _scored(frame, scores, metrics)
    if scored.empty:
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=KEYS))
    first = scored.groupby(KEYS)["quality_backend"].first()
    q = scored.groupby([*KEYS, "metric"])["value"].agg(n="count", mean="mean", std="std")
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


# The leaderboard's memory presets: a row fits a budget when a backend of it peaked within it.
MEMORY_BUDGETS_GB = (8, 12, 24)


def fits_gb(sets: pd.DataFrame) -> pd.Series:
    """Per row, the budgets of MEMORY_BUDGETS_GB its least hungry backend's peak memory fits in,
    space-separated ("12 24"); "" without a reading. Peaks are MB of 2**20 bytes, budgets GiB."""
    peaks = sets[[c for c in sets.columns if c.startswith("peak__")]]
    least = peaks.min(axis=1) if peaks.shape[1] else pd.Series(np.nan, index=sets.index)
    return least.map(lambda mb: "" if pd.isna(mb) else " ".join(str(gb) for gb in MEMORY_BUDGETS_GB if mb <= gb * 1024))


def _provenance(sets: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Each row's organisation (the owner in its hub id, "org/name") and its model's licence as
    the registry gives it."""
    hub = frame.groupby(KEYS)["hub_id"].first() if "hub_id" in frame.columns else pd.Series(dtype=object)
    owner = hub.reindex(sets.index).map(lambda h: h.split("/", 1)[0] if isinstance(h, str) and "/" in h else "")
    licence = [getattr(MODELS.get(m), "licence", "") for m in sets.index.get_level_values("model")]
    return sets.assign(organisation=owner.fillna("").to_numpy(), licence=licence)


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


def _set_labels(scored: pd.DataFrame) -> tuple[pd.Series, dict[str, tuple]]:
    """Each row's image set as one string (rank_sets' `set`), and string -> (model, scheduler)."""
    sets = scored[KEYS].astype(object).where(scored[KEYS].notna(), None)
    label = sets["model"].astype(str) + "\x1f" + sets["scheduler"].map(lambda s: "" if s is None else str(s))
    return label, dict(zip(label, zip(sets["model"], sets["scheduler"])))


def paired_ranking(scored: pd.DataFrame, metric: str) -> tuple[Ranking | None, dict[str, tuple]]:
    """rank_sets over `scored` (the quality backend's images of `metric`, with prompt_id and
    seed), and each of its set labels -> (model, scheduler); None without a shared pair."""
    if scored.empty:
        return None, {}
    label, keys = _set_labels(scored)
    values = scored.assign(set=label)[["set", "prompt_id", "seed", "value"]]
    return rank_sets(comparable(values), METRICS[metric].higher_is_better), keys


def paired_ranks(scored: pd.DataFrame, metric: str) -> pd.Series:
    """Each model x scheduler's rank by `metric` from paired tests on the prompts and seeds every
    set shares (bench.report.paired: Holm-corrected, so sets of one rank tie), indexed by KEYS;
    `scored` holds the quality backend's images (_scored with prompt_id and seed)."""
    ranking, keys = paired_ranking(scored, metric)
    if ranking is None:  # no (prompt, seed) pair every set shares
        return pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=KEYS))
    return pd.Series(
        ranking.table["rank"].to_numpy(float),
        index=pd.MultiIndex.from_tuples([keys[s] for s in ranking.table["set"]], names=KEYS),
    )


def _fastest(out: pd.DataFrame, frame: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per image set, its fastest backend by p50: `fastest`, `fastest__p50`, `fastest__peak`,
    `fastest__speedup` (eager PyTorch's p50 over it; 1 when eager is the fastest) and
    `fastest__psnr` (its images' worst PSNR against their eager twins; none for eager itself)."""
    p50 = out[[c for c in out.columns if c.startswith("p50__")]]
    if p50.empty or not p50.notna().any().any():
        return out.assign(fastest=None, fastest__p50=np.nan, fastest__peak=np.nan, fastest__speedup=np.nan,
                          fastest__psnr=np.nan)  # fmt: skip
    has = p50.notna().any(axis=1)
    fastest = p50[has].idxmin(axis=1).str.split("__", n=1).str[1].reindex(out.index)
    pick = {f"{stat}": [row.get(f"{stat}__{b}") if isinstance(b, str) else np.nan
                        for row, b in zip(out.to_dict("records"), fastest)]
            for stat in ("p50", "peak")}  # fmt: skip
    out = out.assign(fastest=fastest, fastest__p50=pick["p50"], fastest__peak=pick["peak"])
    eager = out[f"p50__{EAGER}"] if f"p50__{EAGER}" in out.columns else np.nan
    out["fastest__speedup"] = eager / out["fastest__p50"]
    psnr = scores.loc[scores["metric"].eq("psnr_db_vs_pytorch"), ["cell_id", "value"]]
    psnr = psnr.merge(frame[["cell_id", *KEYS, "backend"]], on="cell_id")
    worst = psnr.assign(value=psnr["value"].astype(float)).groupby([*KEYS, "backend"], dropna=False)["value"].min()
    out["fastest__psnr"] = [worst.get((*k, b), np.nan) if isinstance(b, str) and b != EAGER else np.nan
                            for k, b in zip(out.index, out["fastest"])]  # fmt: skip
    return out


def head_to_head(frame: pd.DataFrame, scores: pd.DataFrame) -> dict:
    """Every pair of image sets compared on each quality metric, for the leaderboard's head-to-head
    view: {metric: {"a~b": [mean a-b, lo, hi, Holm-adjusted p, a's win rate over prompts,
    prompts]}} with a < b (row ids without "row-"), from the ranking's own bootstrap draws
    (paired.Ranking.versus), so a pair reads as the ranks were decided."""
    metrics = quality_metrics(scores)
    paired = _scored(frame, scores, metrics, extra=("prompt_id", "seed"))
    out: dict[str, dict[str, list]] = {}
    for metric in metrics:
        ranking, keys = paired_ranking(paired[paired["metric"].eq(metric)], metric)
        if ranking is None:
            continue
        ids = {s: set_id({"model": m, "scheduler": sch}) for s, (m, sch) in keys.items()}
        sets = sorted(ranking.table["set"], key=lambda s: ids[s])
        higher = METRICS[metric].higher_is_better
        pairs = {}
        for i, a in enumerate(sets):
            for b in sets[i + 1 :]:
                v = ranking.versus(a, b, higher)
                pairs[f"{ids[a]}~{ids[b]}"] = [_round(x) for x in (v.mean, v.lo, v.hi, v.p, v.win_rate)] + [v.n_prompts]
        out[metric] = pairs
    return out


def h2h_images(frame: pd.DataFrame, scores: pd.DataFrame, metric: str) -> dict[str, dict[str, str]]:
    """Per image set (its row id without "row-"): prompt_id -> the image_path of its first seed on
    its quality backend, the picture the head-to-head view sets beside another set's."""
    scored = _scored(frame, scores, [metric], extra=("prompt_id", "seed", "image_path"))
    scored = scored.dropna(subset=["image_path"]).sort_values(["seed", "prompt_id"])
    first = scored.drop_duplicates([*KEYS, "prompt_id"])
    out: dict[str, dict[str, str]] = {}
    for r in first.to_dict("records"):
        out.setdefault(set_id(r), {})[str(r["prompt_id"])] = str(r["image_path"])
    return out


def set_id(row: dict) -> str:
    """An image set's id, safe in an id and a URL: model and scheduler (leaderboard.row_id's tail)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", f"{row['model']}--{row['scheduler'] or 'none'}")


def _round(x: float) -> float | None:
    return None if not np.isfinite(x) else float(f"{x:.6g}")


def _backend_key(backend: str) -> tuple[int, str]:
    return (BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER), backend)


def _int(v: object) -> str:
    return str(int(v)) if pd.notna(v) else ""


def image_sets(frame: pd.DataFrame, scores: pd.DataFrame, runs: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    """One row per model x scheduler: settings, `{metric}__mean/lo/hi/n` and `{metric}__rank` per
    quality metric, `nsfw__rate/n` (nsfw_rates), `p50__{backend}`, `p90__{backend}`,
    `peak__{backend}`, hardware and date, organisation, licence and fits_gb; sorted by `rank_by`'s mean, best first (rows without one
    last)."""
    if frame.empty:
        return pd.DataFrame(columns=KEYS)
    metrics = quality_metrics(scores)
    out = _settings(frame).join(_quality(frame, scores, metrics)).join(nsfw_rates(frame, scores))
    out = out.join(_speed(frame, runs))
    out = _fastest(out, frame, scores)
    out = out.join(downloads.commands(frame, runs))
    out = _provenance(out, frame).assign(fits_gb=fits_gb(out))
    paired = _scored(frame, scores, metrics, extra=("prompt_id", "seed"))
    for metric in metrics:
        if f"{metric}__mean" not in out.columns:
            continue
        out[f"{metric}__rank"] = paired_ranks(paired[paired["metric"].eq(metric)], metric).reindex(out.index)
    out = out.reset_index()
    if f"{rank_by}__mean" in out.columns:
        up = not METRICS[rank_by].higher_is_better
        out = out.sort_values([f"{rank_by}__mean", *KEYS], ascending=[up, True, True], na_position="last")
    return out.reset_index(drop=True)


def prompt_image_sets(
    frame: pd.DataFrame, higher_is_better: bool = True, measured_on: pd.Series | None = None
) -> dict[str, pd.DataFrame]:
    """Each prompt's board, as image_sets() is the site's: one row per model x scheduler, for
    every prompt in one pass (one groupby, not one per prompt).

    Quality is the configured metric (`clip`) of the first backend in BACKEND_ORDER with scores
    for that prompt: `clip__mean/lo/hi/n`, `clip_best`, `clip__rank` (tie groups) and
    `quality_backend`. Speed is `p50__{backend}`; counts are over every backend. `pareto` marks
    the quality-speed front against the fastest backend's p50. Rows come best mean first.
    higher_is_better: the direction of the metric in `clip` (CLIP scores: higher).
    measured_on: per model x scheduler, where and when its latencies were measured (image_sets')."""
    if frame.empty:
        return {}
    keys = ["prompt_id", *KEYS]
    per = summarize(frame, ["prompt_id", *GROUP])
    per = per.assign(order=backend_rank(per["backend"])).sort_values([*keys, "order", "backend"])
    out = per.groupby(keys, sort=False).agg(
        family=("family", "first"), n_images=("n_images", "sum"), n_failed=("n_failed", "sum")
    )
    quality = per[per["clip_n"].gt(0)].drop_duplicates(keys).set_index(keys)
    named = {"clip_mean": "clip__mean", "clip_lo": "clip__lo", "clip_hi": "clip__hi", "clip_n": "clip__n"}
    quality = quality[[*named, "clip_best", "backend"]].rename(columns={**named, "backend": "quality_backend"})
    speed = per.set_index([*keys, "backend"])["latency_p50_s"].unstack("backend")
    speed = speed[sorted(speed.columns, key=_backend_key)]
    speed.columns = [f"p50__{b}" for b in speed.columns]
    out = out.join(quality).join(speed)
    if measured_on is not None:
        out = out.join(measured_on.rename("measured_on"), on=KEYS)
    out = out.reset_index()
    fastest = out[list(speed.columns)].min(axis=1)  # NaN when no backend has a warm call
    sign = 1.0 if higher_is_better else -1.0
    out["pareto"] = pareto_within(out["prompt_id"], fastest, sign * out["clip__mean"])
    m, lo, hi = (out[c].to_numpy(float) for c in ("clip__mean", "clip__lo", "clip__hi"))
    ranks = np.full(len(out), np.nan)
    for rows in out.groupby("prompt_id", sort=False).indices.values():  # numpy per prompt: 1,632 are cheap
        ranks[rows] = _tie_ranks(m[rows], lo[rows], hi[rows], higher_is_better)
    out["clip__rank"] = ranks
    order = [True, not higher_is_better, True, True]
    out = out.sort_values(["prompt_id", "clip__mean", *KEYS], ascending=order, na_position="last")
    out = as_objects(out).reset_index(drop=True)  # each page turns its part into dicts: Arrow strings iterate slowly
    # Row slices, not groupby parts with their index reset: a millisecond each at 1,632 prompts.
    return {pid: out.iloc[rows] for pid, rows in sorted(out.groupby("prompt_id", sort=False).indices.items())}


def agreement(frame: pd.DataFrame, scores: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Spearman rank correlation between each pair of quality metrics across image sets (model x
    scheduler means), with the number of images scored by both and of image sets compared."""
    s = _scored(frame, scores, metrics)
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


def metric_texts(scores: pd.DataFrame, metrics: list[str], scale) -> dict[str, dict[str, str]]:
    """cell_id -> {metric: its value as the site prints it (CLIP kinds on `scale`, others to 3
    digits)}, for every quality metric in `metrics`; one pivot for all images."""
    s = scores.loc[scores["metric"].isin(metrics), ["cell_id", "metric", "value"]]
    if s.empty:
        return {}
    wide = s.assign(value=s["value"].astype(float)).pivot_table(index="cell_id", columns="metric", values="value")
    for m in wide.columns:
        clip = METRICS[m].kind == "clip"
        wide[m] = wide[m].map(lambda v, clip=clip: scale.fmt(v) if clip else f"{v:.3f}" if np.isfinite(v) else "—")
    return {cell: {m: t for m, t in row.items() if isinstance(t, str)} for cell, row in wide.iterrows()}


def categories(frame: pd.DataFrame) -> dict[str, str]:
    """prompt_id -> its category (PartiPrompts' nullable `category` column); empty without one."""
    if "category" not in frame.columns or frame["category"].isna().all():
        return {}
    cats = frame.dropna(subset=["category"]).drop_duplicates("prompt_id").set_index("prompt_id")["category"]
    return {str(k): str(v) for k, v in cats.items()}


def by_category(frame: pd.DataFrame, scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean `metric` per image set (model x scheduler) and prompt category, one column per
    category, over the image set's quality backend; empty when the generations have no category."""
    cats = categories(frame)
    if not cats:
        return pd.DataFrame()
    s = _scored(frame, scores, [metric], ("prompt_id",))  # the leaderboard's images: one backend per set
    s = s.assign(category=s["prompt_id"].map(cats)).dropna(subset=["category"])
    return s.pivot_table(index=KEYS, columns="category", values="value", aggfunc="mean").reset_index()
