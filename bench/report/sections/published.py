"""The Published tables page: our image sets against MLPerf Inference's SDXL accuracy bounds,
and our HPS v2.1 means per style against the HPS v2.1 benchmark's table.

MLPerf's closed division accepts a submission only when its 5,000 images score within both
bounds: CLIP (100 x the cosine of open_clip ViT-B/32, OpenAI weights) and FID (pytorch-fid
against val2014.npz). Each set here is checked the same way: a value is "within" or "outside"
each bound; a set of fewer images than the protocol's is "indicative" (FID is biased by the
number of images); a set scored by the tiny twins (random weights) is a demo, whatever its
numbers. Stored values are never changed: CLIP is stored as raw cosine and shown x100 here,
MLPerf's scale.

Beside each set, MLPerf's unit of speed: images per second at the best batch size measured (the
Offline scenario's samples/s), and the published MLPerf results for the same GPU from
bench/data/mlperf_results.csv: only rows that carry their source, none invented.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import IO

import pandas as pd

from bench.report.html import Col, Num, esc, table

# docs/index.md of mlcommons/inference, text-to-image (bench/data/mlperf-sdxl/README.md)
CLIP_BOUNDS = (31.68631873, 31.81331801)
FID_BOUNDS = (23.01085758, 23.95007626)
PROTOCOL_IMAGES = 5000
# (CLIP metric, FID metric): the real pair, and the tiny twins' (a demo)
PAIRS = (("clip_vit_b_32", "fid", False), ("clip_tiny", "fid_tiny", True))
SET_COLUMNS = ["model", "backend", "scheduler", "steps", "guidance_scale", "width", "height"]

COLUMNS = [
    Col("Model", "model"),
    Col("Backend", "backend"),
    Col("Scheduler", "scheduler"),
    Col("Images", "n_images", Num(0), "images in the set; MLPerf scores 5,000"),
    Col("CLIP ×100", "clip_x100", Num(3), "mean of 100 × cosine, open_clip ViT-B/32 (MLPerf's scale)", "higher"),
    Col("CLIP verdict", "clip_verdict"),
    Col("FID", "fid", Num(3), "pytorch-fid against the reference statistics", "lower"),
    Col("FID verdict", "fid_verdict"),
    Col("Status", "status"),
]


def verdict(value: float | None, bounds: tuple[float, float]) -> str:
    """'within' or 'outside' [low, high], as MLPerf's result checker decides; '-' without a value."""
    if value is None or pd.isna(value):
        return "-"
    return "within" if bounds[0] <= value <= bounds[1] else "outside"


def images_per_s(images: pd.DataFrame) -> tuple[float | None, int | None]:
    """MLPerf's unit (Offline samples/s) and the batch size it was best at: per batch size, the
    median over warm ok images of batch_size / (latency_s x batch_size) = 1 / latency_s (latency_s
    is a call's wall time per image); the best batch size's median. (None, None) without timings."""
    needed = {"warm", "latency_s", "batch_size", "status"}
    if not needed <= set(images.columns):
        return None, None
    latency = pd.to_numeric(images["latency_s"], errors="coerce")
    timed = images[images["status"].eq("ok") & images["warm"].eq(True) & latency.gt(0)]
    if timed.empty:
        return None, None
    per_batch = (1.0 / latency[timed.index]).groupby(timed["batch_size"]).median()
    best = per_batch.idxmax()
    return float(per_batch[best]), int(best)


def _gpus(images: pd.DataFrame, runs: pd.DataFrame | None) -> str:
    """The GPU(s) the set's warm images were made on (the runs table's gpu_name), "; "-joined."""
    if runs is None or runs.empty or "run_id" not in images or not {"run_id", "gpu_name"} <= set(runs.columns):
        return ""
    warm = images[images["warm"].eq(True)] if "warm" in images else images
    names = runs[runs["run_id"].isin(warm["run_id"])]["gpu_name"].dropna()
    return "; ".join(sorted(set(names)))


def mlperf_rows(
    generations: pd.DataFrame, scores: pd.DataFrame, set_scores: pd.DataFrame, runs: pd.DataFrame | None = None
) -> list[dict]:
    """One row per image set that has an FID: its mean CLIP x100 over the same set's images, and
    the verdicts; its images per second at the best batch size and the GPU (from `runs`) when
    recorded. Pure: the tests call it on hand-made frames."""
    rows = []
    for clip, fid_metric, tiny in PAIRS:
        fids = set_scores[set_scores["metric"] == fid_metric] if not set_scores.empty else set_scores
        for _, s in fids.iterrows():
            same = generations[generations["status"] == "ok"]
            for col in SET_COLUMNS:
                same = same[same[col] == s[col]] if not pd.isna(s[col]) else same[same[col].isna()]
            speed, batch = images_per_s(same)
            values = scores[(scores["metric"] == clip) & scores["cell_id"].isin(same["cell_id"])]["value"]
            clip_x100 = 100 * float(values.mean()) if len(values) else None
            n = int(s["n_images"])
            status = (
                "demo (tiny random weights)" if tiny else ("indicative" if n < PROTOCOL_IMAGES else "full protocol")
            )
            if tiny and n < PROTOCOL_IMAGES:
                status += "; indicative"
            rows.append(
                {
                    **{c: s[c] for c in ("model", "backend", "scheduler")},
                    "n_images": n,
                    "clip_x100": clip_x100,
                    "clip_verdict": verdict(clip_x100, CLIP_BOUNDS),
                    "fid": float(s["value"]),
                    "fid_verdict": verdict(float(s["value"]), FID_BOUNDS),
                    "status": status,
                    "images_per_s": speed,
                    "best_batch": batch,
                    "gpu": _gpus(same, runs),
                }
            )
    return rows


RESULT_COLUMNS = ["gpu", "scenario", "samples_per_s", "submitter", "round", "source_url"]


def read_mlperf_results(source: str | IO[bytes] | None = None) -> pd.DataFrame:
    """Published MLPerf Inference SDXL results (bench/data/mlperf_results.csv; `#` lines are
    comments). A row without its source_url is refused: no figure here without its origin."""
    if source is None:
        with (resources.files("bench") / "data" / "mlperf_results.csv").open("rb") as f:
            return read_mlperf_results(f)
    results = pd.read_csv(source, comment="#", dtype={c: str for c in RESULT_COLUMNS if c != "samples_per_s"})
    if list(results.columns) != RESULT_COLUMNS:
        raise ValueError(f"mlperf_results.csv: columns must be {RESULT_COLUMNS}, not {list(results.columns)}")
    unsourced = results["source_url"].fillna("").str.strip().eq("")
    if unsourced.any():
        raise ValueError(f"mlperf_results.csv: source_url is empty on row(s) {list(results.index[unsourced] + 1)}")
    return results


def published_for(gpu: str, results: pd.DataFrame) -> str:
    """The published results for this GPU (names compared without case), as text, or a line
    saying none is recorded."""
    if not gpu:
        return "no GPU recorded for this set"
    wanted = {g.strip().lower() for g in gpu.split(";")}
    mine = results[results["gpu"].fillna("").str.strip().str.lower().isin(wanted)]
    if mine.empty:
        return f"no published result recorded for {gpu}"
    return "; ".join(
        f"{float(r.samples_per_s):.2f} samples/s, {r.scenario}, {r.submitter}, {r.round} ({r.source_url})"
        for r in mine.itertuples()
    )


SPEED_COLUMNS = [
    Col("Model", "model"),
    Col("Backend", "backend"),
    Col("Scheduler", "scheduler"),
    Col("GPU", "gpu", tooltip="the GPU that made the set's warm images (the runs table)"),
    Col("Best batch", "best_batch", Num(0), "the batch size with the most images per second"),
    Col(
        "images/s",
        "images_per_s",
        Num(3),
        "median of batch_size ÷ (latency_s × batch_size) per warm image at the best batch size: "
        "MLPerf's Offline samples/s",
        "higher",
    ),
    Col("Published MLPerf (same GPU)", "published", tooltip="bench/data/mlperf_results.csv, each with its source"),
    Col("Status", "status"),
]


# The HPS v2.1 benchmark's four styles: its prompt files, and our prompts' category (bench.prompts)
HPS_STYLES = ("anime", "concept-art", "paintings", "photo")
HPS_COLUMNS = [
    Col("Model", "model"),
    Col("Style", "style"),
    Col("Images", "n", Num(0), "our images of that style (the benchmark: 800 prompts per style)"),
    Col("Ours ×100", "ours", Num(2), "mean of 100 × the HPS v2.1 score, eager PyTorch images", "higher"),
    Col("± 95%", "half", Num(2), "half-width of the 95% interval of our mean (normal approximation)"),
    Col("Published", "published", Num(2), "the HPS v2.1 table (HPSv2 README), same style"),
    Col("Ours − published", "diff", Num(2)),
    Col("Status", "status"),
]


def published_styles(note: str) -> dict[str, float]:
    """The per-style means an anchor's prompts field lists ("anime 30.87, concept-art 29.75, ...")."""
    found = re.findall(r"\b(" + "|".join(map(re.escape, HPS_STYLES)) + r") (\d+(?:\.\d+)?)", note)
    return {style: float(value) for style, value in found}


def hps_rows(generations: pd.DataFrame, scores: pd.DataFrame, anchors: pd.DataFrame) -> list[dict]:
    """Per model and style, our HPS v2.1 mean x100 with its interval beside the published v2.1
    figure (bench/data/anchors.csv). Only images whose prompt's category is one of the
    benchmark's styles count (the hpdv2 suites); the tiny twin's are a demo. Pure."""
    ok = generations[(generations["status"] == "ok") & (generations["backend"] == "pytorch")]
    ok = ok[ok["category"].isin(HPS_STYLES)][["cell_id", "model", "category"]]
    published = {
        a.model: {**published_styles(str(a.prompts)), "all": float(a.published)}
        for a in anchors[anchors["metric"] == "hpsv2"].itertuples()
    }
    rows = []
    for metric, tiny in (("hpsv2", False), ("hpsv2_tiny", True)):
        mine = scores[scores["metric"] == metric].merge(ok, on="cell_id")
        for (model, style), values in mine.groupby(["model", "category"])["value"]:
            x100 = 100 * values.astype(float)
            half = 1.96 * float(x100.std(ddof=1)) / len(x100) ** 0.5 if len(x100) > 1 else None
            theirs = published.get(model, {}).get(style)
            rows.append(
                {
                    "model": model,
                    "style": style,
                    "n": len(x100),
                    "ours": float(x100.mean()),
                    "half": half,
                    "published": theirs,
                    "diff": float(x100.mean()) - theirs if theirs is not None else None,
                    "status": "demo (tiny random weights)"
                    if tiny
                    else ("indicative" if len(x100) < 800 else "full benchmark"),
                }
            )
    return rows


def published_page(
    generations: pd.DataFrame,
    scores: pd.DataFrame,
    set_scores: pd.DataFrame,
    anchors: pd.DataFrame | None = None,
    runs: pd.DataFrame | None = None,
    results: pd.DataFrame | None = None,
) -> str:
    """The page's HTML: MLPerf's bounds and one row per image set with an FID, then the HPS
    v2.1 benchmark per style."""
    hps = hps_rows(generations, scores, anchors) if anchors is not None and "category" in generations else []
    hps_html = "<h2>HPS v2.1 benchmark, per style</h2>" + (
        table(HPS_COLUMNS, hps, "HPS v2.1 per style")
        if hps
        else "<p>No HPS v2.1 scores of the benchmark's styles yet: <code>bench fetch --suite hpdv2</code>, then "
        "<code>bench run --suite hpdv2</code> (or its tiny twin, <code>hpdv2-tiny</code>).</p>"
    )
    return _mlperf_html(generations, scores, set_scores, runs, results) + hps_html


def _mlperf_html(
    generations: pd.DataFrame,
    scores: pd.DataFrame,
    set_scores: pd.DataFrame,
    runs: pd.DataFrame | None,
    results: pd.DataFrame | None,
) -> str:
    rows = mlperf_rows(generations, scores, set_scores, runs)
    bounds = (
        f"<p>Closed-division bounds: {CLIP_BOUNDS[0]:.5f} ≤ CLIP ×100 ≤ {CLIP_BOUNDS[1]:.5f} and "
        f"{FID_BOUNDS[0]:.5f} ≤ FID ≤ {FID_BOUNDS[1]:.5f}, on {PROTOCOL_IMAGES:,} images.</p>"
    )
    if not rows:
        return bounds + (
            "<p>No image set has an FID yet: run <code>bench run --suite mlperf-sdxl</code> "
            "(or its tiny twin, <code>mlperf-tiny</code>).</p>"
        )
    return bounds + table(COLUMNS, rows, "MLPerf SDXL accuracy") + _speed_html(rows, results)


def _speed_html(rows: list[dict], results: pd.DataFrame | None) -> str:
    """MLPerf's unit per set, beside the published results for the same GPU."""
    results = read_mlperf_results() if results is None else results
    shown = [{**r, "published": published_for(r["gpu"], results)} for r in rows]
    return (
        "<h2>Images per second, MLPerf's unit</h2>"
        "<p>MLPerf Inference reports the Offline scenario in samples (images) per second. Ours: at the "
        "batch size that gave the most, the median over warm images of batch size ÷ the call's time. "
        "Published results come from <code>bench/data/mlperf_results.csv</code>, each with its source; "
        f"{esc(len(results))} recorded. Their systems, software and settings differ from ours.</p>"
        + table(SPEED_COLUMNS, shown, "MLPerf SDXL images per second")
    )


def fragment(plugin, page, root: str, files) -> str:
    """The `<!-- bench:published -->` marker (bench.report.plugin.FRAGMENTS): the data dir's
    generations, scores and set scores, read as they are."""
    from bench import store
    from bench.report.sections.methodology import read_anchors

    data = plugin.data  # read once for every page; every steps and guidance value
    generations = data.swept if data.swept is not None else data.frame
    return published_page(
        generations, data.scores, store.read(plugin.data_dir, "set_scores"), read_anchors(), data.runs
    )
