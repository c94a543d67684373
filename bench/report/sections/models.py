"""A page per model: what it is (title, licence, pinned weights, the card its settings come from),
how it was run beside what its card says, its speed on each backend, and the best image it made
for every prompt (the first few in the page, the rest from a JSON file on demand, so the page does
not grow with the prompts); and the index of those pages."""

from __future__ import annotations

import json

import pandas as pd

from bench.models import MODELS
from bench.report.html import DASH, Col, Link, Num, esc, href, nsfw_veil, show, table
from bench.report.names import slug
from bench.report.sections.common import Scale, note
from bench.report.sections.methodology import settings_table
from bench.report.sections.prompts import SiteImage

HUB = "https://huggingface.co/"


def _hub_link(hub_id: str, revision: str | None) -> str:
    """The hub page of a repo at its pinned commit (the registry's own data; a local folder or a
    package name is printed as text)."""
    text = esc(f"{hub_id}@{revision[:10]}" if revision else f"{hub_id} (unpinned)")
    if hub_id.count("/") != 1 or hub_id.startswith(("/", ".", "~")):
        return text
    return f'<a href="{esc(HUB + hub_id + ("/tree/" + revision if revision else ""))}">{text}</a>'


def _source_link(source: str) -> str:
    """A card citation: its URL linked, the words after it (what the card says) as text."""
    address, _, rest = source.partition(" ")
    if not address.startswith("https://"):
        return esc(source)
    return f'<a href="{esc(address)}">{esc(address.removeprefix("https://"))}</a> {esc(rest)}'.strip()


# Where a licence's text is, by the name the registry gives it (the first one named in its entry).
LICENCE_TEXTS = {
    "creativeml-openrail-m": "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
    "openrail++": "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md",
    "apache-2.0": "https://www.apache.org/licenses/LICENSE-2.0",
}


def _licence(spec) -> str:
    """The registry's licence line with the licence it names linked to its text; a licence it
    does not know ("see its card") links to the model's card on the hub, at the pinned commit."""
    text = spec.licence or DASH
    for name, address in LICENCE_TEXTS.items():
        at = text.find(name)
        if at >= 0:
            return esc(text[:at]) + f'<a href="{esc(address)}">{esc(name)}</a>' + esc(text[at + len(name) :])
    if spec.hub_id.count("/") == 1 and text != DASH:
        card = HUB + spec.hub_id + ("/blob/" + spec.revision + "/README.md" if spec.revision else "")
        return f'<a href="{esc(card)}">{esc(text)}</a>'
    return esc(text)


def about(model: str) -> str:
    """The registry's title, licence, pinned weights and the card its settings come from (a
    model unknown to it: its key only)."""
    spec = MODELS.get(model)
    if spec is None:
        return note(f"{model} is not in this version's model registry.")
    items = [
        ("Model", esc(spec.title)),
        ("Family", esc(spec.family)),
        ("Weights", _hub_link(spec.hub_id, spec.revision)),
    ]
    if spec.lora:
        items.append(("LoRA", _hub_link(spec.lora.hub_id, spec.lora.revision) + esc(f" at scale {spec.lora.scale:g}")))
    if spec.vae:
        items.append(("VAE", _hub_link(spec.vae, spec.vae_revision)))
    items.append(("Licence", _licence(spec)))
    if spec.source:
        items.append(("Settings from", _source_link(spec.source)))
    if spec.gated:
        items.append(("Access", "gated: needs a Hugging Face token"))
    return '<dl class="bench-about">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def card_table(model: str, frame: pd.DataFrame) -> str:
    """The settings the model's card gives beside the ones its images were made with (every
    distinct value in the data), each marked where it differs: a suite may override the card
    (the seed study's 30 steps, a forced size), and the ranking then measures that choice too."""
    spec = MODELS.get(model)
    ran = frame[frame["model"].eq(model)] if "model" in frame.columns else frame.iloc[0:0]
    if spec is None or ran.empty or spec.family == "gan":
        return ""

    def values(col: str, digits: int | None = None) -> list[str]:
        if col not in ran.columns:
            return []
        vals = ran[col].dropna().unique()
        return sorted(f"{float(v):g}" if digits is not None else show(v) for v in vals)

    sizes = sorted({f"{show(w)}x{show(h)}" for w, h in ran[["width", "height"]].dropna().itertuples(index=False)})
    rows = [
        ("Size px", f"{spec.width}x{spec.height}", sizes),
        ("Steps", str(spec.steps), values("steps")),
        ("Guidance", f"{spec.guidance_scale:g}", values("guidance_scale", 1)),
        ("Scheduler", spec.scheduler_hint or "the pipeline's own", values("scheduler")),
    ]
    if spec.lora:
        rows.append(("LoRA scale", f"{spec.lora.scale:g}", values("lora_scale", 2)))
    records = [
        {
            "setting": name,
            "card": card,
            "ran": ", ".join(got) or DASH,
            # a scheduler race runs others beside the card's: only its absence is a difference
            "differs": ("card's not run" if card not in got and spec.scheduler_hint else "")
            if name == "Scheduler"
            else ("yes" if got and got != [card] else ""),
        }
        for name, card, got in rows
    ]
    columns = [
        Col("Setting", "setting"),
        Col("Card", "card", tooltip="what the model card or its authors' code uses (see Settings from)"),
        Col("Ran with", "ran", tooltip="every value among this model's images"),
        Col("Differs", "differs", tooltip="the images were made otherwise than the card says"),
    ]
    return table(columns, records)


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


WALL_FIRST = 24  # images per scheduler in the page itself; the rest come from the model's JSON on demand


def gallery_anchor(scheduler: str) -> str:
    """The id of a scheduler's gallery on its model's page (the leaderboard's rows link to it)."""
    return "gallery-" + slug(scheduler or "none")


def wall_entries(images: pd.DataFrame, site: dict[str, SiteImage | None], prompt_urls: dict[str, str], scale: Scale):
    """Per scheduler, the model's best image of every prompt, best first: {"u": the prompt page's
    URL, "t": the thumbnail, "c": caption, "a": alt text, and "n": 1 for an image the NSFW
    classifier flagged (blurred until clicked)}, with site paths from the site root."""
    if images.empty:
        return {}
    ranked = images.sort_values(["clip", "seed"], ascending=[False, True], na_position="last")
    ranked = ranked.drop_duplicates(["scheduler", "prompt_id"])
    walls: dict[str, list[dict]] = {}
    # Columns zipped, not to_dict("records") of every column: a model has thousands of prompts.
    cols = [ranked[c].tolist() for c in ("model", "scheduler", "prompt_id", "image_path", "clip", "seed")]
    texts = ranked["prompt"].tolist() if "prompt" in ranked.columns else [""] * len(ranked)
    flags = ranked["nsfw"].fillna(False).tolist() if "nsfw" in ranked.columns else [False] * len(ranked)
    for model, sched, pid, path, clip, seed, prompt, flagged in zip(*cols, texts, flags):
        where = site.get(path)
        if where is None or where.thumb is None:
            continue
        entry = {
            "u": prompt_urls.get(pid, ""),
            "t": where.thumb,
            "c": f"{pid} · {scale.fmt(clip)}" + (" · NSFW" if flagged else ""),
            "a": f"{model} / {sched or DASH}, seed {show(seed)}: {str(prompt or '')[:200]}",
        }
        walls.setdefault(sched, []).append(entry | {"n": 1} if flagged else entry)
    return dict(sorted(walls.items(), key=lambda kv: (kv[0] == "", kv[0])))


def _figure(e: dict, root: str) -> str:
    return (
        f'<figure><a href="{href(root, e["u"])}"{nsfw_veil(e.get("n"))}><img src="{href(root, e["t"])}" alt="{esc(e["a"])}" loading="lazy">'
        f"</a><figcaption>{esc(e['c'])}</figcaption></figure>"
    )


def galleries(walls: dict[str, list[dict]], root: str, json_path: str) -> str:
    """A wall per scheduler, each under its anchor: the best WALL_FIRST images in the page (so its
    size does not grow with the number of prompts), and a button that loads the rest from the
    model's JSON. Each image links to its prompt's page."""
    if not walls:
        return note("No image of this model was generated successfully.")
    parts = []
    for sched, entries in walls.items():
        count = f"{len(entries)} prompt{'s' if len(entries) != 1 else ''}"
        parts.append(f'<h3 id="{gallery_anchor(sched)}">{esc(sched or "No scheduler")} <small>{count}</small></h3>')
        shown = "".join(_figure(e, root) for e in entries[:WALL_FIRST])
        parts.append(f'<div class="bench-wall">{shown}</div>')
        if len(entries) > WALL_FIRST:
            parts.append(
                f'<p class="bench-more" hidden><button type="button" data-json="{href(root, json_path)}" '
                f'data-root="{esc(root)}" data-scheduler="{esc(sched)}">Show all {count}</button></p>'
                + note(f"The best {WALL_FIRST} are shown; every prompt's images are on its page (Prompts).")
            )
    return "".join(parts)


def wall_json_path(model: str) -> str:
    """Where a model's wall JSON lives in the site, beside its page."""
    return f"models/{slug(model)}.json"


def wall_json(walls: dict[str, list[dict]]) -> str:
    """The images past the first WALL_FIRST of each scheduler, for the "Show all" button."""
    return json.dumps({sched: entries[WALL_FIRST:] for sched, entries in walls.items()}, ensure_ascii=False)


def model_page(model: str, frame: pd.DataFrame, speed_html: str, gallery_html: str, quality_html: str = "") -> str:
    """What the model is, then how good it is (its leaderboard rows), how it ran, how fast, and its images."""
    return "".join(
        [
            about(model),
            *(["<h2>Quality per scheduler</h2>", quality_html] if quality_html else []),
            "<h2>How it was run</h2>",
            card_table(model, frame),
            settings_table(frame[frame["model"].eq(model)]),
            "<h2>Speed on each backend</h2>",
            speed_html,
            "<h2>Its best image for every prompt</h2>",
            note("Per scheduler, best first by the ranking metric; click an image for its prompt's page."),
            gallery_html,
        ]
    )
