"""The methodology page's tables: what was run, the metrics, each run's environment, the seed study."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from bench.metrics import MetricInfo
from bench.report.html import DASH, Code, Col, Num, esc, fmt, missing, show, table
from bench.report.sections.common import Scale
from bench.report.stats import options_text

RUN_FIELDS = [
    ("suite", "suite"),
    ("started_at", "started (UTC)"),
    ("finished_at", "finished (UTC)"),
    ("git_commit", "git commit"),
    ("python", "Python"),
    ("torch", "torch"),
    ("diffusers", "diffusers"),
    ("transformers", "transformers"),
    ("optimum", "optimum"),
    ("onnxruntime", "onnxruntime"),
    ("open_clip", "open_clip"),
    ("gpu_name", "GPU"),
    ("gpu_driver", "GPU driver"),
    ("cuda", "CUDA"),
    ("cpu", "CPU"),
    ("cpu_count", "CPU cores"),
    ("ram_gb", "RAM GB"),
    ("platform", "platform"),
    ("images_ok", "images ok"),
    ("images_failed", "images failed"),
    ("command", "command"),
]
RUN_CODE_FIELDS = ("command", "git_commit")  # shown as code: copied more often than read


def _plain(value: object) -> str:
    """A run field as escaped text: timestamps to the second, floats without trailing zeros."""
    if missing(value) or value is pd.NaT:
        return DASH
    if isinstance(value, pd.Timestamp):
        return esc(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, float):
        return esc(f"{value:g}")
    return esc(value)


def runs_table(runs: pd.DataFrame) -> str:
    """The environment of each run, one column per run (newest first), one row per field."""
    if runs.empty:
        return '<p class="bench-note">No run recorded in the <code>runs</code> table.</p>'
    runs = runs.sort_values("started_at", ascending=False, na_position="last").to_dict("records")
    head = "<th>run</th>" + "".join(f"<th><code>{esc(r['run_id'])}</code></th>" for r in runs)
    body = []
    for key, label in RUN_FIELDS:
        code = key in RUN_CODE_FIELDS
        tds = "".join(
            f"<td><code>{_plain(r.get(key))}</code></td>" if code else f"<td>{_plain(r.get(key))}</td>" for r in runs
        )
        body.append(f'<tr><th scope="row">{esc(label)}</th>{tds}</tr>')
    return f'<div class="bench-grid bench-kv"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _distinct(values: pd.Series, digits: int | None = None) -> str:
    vals = sorted({v for v in values if not missing(v)}, key=str)
    if not vals:
        return DASH
    return ", ".join(fmt(v, digits) if digits is not None else show(v) for v in vals)


def _options(part: pd.DataFrame) -> str:
    """The distinct backend options of a model x backend as text; "; " between sets, whose own
    text holds commas."""
    raw = part["backend_options"] if "backend_options" in part.columns else pd.Series([], dtype=object)
    texts = sorted({options_text(v) for v in raw} - {""})
    return "; ".join(texts) or DASH


SETTINGS_COLUMNS = [
    Col("Model", "model"),
    Col("Backend", "backend"),
    Col("Family", "family"),
    Col("Weights", "weights", tooltip="hub id @ revision"),
    Col("LoRA", "lora"),
    Col("dtype", "dtype"),
    Col("Options", "options", tooltip="how the backend ran beyond device and dtype (torch.compile mode, ONNX graph)"),
    Col("Schedulers", "schedulers"),
    Col("steps", "steps"),
    Col("guidance", "guidance"),
    Col("size", "size"),
    Col("seeds", "seeds", Num(0), "distinct seeds", "higher"),
]
SETTING_KEYS = [
    "model", "backend", "family", "hub_id", "revision", "lora", "dtype", "backend_options", "scheduler",
    "steps", "guidance_scale", "width", "height",
]  # fmt: skip


def settings_table(frame: pd.DataFrame) -> str:
    """What was run, per model x backend: weights, precision, options, steps, guidance, size, seeds."""
    # Settings repeat on every row: keep the distinct combinations (a few) before going row by row.
    distinct = frame[[c for c in SETTING_KEYS if c in frame.columns]].drop_duplicates()
    seeds = frame.groupby(["model", "backend"])["seed"].nunique()
    rows = []
    for (model, backend), part in distinct.groupby(["model", "backend"], sort=True):
        recs = part.to_dict("records")
        weights = [
            f"{r['hub_id']}@{r['revision']}" if not missing(r.get("revision")) else r.get("hub_id") for r in recs
        ]
        sizes = [
            f"{show(r['width'])}×{show(r['height'])}"
            for r in recs
            if not missing(r.get("width")) and not missing(r.get("height"))
        ]
        rows.append(
            {
                "model": model,
                "backend": backend,
                "family": _distinct(part["family"]),
                "weights": _distinct(pd.Series(weights)),
                "lora": _distinct(part["lora"]),
                "dtype": _distinct(part["dtype"]),
                "options": _options(part),
                "schedulers": ", ".join(s or DASH for s in sorted(part["scheduler"].unique())),
                "steps": _distinct(part["steps"]),
                "guidance": _distinct(part["guidance_scale"], 1),
                "size": _distinct(pd.Series(sizes)),
                "seeds": seeds[(model, backend)],
            }
        )
    return table(SETTINGS_COLUMNS, rows)


def metrics_table(metrics: list[MetricInfo], shown: str) -> str:
    """Definitions of the metrics found in the scores table (metadata from bench.metrics)."""

    def use(m: dict) -> str:
        return "ranks the leaderboard" if m["name"] == shown else ("speed page" if m["kind"] == "parity" else "")

    columns = [
        Col("Metric", "name", Code()),
        Col("Name", "title"),
        Col("Better", lambda m: "higher" if m["higher_is_better"] else "lower"),
        Col("Unit", "unit"),
        Col("On this site", use),
    ]
    return table(columns, [asdict(m) for m in metrics])


def _ours_minus_seed(row: dict) -> float | None:
    return None if missing(row["ours_best"]) else row["ours_best"] - row["clip_raw_cosine"]


def seed_table(comparison: pd.DataFrame, scale: Scale) -> str:
    """The seed study's published CLIP next to our PyTorch numbers for the same cell."""
    columns = [
        Col("Prompt", "prompt_id"),
        Col("Model", "model"),
        Col("Scheduler", "scheduler", tooltip="the seed did not say which scheduler its DALL-E 3 column used"),
        Col(
            "seed study",
            "clip_raw_cosine",
            scale.num,
            "the origin README's number, converted to this site's scale",
            "higher",
        ),
        Col("ours mean", "ours_mean", scale.num, "mean over our PyTorch images", "higher"),
        Col("ours best", "ours_best", scale.num, "our best PyTorch image", "higher"),
        Col("ours − seed", _ours_minus_seed, scale.num, "our best minus the seed's number", "higher"),
        Col("images", "ours_n", Num(0), "our scored PyTorch images", "higher"),
    ]
    return table(columns, comparison)
