"""The speed page: every backend of each model x scheduler against eager PyTorch, table and chart.

The chart is a Vega-Lite spec drawn by the vendored vega-embed (as the leaderboard's): one bar
per backend, grouped by model and scheduler, its speed-up written beside it, a tooltip per bar.
Its labels are type of the page's size at any width; the static SVG stays inside for readers
without JavaScript.

A faster backend counts only if its images stay within MLPerf's accuracy bounds: where an image
set of a row has an FID, the row carries the verdict of bench.report.sections.published
(mlperf_rows, the one place that decides it), and a set outside either bound marks the row
invalid. Indicative and demo sets are labelled so, never given a verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from bench.report.html import Col, Num, Td, esc, href, missing, table
from bench.report.sections.common import chart, note
from bench.report.sections.quality_speed import VEGA_SCRIPTS
from bench.report.stats import BACKEND_ORDER

# What the one-off column holds on each row, for its cell's tooltip.
ONE_OFF = {
    "compile": "torch.compile: median over the calls that compiled a new shape, never timed",
    "export": "ONNX export (0 when the export cache was hit)",
}


@dataclass(frozen=True)
class OneOff:
    """A one-off cost in seconds with a tooltip saying what it was (the row's `one_off_kind`)."""

    digits: int = 1
    numeric: ClassVar[bool] = True

    def __call__(self, value: object, row: dict) -> Td:
        cell = Num(self.digits)(value, row)
        kind = row.get("one_off_kind") or ""
        if missing(value) or kind not in ONE_OFF:
            return cell
        html = f'<span title="{esc(ONE_OFF[kind])}">{cell.html} <small>({esc(kind)})</small></span>'
        return Td(html, cell.sort)


COLUMNS = [
    Col("Model", "model"),
    Col("Scheduler", "scheduler"),
    Col("Backend", "backend"),
    Col("Size px", "size", tooltip="the images' width × height: latency grows with it"),
    Col("p50 s", "latency_p50_s", Num(3), "median latency per image, warm calls", "lower"),
    Col(
        "p50 s/MP",
        "latency_p50_s_per_mp",
        Num(3),
        "median latency per megapixel: models of different native sizes compared at equal work",
        "lower",
    ),
    Col("p90 s", "latency_p90_s", Num(3), "90th percentile latency per image, warm calls", "lower"),
    Col(
        "speed-up ×",
        "speedup",
        Num(2),
        "eager PyTorch p50 ÷ this backend's p50: above 1, faster than eager (eager itself is 1.00)",
        "higher",
    ),
    Col("min PSNR dB", "psnr_db_min", Num(1), "worst PSNR of an image against its eager PyTorch twin", "higher"),
    Col("max |Δ|", "max_abs_diff_max", Num(4), "largest absolute pixel difference (0..1) against eager", "lower"),
    Col(
        "one-off cost s",
        "one_off_s",
        OneOff(),
        "paid once, before the first timed image, and never in the latency: torch.compile time or ONNX export",
        "lower",
    ),
    Col("load s", "load_s", Num(1), "model load (ONNX Runtime: session creation)", "lower"),
    Col("peak MB", "peak_mem_mb", Num(0), "peak memory: CUDA allocated, or process RSS on CPU", "lower"),
    Col("J/image", "energy_j", Num(1), "median GPU energy per image, warm calls (NVML counter)", "lower"),
    Col("images/kWh", "images_per_kwh", Num(0), "3.6 million ÷ J/image", "higher"),
    Col("Measured on", "measured_on", tooltip="the machine and the day of the latencies"),
    Col("Provider", "provider", tooltip="the device or execution provider that really ran"),
    Col("Options", "options", tooltip="how the backend ran beyond device and dtype, as it recorded it"),
    Col("timed", "n_timed", Num(0), "warm ok images behind the latency and energy figures", "higher"),
]


INVALID = "invalid (outside MLPerf's bounds)"
MLPERF_COL = Col(
    "MLPerf bounds",
    "mlperf",
    tooltip="the row's image sets with an FID against MLPerf's closed-division CLIP and FID bounds (Published tables)",
)
MLPERF_NOTE = (
    "MLPerf bounds: a faster backend counts only if its images stay within MLPerf's closed-division bounds "
    "(CLIP ×100 and FID on 5,000 images, the Published tables page). A row whose set is outside either bound "
    f"is marked “{INVALID}”, its values beside. A set of fewer images is indicative and the tiny twins' a demo: "
    "labelled so, without a verdict."
)


def mlperf_label(row: dict) -> str:
    """One image set's label for its backend's speed row, from a row of published.mlperf_rows:
    the verdict of a full-protocol set, the status of an indicative or demo one, its values beside."""
    clip = "—" if row["clip_x100"] is None else f"{row['clip_x100']:.3f}"
    if row["status"] != "full protocol":
        return f"{row['status']}, no verdict: CLIP ×100 {clip}, FID {row['fid']:.3f}"
    values = f"CLIP ×100 {clip} ({row['clip_verdict']}), FID {row['fid']:.3f} ({row['fid_verdict']})"
    verdicts = (row["clip_verdict"], row["fid_verdict"])
    if "outside" in verdicts:
        return f"{INVALID}: {values}"
    if verdicts == ("within", "within"):
        return f"valid (within MLPerf's bounds): {values}"
    return f"no verdict (a value is missing): {values}"


def with_mlperf(comparison: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """The comparison with an `mlperf` column: per model x scheduler x backend, the labels of its
    image sets with an FID ("; "-joined; "" where none). `rows`: published.mlperf_rows."""
    labels: dict[tuple, list[str]] = {}
    for r in rows:
        labels.setdefault((r["model"], r["scheduler"], r["backend"]), []).append(mlperf_label(r))
    out = comparison.copy()
    out["mlperf"] = [
        "; ".join(labels.get((r["model"], r["scheduler"], r["backend"]), []))
        for r in comparison[["model", "scheduler", "backend"]].to_dict("records")
    ]
    return out


def speed_table(comparison: pd.DataFrame) -> str:
    """The rows of stats.backend_comparison as they come: by model, scheduler, eager first; the
    MLPerf bounds column and its rule only where a row has an image set with an FID."""
    caption = (
        "Latency: seconds per image (and per megapixel) over warm calls, at the size shown. Memory: MB. "
        "Energy: GPU joules per image."
    )
    bounds = "mlperf" in comparison and comparison["mlperf"].fillna("").ne("").any()
    columns = [*COLUMNS[:4], MLPERF_COL, *COLUMNS[4:]] if bounds else COLUMNS
    return (
        table(columns, comparison, caption)
        + note("A dash: no value recorded (no energy reading on a CPU, no parity for eager PyTorch itself).")
        + (note(MLPERF_NOTE) if bounds else "")
    )


BAR_PX = 16  # height of one backend's bar: a label's line, at 390 px as at 1400 px


def chart_spec(comparison: pd.DataFrame) -> dict:
    """Horizontal bars of p50 seconds per image: a band per model and scheduler, a bar per backend
    (colour), its speed-up over eager PyTorch written at its end; the tooltip holds every figure."""
    data = comparison.dropna(subset=["latency_p50_s"])
    values = [
        {"set": f"{r['model']} · {r['scheduler'] or '—'}", "backend": r["backend"], "p50_s": float(r["latency_p50_s"]),
         "p90_s": None if missing(r.get("latency_p90_s")) else float(r["latency_p90_s"]),
         "speedup": None if missing(r.get("speedup")) else float(r["speedup"]),
         "label": "" if missing(r.get("speedup")) else f"×{float(r['speedup']):.2f}"}
        for r in data.to_dict("records")
    ]  # fmt: skip
    sets = list(dict.fromkeys(v["set"] for v in values))
    present = {v["backend"] for v in values}
    backends = [b for b in BACKEND_ORDER if b in present] + sorted(present - set(BACKEND_ORDER))
    y = {"field": "set", "type": "nominal", "title": None, "sort": sets,
         "axis": {"labelLimit": 150, "labelFontSize": 11}}  # fmt: skip
    y_offset = {"field": "backend", "type": "nominal", "sort": backends}
    longest = max((v["p50_s"] for v in values), default=0.0)
    # a fifth more room than the longest bar: its speed-up label fits after it
    x = {"field": "p50_s", "type": "quantitative", "title": "p50 latency per image (s)",
         "scale": {"domainMax": longest * 1.2 or None}}  # fmt: skip
    tooltip = [
        {"field": "set", "title": "model · scheduler"}, {"field": "backend"},
        {"field": "p50_s", "format": ".3f", "title": "p50 s"}, {"field": "p90_s", "format": ".3f", "title": "p90 s"},
        {"field": "speedup", "format": ".2f", "title": "speed-up × over eager"},
    ]  # fmt: skip
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",  # an identifier, never fetched
        "width": "container",
        "height": {"step": BAR_PX},
        "background": None,
        "data": {"values": values},
        "encoding": {"y": y, "yOffset": y_offset, "x": x},
        "layer": [
            {
                "mark": {"type": "bar", "tooltip": True},
                "encoding": {
                    "color": {"field": "backend", "type": "nominal", "sort": backends, "title": "backend"},
                    "tooltip": tooltip,
                },
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 10, "fill": "currentColor"},
                "encoding": {"text": {"field": "label"}, "tooltip": tooltip},
            },
        ],  # fmt: skip
        "config": {
            "legend": {"orient": "bottom", "labelFontSize": 11, "titleFontSize": 11},
            "axis": {"labelFontSize": 11, "titleFontSize": 11, "labelOverlap": True, "tickCount": 5},
        },
    }


def speed_chart(root: str, site_path: str | None, comparison: pd.DataFrame) -> str:
    """The interactive chart, its static SVG inside for readers without JavaScript (if drawn)."""
    alt = "p50 latency per model and scheduler, one bar per backend, speed-up over eager"
    spec = chart_spec(comparison)
    if not spec["data"]["values"]:
        return chart(root, site_path, alt) if site_path else ""
    fallback = chart(root, site_path, alt) if site_path else ""
    scripts = "".join(f'<script src="{href(root, "assets/bench/" + name)}"></script>' for name in VEGA_SCRIPTS)
    return (
        f'<div class="bench-vega bench-speed-chart" role="img" aria-label="{esc(alt)}" '
        f'data-spec="{esc(json.dumps(spec))}"></div><div class="bench-vega-fallback">{fallback}</div>{scripts}'
    )


def no_comparison() -> str:
    return note("No model and scheduler ran on both eager PyTorch and another backend yet.")
