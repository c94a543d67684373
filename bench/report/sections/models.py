"""A page per model: what it is (title, licence, weights), how it was run, its speed on each
backend, and the best image it made for every prompt; and the index of those pages."""

from __future__ import annotations

import pandas as pd

from bench.models import MODELS
from bench.report.html import DASH, Col, Link, Num, esc, href, show, table
from bench.report.sections.common import Scale, note
from bench.report.sections.methodology import settings_table
from bench.report.sections.prompts import SiteImage


def model_slug(model: str) -> str:
    """Model keys are registry keys (letters, digits, - and _); anything else is replaced."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in model) or "_"


def about(model: str) -> str:
    """The registry's title, licence and hub id of a model (a model unknown to it: its key only)."""
    spec = MODELS.get(model)
    if spec is None:
        return note(f"{model} is not in this version's model registry.")
    items = [("Model", spec.title), ("Family", spec.family), ("Hub id", spec.hub_id), ("Licence", spec.licence or DASH)]
    if spec.gated:
        items.append(("Access", "gated: needs a Hugging Face token"))
    return '<dl class="bench-about">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>"


def models_index(sets: pd.DataFrame, metric_col: str, urls: dict[str, str], scale: Scale) -> str:
    """One row per model: its page, family, licence and its best image set's mean quality."""
    rows = []
    for model, part in sets.groupby("model", sort=True):
        spec = MODELS.get(model)
        best = part[metric_col].max() if metric_col in part.columns else None
        rows.append(
            {
                "model": model,
                "url": urls[model],
                "family": part["family"].iloc[0],
                "licence": spec.licence if spec else "",
                "schedulers": part["scheduler"].nunique(),
                "best": best,
            }
        )
    columns = [
        Col("Model", "model", Link("url")),
        Col("Family", "family"),
        Col("Licence", "licence"),
        Col("Schedulers", "schedulers", Num(0), better="higher"),
        Col("Best mean quality", "best", scale.num, "its best scheduler's mean", "higher", default=True),
    ]
    return table(columns, rows)


def best_per_prompt(
    images: pd.DataFrame, site: dict[str, SiteImage | None], root: str, urls: dict[str, str], scale: Scale
) -> str:
    """The model's best image for every prompt (by the ranking metric), as a wall of thumbnails
    linking to the prompt's page; lazy-loaded, so a long list costs only what is scrolled to."""
    if images.empty:
        return note("No image of this model was generated successfully.")
    ranked = images.sort_values(["clip", "seed"], ascending=[False, True], na_position="last")
    figures = []
    for r in ranked.drop_duplicates("prompt_id").sort_values("prompt_id").to_dict("records"):
        where = site.get(r["image_path"])
        if where is None or where.thumb is None:
            continue
        alt = f"{r['model']} / {r['scheduler'] or DASH}, seed {show(r['seed'])}: {str(r.get('prompt') or '')[:200]}"
        figures.append(
            f'<figure><a href="{esc(urls.get(r["prompt_id"], "#"))}"><img src="{href(root, where.thumb)}" '
            f'alt="{esc(alt)}" loading="lazy"></a><figcaption>{esc(r["prompt_id"])} · {esc(r["scheduler"] or DASH)} · '
            f"{esc(scale.fmt(r['clip']))}</figcaption></figure>"
        )
    return f'<div class="bench-wall">{"".join(figures)}</div>'


def model_page(
    model: str, frame: pd.DataFrame, speed_html: str, images: pd.DataFrame, site: dict, root: str,
    prompt_urls: dict[str, str], scale: Scale,
) -> str:  # fmt: skip
    return "".join(
        [
            about(model),
            "<h2>How it was run</h2>",
            settings_table(frame[frame["model"].eq(model)]),
            "<h2>Speed on each backend</h2>",
            speed_html,
            "<h2>Its best image for every prompt</h2>",
            best_per_prompt(images, site, root, prompt_urls, scale),
        ]
    )
