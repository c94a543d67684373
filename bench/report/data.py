"""Read the sweep's tables for the site and check what the pages rely on.

Bad data stops the build with a `PluginError` that names the file, rather than a page that
silently shows nonsense. Paths from the tables never leave images/ (they are data, not trusted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger

from bench import store
from bench.metrics import METRICS, of_kind
from bench.models import MODELS
from bench.report import names, stats
from bench.schema import STATUSES

log = get_plugin_logger(__name__)

REFERENCE_COLUMNS = ["prompt_id", "model", "scheduler", "clip_raw_cosine"]


@dataclass
class ReportData:
    # generations, normalised, with `clip` and `truncated_tokens` joined: one steps and guidance
    # value per model x scheduler (board_view), as every page but the Steps page shows them
    frame: pd.DataFrame
    scores: pd.DataFrame
    runs: pd.DataFrame
    reference: pd.DataFrame
    metric: str  # the metric the pages show
    metric_note: str = ""  # why it differs from the configured one, if it does
    prompt_pages: dict[str, str] = field(default_factory=dict)  # prompt_id -> page slug
    swept: pd.DataFrame | None = None  # every steps and guidance value (the Steps page); frame when none
    axes_note: str = ""  # which steps / guidance the board shows where more were swept

    @property
    def empty(self) -> bool:
        return self.frame.empty


class _ToMkDocs(logging.Handler):
    """Repeats the store's warnings (a file skipped) on MkDocs' own logger, where they count
    as warnings of the build: `mkdocs build --strict` fails on a table that lost a part."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            log.warning("bench-report: %s", record.getMessage())


def _read_table(data_dir: Path, table: str) -> pd.DataFrame:
    """The table as the store reads it; a file that does not belong is skipped by the store
    (bench.store; a read moves no file), named in a warning, and the site builds from the rest.
    A part that cannot be read, or a data dir that is a file, stops the build (StorageError)."""
    forward, store_log = _ToMkDocs(), logging.getLogger(store.__name__)
    store_log.addHandler(forward)
    try:
        return store.read(data_dir, table)
    except OSError as exc:
        raise PluginError(f"bench-report: cannot read table {data_dir / table}: {exc}") from exc
    finally:
        store_log.removeHandler(forward)


def read_reference(path: Path | None) -> pd.DataFrame:
    """The seed study's CLIP table (raw cosine); the packaged copy when `path` is None."""
    source = path or resources.files("bench") / "data" / "seed_reference.csv"
    try:
        with source.open("rb") as f:
            ref = pd.read_csv(f, dtype={"prompt_id": str, "model": str, "scheduler": str})
    except (OSError, ValueError) as exc:
        raise PluginError(f"bench-report: cannot read the seed reference {source}: {exc}") from exc
    missing = [c for c in REFERENCE_COLUMNS if c not in ref.columns]
    if missing:
        raise PluginError(f"bench-report: {source} lacks columns {missing}; expected {REFERENCE_COLUMNS}")
    return ref


def _choose_metric(scores: pd.DataFrame, wanted: str) -> tuple[str, str]:
    present = set(scores["metric"].dropna().unique())
    if wanted in present or not present:
        return wanted, ""
    for name in of_kind("clip"):
        if name in present:
            note = f"No scores for {wanted} ({METRICS[wanted].title}) yet; showing {name} ({METRICS[name].title})."
            return name, note
    return wanted, ""


def load(data_dir: Path, metric: str, reference: Path | None) -> ReportData:
    """Read generations, scores and runs, join the chosen CLIP metric, check the values."""
    generations = _read_table(data_dir, "generations")
    scores = _read_table(data_dir, "scores")
    runs = _read_table(data_dir, "runs")

    bad = sorted(set(generations["status"].dropna()) - set(STATUSES))
    if bad or generations["status"].isna().any():
        raise PluginError(
            f"bench-report: {data_dir / 'generations'}: status must be one of {', '.join(STATUSES)}; found {bad or ['null']}"
        )
    if (
        generations["prompt_id"].isna().any()
        or generations["model"].isna().any()
        or generations["backend"].isna().any()
    ):
        raise PluginError(f"bench-report: {data_dir / 'generations'}: prompt_id, model and backend must not be null")

    shown, note = _choose_metric(scores, metric)
    swept = stats.with_scores(generations, scores, shown)
    frame, axes_note = board_view(swept)
    pages = names.pages(sorted(frame["prompt_id"].unique()), "prompt id")
    return ReportData(frame, scores, runs, read_reference(reference), shown, note, pages, swept, axes_note)


AXES = ["steps", "guidance_scale"]


def board_view(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One steps and guidance value per model x scheduler, and a note naming what was left out.

    The leaderboard, prompt, compare, model and speed pages compare models and schedulers; a
    model swept over steps (the `steps` suite) would otherwise pool 10-step and 50-step images
    into one mean. Each keeps the setting its model card gives where it ran, else the most steps
    (then the most guidance) it ran; the Steps page shows every value. Data with one setting per
    model x scheduler come back unchanged."""
    if frame.empty or not set(AXES) <= set(frame.columns):
        return frame, ""
    keys = ["model", "scheduler"]
    settings = frame[keys + AXES].drop_duplicates()
    counts = settings.groupby(keys, dropna=False).size()
    if (counts <= 1).all():
        return frame, ""
    card = settings["model"].map(lambda m: MODELS[m] if m in MODELS else None)
    ranked = settings.assign(
        _card_steps=settings["steps"].eq(card.map(lambda c: c.steps if c else None)).fillna(False),
        _card_cfg=settings["guidance_scale"]
        .eq(card.map(lambda c: float(c.guidance_scale) if c else None))
        .fillna(False),
    ).sort_values(["_card_steps", "_card_cfg", "steps", "guidance_scale"], na_position="first")
    chosen = ranked.groupby(keys, dropna=False).tail(1)[keys + AXES]
    kept = frame[frame.set_index(keys + AXES).index.isin(chosen.set_index(keys + AXES).index)]
    shown = chosen.merge(counts[counts > 1].rename("n").reset_index(), on=keys)
    said = [
        f"{r.model}{' / ' + r.scheduler if isinstance(r.scheduler, str) else ''} at {r.steps:g} steps, "
        f"guidance {r.guidance_scale:g}"
        for r in shown.itertuples()
    ]
    note = (
        "Some models ran several steps or guidance values; this page shows one setting each (the model card's "
        "where it ran, else the most steps): "
        + "; ".join(said[:6])
        + ("; …" if len(said) > 6 else "")
        + ". The Steps page shows every value."
    )
    return kept, note


def is_demo(data: ReportData) -> bool:
    """The data come from the tiny suite (random weights): by the runs' suite or the model names."""
    suites = set(data.runs["suite"].dropna()) if "suite" in data.runs.columns else set()
    models = set(data.frame["model"].unique()) if not data.frame.empty else set()
    return "tiny" in suites or (bool(models) and all(m.startswith("tiny-") for m in models))


def image_file(images_dir: Path, image_path: str, table_dir: Path) -> Path | None:
    """The file an `image_path` names, refusing any path that leaves images/; None when it
    cannot be resolved (a symlink loop): the gallery shows it as missing."""
    root = images_dir.resolve()
    try:
        candidate = (root / image_path).resolve()
    except (OSError, RuntimeError):  # a symlink loop: RuntimeError before Python 3.13, OSError since
        return None
    if Path(image_path).is_absolute() or not candidate.is_relative_to(root):
        raise PluginError(f"bench-report: {table_dir}: image_path {image_path!r} is outside {images_dir}")
    return candidate
