"""The leaderboards: the site's main one (an image set per row, with filters) and each prompt's one
(one row per model x scheduler x backend), and the quality-speed chart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote

import pandas as pd

from bench.metrics import METRICS
from bench.report.board import MEMORY_BUDGETS_GB, set_id
from bench.report.html import Code, Col, Flag, Link, Num, Td, Text, esc, filter_attr, missing, table
from bench.report.sections.common import Scale, note
from bench.report.stats import BACKEND_ORDER

PARETO = Flag("pareto", "◆", "on the quality-speed Pareto front", "bench-front")
# No image is failed for being NSFW any more (the nsfw metric flags it); older runs' blanked
# images (status "nsfw") still count here.
FAILED_TIP = "failed or NaN images (older runs: also those a pipeline's safety checker blanked)"


def _half_width(row: dict) -> float | None:
    return None if missing(row["clip_hi"]) else row["clip_hi"] - row["clip_mean"]


def columns(scale: Scale) -> list[Col]:
    return [
        Col("Model", "model", Text(flag=PARETO)),
        Col("Scheduler", "scheduler"),
        Col("Backend", "backend", Text(note="provider"), "backend (execution provider that really ran)"),
        Col(
            "CLIP mean", "clip_mean", scale.num, f"mean {scale.label()} over prompts and seeds", "higher", default=True
        ),
        Col("±95%", _half_width, scale.num, "half-width of the 95% t-interval of the mean", "lower"),
        Col("CLIP best", "clip_best", scale.num, "best single image", "higher"),
        Col("p50 s", "latency_p50_s", Num(3), "median latency per image, warm calls", "lower"),
        Col("p90 s", "latency_p90_s", Num(3), "90th percentile latency per image, warm calls", "lower"),
        Col("Measured on", "measured_on", tooltip="the machine and the day of the latencies"),
        Col("img/s", "images_per_s", Num(3), "images per second of generation time (warm)", "higher"),
        Col("load s", "load_s", Num(1), "model load (and ONNX export) time", "lower"),
        Col("peak MB", "peak_mem_mb", Num(0), "peak memory: CUDA allocated, or process RSS on CPU", "lower"),
        Col("images", "n_images", Num(0), "images with status ok", "higher"),
        Col("failed", "n_failed", Num(0), FAILED_TIP, "lower"),
    ]


def leaderboard_table(board: pd.DataFrame, scale: Scale) -> str:
    """The board (stats.leaderboard) as it arrives: sorted by mean CLIP, best first."""
    caption = f"CLIP: {scale.metric_title}, {scale.unit}. Latency: seconds per image. Memory: MB."
    return table(columns(scale), board, caption)


# --- the main leaderboard: one row per image set (board.image_sets) --------------------------

BEST = "★"  # after the best value of a column; the legend under the table says so


@dataclass(frozen=True)
class Best:
    """A number format that stars the column's best value (ties included)."""

    num: Num
    best: float | None
    numeric: ClassVar[bool] = True

    def __call__(self, value: object, row: dict) -> Td:
        cell = self.num(value, row)
        if self.best is None or missing(value) or not math.isclose(float(value), self.best, rel_tol=1e-12):
            return cell
        return Td(f'{cell.html} <span class="bench-best" title="best in this column">{BEST}</span>', cell.sort)


@dataclass(frozen=True)
class Quality:
    """A metric's mean with the half-width of its 95% interval in small print; starred when best."""

    mean: Best
    metric: str
    numeric: ClassVar[bool] = True

    def __call__(self, value: object, row: dict) -> Td:
        cell = self.mean(value, row)
        hi = row.get(f"{self.metric}__hi")
        if missing(value) or missing(hi):
            return cell
        half = self.mean.num(float(hi) - float(value), row).html
        return Td(f'{cell.html}<small class="bench-ci"> ±{half}</small>', cell.sort)


@dataclass(frozen=True)
class ModelCell:
    """The model and, under it, the scheduler: the frozen first column names the whole row.
    flag: a mark after the model on the rows it applies to (the Pareto front).
    The row's `gallery` URL, where it has one, becomes an "images" link after the scheduler."""

    flag: Flag | None = None
    pick: bool = False  # a ⇄ button (its mark drawn by bench.css, so the row's text stays its name) that picks the row for the head-to-head view (bench.js)
    numeric: ClassVar[bool] = False

    def __call__(self, value: object, row: dict) -> Td:
        sched = row["scheduler"] or "no scheduler"
        mark = self.flag.html() if self.flag is not None and row.get(self.flag.key) else ""
        images = f' · <a class="bench-images" href="{esc(row["gallery"])}">images</a>' if row.get("gallery") else ""
        if self.pick:
            images += (
                f' <button type="button" class="bench-pick" data-set="{esc(set_id(row))}" '
                'title="head to head: compare this row with another" aria-label="head to head"></button>'
            )
        html = f'<a class="bench-anchor" href="#{esc(row_id(row))}">{esc(value)}</a>{mark} <br><small>{esc(sched)}{images}</small>'
        return Td(html, esc(f"{value} {row['scheduler']}"))


def row_id(row: dict) -> str:
    """The anchor of an image set's row: model and scheduler, made safe for an id."""
    return "row-" + set_id(row)


def _best(values: pd.Series, higher: bool) -> float | None:
    values = values.dropna().astype(float)
    return None if values.empty else float(values.max() if higher else values.min())


def metric_num(metric: str, scale: Scale) -> Num:
    return scale.num if METRICS[metric].kind == "clip" else Num(3)


def metric_title(metric: str, scale: Scale) -> str:
    info = METRICS[metric]
    unit = scale.unit if info.kind == "clip" else info.unit
    return f"{info.title} ({unit})"


@dataclass(frozen=True)
class Fastest:
    """The fastest backend's p50 seconds per image, starred when best, its backend's name under it."""

    num: Best
    numeric: ClassVar[bool] = True

    def __call__(self, value: object, row: dict) -> Td:
        cell = self.num(value, row)
        if missing(value) or missing(row.get("fastest")):
            return cell
        return Td(f'{cell.html}<small class="bench-ci">{esc(row["fastest"])}</small>', cell.sort)


def _ranked_first(metrics: list[str], rank_by: str) -> list[str]:
    return sorted(metrics, key=lambda m: m != rank_by)


def board_columns(board: pd.DataFrame, metrics: list[str], rank_by: str, scale: Scale) -> list[Col]:
    """The leaderboard's columns: name, rank, the ranked metric, the fastest backend (p50,
    speed-up, parity, memory) and the NSFW rate first; the other metrics hidden in the column
    picker (bench.js swaps them in as "Rank by" changes); speed per backend and settings after."""
    cols = [Col("Model / scheduler", "model", ModelCell(pick=True), "model, and under it the scheduler", name="model")]
    ordered = _ranked_first(metrics, rank_by)
    for m in ordered:
        cols.append(
            Col(
                "Rank",
                f"{m}__rank",
                Num(0),
                f"rank by {METRICS[m].title}: 1 + the rows significantly better in a paired test on the "
                "same prompts and seeds (bootstrap over prompts, Holm-corrected); rows of one rank tie",
                "lower",
                name=f"rank:{m}",
                hidden=m != rank_by,
                data=(("rank-for", m),),
            )  # fmt: skip
        )
    for m in ordered:
        higher = METRICS[m].higher_is_better
        fmt_ = Quality(Best(metric_num(m, scale), _best(board[f"{m}__mean"], higher)), m)
        cols.append(
            Col(
                metric_title(m, scale),
                f"{m}__mean",
                fmt_,
                f"mean {METRICS[m].title} ± the half-width of its 95% "
                "t-interval, over the prompts and seeds of one backend's images",
                "higher" if higher else "lower",
                default=m == rank_by,
                name=m,
                hidden=m != rank_by,
                data=(("metric", m),),
            )  # fmt: skip
        )
    if "fastest__p50" in board.columns:
        fastest = Fastest(Best(Num(3), _best(board["fastest__p50"], higher=False)))
        cols += [
            Col("Fastest p50 (s)", "fastest__p50", fastest,
                "median seconds per image on the row's fastest backend (named under it), warm calls, at the "
                "row's size", "lower", name="fastest_p50"),
            Col("Speed-up (×)", "fastest__speedup", Num(2),
                "eager PyTorch's p50 over the fastest backend's: how much faster than eager it runs", "higher",
                name="fastest_speedup"),
            Col("Parity PSNR (dB)", "fastest__psnr", Num(1),
                "the fastest backend's worst PSNR against its eager PyTorch twins (same noise, same call); "
                "a dash when eager PyTorch is the fastest", "higher", name="fastest_psnr"),
            Col("Peak MB", "fastest__peak", Num(0), "peak memory on the fastest backend (MB)", "lower",
                name="fastest_peak"),
        ]  # fmt: skip
    if "nsfw__rate" in board.columns:
        # Beside the quality means, never among them: not a quality, so never a "Rank by" choice.
        cols.append(
            Col(
                "NSFW rate (%)",
                "nsfw__rate",
                Num(1, 100.0),
                "share of the image set's images the Stable Diffusion safety checker flags as NSFW, over "
                "the same images as the means (every image is scored, flagged or not); not ranked",
                "lower",
                name="nsfw_rate",
            )
        )
    backends = [c.split("__", 1)[1] for c in board.columns if c.startswith("p50__")]
    # The size stands before the latencies it sets: a 1024 px model is not slow for drawing 4x the pixels.
    cols.append(Col("Size (px)", "size", tooltip="the images' width × height: every latency is at this size"))
    for b in sorted(backends, key=lambda b: (BACKEND_ORDER.index(b) if b in BACKEND_ORDER else 99, b)):
        num = Best(Num(3), _best(board[f"p50__{b}"], higher=False))
        tip = f"median seconds per image on {b}, warm calls, at the row's size (the speed page gives s per megapixel)"
        cols.append(Col(f"p50 {b} (s)", f"p50__{b}", num, tip, "lower"))
    cols.append(Col("Measured on", "measured_on", tooltip="the machine and the day of the latencies"))
    cols += [
        Col("Scheduler", "scheduler"),
        Col("Family", "family"),
        Col("Organisation", "organisation", tooltip="who publishes the weights: the owner in the hub id", hidden=True),
        Col(
            "Licence",
            "licence",
            tooltip="the model's licence, as the registry gives it (its page links the text)",
            hidden=True,
        ),
        Col("Steps", "steps", tooltip="denoising steps"),
        Col("dtype", "dtype"),
        Col("Images", "n_images", Num(0), "images with status ok, every backend", "higher"),
        Col("Failed", "n_failed", Num(0), FAILED_TIP, "lower"),
        Col("Quality from", "quality_backend", tooltip="the backend whose images were scored (the others are twins)"),
    ]
    for b in backends:
        cols.append(
            Col(f"p90 {b} (s)", f"p90__{b}", Num(3), f"90th percentile seconds per image on {b}", "lower", hidden=True)
        )
        cols.append(Col(f"peak MB {b}", f"peak__{b}", Num(0), f"peak memory on {b} (MB)", "lower", hidden=True))
    cols.append(Col("Providers", "providers", tooltip="devices or execution providers that really ran", hidden=True))
    cols.append(Col("Reproduce", "command", Code(), "the bench run command that makes this row again", hidden=True))
    return cols


# The leaderboard's filters: (name, label, the board column it filters on, whether that column
# holds several values, space-separated as board._settings joins a row's backends and providers).
FILTERS = [
    ("model", "Model", "model", False),
    ("family", "Family", "family", False),
    ("scheduler", "Scheduler", "scheduler", False),
    ("backend", "Backend", "backends", True),
    ("provider", "Provider", "providers", True),
    ("fits", "Fits in", "fits_gb", True),
]
FILTER_TIPS = {
    "fits": "rows whose least hungry backend peaked within this much memory (GPU: CUDA allocated, which "
    "leaves out the CUDA context's few hundred MB; CPU: resident memory)"
}
# How a filter's values read in its select, where not as they are (in this order).
FILTER_LABELS = {"fits": {str(gb): f"{gb} GB" for gb in MEMORY_BUDGETS_GB}}


def _filter_values(row: dict, column: str, several: bool) -> list[str]:
    cell = row.get(column)
    if missing(cell) or cell == "":
        return []
    return str(cell).split(" ") if several else [str(cell)]


def _filter_attrs(row: dict) -> dict[str, str]:
    values = {f"data-{name}": filter_attr(_filter_values(row, col, several)) for name, _, col, several in FILTERS}
    return {"id": row_id(row), **values}


def rank_sentence(board: pd.DataFrame, metric: str, scale: Scale) -> str:
    """The answer above the table, as plain text: the ranking metric, its direction, and the image
    sets of rank 1 (ties from the paired test) with their mean."""
    info = METRICS[metric]
    unit = scale.unit if info.kind == "clip" else info.unit
    out = f"Ranked by {info.title} ({unit}; {'higher' if info.higher_is_better else 'lower'} is better)."
    rank, mean = f"{metric}__rank", f"{metric}__mean"
    if rank not in board.columns or not board[rank].eq(1).any():
        return out
    top = board[board[rank].eq(1)].sort_values(mean, ascending=not info.higher_is_better)
    num = metric_num(metric, scale)
    names = [
        f"{r['model']} / {r['scheduler'] or 'no scheduler'} ({num(r[mean], r).html})" for r in top.to_dict("records")
    ]
    if len(names) == 1:
        return out + f" Best: {names[0]}, significantly ahead of every other row in the paired test."
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return out + f" {len(names)} rows share rank 1 (the paired test cannot tell them apart): {shown}."


def filter_form(board: pd.DataFrame, metrics: list[str], rank_by: str, scale: Scale) -> str:
    """Selects for each filter and the ranking metric, and a search box; bench.js wires them to
    the table and the URL. Without JavaScript they do nothing, so they start hidden. Each ranking
    metric's option carries its sentence (data-sentence, plain text) and axis title (data-title)."""
    fields, ranking = [], ""
    if len(metrics) > 1:
        opts = " ".join(
            f'<option value="{esc(m)}" data-sentence="{esc(rank_sentence(board, m, scale))}" '
            f'data-title="{esc(metric_title(m, scale))}"{" selected" if m == rank_by else ""}>'
            f"{esc(METRICS[m].title)}</option>"
            for m in metrics
        )
        ranking = f'<label>Rank by <select name="metric">{opts}</select></label> '
    rows = board.to_dict("records")
    for name, label, col, several in FILTERS:
        values = sorted({v for row in rows for v in _filter_values(row, col, several)})
        labels = FILTER_LABELS.get(name)
        if labels is not None:  # a preset: each of its values, in its order, once any row has one
            values = list(labels) if values else []
        elif len(values) < 2:
            continue
        if not values:
            continue
        opts = '<option value="">all</option> ' + " ".join(
            f'<option value="{esc(v)}">{esc((labels or {}).get(v, v))}</option>' for v in values
        )
        tip = f' title="{esc(FILTER_TIPS[name])}"' if name in FILTER_TIPS else ""
        fields.append(f'<label{tip}>{label} <select name="{name}">{opts}</select></label>')
    fields.append('<label>Search <input type="search" name="q" placeholder="model, scheduler …"></label>')
    # Folded on a phone, where they would push the table off the first screen; bench.js opens
    # them on a wider one, and wherever a filter is on.
    return (
        f'<form class="bench-filters" hidden>{ranking}<details class="bench-more-filters"><summary>Filters</summary>'
        f"<div>{' '.join(fields)}</div></details></form>"
    )


def board_table(board: pd.DataFrame, metrics: list[str], rank_by: str, scale: Scale) -> str:
    """The board (board.image_sets) with its ranking sentence, filters and the legend of its marks."""
    table_html = table(
        board_columns(board, metrics, rank_by, scale), board, row_attrs=_filter_attrs, attrs={"data-url-state": "1"}
    )
    legend = note(
        f"{BEST} best value of its column. Rank: 1 + the rows significantly better than this one, each "
        "pair compared on the same prompts and seeds (paired bootstrap over prompts, Holm-corrected); rows "
        "that share a rank cannot be told apart. Quality is measured once per image set "
        "(model and scheduler): the backends' images are twins, compared on the Speed page. The fastest "
        "backend is the one with the lowest p50; every backend's p50 follows, and the other metrics are in "
        "the column picker. A dash (no value) sorts last both ways."
    )
    sentence = f'<p class="bench-metric bench-rank-sentence">{esc(rank_sentence(board, rank_by, scale))}</p>'
    return sentence + filter_form(board, metrics, rank_by, scale) + table_html + legend


def head_to_head_form(board: pd.DataFrame, json_url: str) -> str:
    """Two selects of image sets and the box bench.js draws their paired comparison into, from
    the JSON at `json_url` (board.head_to_head and each set's images). Hidden without JavaScript."""
    opts = "".join(
        f'<option value="{esc(set_id(r))}">{esc(r["model"])} / {esc(r["scheduler"] or "no scheduler")}</option>'
        for r in board.to_dict("records")
    )
    empty = '<option value="">pick a row</option>'
    return (
        f'<section class="bench-h2h" data-json="{esc(json_url)}" hidden><h2 id="head-to-head">Head to head</h2>'
        + note(
            "Two rows compared on the same prompts and seeds (same noise): the mean paired difference of the "
            "ranking metric with its 95% bootstrap interval over prompts, the Holm-adjusted p-value of the "
            "ranking, the share of prompts each wins, and their images side by side, prompt by prompt. Pick "
            "them here or with a row's ⇄ mark."
        )
        + f'<form class="bench-filters"><label>A <select name="a">{empty}{opts}</select></label> '
        f'<label>B <select name="b">{empty}{opts}</select></label></form>'
        '<div class="bench-h2h-result"></div></section>'
    )


def model_quality_table(sets: pd.DataFrame, metrics: list[str], rank_by: str, scale: Scale, board_url: str) -> str:
    """A model's rows of the leaderboard (one per scheduler), for its page: the rank and mean with
    its interval by the ranking metric, the other metrics, and each backend's p50; each row links
    to its row on the leaderboard (`board_url`: the leaderboard page, relative to the model's)."""
    if sets.empty:
        return ""
    rows = sets.assign(board_row=[f"{board_url}#{row_id(r)}" for r in sets.to_dict("records")])
    ordered = _ranked_first(metrics, rank_by)
    cols = [
        Col("Scheduler", lambda r: r["scheduler"] or "no scheduler", Link("board_row"),
            "its row on the leaderboard", name="scheduler"),
        Col("Rank", f"{rank_by}__rank", Num(0), f"rank by {METRICS[rank_by].title} among every row of the "
            "leaderboard (paired test, Holm-corrected; rows of one rank tie)", "lower"),
    ]  # fmt: skip
    for m in ordered:
        higher = METRICS[m].higher_is_better
        cols.append(
            Col(metric_title(m, scale), f"{m}__mean", Quality(Best(metric_num(m, scale), None), m),
                f"mean {METRICS[m].title} ± the half-width of its 95% t-interval", "higher" if higher else "lower",
                default=m == rank_by)
        )  # fmt: skip
    for b in sorted((c.split("__", 1)[1] for c in sets.columns if c.startswith("p50__")), key=_backend_order):
        if sets[f"p50__{b}"].notna().any():
            cols.append(Col(f"p50 {b} (s)", f"p50__{b}", Num(3), f"median seconds per image on {b}", "lower"))
    model = str(sets["model"].iloc[0])
    link = f'<a href="{esc(board_url)}?model={esc(quote(model, safe=""))}">its rows on the leaderboard</a>'
    return table(cols, rows) + (
        '<p class="bench-note">Quality is measured once per scheduler, on its images of one backend (the '
        "others make twins of them); speed on every backend. A scheduler leads to its row; see also "
        f"{link}, filtered to this model.</p>"
    )


def _backend_order(b: str) -> tuple[int, str]:
    return (BACKEND_ORDER.index(b) if b in BACKEND_ORDER else 99, b)


# --- a prompt's leaderboard: its image sets (board.prompt_image_sets) ------------------------


def prompt_table(board: pd.DataFrame, scale: Scale) -> str:
    """One prompt's image sets, best mean first: quality once per model x scheduler (the backends'
    images are twins), then the p50 latency of each backend that ran it."""
    backends = [c for c in board.columns if c.startswith("p50__") and board[c].notna().any()]
    cols = [
        Col("Model / scheduler", "model", ModelCell(PARETO), "model, and under it the scheduler", name="model"),
        Col("Rank", "clip__rank", Num(0), "rows with the same rank cannot be told apart at 95%", "lower"),
        Col(
            f"CLIP mean ({scale.unit})",
            "clip__mean",
            Quality(Best(scale.num, _best(board["clip__mean"], True)), "clip"),
            f"mean {scale.label()} over this prompt's seeds ± the half-width of its 95% t-interval",
            "higher",
            default=True,
        ),
        Col("CLIP best", "clip_best", Best(scale.num, _best(board["clip_best"], True)), "best single image", "higher"),
    ]
    for col in backends:
        b = col.split("__", 1)[1]
        best = Best(Num(3), _best(board[col], higher=False))
        cols.append(Col(f"p50 {b} (s)", col, best, f"median seconds per image on {b}, warm calls", "lower"))
    cols += [
        Col("Measured on", "measured_on", tooltip="the machine and the day of the latencies"),
        Col("Images", "n_images", Num(0), "images with status ok, every backend", "higher"),
        Col("Failed", "n_failed", Num(0), FAILED_TIP, "lower"),
        Col("Quality from", "quality_backend", tooltip="the backend whose images were scored (the others are twins)"),
        Col("Family", "family", hidden=True),
    ]
    legend = note(
        f"{BEST} best value of its column. ◆ on the quality-speed Pareto front (fastest backend). "
        "Rank: rows that share a rank cannot be told apart at 95%. A dash (no value) sorts last both ways."
    )
    return table(cols, board, row_attrs=lambda r: {"id": row_id(r)}) + legend
