"""The report tests' dataset: a synthetic sweep (bench.report.synthetic) with hostile text and faults.

Several prompts (one hostile), models (one GAN without a scheduler), schedulers, the three
backends (eager PyTorch, torch.compile, ONNX Runtime), GPU rows with energy readings and CPU
rows without (bench.report.synthetic alternates them by model), a failed row and an "ok" row
whose image file is missing. Latencies straddle 10 s so that sorting them as text would be
wrong. `Written` holds what the tests expect to find; `page` and `rows_of` read what a build
wrote.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
from preloaded import MKDOCS

from bench.report import synthetic
from bench.report.synthetic import ModelSpec
from bench.schema import GENERATIONS, RUNS, SCORES

__all__ = [
    "BACKENDS", "HOSTILE_ID", "MODELS", "REPO", "XSS_LOG", "Written", "copy_site_sources", "hostile", "mkdocs_build",
    "page", "rows_of", "set_missing_images", "set_plugin_option", "write_dataset", "write_hostile_dataset",
]  # fmt: skip

REPO = Path(__file__).resolve().parents[1]
SEED_PROMPTS = {
    "futuristic-city": "A futuristic city in the clouds where houses are made of crystals and glowing plants.",
    "abandoned-park": "An abandoned amusement park where nature has taken over, and trees wrap around carousels.",
}
HOSTILE_ID = "hostile"
HOSTILE_PROMPT = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> | a | b | '
    "*bold* _em_ [x](javascript:alert(1)) {{ config.site_name }} {% raw %} &amp; " + "averyveryverylongword" * 60
)
HOSTILE_TRUNCATED_TOKENS = 12  # what CLIP "did not see" of the hostile prompt: the page must say so
BACKENDS = ["pytorch", "pytorch-compile", "onnxruntime"]
SECOND_METRIC = "clip_vit_l_14"
MODELS = {
    "sd15": ModelSpec("sd", ["euler-a", "ddim"], BACKENDS, 2.0, 0.31),  # GPU: energy, optimized ORT graph
    "sd21-base": ModelSpec("sd", ["euler-a", "ddim"], BACKENDS, 9.7, 0.33),  # CPU: no energy
    "dalle3-xl": ModelSpec("sdxl", ["euler-a"], ["pytorch"], 14.0, 0.35),
    "biggan-deep-256": ModelSpec("gan", [None], ["pytorch"], 0.05, 0.22),
}
# The faults: which row fails, and which row's image file goes missing (the first that matches).
FAILED = {"model": "sd15", "backend": "pytorch", "scheduler": "ddim", "prompt_id": "futuristic-city", "seed": 1}
LOST = {"model": "sd21-base", "backend": "pytorch", "seed": 0}


@dataclass
class Written:
    """What a fixture holds, for the tests' expectations."""

    prompts: dict[str, str]
    rows: int = 0
    images: int = 0
    missing_image: str | None = None  # image_path of an "ok" row whose file was not written
    failed_cell: str | None = None
    run_id: str = "run-fixture"
    cells: list[dict] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)  # the rows of the scores table, as written


def mkdocs_build(root: Path, *args: str, importtime: bool = False, timeout_s: float = 600):
    """bench.report.synthetic.mkdocs_build, forked from an interpreter that has imported mkdocs
    (tests/preloaded.py); with `importtime`, in the fresh interpreter whose imports it times."""
    run = subprocess.run if importtime else MKDOCS.run
    return synthetic.mkdocs_build(root, *args, importtime=importtime, timeout_s=timeout_s, run=run)


def copy_site_sources(root: Path) -> Path:
    """Copy mkdocs.yml and site/ into `root`, so that data/, images/ and public/ land beside them."""
    return synthetic.copy_site_sources(REPO, root)


def set_missing_images(root: Path, level: str) -> None:
    """Set the plugin's `missing_images` level in root/mkdocs.yml (the repository's says info)."""
    config = root / "mkdocs.yml"
    text, n = re.subn(r"missing_images: \w+", f"missing_images: {level}", config.read_text())
    assert n == 1, "mkdocs.yml no longer sets missing_images"
    config.write_text(text)


def set_plugin_option(root: Path, name: str, value: object) -> None:
    """Add a `bench-report` option to root/mkdocs.yml, after its missing_images line (a JSON value is YAML)."""
    config = root / "mkdocs.yml"
    text, n = re.subn(
        r"^( *)(missing_images: \w+.*)$",
        lambda m: f"{m[0]}\n{m[1]}{name}: {json.dumps(value)}",
        config.read_text(),
        flags=re.M,
    )
    assert n == 1, "mkdocs.yml no longer sets missing_images"
    config.write_text(text)


def _matches(row: dict, where: dict) -> bool:
    return all(row[k] == v for k, v in where.items())


def write_dataset(
    data_dir: Path,
    images_dir: Path,
    *,
    prompts: dict[str, str] | None = None,
    models: dict | None = None,
    seeds: int = 3,
    image_px: int = 64,
    metric: str = "clip_vit_b_32",
    faults: bool = True,
    categories: dict[str, str] | None = None,
) -> Written:
    """Write the three tables and the images; faults: one failed row and one missing image file.
    categories: prompt_id -> the `category` of its rows (PartiPrompts has one); none by default."""
    prompts = dict(prompts or {**SEED_PROMPTS, HOSTILE_ID: HOSTILE_PROMPT})
    out = Written(prompts=prompts)
    sweep = synthetic.make_sweep(
        prompts, models or MODELS, seeds=seeds, metric=metric, run_id=out.run_id, categories=categories
    )
    sweep.run.update(suite="fixture", command="bench run --suite fixture <not a tag>")
    clip = {s["cell_id"]: s for s in sweep.scores if s["metric"] == metric}
    # A second quality metric that disagrees a little, for the in-page switch and the agreement view.
    # (Only beside the default metric: the tiny-suite test needs clip_tiny to be the only CLIP.)
    if metric == "clip_vit_b_32":
        sweep.scores += [
            {**s, "metric": SECOND_METRIC, "value": s["value"] * 0.9 + 0.02 * ((int(s["cell_id"], 16) % 7) / 7)}
            for s in list(clip.values())
        ]
    for row in sweep.generations:
        if row["prompt_id"] == HOSTILE_ID:
            clip[row["cell_id"]]["truncated_tokens"] = HOSTILE_TRUNCATED_TOKENS
    if faults:
        failed = next((r for r in sweep.generations if _matches(r, FAILED)), None)
        if failed is not None:
            out.failed_cell = failed["cell_id"]
            failed.update(
                status="failed", error="CUDA out of memory (synthetic)", image_path=None,
                latency_s=None, denoise_s=None, step_ms_p50=None,
            )  # fmt: skip
            sweep.scores = [s for s in sweep.scores if s["cell_id"] != out.failed_cell]
        lost = next((r for r in sweep.generations if r["status"] == "ok" and _matches(r, LOST)), None)
        if lost is not None:
            out.missing_image = lost["image_path"]
            clip[lost["cell_id"]]["value"] += 0.1  # the best of its cell, so the grid shows the placeholder
    out.images = synthetic.write_sweep(sweep, data_dir, images_dir, image_px=image_px)
    if out.missing_image is not None:
        (images_dir / out.missing_image).unlink()  # recorded by the "sweep", then lost
        out.images -= 1
    out.rows = len(sweep.generations)
    out.cells = sweep.generations
    out.scores = sweep.scores
    return out


# --- every text field hostile ----------------------------------------------------------------

XSS_LOG = "__xss"  # the window property every payload of `hostile` pushes its field's name to


def hostile(field: str) -> str:
    """A value of `field` that runs script wherever a page or a script puts it in as HTML: in
    text, out of a quoted attribute, in a <script>. The script pushes `field` to
    window.__xss and opens a dialog; its <img> also asks the site for "x" (a 404 in the console)."""
    run = f"(window.{XSS_LOG}=window.{XSS_LOG}||[]).push('{field}');alert('{field}')"
    return f'{field} "\'><img src=x onerror="{run}"><script>{run}</script><svg onload="{run}"></svg> &amp;'


# A file name's part: no "/", and short (a name holds at most 255 bytes).
_HOSTILE_NAME = "{field}\"'<img src=x onerror=\"(window.__xss=window.__xss||[]).push('{field}')\">"


def _hostile_options(i: int) -> str | None:
    """backend_options as JSON whose keys and values are hostile, or text that is not JSON."""
    return [None, json.dumps({hostile("option-key"): hostile("option-value"), "mode": hostile("mode")}),
            hostile("options-text")][i % 3]  # fmt: skip


# Text columns the hostile sweep fills otherwise: keys and ids, or values with a meaning.
_SET_APART = {"run_id", "cell_id", "prompt_id", "prompt", "model", "scheduler", "backend", "status", "error",
              "image_path", "image_sha256", "backend_options", "category", "metric"}  # fmt: skip


def _hostile_text(schema: pa.Schema) -> dict:
    """Every text column of a table's row that is not set apart, hostile."""
    return {f.name: hostile(f.name) for f in schema if pa.types.is_string(f.type) and f.name not in _SET_APART}


def write_hostile_dataset(data_dir: Path, images_dir: Path) -> Written:
    """A sweep in which every text column of every table holds a `hostile` value: prompt ids and
    texts, categories, model, scheduler, backend (all but eager PyTorch, which the speed page
    compares with), backend_options, errors, image paths, and every other text column (family,
    provider, weights, the run's suite, command and environment ...). Two models (one with two
    schedulers, one GAN without), two backends, three prompts, two seeds; one row failed."""
    prompts = {"plain": "A red cube.", HOSTILE_ID: HOSTILE_PROMPT, hostile("prompt_id"): hostile("prompt")}
    models = {
        hostile("model-sd"): ModelSpec("sd", [hostile("scheduler-a"), hostile("scheduler-b")], ["pytorch", "other"], 2.0, 0.3),
        hostile("model-gan"): ModelSpec("gan", [None], ["pytorch"], 0.1, 0.2),
    }  # fmt: skip
    # "animals" is a word of "wild animals": the category filter must tell them apart.
    categories = {"plain": "wild animals", HOSTILE_ID: hostile("category"), hostile("prompt_id"): "animals"}
    sweep = synthetic.make_sweep(prompts, models, seeds=2, run_id=hostile("run_id"), categories=categories)
    for i, row in enumerate(sweep.generations):
        row.update(_hostile_text(GENERATIONS), backend_options=_hostile_options(i))
        row["image_path"] = (
            f"{_HOSTILE_NAME.format(field='image_dir')}/{i:03d}{_HOSTILE_NAME.format(field='image_path')}.png"
        )
        if row["backend"] == "other":
            row["backend"] = hostile("backend")
    failed = sweep.generations[1]
    failed.update(status="failed", error=hostile("error"), image_path=None, latency_s=None)
    sweep.scores = [{**s, **_hostile_text(SCORES)} for s in sweep.scores if s["cell_id"] != failed["cell_id"]]
    sweep.run.update(_hostile_text(RUNS))
    out = Written(prompts=prompts, run_id=sweep.run["run_id"], cells=sweep.generations, scores=sweep.scores)
    out.images = synthetic.write_sweep(sweep, data_dir, images_dir)
    out.rows = len(sweep.generations)
    return out


# --- reading what a build wrote -------------------------------------------------------------


class Tables(HTMLParser):
    """Cell texts of every table inside a `div.bench-table`, as lists of rows."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.depth = 0  # > 0 while inside a bench-table div
        self.cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and "bench-table" in (attrs.get("class") or "").split():
            self.depth = 1
            self.tables.append([])
        elif self.depth and tag == "div":
            self.depth += 1
        elif self.depth and tag == "tr":
            self.tables[-1].append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if self.depth and tag == "div":
            self.depth -= 1
        elif self.cell is not None and tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page(root: Path, path: str) -> str:
    return (root / "public" / path).read_text(encoding="utf-8")


def rows_of(html: str, index: int = 0) -> list[dict[str, str]]:
    header, *body = Tables(html).tables[index]
    return [dict(zip(header, row)) for row in body]
