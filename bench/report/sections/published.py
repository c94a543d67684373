"""The Published tables page: our image sets against MLPerf Inference's SDXL accuracy bounds.

MLPerf's closed division accepts a submission only when its 5,000 images score within both
bounds: CLIP (100 x the cosine of open_clip ViT-B/32, OpenAI weights) and FID (pytorch-fid
against val2014.npz). Each set here is checked the same way: a value is "within" or "outside"
each bound; a set of fewer images than the protocol's is "indicative" (FID is biased by the
number of images); a set scored by the tiny twins (random weights) is a demo, whatever its
numbers. Stored values are never changed: CLIP is stored as raw cosine and shown x100 here,
MLPerf's scale.
"""

from __future__ import annotations

import pandas as pd

from bench.report.html import Col, Num, table

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


def mlperf_rows(generations: pd.DataFrame, scores: pd.DataFrame, set_scores: pd.DataFrame) -> list[dict]:
    """One row per image set that has an FID: its mean CLIP x100 over the same set's images, and
    the verdicts. Pure: the tests call it on hand-made frames."""
    rows = []
    for clip, fid_metric, tiny in PAIRS:
        fids = set_scores[set_scores["metric"] == fid_metric] if not set_scores.empty else set_scores
        for _, s in fids.iterrows():
            same = generations[generations["status"] == "ok"]
            for col in SET_COLUMNS:
                same = same[same[col] == s[col]] if not pd.isna(s[col]) else same[same[col].isna()]
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
                }
            )
    return rows


def published_page(generations: pd.DataFrame, scores: pd.DataFrame, set_scores: pd.DataFrame) -> str:
    """The page's HTML: the bounds, then one row per image set with an FID."""
    rows = mlperf_rows(generations, scores, set_scores)
    bounds = (
        f"<p>Closed-division bounds: {CLIP_BOUNDS[0]:.5f} ≤ CLIP ×100 ≤ {CLIP_BOUNDS[1]:.5f} and "
        f"{FID_BOUNDS[0]:.5f} ≤ FID ≤ {FID_BOUNDS[1]:.5f}, on {PROTOCOL_IMAGES:,} images.</p>"
    )
    if not rows:
        return bounds + (
            "<p>No image set has an FID yet: run <code>bench run --suite mlperf-sdxl</code> "
            "(or its tiny twin, <code>mlperf-tiny</code>).</p>"
        )
    return bounds + table(COLUMNS, rows, "MLPerf SDXL accuracy")


def fragment(plugin, page, root: str, files) -> str:
    """The `<!-- bench:published -->` marker (bench.report.plugin.FRAGMENTS): the data dir's
    generations, scores and set scores, read as they are."""
    from bench import store

    return published_page(
        store.read(plugin.data_dir, "generations"),
        store.read(plugin.data_dir, "scores"),
        store.read(plugin.data_dir, "set_scores"),
    )
