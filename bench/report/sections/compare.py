"""The compare page: one prompt and one seed, models as rows and schedulers as columns, each
image with its score; the prompt, the seed and the backend switch in the page.

The page itself holds the grid of the first prompt and seed (what a reader without JavaScript
sees) and the list of prompts; each prompt's images travel in a small JSON file of their own
(compare/<slug>.json, fetched from this site when the reader picks the prompt), so the page's
size does not grow with the number of prompts' images. "Difference" lays an ONNX Runtime (or
torch.compile) image over its eager PyTorch twin with CSS `mix-blend-mode: difference`: black
where they agree.
"""

from __future__ import annotations

import json

import pandas as pd

from bench.report.html import DASH, esc, href, missing, nsfw_veil, show
from bench.report.sections.common import Scale
from bench.report.stats import BACKEND_ORDER, EAGER

JSON_DIR = "compare"


def layout(images: pd.DataFrame) -> tuple[list[str], list[str], set[str]]:
    """Models (rows), schedulers (columns) and the models without a scheduler (one cell each)."""
    distinct = images[["model", "scheduler"]].drop_duplicates()
    pairs = set(zip(distinct["model"], distinct["scheduler"]))
    models = sorted({m for m, _ in pairs})
    alone = {m for m in models if {s for mm, s in pairs if mm == m} == {""}}
    scheds = sorted({s for m, s in pairs if m not in alone}, key=lambda s: (s == "", s)) or [""]
    return models, scheds, alone


def backends_of(images: pd.DataFrame) -> list[str]:
    found = set(images["backend"])
    return [b for b in BACKEND_ORDER if b in found] + sorted(found - set(BACKEND_ORDER))


def prompt_json(images: list[dict], site: dict, scale: Scale, by_metric: dict[str, dict] | None = None) -> str:
    """One prompt's images (gallery records): {"seeds": [...], "cells": {"seed|backend|model|scheduler":
    [thumb, full, score, nsfw, scores]}} with site paths relative to the site root, nsfw 1 where the
    nsfw metric flagged the image (bench.js blurs it until clicked), else 0, and scores every
    quality metric's value as printed ({metric: text}, from `by_metric`: cell_id -> that), for the
    badge the page's "Score" picks; a missing or undecodable image has none."""
    cells = {}
    for r in images:
        where = site.get(r["image_path"])
        if where is None or where.thumb is None:
            continue
        cells[f"{show(r['seed'])}|{r['backend']}|{r['model']}|{r['scheduler']}"] = [
            where.thumb,
            where.full,
            scale.fmt(r["clip"]),
            int(not missing(r.get("nsfw")) and bool(r.get("nsfw"))),
            (by_metric or {}).get(r.get("cell_id"), {}),
        ]
    seeds = sorted({show(r["seed"]) for r in images}, key=lambda s: (len(s), s))
    return json.dumps({"seeds": seeds, "cells": cells}, ensure_ascii=False, separators=(",", ":"))


def compare_page(
    images: pd.DataFrame,
    prompts: dict[str, str],
    first: str,
    site: dict,
    root: str,
    scale: Scale,
    metrics: dict[str, str] | None = None,
) -> str:
    """The controls and the grid of prompt `first` (its first seed, eager PyTorch where it ran).

    images: every gallery image (all prompts), for the layout and the first grid.
    prompts: prompt_id -> page slug (its JSON file's name).
    metrics: quality metric -> its title, for the "Score" select (the leaderboard's "Rank by",
    which bench.js carries over); none with a single metric."""
    models, scheds, alone = layout(images)
    backends = backends_of(images)
    mine = images[images["prompt_id"].eq(first)]
    seeds = sorted({show(s) for s in mine["seed"]}, key=lambda s: (len(s), s))
    seed, backend = seeds[0], backends[0]
    shown = {
        (r["model"], r["scheduler"]): r
        for r in mine.to_dict("records")
        if show(r["seed"]) == seed and r["backend"] == backend
    }
    prompt_opts = " ".join(
        f'<option value="{esc(slug)}"{" selected" if pid == first else ""}>{esc(pid)}</option>'
        for pid, slug in prompts.items()
    )
    seed_opts = " ".join(f'<option value="{esc(s)}">{esc(s)}</option>' for s in seeds)
    backend_opts = " ".join(f'<option value="{esc(b)}">{esc(b)}</option>' for b in backends)
    if EAGER in backends:
        backend_opts += " ".join(
            f' <option value="diff:{EAGER}:{esc(b)}">{EAGER} vs {esc(b)}: difference</option>'
            for b in backends
            if b != EAGER
        )
    form = (
        '<form class="bench-filters bench-compare-form">'
        f'<label>Prompt <select name="prompt">{prompt_opts}</select></label> '
        f'<label>Seed <select name="seed">{seed_opts}</select></label> '
        f'<label>Backend <select name="backend">{backend_opts}</select></label>'
        + (
            '<label>Score <select name="metric">'
            + " ".join(f'<option value="{esc(m)}">{esc(t)}</option>' for m, t in metrics.items())
            + "</select></label>"
            if metrics and len(metrics) > 1
            else ""
        )
        + "</form>"
    )
    head = "<th></th>" + "".join(f"<th>{esc(s or DASH)}</th>" for s in scheds)
    rows = []
    for model in models:
        tds = [f'<th scope="row">{esc(model)}</th>']
        for sched in [""] if model in alone else scheds:
            span = f' colspan="{len(scheds)}" class="bench-alone"' if model in alone else ""
            tds.append(
                f'<td data-key="{esc(model)}|{esc(sched)}"{span}>{_cell(shown.get((model, sched)), site, root, scale)}</td>'
            )
        rows.append(f"<tr>{''.join(tds)}</tr>")
    grid = f'<div class="bench-grid" data-search-exclude><table class="bench-gallery"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    data = f' data-root="{esc(root)}" data-json="{esc(JSON_DIR)}"'
    note = (
        '<p class="bench-note">Each image is scored with the ranking metric (its badge). "Difference" shows '
        "where another backend's image differs from its eager PyTorch twin: black is identical.</p>"
    )
    return f'<div class="bench-compare"{data}>{form}{note}{grid}</div>'


def _cell(r: dict | None, site: dict, root: str, scale: Scale) -> str:
    where = None if r is None else site.get(r["image_path"])
    if where is None or where.thumb is None:
        return f'<figure class="bench-cmp"><span class="bench-none">{DASH}</span><figcaption class="bench-badge"></figcaption></figure>'
    alt = f"{r['model']} / {r['scheduler'] or DASH}, seed {show(r['seed'])}, {r['backend']}"
    return (
        f'<figure class="bench-cmp"><a href="{href(root, where.full)}"{nsfw_veil(r.get("nsfw"))}><span class="bench-stack">'
        f'<img class="bench-a" src="{href(root, where.thumb)}" alt="{esc(alt)}" loading="lazy">'
        '<img class="bench-b" alt="" hidden></span></a>'
        f'<figcaption class="bench-badge">{esc(scale.fmt(r["clip"]))}</figcaption></figure>'
    )
