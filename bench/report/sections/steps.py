"""The Steps page: per model, quality and latency against steps (and guidance) per scheduler, each
scheduler's knee, and one frontier of every (model, scheduler, steps, guidance, backend) point.

The charts are Vega-Lite specs drawn by the vendored vega-embed (as the leaderboard's chart);
the knee and frontier tables hold every number for readers without JavaScript.
"""

from __future__ import annotations

import html
import json
import re

import pandas as pd

from bench.metrics import METRICS
from bench.models import MODELS
from bench.report import steps as stats_steps
from bench.report.html import Col, Num, esc, href, table
from bench.report.sections.common import Scale, note
from bench.report.sections.leaderboard import metric_num, metric_title
from bench.report.sections.quality_speed import VEGA_SCRIPTS
from bench.report.stats import pareto_front


def _curve_spec(data: pd.DataFrame, x: str, x_title: str, y: str, y_title: str, band: bool) -> dict:
    """Lines per scheduler against `x`, with the interval as a band when `band`."""
    values = json.loads(data.to_json(orient="records"))
    ticks = sorted(data[x].dropna().unique().tolist())  # the values run, not 2.5 steps
    enc = {
        "x": {
            "field": x,
            "type": "quantitative",
            "title": x_title,
            "scale": {"zero": False},
            "axis": {"values": ticks},
        },
        "color": {"field": "scheduler", "type": "nominal", "title": "scheduler"},
    }
    tip = [{"field": "scheduler"}, {"field": x, "title": x_title}, {"field": y, "format": ".4f", "title": y_title}]
    layers = [
        {
            "mark": {"type": "line", "point": True},
            "encoding": {**enc, "y": {"field": y, "type": "quantitative", "title": y_title, "scale": {"zero": False}},
                         "tooltip": tip},
        }
    ]  # fmt: skip
    if band:
        layers.insert(
            0,
            {
                "mark": {"type": "errorband", "opacity": 0.2},
                "encoding": {**enc, "y": {"field": "lo", "type": "quantitative", "title": y_title},
                             "y2": {"field": "hi"}},
            },
        )  # fmt: skip
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",  # an identifier, never fetched
        "width": "container",
        "height": 260,
        "background": None,
        "data": {"values": values},
        "layer": layers,
        "config": {
            "legend": {"orient": "bottom", "columns": 3, "labelLimit": 140},
            "axis": {"labelFontSize": 11, "labelOverlap": True, "tickCount": 6},
        },
    }


def _chart(spec: dict, alt: str) -> str:
    return f'<div class="bench-vega" role="img" aria-label="{esc(alt)}" data-spec="{esc(json.dumps(spec))}"></div>'


KNEE_COLUMNS = [
    Col("Scheduler", "scheduler"),
    Col("Guidance", "guidance_scale", Num(1)),
    Col("Steps run", "steps_run"),
    Col("Best", "best_steps", Num(0), "the step count with the best mean"),
    Col(
        "Knee",
        "knee_steps",
        Num(0),
        "the fewest steps not worse than the best: the paired difference's 95% interval reaches 0",
        "lower",
    ),
    Col("Δ at knee", "diff", Num(4), "mean paired difference, knee minus best (same prompts and seeds)"),
    Col("Default", "default_steps", Num(0), "the model card's steps where they ran, else the most steps run"),
    Col("s saved", "saved_s", Num(3), "p50 seconds per image the knee saves against the default", "higher"),
]


def model_section(model: str, images: pd.DataFrame, metric: str, scale: Scale) -> str:
    """One model's curves and knee table ("" when it ran a single step count and guidance)."""
    mine = images[images["model"].eq(model)]
    if mine["steps"].nunique() < 2 and mine["guidance_scale"].nunique() < 2:
        return ""
    factor = scale.factor if METRICS[metric].kind == "clip" else 1.0
    title = MODELS[model].title if model in MODELS else model
    curves = stats_steps.curves(mine)
    for col in ("mean", "lo", "hi"):
        curves[col] = curves[col] * factor
    y_title = metric_title(metric, scale)
    parts = [f"<h2>{esc(title)} <small><code>{esc(model)}</code></small></h2>"]
    knees = stats_steps.knees(mine, METRICS[metric].higher_is_better)
    if not knees.empty:  # the answer first, the curves behind it
        knees["diff"] = knees["diff"] * factor
        parts.append(table(KNEE_COLUMNS, knees))
    for guidance, part in curves.groupby("guidance_scale", sort=True):
        if part["steps"].nunique() < 2:
            continue
        label = f"guidance {guidance:g}"
        spec = _curve_spec(part, "steps", "steps", "mean", y_title, True)
        parts.append(_chart(spec, f"{title}: quality against steps, {label}"))
        timed = part.dropna(subset=["latency_p50_s"])
        spec = _curve_spec(timed, "steps", "steps", "latency_p50_s", "p50 s per image", False)
        parts.append(_chart(spec, f"{title}: latency against steps, {label}"))
    if curves["guidance_scale"].nunique() > 1:  # the guidance axis, at each step count
        for steps, part in curves.groupby("steps", sort=True):
            alt = f"{title}: quality against guidance at {steps} steps"
            parts.append(_chart(_curve_spec(part, "guidance_scale", "guidance", "mean", y_title, True), alt))
    return "".join(parts)


FRONT_COLUMNS = [
    Col("Model", "model"),
    Col("Scheduler", "scheduler"),
    Col("Steps", "steps", Num(0)),
    Col("Guidance", "guidance_scale", Num(1)),
    Col("Backend", "backend"),
    Col("p50 s", "latency_p50_s", Num(3), "median seconds per image, warm calls", "lower"),
]


def frontier(frame: pd.DataFrame, scores: pd.DataFrame, metric: str, scale: Scale) -> str:
    """Quality (of the quality backend's images) against every backend's p50: the Pareto points."""
    images = stats_steps.scored(frame, scores, metric)
    if images.empty:
        return ""
    quality = images.groupby(["model", "scheduler", "steps", "guidance_scale"])["value"].mean().rename("quality")
    warm = frame[frame["status"].eq("ok") & frame["warm"].fillna(False).astype(bool) & frame["scheduler"].notna()]
    keys = ["model", "scheduler", "steps", "guidance_scale", "backend"]
    speed = warm.groupby(keys)["latency_s"].median().rename("latency_p50_s").reset_index()
    points = speed.merge(quality.reset_index(), on=keys[:-1])
    if points.empty:
        return ""
    better = 1.0 if METRICS[metric].higher_is_better else -1.0
    points = points[pareto_front(points["latency_p50_s"], better * points["quality"])].sort_values("latency_p50_s")
    points["quality"] = points["quality"] * (scale.factor if METRICS[metric].kind == "clip" else 1.0)
    cols = [*FRONT_COLUMNS[:5], Col(metric_title(metric, scale), "quality", metric_num(metric, scale), better="higher"),
            FRONT_COLUMNS[5]]  # fmt: skip
    return (
        "<h2>The frontier</h2>"
        + note(
            "Every model, scheduler, steps, guidance and backend that ran; listed are the Pareto points: no "
            "other point is both faster and better."
        )
        + table(cols, points)
    )


def _filter_form(metrics: list[str], metric: str, models: list[str], families: dict[str, str]) -> str:
    """The leaderboard's "Rank by" and its model and family filters, for this page (bench.js wires
    them, takes their values from the address or the leaderboard's last view, and keeps them in
    the address); hidden without JavaScript."""
    fields = []
    if len(metrics) > 1:
        opts = " ".join(
            f'<option value="{esc(m)}"{" selected" if m == metric else ""}>{esc(METRICS[m].title)}</option>'
            for m in metrics
        )
        fields.append(f'<label>Rank by <select name="metric">{opts}</select></label>')
    for name, label, values in (("model", "Model", models), ("family", "Family", sorted(set(families.values())))):
        if len(values) > 1:
            opts = '<option value="">all</option> ' + " ".join(
                f'<option value="{esc(v)}">{esc(v)}</option>' for v in values
            )
            fields.append(f'<label>{label} <select name="{name}">{opts}</select></label>')
    if not fields:
        return ""
    return f'<form class="bench-filters bench-steps-filters" hidden>{" ".join(fields)}</form>'


def _metric_block(frame: pd.DataFrame, scores: pd.DataFrame, metric: str, scale: Scale, families: dict) -> str:
    """Every model's section and the frontier, by one metric; "" when no model swept an axis."""
    images = stats_steps.scored(frame, scores, metric)
    sections = []
    for model in sorted(images["model"].unique()) if len(images) else []:
        body = model_section(model, images, metric, scale)
        if body:
            sections.append(
                f'<section class="bench-steps-model" data-model="{esc(model)}" '
                f'data-family="{esc(families.get(model, ""))}">{body}</section>'
            )
    if not sections:
        return ""
    return "".join(sections) + frontier(frame, scores, metric, scale)


def steps_page(
    frame: pd.DataFrame, scores: pd.DataFrame, metric: str, scale: Scale, root: str, metrics: list[str] | None = None
) -> str:
    """The page for `metric`, and for each other metric of `metrics` a hidden twin that the page's
    "Rank by" shows instead (the leaderboard's choice, carried over by bench.js)."""
    metrics = [metric, *[m for m in metrics or [] if m != metric]]
    fam = frame.dropna(subset=["family"]) if "family" in frame.columns else frame.iloc[:0]
    families = dict(zip(fam["model"], fam["family"].astype(str)))
    blocks = {m: _metric_block(frame, scores, m, scale, families) for m in metrics}
    blocks = {m: b for m, b in blocks.items() if b}
    if metric not in blocks:
        return note(
            "No model ran more than one step count or guidance yet: sweep them with `steps = [10, 20, 30]` in a "
            "suite (or `bench run --steps 10,20,30`), as the shipped `steps` and `steps-tiny` suites do."
        )
    swept = sorted({m for b in blocks.values() for m in re.findall(r'data-model="([^"]*)"', b)})
    form = _filter_form(list(blocks), metric, [html.unescape(m) for m in swept], families)
    body = "".join(
        f'<div class="bench-steps-by" data-metric="{esc(m)}"{"" if m == metric else " hidden"}>{b}</div>'
        for m, b in blocks.items()
    )
    scripts = "".join(f'<script src="{href(root, "assets/bench/" + name)}"></script>' for name in VEGA_SCRIPTS)
    return f'<div class="bench-steps">{form}{body}</div>' + scripts
