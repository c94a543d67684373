"""Pure pandas aggregation for the report: frames in, frames out, no I/O and no MkDocs.

Conventions: a null scheduler (the gan family) is normalised to "" so it groups, sorts and
merges like any other value; the renderer prints it as a dash. Quality uses every image with
status "ok" and a score; speed uses only "ok" images from warm calls (the first call after a
load pays for caches and compilation, so it is recorded but not counted).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

GROUP = ["model", "scheduler", "backend"]

# Two-sided 95% critical values of Student's t for 1..30 degrees of freedom (standard tables).
# Beyond 30 the Cornish-Fisher expansion below is accurate to 1e-4, so no SciPy is needed.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959963984540054


def t975(dof: int) -> float:
    """The 97.5% quantile of Student's t with `dof` degrees of freedom (nan for dof < 1)."""
    if dof < 1:
        return math.nan
    if dof <= len(_T975):
        return _T975[dof - 1]
    z, v = _Z975, float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def mean_ci95(values) -> tuple[float, float, float]:
    """(mean, low, high) of the t-interval; the bounds are nan with fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = t975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


def normalise(generations: pd.DataFrame) -> pd.DataFrame:
    """A copy whose key columns are plain strings ("" for a null scheduler) and warm a bool."""
    frame = generations.copy()
    for col in ["model", "scheduler", "backend", "prompt_id", "provider", "status"]:
        frame[col] = frame[col].astype(object).where(frame[col].notna(), "").astype(str)
    frame["warm"] = frame["warm"].fillna(False).astype(bool)
    return frame


def with_scores(generations: pd.DataFrame, scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Generations with `clip` (the metric's raw value) and `truncated_tokens` joined on cell_id."""
    chosen = scores.loc[scores["metric"] == metric, ["cell_id", "value", "truncated_tokens"]]
    chosen = chosen.rename(columns={"value": "clip"})
    frame = normalise(generations).merge(chosen, on="cell_id", how="left")
    frame["clip"] = frame["clip"].astype(float)
    return frame


def summarize(frame: pd.DataFrame, keys: list[str] = GROUP) -> pd.DataFrame:
    """One row per `keys`: counts, CLIP mean/interval/best, latency p50/p90, throughput, memory."""
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "n_images", "n_failed", "clip_mean"])
    frame = frame.assign(
        is_ok=frame["status"].eq("ok").astype(int),
        is_failed=frame["status"].ne("ok").astype(int),
    )
    groups = frame.groupby(keys, sort=True)
    out = groups.agg(
        family=("family", "first"),
        n_images=("is_ok", "sum"),
        n_failed=("is_failed", "sum"),
        load_s=("load_s", "median"),
        export_s=("export_s", "median"),
    )
    # Distinct providers per row, joined; deduplicated first so the Python join runs on few rows.
    providers = frame.loc[frame["provider"].ne(""), [*keys, "provider"]].drop_duplicates().sort_values("provider")
    out["provider"] = providers.groupby(keys)["provider"].agg(", ".join).reindex(out.index).fillna("")

    scored = frame[frame["is_ok"].eq(1) & frame["clip"].notna()]
    q = scored.groupby(keys)["clip"].agg(clip_n="count", clip_mean="mean", clip_std="std", clip_best="max")
    half = q["clip_std"] * q["clip_n"].map(lambda n: t975(n - 1)) / np.sqrt(q["clip_n"])
    q["clip_lo"], q["clip_hi"] = q["clip_mean"] - half, q["clip_mean"] + half

    warm = frame[frame["is_ok"].eq(1) & frame["warm"]]
    lat = warm.groupby(keys)["latency_s"]
    s = pd.DataFrame(
        {
            "latency_p50_s": lat.quantile(0.5),
            "latency_p90_s": lat.quantile(0.9),
            # Images per second of generation time: n images over the seconds they took.
            "images_per_s": 1.0 / lat.mean(),
            "step_ms_p50": warm.groupby(keys)["step_ms_p50"].median(),
            "peak_mem_mb": warm.groupby(keys)["peak_mem_mb"].max(),
            "n_timed": lat.count(),
        }
    )
    out = out.join(q.drop(columns="clip_std")).join(s)
    out[["clip_n", "n_timed"]] = out[["clip_n", "n_timed"]].fillna(0).astype(int)
    return out.reset_index()


def pareto_front(cost, quality) -> np.ndarray:
    """Mask of points no other point beats: lower-or-equal cost and higher-or-equal quality.

    Rows with a missing value are never on the front.
    """
    x = np.asarray(cost, dtype=float)
    y = np.asarray(quality, dtype=float)
    mask = np.zeros(len(x), dtype=bool)
    valid = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    # Cheapest first, best quality first among equal costs: a point is on the front exactly
    # when it beats the best quality seen at any lower cost.
    order = valid[np.lexsort((-y[valid], x[valid]))]
    best = -math.inf
    for i in order:
        if y[i] > best:
            mask[i] = True
            best = y[i]
    return mask


def _ranked(board: pd.DataFrame) -> pd.DataFrame:
    """Add the `pareto` flag and sort by mean CLIP, best first."""
    board = board.assign(
        pareto=pareto_front(board["latency_p50_s"], board["clip_mean"]) if len(board) else pd.Series(dtype=bool)
    )
    return board.sort_values(
        ["clip_mean", *GROUP], ascending=[False, True, True, True], na_position="last"
    ).reset_index(drop=True)


def leaderboard(frame: pd.DataFrame) -> pd.DataFrame:
    """summarize() per model x scheduler x backend, best mean CLIP first, with a `pareto` flag."""
    board = summarize(frame)
    return board.assign(pareto=pd.Series(dtype=bool)) if board.empty else _ranked(board)


def leaderboards_by_prompt(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """leaderboard() of each prompt's rows, computed in one pass (one groupby, not one per prompt)."""
    if frame.empty:
        return {}
    board = summarize(frame, ["prompt_id", *GROUP])
    return {pid: _ranked(part.drop(columns="prompt_id")) for pid, part in board.groupby("prompt_id", sort=True)}


def backend_pairs(board: pd.DataFrame, scores: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """PyTorch against ONNX Runtime per model x scheduler where both ran, with parity metrics.

    `speedup` is PyTorch p50 latency over ONNX Runtime p50 latency: above 1, ORT is faster.
    """
    cols = [
        "model",
        "scheduler",
        "latency_p50_s",
        "latency_p90_s",
        "step_ms_p50",
        "load_s",
        "export_s",
        "peak_mem_mb",
        "provider",
        "n_timed",
    ]
    pt = board.loc[board["backend"] == "pytorch", cols]
    ort = board.loc[board["backend"] == "onnxruntime", cols]
    pairs = pt.merge(ort, on=["model", "scheduler"], suffixes=("_pt", "_ort"))
    pairs["speedup"] = pairs["latency_p50_s_pt"] / pairs["latency_p50_s_ort"]

    # Parity of each ORT image with its PyTorch twin, worst case per row: lowest PSNR, largest |Δ|.
    parity = scores[scores["metric"].isin(["psnr_db_vs_pytorch", "max_abs_diff_vs_pytorch"])]
    parity = parity.merge(frame.loc[frame["backend"] == "onnxruntime", ["cell_id", "model", "scheduler"]], on="cell_id")
    psnr = parity[parity["metric"] == "psnr_db_vs_pytorch"].groupby(["model", "scheduler"])["value"].min()
    diff = parity[parity["metric"] == "max_abs_diff_vs_pytorch"].groupby(["model", "scheduler"])["value"].max()
    key = pd.MultiIndex.from_frame(pairs[["model", "scheduler"]])
    pairs["psnr_db_min"] = psnr.reindex(key).to_numpy() if len(psnr) else np.nan
    pairs["max_abs_diff_max"] = diff.reindex(key).to_numpy() if len(diff) else np.nan
    return pairs.sort_values(["model", "scheduler"]).reset_index(drop=True)


def best_images(frame: pd.DataFrame) -> pd.DataFrame:
    """The best image of each model x scheduler: highest CLIP, then lowest seed, then pytorch.

    Only "ok" rows with an image path count; an unscored image ranks below any scored one.
    """
    ok = frame[frame["status"].eq("ok") & frame["image_path"].notna()]
    ranked = ok.sort_values(["clip", "seed", "backend"], ascending=[False, True, False], na_position="last")
    return ranked.drop_duplicates(["model", "scheduler"]).sort_values(["model", "scheduler"]).reset_index(drop=True)


def gallery_images(frame: pd.DataFrame) -> pd.DataFrame:
    """Every "ok" image with a path, in gallery order: model, scheduler, backend, seed."""
    ok = frame[frame["status"].eq("ok") & frame["image_path"].notna()]
    return ok.sort_values(["model", "scheduler", "backend", "seed"]).reset_index(drop=True)


def seed_comparison(reference: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The seed's published CLIP next to ours (PyTorch, as the seed ran) per prompt x model x scheduler."""
    ref = reference.assign(scheduler=reference["scheduler"].fillna("").astype(str))
    ok = frame[frame["status"].eq("ok") & frame["clip"].notna() & frame["backend"].eq("pytorch")]
    ours = ok.groupby(["prompt_id", "model", "scheduler"])["clip"].agg(
        ours_mean="mean", ours_best="max", ours_n="count"
    )
    out = ref.merge(ours.reset_index(), on=["prompt_id", "model", "scheduler"], how="left")
    out["ours_n"] = out["ours_n"].fillna(0).astype(int)
    return out


def prompt_summary(frame: pd.DataFrame, boards: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per prompt: its text, counts, the best model x scheduler x backend by mean CLIP.

    `boards` is leaderboards_by_prompt(frame).
    """
    columns = ["prompt_id", "prompt", "n_images", "n_failed", "best_row", "best_clip_mean", "truncated_tokens"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    by_prompt = frame.sort_values("created_at", kind="stable").groupby("prompt_id", sort=True)
    texts = by_prompt["prompt"].last()  # the newest text, if a suite ever changed a prompt's text
    truncated = by_prompt["truncated_tokens"].max()
    rows = []
    for prompt_id, board in boards.items():
        top = board.iloc[0] if board["clip_mean"].notna().any() else None
        text = texts.get(prompt_id)
        rows.append(
            {
                "prompt_id": prompt_id,
                "prompt": "" if text is None or pd.isna(text) else str(text),
                "n_images": int(board["n_images"].sum()),
                "n_failed": int(board["n_failed"].sum()),
                "best_row": None if top is None else (top["model"], top["scheduler"], top["backend"]),
                "best_clip_mean": math.nan if top is None else float(top["clip_mean"]),
                "truncated_tokens": float(truncated.get(prompt_id, math.nan)),
            }
        )
    return pd.DataFrame(rows, columns=columns)
