"""Pure pandas aggregation for the report: frames in, frames out, no I/O and no MkDocs.

Conventions: a null scheduler (the gan family) is normalised to "" so it groups, sorts and
merges like any other value; the renderer prints it as a dash. Quality uses every image with
status "ok" and a score; speed uses only "ok" images from warm calls (the first call after a
load pays for caches and compilation, so it is recorded but not counted).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from bench.models import MODELS

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
    out["provider"] = join_per_group(providers, keys, "provider", ", ").reindex(out.index).fillna("")

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


def join_per_group(frame: pd.DataFrame, keys: list[str], col: str, sep: str) -> pd.Series:
    """`col`'s strings joined by `sep` per group of `keys`, in the frame's order. A plain loop:
    pandas' groupby-agg with a Python function costs a call per group, and a sweep of 1,632
    prompts has 100,000 groups."""
    joined: dict = {}
    cols = [frame[k].tolist() for k in keys]
    for *key, text in zip(*cols, frame[col].tolist()):
        key = tuple(key) if len(keys) > 1 else key[0]
        joined[key] = text if key not in joined else joined[key] + sep + text
    index = (
        pd.MultiIndex.from_tuples(list(joined), names=keys) if len(keys) > 1 else pd.Index(list(joined), name=keys[0])
    )
    return pd.Series(list(joined.values()), index=index, dtype=object)


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


def pareto_within(groups: pd.Series, cost: pd.Series, quality: pd.Series) -> np.ndarray:
    """pareto_front() within each group (a prompt) at once, as a mask in the frame's order: a sort
    and a front per prompt would cost seconds at 1,632 prompts."""
    x, y = cost.astype(float), quality.astype(float)
    valid = np.isfinite(x) & np.isfinite(y)
    v = pd.DataFrame({"g": groups[valid], "x": x[valid], "y": y[valid]})
    v = v.sort_values(["g", "x", "y"], ascending=[True, True, False])
    best_before = v.groupby("g")["y"].cummax().groupby(v["g"]).shift().fillna(-math.inf)
    mask = pd.Series(False, index=groups.index)
    mask.loc[v.index] = (v["y"] > best_before).to_numpy()
    return mask.to_numpy()


# Eager PyTorch is the reference every other backend is compared with (speed and parity).
EAGER = "pytorch"
# The order rows and bars take within a model x scheduler: the reference first, then the others
# in the order the sweep races them; a backend not named here comes after, by name.
BACKEND_ORDER = (EAGER, "pytorch-compile", "onnxruntime")
PARITY = {"psnr_db_vs_pytorch": ("psnr_db_min", "min"), "max_abs_diff_vs_pytorch": ("max_abs_diff_max", "max")}
JOULES_PER_KWH = 3.6e6
# Names of switches in backend_options as the speed page prints them; others print their key.
_OPTION_NAMES = {
    "fused_qkv": "fused QKV",
    "lora_fused": "LoRA merged",
    "io_binding": "IO binding",
    "trt_engine_cache": "TensorRT engine cache",
}


def options_text(raw: object) -> str:
    """A row's `backend_options` (sorted JSON) as a reader wants it: the compile mode first, then
    what was switched on ("max-autotune-no-cudagraphs, channels_last"; "graph optimized, IO
    binding"). A switch that is off, and ONNX Runtime's plain graph, are the defaults and say
    nothing. Text that is not a JSON object comes back as it is: it is data, shown escaped."""
    if raw is None or raw is pd.NA or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
        return ""
    try:
        options = json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return str(raw)
    if not isinstance(options, dict):
        return str(raw)
    mode = options.pop("mode", None)
    parts = [str(mode)] if mode else []
    graph = options.pop("graph", None)
    if graph not in (None, "", "plain"):
        parts.append(f"graph {graph}")
    for key, value in options.items():
        name = _OPTION_NAMES.get(key, key)
        if value is True:
            parts.append(name)
        elif isinstance(value, dict):  # per part, where the parts differ (IO binding per session)
            on = sorted(str(part) for part, v in value.items() if v is True)
            parts += [f"{name} ({', '.join(on)})"] if on else []
        elif value not in (False, None, ""):
            parts.append(f"{name} {value}")
    return ", ".join(parts)


def backend_rank(backends: pd.Series) -> pd.Series:
    """Position of each backend in BACKEND_ORDER; the unknown ones share the last place."""
    return backends.map({b: i for i, b in enumerate(BACKEND_ORDER)}).fillna(len(BACKEND_ORDER)).astype(int)


def backend_comparison(board: pd.DataFrame, scores: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Every backend against eager PyTorch, per model x scheduler that ran on eager PyTorch and
    at least one other backend: one row per backend, the eager one included as the reference.

    `speedup` is eager p50 latency over the row's p50 latency (1.0 for eager; above 1, faster).
    `psnr_db_min` and `max_abs_diff_max` are the worst parity of the row's images against their
    eager twins (NaN for eager itself). `one_off_s` is the median `compile_s` over the calls that
    compiled, or else the ONNX export time, and `one_off_kind` says which ("" when neither).
    `energy_j` is the median GPU energy per image over warm ok images and `images_per_kwh`
    3.6e6 / energy_j: both NaN where no image of the row has an energy reading (CPU runs).
    `options` is options_text of the row's backend_options, distinct values joined by "; ".
    `size` is the row's image size and `latency_p50_s_per_mp` its p50 per megapixel (_sizes).
    Rows come by model, scheduler, then BACKEND_ORDER.
    """
    keys = ["model", "scheduler"]
    cols = [
        *GROUP, "provider", "n_timed", "latency_p50_s", "latency_p90_s", "load_s", "export_s", "peak_mem_mb",
    ]  # fmt: skip
    extra = ["speedup", *[col for col, _ in PARITY.values()], "one_off_s", "one_off_kind", "energy_j"]
    if board.empty:
        return pd.DataFrame(columns=[*cols, *extra, "images_per_kwh", "options", "size", "latency_p50_s_per_mp"])
    eager = board["backend"].eq(EAGER)
    cell = [board["model"], board["scheduler"]]
    shown = eager.groupby(cell).transform("any") & board.groupby(keys)["backend"].transform("size").gt(1)
    reference = board.loc[eager, [*keys, "latency_p50_s"]].rename(columns={"latency_p50_s": "eager_p50_s"})
    out = board.loc[shown, cols].merge(reference, on=keys).set_index(GROUP)
    out["speedup"] = out["eager_p50_s"] / out["latency_p50_s"]
    out = out.drop(columns="eager_p50_s")

    parity = scores.loc[scores["metric"].isin(list(PARITY)), ["cell_id", "metric", "value"]]
    parity = parity.merge(frame.loc[frame["backend"].ne(EAGER), ["cell_id", *GROUP]], on="cell_id")
    for metric, (col, worst) in PARITY.items():
        out[col] = _per_row(parity.loc[parity["metric"] == metric, "value"].astype(float), parity, worst, out.index)

    # Compilation happens at the first call of each shape and never counts as latency; the
    # export once per model. Either is what the row paid before its first timed image.
    out["one_off_s"] = _per_row(_floats(frame, "compile_s"), frame, "median", out.index)
    # Only ONNX Runtime exports; eager rows carry export_s = 0 from the loader, which is no cost.
    ort = out.index.get_level_values("backend") == "onnxruntime"
    # On ONNX Runtime, compile_s is TensorRT building its engines.
    out["one_off_kind"] = np.where(out["one_off_s"].notna(), np.where(ort, "engine build", "compile"), "")
    export = out["one_off_s"].isna() & out["export_s"].notna() & ort
    out.loc[export, "one_off_s"] = out.loc[export, "export_s"]
    out.loc[export, "one_off_kind"] = "export"

    warm = frame[frame["status"].eq("ok") & frame["warm"]]
    out["energy_j"] = _per_row(_floats(warm, "energy_j"), warm, "median", out.index)
    # A reading of 0 J is a broken counter, not free images: no images per kWh from it.
    out["images_per_kwh"] = (JOULES_PER_KWH / out["energy_j"]).where(out["energy_j"] > 0)
    out["options"] = _options(frame, out.index)
    out["size"], out["latency_p50_s_per_mp"] = _sizes(warm, out.index, out["latency_p50_s"])

    out = out.reset_index()
    order = [*keys, "rank", "backend"]
    return out.assign(rank=backend_rank(out["backend"])).sort_values(order).drop(columns="rank").reset_index(drop=True)


def _floats(frame: pd.DataFrame, col: str) -> pd.Series:
    """A numeric column as floats; all NaN when the frame predates it (a hand-made frame)."""
    return frame[col].astype(float) if col in frame.columns else pd.Series(np.nan, index=frame.index, dtype=float)


def _per_row(values: pd.Series, frame: pd.DataFrame, how: str, index: pd.MultiIndex) -> np.ndarray:
    """`values` (a column of `frame`, or part of one) aggregated per model x scheduler x backend,
    in the order of `index`; NaN for a row without any value."""
    values = values.dropna()
    if values.empty:
        return np.full(len(index), np.nan)
    return values.groupby([frame.loc[values.index, k] for k in GROUP]).agg(how).reindex(index).to_numpy()


def _sizes(warm: pd.DataFrame, index: pd.MultiIndex, p50_s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's image size ("768×768"; distinct sizes joined by ", ") and its p50 latency per
    megapixel, so that a 1024 px model and a 512 px one compare at equal work; the per-megapixel
    figure is only given where a row made one size."""
    if warm.empty or "width" not in warm.columns:
        return np.full(len(index), "", dtype=object), np.full(len(index), np.nan)
    sized = warm[[*GROUP, "width", "height"]].dropna().drop_duplicates()
    sized = sized.assign(text=sized["width"].astype(int).astype(str) + "×" + sized["height"].astype(int).astype(str))
    by = sized.groupby(GROUP)
    text = by["text"].agg(lambda t: ", ".join(sorted(t))).reindex(index).fillna("")
    one = by["text"].transform("size").eq(1)
    mp = (sized.loc[one, "width"] * sized.loc[one, "height"] / 1e6).groupby([sized.loc[one, k] for k in GROUP]).first()
    per_mp = p50_s.to_numpy() / mp.reindex(index).to_numpy()
    return text.to_numpy(), per_mp


def _options(frame: pd.DataFrame, index: pd.MultiIndex) -> np.ndarray:
    """options_text of each row's distinct backend_options, joined by "; " ("" for none)."""
    if "backend_options" not in frame.columns:
        return np.full(len(index), "", dtype=object)
    # Parsed once per distinct value: a sweep repeats the same few on every row.
    raw = frame[[*GROUP, "backend_options"]].dropna().drop_duplicates()
    raw["text"] = raw["backend_options"].map(options_text)
    raw = raw[raw["text"].ne("")].drop_duplicates([*GROUP, "text"]).sort_values("text")
    return raw.groupby(GROUP)["text"].agg("; ".join).reindex(index).fillna("").to_numpy()


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its string columns as Python objects: to_dict and row loops over Arrow-backed
    strings cost a call per value, which a build of 200,000 rows feels."""
    strings = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c].dtype) and frame[c].dtype != object]
    return frame.astype({c: object for c in strings}) if strings else frame


def best_images(frame: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """The best image of each model x scheduler: highest CLIP, then lowest seed, then pytorch.

    Only "ok" rows with an image path count; an unscored image ranks below any scored one.
    by: more keys (("prompt_id",): every prompt's best images in one pass, not one per page).
    """
    ok = frame[frame["status"].eq("ok") & frame["image_path"].notna()]
    ranked = ok.sort_values(["clip", "seed", "backend"], ascending=[False, True, False], na_position="last")
    keys = [*by, "model", "scheduler"]
    return ranked.drop_duplicates(keys).sort_values(keys).reset_index(drop=True)


def gallery_images(frame: pd.DataFrame) -> pd.DataFrame:
    """Every "ok" image with a path, in gallery order: model, scheduler, backend, seed."""
    ok = frame[frame["status"].eq("ok") & frame["image_path"].notna()]
    return ok.sort_values(["model", "scheduler", "backend", "seed"]).reset_index(drop=True)


def seed_comparison(reference: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The seed's published CLIP next to ours (PyTorch, as the seed ran) per prompt x model x
    scheduler: our best image (like the seed's "best image" column) and our mean with its 95%
    interval. A seed row without a scheduler (its "DALL-E 3") is set against the model's card
    scheduler where we ran it, else against all of ours; `ours_scheduler` says which."""
    ref = reference.assign(scheduler=reference["scheduler"].fillna("").astype(str))
    ok = frame[frame["status"].eq("ok") & frame["clip"].notna() & frame["backend"].eq("pytorch")]
    ran = ok.groupby(["prompt_id", "model"])["scheduler"].agg(lambda s: set(s.dropna()))
    ref["ours_scheduler"] = [
        sched if sched else _card_scheduler(model, ran.get((pid, model), set()))
        for pid, model, sched in zip(ref["prompt_id"], ref["model"], ref["scheduler"])
    ]
    ours = ok.groupby(["prompt_id", "model", "scheduler"])["clip"].agg(list).rename("values").reset_index()
    ours = ours.rename(columns={"scheduler": "ours_scheduler"})
    everything = ok.groupby(["prompt_id", "model"])["clip"].agg(list).rename("values").reset_index()
    everything["ours_scheduler"] = "all"
    out = ref.merge(pd.concat([ours, everything]), on=["prompt_id", "model", "ours_scheduler"], how="left")
    values = out["values"].map(lambda v: np.asarray(v, dtype=float) if isinstance(v, list) else np.array([]))
    out["ours_n"] = values.map(len).astype(int)
    out["ours_mean"] = values.map(lambda v: v.mean() if len(v) else np.nan)
    out["ours_best"] = values.map(lambda v: v.max() if len(v) else np.nan)
    half = values.map(lambda v: t975(len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan)
    out["ours_half_width"] = half.astype(float)
    return out.drop(columns="values")


def _card_scheduler(model: str, ran: set[str]) -> str:
    """The scheduler a seed row that names none is compared on: the model card's, where we ran it."""
    hint = MODELS[model].scheduler_hint if model in MODELS else None
    return hint if hint in ran else "all"


def prompt_summary(frame: pd.DataFrame, boards: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per prompt: its text, counts, the best model x scheduler by mean CLIP.

    `boards` is board.prompt_image_sets(frame): each prompt's image sets, best mean first.
    """
    columns = ["prompt_id", "prompt", "n_images", "n_failed", "best_row", "best_clip_mean", "truncated_tokens"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    by_prompt = frame.sort_values("created_at", kind="stable").groupby("prompt_id", sort=True)
    texts = by_prompt["prompt"].last()  # the newest text, if a suite ever changed a prompt's text
    truncated = by_prompt["truncated_tokens"].max()
    rows = []
    for prompt_id, board in boards.items():
        top = board.iloc[0] if board["clip__mean"].notna().any() else None
        text = texts.get(prompt_id)
        rows.append(
            {
                "prompt_id": prompt_id,
                "prompt": "" if text is None or pd.isna(text) else str(text),
                "n_images": int(board["n_images"].sum()),
                "n_failed": int(board["n_failed"].sum()),
                "best_row": None if top is None else (top["model"], top["scheduler"]),
                "best_clip_mean": math.nan if top is None else float(top["clip__mean"]),
                "truncated_tokens": float(truncated.get(prompt_id, math.nan)),
            }
        )
    return pd.DataFrame(rows, columns=columns)
