"""Set metrics (FID, KID): one value per image set, computed over all of its `ok` images.

A set is the images of one model, backend, scheduler and settings (SET_FIELDS), across every
prompt and seed: what FID compares with a reference set as a whole. Its `set_key` hashes those
fields. A set is scored when it has no row yet for the metric, or its row saw another number of
images (more prompts made since, a sample grown) or another reference file; each scored set is
appended as one whole part of `set_scores`, so an interrupted pass keeps the sets it finished.

Which images make a set is the caller's: a sweep passes its own cells (its suite's prompts),
`bench score` every generation of the data dir. A set whose value was computed on fewer
images than the published protocol (a suite's `protocol_images`; MLPerf's 5,000) is marked
`indicative`: FID is biased by the number of images, so it does not compare with the
published figure.
"""

from __future__ import annotations

import hashlib
import json
import pkgutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench import store
from bench.errors import StorageError, first_line
from bench.files import sha256_file
from bench.images import safe_join
from bench.metrics import METRICS, SET_METRICS
from bench.weights.check import require_metrics

# What defines an image set: everything that defines an image (bench.plan.cell_id) but the
# prompt, its seed and which latent of a per-prompt latents file it starts from.
SET_FIELDS = (
    "model",
    "hub_id",
    "revision",
    "lora",
    "lora_scale",
    "vae",
    "vae_revision",
    "backend",
    "dtype",
    "backend_options",
    "scheduler",
    "steps",
    "guidance_scale",
    "width",
    "height",
    "latents_sha256",
)
CHUNK = 50  # images decoded and fed to the network at once: a 5,000-image set never sits in memory


def set_key(row: dict) -> str:
    """A stable hash of a set's SET_FIELDS (nulls, NaN included, as None)."""
    values = {f: _plain(row.get(f)) for f in SET_FIELDS}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def _plain(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def image_sets(generations: pd.DataFrame, cell_ids: set[str] | None = None) -> dict[str, pd.DataFrame]:
    """The `ok` generations (of `cell_ids`, when given) by set key, in first-seen order."""
    ok = generations[generations["status"] == "ok"]
    if cell_ids is not None:
        ok = ok[ok["cell_id"].isin(cell_ids)]
    if ok.empty:
        return {}
    keys = [set_key(row) for row in ok[list(SET_FIELDS)].to_dict("records")]
    return {key: ok[[k == key for k in keys]] for key in dict.fromkeys(keys)}


def reference_sha256(metric: str, reference: Path | None) -> str | None:
    """The sha256 of the reference statistics a metric is scored against, when it is on this
    machine (None: not yet fetched or built; a pass then scores it)."""
    if reference is not None:
        return sha256_file(Path(reference))
    stats = METRICS[metric].weights[1]
    if stats.tiny:
        from bench.scorers.batching import weight_files

        return sha256_file(weight_files(stats)[stats.files[0]])
    from bench.weights.pickles import url_path

    path = url_path(stats)
    return sha256_file(path) if path.is_file() else None


def pending(
    sets: dict[str, pd.DataFrame], set_scores: pd.DataFrame, metric: str, reference: str | None, rescore: bool = False
) -> list[str]:
    """The set keys whose `metric` is missing, or was computed on another number of images or
    against another reference file (`reference`: its sha256; None: unknown, so not compared)."""
    done = set_scores[set_scores["metric"] == metric].set_index("set_key")
    todo = []
    for key, rows in sets.items():
        if rescore or key not in done.index:
            todo.append(key)
            continue
        row = done.loc[key]
        if int(row["n_images"]) != len(rows) or (reference is not None and row["reference_sha256"] != reference):
            todo.append(key)
    return todo


def score_sets(
    data_dir: Path,
    images_dir: Path,
    metrics: list[str],
    *,
    cell_ids: set[str] | None = None,
    reference: Path | None = None,
    protocol_images: int | None = None,
    run_id: str | None = None,
    rescore: bool = False,
    progress=None,
) -> int:
    """Score every pending set for each set metric in `metrics` (others are ignored); returns the
    rows written. `reference`: a statistics file in place of each metric's own."""
    metrics = [m for m in metrics if m in SET_METRICS]
    if not metrics:
        return 0
    # 1. the sets, and what each still needs
    sets = image_sets(store.read(data_dir, "generations"), cell_ids)
    done = store.read(data_dir, "set_scores")
    refs = {m: reference_sha256(m, reference) for m in metrics}
    todo = {m: pending(sets, done, m, refs[m], rescore) for m in metrics}
    if not any(todo.values()):
        return 0
    require_metrics([m for m in metrics if todo[m]])
    # 2. the scorers, loaded once; metrics on one network share each set's features
    scorers = {m: _make_scorer(m, reference) for m in metrics if todo[m]}
    task = (
        progress.add_task("scoring image sets", total=len({k for keys in todo.values() for k in keys}))
        if progress
        else None
    )
    written = 0
    for key in dict.fromkeys(k for keys in todo.values() for k in keys):
        rows = sets[key]
        wanted = [m for m in scorers if key in todo[m]]
        images = [safe_join(images_dir, p) for p in rows["image_path"]]
        features = {}
        out = []
        for metric in wanted:
            scorer = scorers[metric]
            if scorer.network not in features:
                features[scorer.network] = _features(scorer.features, images)
            value, spread = scorer.value(features[scorer.network])
            out.append(_row(key, rows, metric, value, spread, scorer, protocol_images, run_id))
        store.append(data_dir, "set_scores", out)  # one set, one part: a kill keeps finished sets
        written += len(out)
        if progress:
            progress.advance(task)
    return written


def _make_scorer(metric: str, reference: Path | None):
    info = METRICS[metric]
    return pkgutil.resolve_name(info.scorer)(info.weights, **info.options, reference=reference)


def _features(features_of, paths: list[Path], what: str = "the image set was not scored", progress=None):
    """The images' features, CHUNK images at a time (`features_of` a list of PIL images); an image that cannot be read stops the pass (a value over fewer images than the set
    holds would be recorded as the set's)."""
    import numpy as np
    from PIL import Image

    parts = []
    task = progress.add_task("reading images", total=len(paths)) if progress else None
    for start in range(0, len(paths), CHUNK):
        images = []
        for path in paths[start : start + CHUNK]:
            try:
                with Image.open(path) as im:
                    images.append(im.convert("RGB"))
            except (OSError, ValueError) as e:
                raise StorageError(f"{path}: {type(e).__name__}: {first_line(e)}; {what}") from e
        parts.append(features_of(images))
        if progress:
            progress.advance(task, len(images))
    return np.concatenate(parts)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def reference_from_folder(folder: Path, out: Path, metric: str = "fid", progress=None) -> int:
    """Reference statistics of a folder of images (its image files, sorted by name, not its
    subfolders), on `metric`'s network, written to `out` as bench.fid saves them: mu, sigma and
    the features, so that KID can use them too. Returns the number of images read."""
    from bench import fid
    from bench.scorers.fid import load_network

    info = METRICS[metric]
    if info.kind != "set":
        raise ValueError(f"metric: {metric!r} is not a set metric; set metrics: {', '.join(SET_METRICS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(paths) < 2:
        raise ValueError(
            f"{str(folder)!r} holds {len(paths)} image(s) ({', '.join(IMAGE_SUFFIXES)}); statistics need 2 or more"
        )
    require_metrics([metric])
    model, _, _ = load_network(info.weights[0], info.options["dims"])
    device = next(model.parameters()).device.type
    features = _features(
        lambda images: fid.activations(model, images, device=device), paths, "nothing written", progress
    )
    fid.save_reference(Path(out), fid.make_reference(features))
    return len(paths)


def _row(key, rows: pd.DataFrame, metric, value, spread, scorer, protocol_images, run_id) -> dict:
    first = rows.iloc[0]
    n = len(rows)
    return {
        "set_key": key,
        "model": first["model"],
        "backend": first["backend"],
        "scheduler": _plain(first["scheduler"]),
        "steps": _plain(first["steps"]),
        "guidance_scale": _plain(first["guidance_scale"]),
        "width": _plain(first["width"]),
        "height": _plain(first["height"]),
        "latents_sha256": _plain(first["latents_sha256"]),
        "metric": metric,
        "value": float(value),
        "value_std": None if spread is None else float(spread),
        "n_images": n,
        "protocol_images": protocol_images,
        "indicative": protocol_images is not None and n < protocol_images,
        "reference_sha256": scorer.reference_sha256,
        "scorer_version": scorer.version,
        "run_id": run_id,
        "created_at": datetime.now(UTC),
    }
