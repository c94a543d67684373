"""The interactive quality-vs-speed chart: a Vega-Lite spec built here, drawn by the vendored
vega-embed in the page; the static SVG (charts.pareto_svg) stays inside for readers without
JavaScript.

One point per image set and backend: the image set's quality (the ranking metric) against that
backend's p50 latency. Colour is the model, shape the backend; a click leads to the row's anchor
in the leaderboard. The Pareto front is drawn as a line when it has two points or more.
"""

from __future__ import annotations

import json

import pandas as pd

from bench.metrics import METRICS
from bench.report.html import esc, href
from bench.report.sections.common import Scale, chart, note
from bench.report.sections.leaderboard import metric_title, row_id
from bench.report.stats import pareto_front

VEGA_SCRIPTS = ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js"]  # in this order: embed needs both


def points(board: pd.DataFrame, metrics: list[str], metric: str, scale: Scale) -> pd.DataFrame:
    """Long form of the image-set board, one row per image set and backend: model, scheduler,
    backend, p50_s, anchor, `q` ({metric: [mean, lo, hi]} of every quality metric, scaled as
    printed), and quality, lo, hi and front for `metric` (the chart as first drawn)."""
    rows = []
    factors = {m: scale.factor if METRICS[m].kind == "clip" else 1.0 for m in metrics}
    for r in board.to_dict("records"):
        q = {m: [_scaled(r.get(f"{m}__{s}"), f) for s in ("mean", "lo", "hi")] for m, f in factors.items()}
        for col in (c for c in board.columns if c.startswith("p50__")):
            x = r.get(col)
            if pd.notna(x) and q.get(metric, [None])[0] is not None:
                rows.append({"model": r["model"], "scheduler": r["scheduler"] or "—", "backend": col.split("__", 1)[1],
                             "p50_s": float(x), "anchor": "#" + row_id(r), "q": q})  # fmt: skip
    out = pd.DataFrame(rows, columns=["model", "scheduler", "backend", "p50_s", "anchor", "q"])
    for i, stat in enumerate(("quality", "lo", "hi")):
        out[stat] = [q[metric][i] for q in out["q"]]
    better = 1.0 if METRICS[metric].higher_is_better else -1.0
    return out.assign(front=pareto_front(out["p50_s"], better * out["quality"]) if len(out) else [])


def _scaled(value: object, factor: float) -> float | None:
    return None if value is None or pd.isna(value) else float(value) * factor


def spec(data: pd.DataFrame, y_title: str) -> dict:
    """The Vega-Lite spec: interval bars, the Pareto front as a dashed step line and rings, and the
    dots (colour: model, shape: backend, tooltip, link). bench.js redraws it with other data and
    titles as "Rank by" and the filters change: the fields stay quality, lo, hi and front."""
    x = data["p50_s"]
    log = bool(len(x) and x.min() > 0 and x.max() / x.min() > 20)
    values = json.loads(data.drop(columns="q", errors="ignore").to_json(orient="records"))
    # padding: the best point (top left) is never cut in half by the plot's edge
    x_enc = {
        "field": "p50_s",
        "type": "quantitative",
        "title": "p50 latency per image (s)",
        "scale": {"type": "log", "padding": 14} if log else {"zero": False, "padding": 14},
    }
    y_enc = {"field": "quality", "type": "quantitative", "title": y_title, "scale": {"zero": False, "padding": 14}}
    layers = [
        {
            "mark": {"type": "rule", "opacity": 0.5},
            "encoding": {"x": x_enc, "y": {**y_enc, "field": "lo"}, "y2": {"field": "hi"},
                         "color": {"field": "model", "type": "nominal", "title": "model"}},
        },
        {
            "transform": [{"filter": "datum.front"}],
            "mark": {"type": "line", "interpolate": "step-after", "strokeDash": [4, 3], "color": "#888"},
            "encoding": {"x": x_enc, "y": y_enc, "order": {"field": "p50_s"}},
        },
        {
            "transform": [{"filter": "datum.front"}],
            "mark": {"type": "point", "size": 260, "filled": False, "color": "#888", "strokeWidth": 1.5},
            "encoding": {"x": x_enc, "y": y_enc},
        },
        {
            "mark": {"type": "point", "filled": True, "size": 90, "opacity": 0.85, "cursor": "pointer"},
            "encoding": {
                "x": x_enc, "y": y_enc,
                "color": {"field": "model", "type": "nominal", "title": "model"},
                "shape": {"field": "backend", "type": "nominal", "title": "backend",
                          "legend": {"symbolFillColor": "#999", "symbolStrokeColor": "#999"}},
                "tooltip": [
                    {"field": "model"}, {"field": "scheduler"}, {"field": "backend"},
                    {"field": "quality", "format": ".4f", "title": y_title},
                    {"field": "lo", "format": ".4f", "title": "95% interval from"},
                    {"field": "hi", "format": ".4f", "title": "95% interval to"},
                    {"field": "p50_s", "format": ".3f", "title": "p50 s"},
                ],
            },
        },
    ]  # fmt: skip
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",  # an identifier, never fetched
        "width": "container",
        "height": 320,
        "background": None,
        "data": {"values": values},
        "layer": layers,
        # Two legend columns and few ticks: legible at 390 px as at 1400 px.
        "config": {
            "legend": {"orient": "bottom", "columns": 2, "labelLimit": 140},
            "axis": {"labelFontSize": 11, "labelOverlap": True, "tickCount": 5},
        },
    }


def quality_speed(
    board: pd.DataFrame, metrics: list[str], metric: str, scale: Scale, root: str, svg_path: str | None
) -> str:
    """The chart under its heading; vega-embed draws it, the SVG is the fallback (if drawn). The
    chart carries every metric's points (data-points), so bench.js follows "Rank by" and the
    filters without another request."""
    data = points(board, metrics or [metric], metric, scale)
    if data.empty:
        return ""
    fallback = chart(root, svg_path, "mean quality against p50 latency") if svg_path else ""
    scripts = "".join(f'<script src="{href(root, "assets/bench/" + name)}"></script>' for name in VEGA_SCRIPTS)
    pts = json.loads(data[["model", "scheduler", "backend", "p50_s", "anchor", "q"]].to_json(orient="records"))
    info = {m: {"title": metric_title(m, scale), "higher": METRICS[m].higher_is_better} for m in metrics or [metric]}
    return (
        "<h2>Quality against speed</h2>" + f'<div class="bench-vega bench-board-chart" data-metric="{esc(metric)}" '
        f'data-points="{esc(json.dumps(pts))}" data-metrics="{esc(json.dumps(info))}" '
        f'data-spec="{esc(json.dumps(spec(data, metric_title(metric, scale))))}"></div>'
        + f'<div class="bench-vega-fallback">{fallback}</div>'
        + scripts
        + note(
            "One point per model, scheduler and backend, with its 95% interval as a bar; the chart shows the "
            "rows the filters above keep, ranked by the metric chosen there. Click a point for its row, whose "
            "“images” link opens its gallery. Ringed points are the Pareto front (no other point is both faster "
            "and better), joined by a dashed line where there are two or more."
        )
    )
