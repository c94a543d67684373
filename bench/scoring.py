"""Scoring is separate from generation on purpose: a new metric can rescore old images.

Every `ok` image without a score for a metric gets one; the scorer loads once per metric and
images stream through it in batches, decoded in its worker threads. Images that are not
pictures (nan, failed) are never scored. No image is kept from scoring for what it shows: the
`nsfw` metric flags it, and every mean includes it. (Runs made before that rule may hold rows
of status "nsfw", blanked by a pipeline's safety checker: no picture, so not scored either.)

A scorer may give several values per image in one pass (the NSFW flag and its margin): the
metric's entry names the others as its `companions`, and their rows are written together.
"""

from __future__ import annotations

import pkgutil
from contextlib import closing
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path

import pandas as pd

from bench import store
from bench.errors import StorageError, first_line
from bench.images import safe_join
from bench.metrics import METRICS, SET_METRICS
from bench.weights.check import require_metrics


def pending(
    generations: pd.DataFrame,
    scores: pd.DataFrame,
    metric: str,
    rescore: bool = False,
    cell_ids: set[str] | None = None,
) -> pd.DataFrame:
    """The `ok` generations that still need `metric` (all of them with rescore); its companions
    are written with it, so it alone says what is done."""
    todo = generations[generations["status"] == "ok"]
    if cell_ids is not None:
        todo = todo[todo["cell_id"].isin(cell_ids)]
    if not rescore:
        done = set(scores.loc[scores["metric"] == metric, "cell_id"])
        todo = todo[~todo["cell_id"].isin(done)]
    return todo


def make_scorer(metric: str, **kwargs):
    """The metric's scorer, loaded now (its module imports the heavy libraries it needs)."""
    info = METRICS[metric]
    if info.weights:  # hub weights beyond open_clip's tags: the scorer reads them from the entry
        kwargs = {"weights": info.weights, **kwargs}
    return pkgutil.resolve_name(info.scorer)(**info.options, **kwargs)


def score(
    data_dir: Path,
    images_dir: Path,
    metrics: list[str],
    rescore: bool = False,
    cell_ids: set[str] | None = None,
    progress=None,
    chunk: int = 256,
) -> int:
    """Score what is pending for each metric; returns the number of scores written.

    Rows are appended every `chunk` images, so an interrupted scoring pass keeps its work. An
    image that is missing or cannot be decoded is skipped and the others are scored; then a
    StorageError names how many were skipped, and the first few, so the exit code says so.
    Set metrics (FID, KID) are left to bench.set_scoring: they score whole image sets.
    """
    metrics = [m for m in metrics if m not in SET_METRICS]
    if not metrics:
        return 0
    generations = store.read(data_dir, "generations")
    scores = store.read(data_dir, "scores")
    require_metrics([m for m in metrics if not pending(generations, scores, m, rescore, cell_ids).empty])
    written, unreadable = 0, []
    for metric in metrics:
        todo = pending(generations, scores, metric, rescore, cell_ids)
        if todo.empty:
            continue
        scorer = make_scorer(metric)
        task = progress.add_task(f"scoring {metric}", total=len(todo)) if progress else None
        # Worker threads decode and prepare images ahead, across chunk boundaries too, while the
        # model encodes; a failure is noted here by path and reported below in the table's order.
        failures: dict[str, str] = {}
        paths = list(todo["image_path"])
        values = scorer.stream(paths, list(todo["prompt"]), load=partial(_open, images_dir, failures=failures))
        with closing(values):  # stops the workers if writing fails or the pass is interrupted
            for start in range(0, len(todo), chunk):
                part = todo.iloc[start : start + chunk]
                got = list(islice(values, len(part)))
                unreadable += [failures[paths[start + i]] for i, v in enumerate(got) if v is None]
                rows = score_rows(metric, part, with_truncation(scorer, got, part["prompt"]), scorer.version)
                if rows:
                    store.append(data_dir, "scores", rows)
                    written += len(rows)
                if progress:
                    progress.advance(task, len(part))
    if unreadable:
        raise StorageError(
            f"{len(unreadable)} image(s) could not be read and were not scored (the rest were): "
            + "; ".join(unreadable[:3])
            + (" ..." if len(unreadable) > 3 else "")
        )
    return written


def _open(images_dir: Path, relpath: str, failures: dict[str, str]):
    """The image as RGB, or None (and a note in `failures`) when it is missing or corrupt.

    Runs in the scorer's worker threads: it only adds its own key to `failures`.
    """
    from PIL import Image

    try:
        with Image.open(safe_join(images_dir, relpath)) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as e:  # missing, not an image, truncated, outside images/
        failures[relpath] = f"{relpath}: {type(e).__name__}: {first_line(e)}"
        return None


def with_truncation(scorer, values, prompts) -> list[tuple[float | None, int | None]]:
    """(value, prompt tokens the scorer's text encoder could not see) per image."""
    return [(v, scorer.truncated_tokens(p) if v is not None else None) for v, p in zip(values, prompts)]


def score_rows(
    metric: str, part: pd.DataFrame, values: list[tuple[float | None, int | None]], version: str
) -> list[dict]:
    """Score rows for the generations in `part` from (value, truncated prompt tokens) pairs in
    order, each with the scorer's package and weight versions; an image with no value
    (unreadable) gets no row. A metric with companions has a sequence of values per image, its
    own first, and gets a row for each. The local pass and Ray's workers both write through here."""
    names = (metric, *METRICS[metric].companions)
    now = datetime.now(UTC)
    return [
        {
            "cell_id": cid,
            "metric": name,
            "value": float(x),
            "truncated_tokens": t,
            "scorer_version": version,
            "created_at": now,
        }
        for cid, (v, t) in zip(part["cell_id"], values, strict=True)
        if v is not None
        for name, x in zip(names, v if len(names) > 1 else (v,), strict=True)
    ]
