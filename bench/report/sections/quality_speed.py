"""The interactive quality-vs-speed chart: a Vega-Lite spec built here, drawn by the vendored
vega-embed in the page; the static SVG (charts.pareto_svg) stays inside for readers without
JavaScript.

One point per image set and backend: the image set's quality (the ranking metric) against that
backend's p50 latency. Colour is the model, shape the backend; a click leads to the row's anchor
in the leaderboard. The Pareto front is drawn as a line when it has two points or more.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bench.metrics import METRICS
from bench.report.html import esc, href
from bench.report.sections.common import Scale, chart, note
from bench.report.sections.leaderboard import metric_title, row_id
from bench.report.stats import pareto_front

VEGA_SCRIPTS = ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js"]  # in this order: embed needs both


def points(board: pd.DataFrame, metric: str, scale: Scale) -> pd.DataFrame:
    """Long form of the image-set board: model, scheduler, backend, quality, p50_s, anchor, front."""
    rows = []
    factor = scale.factor if METRICS[metric].kind == "clip" else 1.0
    for r in board.to_dict("records"):
        for col in (c for c in board.columns if c.startswith("p50__")):
            x, y = r.get(col), r.get(f"{metric}__mean")
            if pd.notna(x) and pd.notna(y):
                rows.append(
                    {
                        "model": r["model"],
                        "scheduler": r["scheduler"] or "—",
                        "backend": col.split("__", 1)[1],
                        "quality": float(y) * factor,
                        "p50_s": float(x),
                        "anchor": "#" + row_id(r),
                    }
                )
    out = pd.DataFrame(rows, columns=["model", "scheduler", "backend", "quality", "p50_s", "anchor"])
    better = 1.0 if METRICS[metric].higher_is_better else -1.0
    return out.assign(front=pareto_front(out["p50_s"], better * out["quality"]) if len(out) else [])


def spec(data: pd.DataFrame, y_title: str) -> dict:
    """The Vega-Lite spec: dots (colour: model, shape: backend, tooltip, link) and the front."""
    x = data["p50_s"]
    log = bool(len(x) and x.min() > 0 and x.max() / x.min() > 20)
    values = json.loads(data.to_json(orient="records"))
    encoding = {
        "x": {"field": "p50_s", "type": "quantitative", "title": "p50 latency per image (s)",
              "scale": {"type": "log"} if log else {"zero": False}},
        "y": {"field": "quality", "type": "quantitative", "title": y_title, "scale": {"zero": False}},
    }  # fmt: skip
    layers = [
        {
            "mark": {"type": "point", "filled": True, "size": 90, "opacity": 0.85, "cursor": "pointer"},
            "encoding": {
                **encoding,
                "color": {"field": "model", "type": "nominal", "title": "model"},
                "shape": {"field": "backend", "type": "nominal", "title": "backend",
                          "legend": {"symbolFillColor": "#999", "symbolStrokeColor": "#999"}},
                "tooltip": [
                    {"field": "model"}, {"field": "scheduler"}, {"field": "backend"},
                    {"field": "quality", "format": ".4f", "title": "quality"},
                    {"field": "p50_s", "format": ".3f", "title": "p50 s"},
                ],
            },
        }
    ]  # fmt: skip
    if int(data["front"].sum()) >= 2:
        layers.insert(
            0,
            {
                "transform": [{"filter": "datum.front"}],
                "mark": {"type": "line", "interpolate": "step-after", "strokeDash": [4, 3], "color": "#888"},
                "encoding": {**encoding, "order": {"field": "p50_s"}},
            },
        )
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


def quality_speed(board: pd.DataFrame, metric: str, scale: Scale, root: str, svg_path: str | None) -> str:
    """The chart under its heading; vega-embed draws it, the SVG is the fallback (if drawn)."""
    data = points(board, metric, scale)
    if data.empty:
        return ""
    fallback = chart(root, svg_path, "mean quality against p50 latency") if svg_path else ""
    scripts = "".join(f'<script src="{href(root, "assets/bench/" + name)}"></script>' for name in VEGA_SCRIPTS)
    n_front = int(np.sum(data["front"]))
    return (
        "<h2>Quality against speed</h2>"
        + f'<div class="bench-vega" data-spec="{esc(json.dumps(spec(data, metric_title(metric, scale))))}"></div>'
        + f'<div class="bench-vega-fallback">{fallback}</div>'
        + scripts
        + note(
            f"One point per model, scheduler and backend; click a point for its row, whose “images” link opens "
            f"its gallery. The dashed line is the "
            f"Pareto front ({n_front} point{'s' if n_front != 1 else ''}): no other point is both faster and better."
        )
    )
