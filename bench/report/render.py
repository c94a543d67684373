"""Pure HTML string building for the report pages: frames and plain values in, HTML out.

Prompts, model names and every other value from the data are untrusted text. They go through
`esc` and into raw HTML that the plugin inserts after Markdown has run, so `*`, `|`, `[x](y)`,
`{{ }}` and `<script>` all stay literal. Lightbox captions are escaped text inside JSON inside an
attribute, because GLightbox puts a slide's title and description into the page with innerHTML.

Links are built from `root`, the relative path from the page to the site root ("", "../" ...),
and site paths that the plugin gives, so these functions need no MkDocs objects.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import pandas as pd

DASH = "—"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def fmt(value: object, digits: int = 2) -> str:
    """A number for a page: fixed digits, a dash when missing, ∞ for PSNR of identical images."""
    if missing(value):
        return DASH
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}f}"


def show(value: object) -> str:
    """A value as plain text (not escaped): integral floats without ".0" (Parquet ints with nulls read back as floats)."""
    if missing(value):
        return DASH
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def href(root: str, site_path: str) -> str:
    return esc(root + quote(site_path))


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- sortable tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    title: str
    numeric: bool = False
    tip: str = ""
    higher_is_better: bool = False  # the first click sorts best first
    default: bool = False  # the rows arrive sorted by this column (tablesort marks it)


@dataclass(frozen=True)
class Cell:
    html: str  # already escaped
    sort: str | None = None  # data-sort value (tablesort reads it instead of the text)


def num(value: object, digits: int = 2, scale: float = 1.0) -> Cell:
    if missing(value):
        return Cell(DASH, "")
    v = float(value) * scale
    # Plain positional digits: tablesort's number parser drops letters, so "1e-05" would read as 1.
    key = np.format_float_positional(min(max(v, -1e18), 1e18), precision=12, fractional=False, trim="-")
    return Cell(fmt(v, digits), key)


def text(value: object) -> Cell:
    return Cell(DASH, "") if missing(value) or value == "" else Cell(esc(value), esc(value))


def table(columns: list[Column], rows: list[list[Cell]], caption: str = "") -> str:
    """A table that bench.js makes sortable; numeric columns sort as numbers, not text."""
    head = []
    for col in columns:
        attrs = ' data-sort-method="number"' if col.numeric else ""
        attrs += " data-sort-reverse" if col.higher_is_better else ""
        attrs += " data-sort-default" if col.default else ""
        attrs += f' title="{esc(col.tip)}"' if col.tip else ""
        head.append(f"<th{attrs}>{esc(col.title)}</th>")
    body = []
    for row in rows:
        cells = "".join(
            f'<td data-sort="{c.sort}">{c.html}</td>' if c.sort is not None else f"<td>{c.html}</td>" for c in row
        )
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<div class="bench-table"><table>{cap}<thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


# --- shared blocks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """How CLIP numbers are printed: the raw cosine (as the seed did) or x100."""

    name: str  # "raw" or "x100"
    metric_title: str  # e.g. "CLIP ViT-B/32 (OpenAI)"

    @property
    def factor(self) -> float:
        return 100.0 if self.name == "x100" else 1.0

    @property
    def digits(self) -> int:
        return 2 if self.name == "x100" else 4

    @property
    def unit(self) -> str:
        return "cosine × 100" if self.name == "x100" else "raw cosine"

    def label(self, what: str = "CLIP") -> str:
        return f"{what} ({self.metric_title}, {self.unit})"


def metric_header(scale: Scale, note: str = "") -> str:
    how = (
        "cosine similarity × 100, the scale of torchmetrics, HEIM and MLPerf"
        if scale.name == "x100"
        else "raw cosine similarity, as the seed study printed it (×100 is the torchmetrics/HEIM/MLPerf scale)"
    )
    html_ = (
        f'<p class="bench-metric">Quality is the CLIP score with <strong>{esc(scale.metric_title)}</strong>: the '
        f"{how}; set <code>clip_scale</code> in <code>mkdocs.yml</code> to switch. Higher is better.</p>"
    )
    if note:
        html_ += f'<div class="admonition note"><p class="admonition-title">Metric</p><p>{esc(note)}</p></div>'
    return html_


def empty_state(data_dir: str) -> str:
    return (
        '<div class="admonition info bench-empty-state"><p class="admonition-title">No results yet</p>'
        f"<p>There is no generation in <code>{esc(data_dir)}/</code>. Make some, then rebuild "
        "(<code>mkdocs serve</code> reloads by itself):</p>"
        "<ul><li><code>nox -s demo</code>: the <code>tiny</code> suite, offline on a CPU, in a few minutes;</li>"
        "<li><code>nox -s bench -- --suite seed</code>: the seed study on a GPU.</li></ul>"
        "<p>The sweep writes Parquet tables to <code>data/</code> and images to <code>images/</code>; "
        "this site is built from those two folders.</p></div>"
    )


def chart(root: str, site_path: str, alt: str) -> str:
    src = href(root, site_path)
    return f'<figure class="bench-chart"><a class="glightbox" href="{src}" data-type="image"><img src="{src}" alt="{esc(alt)}"></a></figure>'


# --- leaderboard -----------------------------------------------------------------------------


def leaderboard_table(board: pd.DataFrame, scale: Scale) -> str:
    """One row per model x scheduler x backend; the rows arrive sorted by mean CLIP, best first."""
    d = scale.digits
    columns = [
        Column("Model"),
        Column("Scheduler"),
        Column("Backend", tip="backend (execution provider that really ran)"),
        Column("CLIP mean", True, f"mean {scale.label()} over prompts and seeds", True, True),
        Column("±95%", True, "half-width of the 95% t-interval of the mean"),
        Column("CLIP best", True, "best single image", True),
        Column("p50 s", True, "median latency per image, warm calls"),
        Column("p90 s", True, "90th percentile latency per image, warm calls"),
        Column("img/s", True, "images per second of generation time (warm)", True),
        Column("load s", True, "model load (and ONNX export) time"),
        Column("peak MB", True, "peak memory: CUDA allocated, or process RSS on CPU"),
        Column("images", True, "images with status ok", True),
        Column("failed", True, "failed, NaN or NSFW images"),
    ]
    rows = []
    for r in board.to_dict("records"):
        front = (
            ' <span class="bench-front" title="on the quality-speed Pareto front">◆</span>' if r.get("pareto") else ""
        )
        backend = esc(r["backend"]) + (f" <small>({esc(r['provider'])})</small>" if r.get("provider") else "")
        half = (r["clip_hi"] - r["clip_mean"]) if not missing(r["clip_hi"]) else None
        rows.append(
            [
                Cell(esc(r["model"]) + front, esc(r["model"])),
                text(r["scheduler"]),
                Cell(backend, esc(r["backend"])),
                num(r["clip_mean"], d, scale.factor),
                num(half, d, scale.factor),
                num(r["clip_best"], d, scale.factor),
                num(r["latency_p50_s"], 3),
                num(r["latency_p90_s"], 3),
                num(r["images_per_s"], 3),
                num(r["load_s"], 1),
                num(r["peak_mem_mb"], 0),
                num(r["n_images"], 0),
                num(r["n_failed"], 0),
            ]
        )
    caption = f"CLIP: {scale.metric_title}, {scale.unit}. Latency: seconds per image. Memory: MB."
    return table(columns, rows, caption)


# --- prompts ---------------------------------------------------------------------------------


def prompt_block(prompt: str, truncated_tokens: object) -> str:
    note = ""
    if not missing(truncated_tokens) and float(truncated_tokens) > 0:
        note = (
            f'<p class="bench-note">CLIP reads at most 77 tokens: it did not see the last '
            f"{int(float(truncated_tokens))} tokens of this prompt when scoring.</p>"
        )
    return f'<blockquote class="bench-prompt"><p>{esc(prompt)}</p></blockquote>{note}'


def prompts_table(summary: pd.DataFrame, page_urls: dict[str, str], root: str, scale: Scale) -> str:
    columns = [
        Column("Prompt"),
        Column("Text"),
        Column("images", True, higher_is_better=True),
        Column("failed", True),
        Column("Best by mean CLIP", tip="model · scheduler · backend"),
        Column("CLIP mean", True, scale.label(), True, True),
        Column("truncated", True, "prompt tokens CLIP could not see"),
    ]
    rows = []
    for r in summary.sort_values("best_clip_mean", ascending=False, na_position="last").to_dict("records"):
        pid = r["prompt_id"]
        link = f'<a href="{href(root, page_urls[pid])}">{esc(pid)}</a>'
        best = DASH if r["best_row"] is None else esc(" · ".join(v or DASH for v in r["best_row"]))
        rows.append(
            [
                Cell(link, esc(pid)),
                Cell(
                    f'<span class="bench-wrap" title="{esc(r["prompt"])}">{esc(shorten(r["prompt"], 140))}</span>',
                    esc(r["prompt"][:140]),
                ),
                num(r["n_images"], 0),
                num(r["n_failed"], 0),
                Cell(best, best),
                num(r["best_clip_mean"], scale.digits, scale.factor),
                num(r["truncated_tokens"], 0),
            ]
        )
    return table(columns, rows)


@dataclass(frozen=True)
class SiteImage:
    """Where an image and its thumbnail live in the built site (None: the file is missing)."""

    full: str
    thumb: str


def caption_html(r: dict, scale: Scale) -> tuple[str, str]:
    """(title, description) of a lightbox slide, as HTML (already escaped once)."""
    title = f"{esc(r['model'])} · {esc(r['scheduler'] or DASH)}"
    backend = esc(r["backend"]) + (f" ({esc(r['provider'])})" if r.get("provider") else "")
    parts = [
        f"Backend: {backend}",
        f"seed {esc(show(r['seed']))}",
        f"{esc(show(r['steps']))} step{'' if r['steps'] == 1 else 's'}" if not missing(r.get("steps")) else "",
        f"guidance {fmt(r.get('guidance_scale'), 1)}" if not missing(r.get("guidance_scale")) else "",
        f"CLIP {fmt(None if missing(r['clip']) else r['clip'] * scale.factor, scale.digits)}",
        f"latency {fmt(r.get('latency_s'), 2)} s",
    ]
    return title, " · ".join(p for p in parts if p)


def _thumb_size(r: dict, px: int) -> str:
    w, h = r.get("width"), r.get("height")
    if missing(w) or missing(h) or not w or not h:
        return ""
    k = min(1.0, px / max(w, h))
    return f' width="{round(w * k)}" height="{round(h * k)}"'


GALLERY_COLUMNS = [
    "cell_id", "model", "scheduler", "backend", "provider", "seed", "steps", "guidance_scale",
    "clip", "latency_s", "image_path", "width", "height",
]  # fmt: skip


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame[[c for c in GALLERY_COLUMNS if c in frame.columns]].to_dict("records")


MISSING_SVG = "assets/bench/missing.svg"  # shipped by the plugin with its other assets


def slide(r: dict, site: SiteImage | None, root: str, scale: Scale) -> dict:
    """One lightbox slide as GLightbox takes it. GLightbox puts title and description into the
    page with innerHTML, so they hold escaped text (HTML that shows the text literally)."""
    title, desc = caption_html(r, scale)
    if site is None:
        desc = f"Image missing: {esc(r['image_path'])} · " + desc
    return {
        "href": root + quote(MISSING_SVG if site is None else site.full),
        "type": "image",
        "title": title,
        "description": desc,
    }


def _cell(
    best: dict, others: list[dict], site: dict[str, SiteImage | None], root: str, scale: Scale, prompt: str, px: int
) -> str:
    """A grid cell: the best image (or a placeholder) linking to a lightbox of all the cell's images.

    The slides travel as JSON in one attribute that bench.js hands to GLightbox on click, not
    as one hidden link each: a prompt page can hold thousands of images. Without JavaScript
    the link opens the full image.
    """
    target = site.get(best["image_path"])
    slides = [slide(best, target, root, scale)] + [
        slide(o, site.get(o["image_path"]), root, scale) for o in others if o["cell_id"] != best["cell_id"]
    ]
    if target is None:
        content = f'<span class="bench-missing" role="img" aria-label="image missing">image missing<br><small>{esc(best["image_path"])}</small></span>'
    else:
        alt = f"{best['model']} / {best['scheduler'] or DASH}, seed {show(best['seed'])}: {shorten(prompt, 200)}"
        content = f'<img src="{href(root, target.thumb)}" alt="{esc(alt)}" loading="lazy"{_thumb_size(best, px)}>'
    clip = fmt(None if missing(best["clip"]) else best["clip"] * scale.factor, scale.digits)
    caption = f"<figcaption>CLIP {clip} · seed {esc(show(best['seed']))} · {esc(best['backend'])}</figcaption>"
    link = f'<a class="bench-lightbox" href="{esc(slides[0]["href"])}" data-slides="{esc(json.dumps(slides, ensure_ascii=False))}">{content}</a>'
    return f"<td><figure>{link}{caption}</figure></td>"


def gallery_grid(
    best: pd.DataFrame,
    images: pd.DataFrame,
    site: dict[str, SiteImage | None],
    root: str,
    scale: Scale,
    prompt: str,
    thumb_px: int,
) -> str:
    """Models as rows, schedulers as columns; each cell shows its best image and opens a
    lightbox gallery of all of the cell's images (every seed and backend). A missing image
    file shows a placeholder, in the grid and in the lightbox."""
    if best.empty:
        return '<p class="bench-note">No image of this prompt was generated successfully.</p>'
    schedulers = sorted(best["scheduler"].unique(), key=lambda s: (s == "", s))
    models = sorted(best["model"].unique())
    by_cell: dict[tuple[str, str], list[dict]] = {}
    for r in _records(images):  # one conversion for the page: a page can hold thousands of images
        by_cell.setdefault((r["model"], r["scheduler"]), []).append(r)
    best_by_cell = {(r["model"], r["scheduler"]): r for r in _records(best)}

    head = "<th></th>" + "".join(f"<th>{esc(s or DASH)}</th>" for s in schedulers)
    rows = []
    for model in models:
        cells = [f'<th scope="row">{esc(model)}</th>']
        for sched in schedulers:
            r = best_by_cell.get((model, sched))
            if r is None:
                cells.append(f'<td class="bench-none">{DASH}</td>')
            else:
                cells.append(_cell(r, by_cell.get((model, sched), []), site, root, scale, prompt, thumb_px))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class="bench-grid"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def best_rule(scale: Scale) -> str:
    return (
        '<p class="bench-note">Each cell shows its <strong>best image</strong>: the highest '
        f"{esc(scale.metric_title)} CLIP score among the cell's images of every seed and backend "
        "(ties: the lowest seed, then PyTorch). Click it to browse all of the cell's images.</p>"
    )


# --- speed -----------------------------------------------------------------------------------


def speed_table(pairs: pd.DataFrame) -> str:
    columns = [
        Column("Model"),
        Column("Scheduler"),
        Column("PyTorch p50 s", True),
        Column("ORT p50 s", True),
        Column("speed-up ×", True, "PyTorch p50 ÷ ONNX Runtime p50: above 1, ONNX Runtime is faster", True, True),
        Column("PyTorch ms/step", True),
        Column("ORT ms/step", True),
        Column("PyTorch load s", True),
        Column("ORT load s", True, "session creation; the ONNX export is in the next column"),
        Column("ORT export s", True, "0 when the export cache was hit"),
        Column("PyTorch peak MB", True),
        Column("ORT peak MB", True),
        Column("ORT provider", tip="the execution provider that really ran"),
        Column("PyTorch device"),
        Column("min PSNR dB", True, "worst PSNR of an ORT image against its PyTorch twin", True),
        Column("max |Δ|", True, "largest absolute pixel difference (0..1) against PyTorch"),
    ]
    rows = []
    for r in pairs.sort_values("speedup", ascending=False, na_position="last").to_dict("records"):
        rows.append(
            [
                text(r["model"]),
                text(r["scheduler"]),
                num(r["latency_p50_s_pt"], 3),
                num(r["latency_p50_s_ort"], 3),
                num(r["speedup"], 2),
                num(r["step_ms_p50_pt"], 1),
                num(r["step_ms_p50_ort"], 1),
                num(r["load_s_pt"], 1),
                num(r["load_s_ort"], 1),
                num(r["export_s_ort"], 1),
                num(r["peak_mem_mb_pt"], 0),
                num(r["peak_mem_mb_ort"], 0),
                text(r["provider_ort"]),
                text(r["provider_pt"]),
                num(r["psnr_db_min"], 1),
                num(r["max_abs_diff_max"], 4),
            ]
        )
    return table(columns, rows)


# --- methodology -----------------------------------------------------------------------------

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


def _plain(value: object) -> str:
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
        cells = "".join(
            f"<td><code>{_plain(r.get(key))}</code></td>"
            if key in ("command", "git_commit")
            else f"<td>{_plain(r.get(key))}</td>"
            for r in runs
        )
        body.append(f'<tr><th scope="row">{esc(label)}</th>{cells}</tr>')
    return f'<div class="bench-grid bench-kv"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _distinct(values: pd.Series, digits: int | None = None) -> str:
    vals = sorted({v for v in values if not missing(v)}, key=str)
    if not vals:
        return DASH
    return ", ".join(fmt(v, digits) if digits is not None else show(v) for v in vals)


def settings_table(frame: pd.DataFrame) -> str:
    """What was run, per model x backend: weights, precision, steps, guidance, size, seeds."""
    columns = [
        Column("Model"),
        Column("Backend"),
        Column("Family"),
        Column("Weights", tip="hub id @ revision"),
        Column("LoRA"),
        Column("dtype"),
        Column("Schedulers"),
        Column("steps"),
        Column("guidance"),
        Column("size"),
        Column("seeds", True, "distinct seeds", True),
    ]
    # Settings repeat on every row: keep the distinct combinations (a few) before going row by row.
    setting_cols = [
        "model",
        "backend",
        "family",
        "hub_id",
        "revision",
        "lora",
        "dtype",
        "scheduler",
        "steps",
        "guidance_scale",
        "width",
        "height",
    ]
    distinct = frame[[c for c in setting_cols if c in frame.columns]].drop_duplicates()
    seeds = frame.groupby(["model", "backend"])["seed"].nunique()
    rows = []
    for (model, backend), part in distinct.groupby(["model", "backend"], sort=True):
        recs = part.to_dict("records")
        weights = _distinct(
            pd.Series(
                [f"{r['hub_id']}@{r['revision']}" if not missing(r.get("revision")) else r.get("hub_id") for r in recs]
            )
        )
        size = _distinct(
            pd.Series(
                [
                    f"{show(r['width'])}×{show(r['height'])}"
                    for r in recs
                    if not missing(r.get("width")) and not missing(r.get("height"))
                ]
            )
        )
        rows.append(
            [
                text(model),
                text(backend),
                text(_distinct(part["family"])),
                text(weights),
                text(_distinct(part["lora"])),
                text(_distinct(part["dtype"])),
                text(", ".join(s or DASH for s in sorted(part["scheduler"].unique()))),
                text(_distinct(part["steps"])),
                text(_distinct(part["guidance_scale"], 1)),
                text(size),
                num(seeds[(model, backend)], 0),
            ]
        )
    return table(columns, rows)


def metrics_table(metrics: list, shown: str) -> str:
    """Definitions of the metrics found in the scores table (metadata from bench.metrics)."""
    columns = [Column("Metric"), Column("Name"), Column("Better"), Column("Unit"), Column("On this site")]
    rows = [
        [
            Cell(f"<code>{esc(m.name)}</code>", esc(m.name)),
            text(m.title),
            text("higher" if m.higher_is_better else "lower"),
            text(m.unit),
            text(
                "ranks the leaderboard" if m.name == shown else ("speed page" if m.kind == "parity" else "")
            ),
        ]
        for m in metrics
    ]
    return table(columns, rows)


def seed_table(comparison: pd.DataFrame, scale: Scale) -> str:
    """The seed study's published CLIP next to our PyTorch numbers for the same cell."""
    d, k = scale.digits, scale.factor
    columns = [
        Column("Prompt"),
        Column("Model"),
        Column("Scheduler", tip="the seed did not say which scheduler its DALL-E 3 column used"),
        Column("seed study", True, "the origin README's number, converted to this site's scale", True),
        Column("ours mean", True, "mean over our PyTorch images", True),
        Column("ours best", True, "our best PyTorch image", True),
        Column("ours − seed", True, "our best minus the seed's number", True),
        Column("images", True, "our scored PyTorch images", True),
    ]
    rows = []
    for r in comparison.to_dict("records"):
        delta = None if missing(r["ours_best"]) else r["ours_best"] - r["clip_raw_cosine"]
        rows.append(
            [
                text(r["prompt_id"]),
                text(r["model"]),
                text(r["scheduler"]),
                num(r["clip_raw_cosine"], d, k),
                num(r["ours_mean"], d, k),
                num(r["ours_best"], d, k),
                num(delta, d, k),
                num(r["ours_n"], 0),
            ]
        )
    return table(columns, rows)
