"""The prompts index and each prompt's page: its text, its leaderboard and its gallery.

The gallery's lightbox captions are escaped text inside JSON inside an attribute, because
GLightbox puts a slide's title and description into the page with innerHTML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import pandas as pd

from bench.report.html import (
    DASH,
    Col,
    Link,
    Num,
    Prose,
    esc,
    filter_attr,
    fmt,
    href,
    missing,
    nsfw_veil,
    shorten,
    show,
    table,
    url,
)
from bench.report.sections.common import Scale
from bench.report.stats import as_objects

MISSING_SVG = "assets/bench/missing.svg"  # shipped by the plugin with its other assets
PROMPT_CHARS = 140  # of a prompt's text in the prompts table; the whole text is in the tooltip
ALT_PROMPT_CHARS = 200  # of the prompt in a thumbnail's alt text
FLAG_MARK = "⚠"  # before the note on an image that is not what its run made


def prompt_block(prompt: str, truncated_tokens: object) -> str:
    note = ""
    if not missing(truncated_tokens) and float(truncated_tokens) > 0:
        note = (
            f'<p class="bench-note">CLIP reads at most 77 tokens: it did not see the last '
            f"{int(float(truncated_tokens))} tokens of this prompt when scoring.</p>"
        )
    return f'<blockquote class="bench-prompt"><p>{esc(prompt)}</p></blockquote>{note}'


def _best_row(row: dict) -> str:
    best = row["best_row"]
    return DASH if best is None else " · ".join(v or DASH for v in best)


def prompts_table(
    summary: pd.DataFrame, page_urls: dict[str, str], root: str, scale: Scale, categories: dict[str, str] | None = None
) -> str:
    """One row per prompt (stats.prompt_summary) linking to its page, best mean CLIP first, under
    a search box (and a category filter when the prompts have categories, as PartiPrompts do).
    This index, not the navigation, is how a reader reaches the prompt pages."""
    categories = categories or {}
    columns = [
        Col("Prompt", "prompt_id", Link("url")),
        Col("Text", "prompt", Prose(PROMPT_CHARS)),
        Col("images", "n_images", Num(0), better="higher"),
        Col("failed", "n_failed", Num(0), better="lower"),
        Col("Best by mean CLIP", _best_row, tooltip="model · scheduler"),
        Col("CLIP mean", "best_clip_mean", scale.num, scale.label(), "higher", default=True),
        Col("truncated", "truncated_tokens", Num(0), "prompt tokens CLIP could not see", "lower"),
    ]
    if categories:
        columns.insert(2, Col("Category", "category"))
    rows = summary.sort_values("best_clip_mean", ascending=False, na_position="last").to_dict("records")
    for r in rows:
        r["url"] = root + quote(page_urls[r["prompt_id"]])
        r["category"] = categories.get(r["prompt_id"], "")
    fields = ['<label>Search <input type="search" name="q" placeholder="words of the prompt …"></label>']
    if categories:
        opts = " ".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in sorted(set(categories.values()) - {""}))
        fields.insert(
            0, f'<label>Category <select name="category"><option value="">all</option> {opts}</select></label>'
        )
    form = f'<form class="bench-filters" hidden>{" ".join(fields)}</form>'

    def attrs(r: dict) -> dict[str, str]:
        return {"data-category": filter_attr([r["category"]] if r["category"] else [])}

    # out of the search index: each prompt's own page is in it, with a readable snippet
    return form + table(columns, rows, row_attrs=attrs, attrs={"data-url-state": "1", "data-search-exclude": ""})


def best_rule(scale: Scale) -> str:
    return (
        '<p class="bench-note">Each cell shows its <strong>best image</strong>: the highest '
        f"{esc(scale.metric_title)} CLIP score among the cell's images of every seed and backend "
        "(ties: the lowest seed, then PyTorch). Click it to browse all of the cell's images.</p>"
    )


# --- the gallery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteImage:
    """Where an image and its thumbnail live in the built site (the whole SiteImage is None
    when the file is missing). `flag` says why the file is not what its run made, if it is not;
    `full` and `thumb` are None when it cannot be shown at all (it does not decode)."""

    full: str | None
    thumb: str | None
    flag: str = ""


def caption_html(r: dict, scale: Scale) -> tuple[str, str]:
    """(title, description) of a lightbox slide, as HTML (already escaped once)."""
    title = f"{esc(r['model'])} · {esc(r['scheduler'] or DASH)}"
    backend = esc(r["backend"]) + (f" ({esc(r['provider'])})" if r.get("provider") else "")
    parts = [
        f"Backend: {backend}",
        f"seed {esc(show(r['seed']))}",
        f"{esc(show(r['steps']))} step{'' if r['steps'] == 1 else 's'}" if not missing(r.get("steps")) else "",
        f"guidance {fmt(r.get('guidance_scale'), 1)}" if not missing(r.get("guidance_scale")) else "",
        f"CLIP {scale.fmt(r['clip'])}",
        # Every other metric of the image (bench.report.board.score_texts), already escaped.
        r.get("scores_html") if isinstance(r.get("scores_html"), str) else "",
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
    "clip", "latency_s", "image_path", "width", "height", "scores_html", "prompt_id", "nsfw",
]  # fmt: skip


def _records(frame: pd.DataFrame | list[dict]) -> list[dict]:
    """The gallery's fields of each row; a list of such dicts (made once per build) as it is."""
    if isinstance(frame, list):
        return frame
    return as_objects(frame[[c for c in GALLERY_COLUMNS if c in frame.columns]]).to_dict("records")


def slide(
    r: dict, site: SiteImage | None, root: str, scale: Scale, prompt: str = "", counter: tuple[int, int] = (1, 1)
) -> dict:
    """One lightbox slide as GLightbox takes it. GLightbox puts title and description into the
    page with innerHTML, so they hold escaped text (HTML that shows the text literally).
    counter: (this slide, of how many), shown in the title."""
    title, desc = caption_html(r, scale)
    title += f' <span class="bench-counter">{counter[0]} of {counter[1]}</span>'
    if prompt:
        desc += f'<br><span class="bench-slide-prompt">{esc(shorten(prompt, ALT_PROMPT_CHARS * 2))}</span>'
    if site is None:
        desc = f"Image missing: {esc(r['image_path'])} · " + desc
    elif site.flag:
        desc = f"{FLAG_MARK} Image {esc(r['image_path'])} {esc(site.flag)} · " + desc
    flagged = _flagged(r)
    if flagged:
        desc = f"{FLAG_MARK} Flagged NSFW by the Stable Diffusion safety checker · " + desc
    shown = None if site is None else site.full
    if shown is not None and shown.startswith(("https://", "http://")):
        # Browsers ignore `download` on another host's address: say what the link really does.
        desc += f' <a class="bench-download" href="{href(root, shown)}">Open the original (on its host)</a>'
    elif shown is not None:
        desc += f' <a class="bench-download" href="{href(root, shown)}" download>Download the original</a>'
    out = {
        "href": url(root, MISSING_SVG if shown is None else shown),
        "type": "image",
        "title": title,
        "description": desc,
        "alt": _alt(r, prompt),
    }
    if flagged:
        out["nsfw"] = True  # bench.js blurs the slide's image until it is clicked
    return out


def _flagged(r: dict) -> bool:
    """Whether the nsfw metric flagged the image (False where it has no such score)."""
    flagged = r.get("nsfw")
    return not missing(flagged) and bool(flagged)


def _alt(r: dict, prompt: str) -> str:
    return f"{r['model']} / {r['scheduler'] or DASH}, seed {show(r['seed'])}: {shorten(prompt, ALT_PROMPT_CHARS)}"


def _grid_td(
    best: dict, others: list[dict], site: dict[str, SiteImage | None], root: str, scale: Scale, prompt: str, px: int
) -> str:
    """A grid cell: the best image (or a placeholder) linking to a lightbox of all the cell's images.

    The slides travel as JSON in one attribute that bench.js hands to GLightbox on click, not
    as one hidden link each: a prompt page can hold thousands of images. Without JavaScript
    the link opens the full image.
    """
    target = site.get(best["image_path"])
    others = [o for o in others if o["cell_id"] != best["cell_id"]]
    rest = [site.get(o["image_path"]) for o in others]
    cells = [(best, target), *zip(others, rest)]
    slides = [slide(r, where, root, scale, prompt, (i + 1, len(cells))) for i, (r, where) in enumerate(cells)]
    if target is None:
        content = _placeholder("image missing", best["image_path"])
    elif target.thumb is None:
        content = _placeholder("image unreadable", best["image_path"])
    else:
        content = f'<img src="{href(root, target.thumb)}" alt="{esc(_alt(best, prompt))}" loading="lazy"{_thumb_size(best, px)}>'
    caption = f"CLIP {scale.fmt(best['clip'])} · seed {show(best['seed'])} · {best['backend']}"
    caption += " · NSFW" if _flagged(best) else ""
    # A flagged thumbnail is blurred until clicked (nsfw_veil); the link then opens the lightbox.
    veil = nsfw_veil(_flagged(best)) if target is not None and target.thumb is not None else ""
    link = f'<a class="bench-lightbox" href="{esc(slides[0]["href"])}"{veil} data-slides="{esc(json.dumps(slides, ensure_ascii=False))}">{content}</a>'
    # Flagged images are shown, not hidden: the reader sees what is on disk, and that it is not
    # what the run made. One among the others is only in the lightbox, so the cell says so.
    notes = [target.flag] if target is not None and target.flag else []
    flagged = sum(1 for where in rest if where is not None and where.flag)
    if flagged:
        notes.append(f"{flagged} other image{'s' if flagged > 1 else ''} of this cell flagged: open it to see")
    if notes:
        flags = "".join(f'<p class="bench-flag" role="note">{FLAG_MARK} {esc(n)}</p>' for n in notes)
        return f'<td class="bench-flagged"><figure>{link}{flags}<figcaption>{esc(caption)}</figcaption></figure></td>'
    return f"<td><figure>{link}<figcaption>{esc(caption)}</figcaption></figure></td>"


def _placeholder(what: str, image_path: str) -> str:
    return (
        f'<span class="bench-missing" role="img" aria-label="{what}">{what}<br><small>{esc(image_path)}</small></span>'
    )


def gallery_grid(
    best: pd.DataFrame | list[dict],
    images: pd.DataFrame | list[dict],
    site: dict[str, SiteImage | None],
    root: str,
    scale: Scale,
    prompt: str,
    thumb_px: int,
) -> str:
    """Models as rows, schedulers as columns; each cell shows its best image and opens a
    lightbox gallery of all of the cell's images (every seed and backend). A missing image
    file shows a placeholder, in the grid and in the lightbox; a flagged one (changed since its
    run, or undecodable: see site_images) shows its note in both, and a placeholder if it does
    not decode."""
    best = _records(best)
    if not best:
        return '<p class="bench-note">No image of this prompt was generated successfully.</p>'
    models = sorted({r["model"] for r in best})
    by_cell: dict[tuple[str, str], list[dict]] = {}
    for r in _records(images):  # one conversion for the page: a page can hold thousands of images
        by_cell.setdefault((r["model"], r["scheduler"]), []).append(r)
    best_by_cell = {(r["model"], r["scheduler"]): r for r in best}
    # A model without schedulers (a GAN) gets one cell across the row, not a dash per scheduler.
    alone = {m for m in models if {s for mm, s in best_by_cell if mm == m} == {""}}
    schedulers = sorted({s for m, s in best_by_cell if m not in alone}, key=lambda s: (s == "", s)) or [""]

    head = "<th></th>" + "".join(f"<th>{esc(s or DASH)}</th>" for s in schedulers)
    rows = []
    for model in models:
        tds = [f'<th scope="row">{esc(model)}</th>']
        if model in alone:
            r = best_by_cell[(model, "")]
            cell = _grid_td(r, by_cell.get((model, ""), []), site, root, scale, prompt, thumb_px)
            span = f'<td colspan="{len(schedulers)}" class="bench-alone'
            tds.append(
                cell.replace('<td class="', span + " ", 1)
                if cell.startswith('<td class="')
                else cell.replace("<td", span + '"', 1)
            )
            rows.append(f"<tr>{''.join(tds)}</tr>")
            continue
        for sched in schedulers:
            r = best_by_cell.get((model, sched))
            if r is None:
                tds.append(f'<td class="bench-none">{DASH}</td>')
            else:
                tds.append(_grid_td(r, by_cell.get((model, sched), []), site, root, scale, prompt, thumb_px))
        rows.append(f"<tr>{''.join(tds)}</tr>")
    # data-search-exclude: captions of images are no use in the search index (Material skips it).
    return f'<div class="bench-grid" data-search-exclude><table class="bench-gallery"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
