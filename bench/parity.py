"""Parity: how far each image of another backend (ONNX Runtime, torch.compile) is from its eager
PyTorch twin, stored as scores.

A twin is the `ok` PyTorch image of the same model, weights, scheduler, prompt, seed and
settings; device and dtype may differ (on a GPU both run fp16 on CUDA, but a twin from another
run may not). Both are compared as the uint8 PNGs the sweep saved, so the numbers say what a
reader of the site sees. The sweep runs it after scoring.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench import store
from bench.images import safe_join

PSNR_METRIC = "psnr_db_vs_pytorch"
MAX_DIFF_METRIC = "max_abs_diff_vs_pytorch"
# Identical images have an infinite PSNR, which no mean or chart survives. 100 dB is above any
# real difference the tiny models show and below the 113 dB of a single one-level pixel
# difference in a 1024x1024 image, so: PSNR is clipped to 100 dB, and 100 reads "identical or
# practically so" (max_abs_diff_vs_pytorch = 0 says exactly identical).
PSNR_CAP_DB = 100.0
# What defines the image apart from backend, device and dtype (bench.plan.Cell).
TWIN_FIELDS = (
    "model",
    "hub_id",
    "revision",
    "lora",
    "lora_scale",
    "vae",
    "scheduler",
    "prompt_id",
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "guidance_scale",
    "width",
    "height",
)


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB, 10*log10(255^2 / MSE), clipped to
    PSNR_CAP_DB. Higher is closer."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * math.log10(255.0**2 / mse))


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute pixel difference of two uint8 images on a 0..1 scale (1/255 = one level)."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) / 255.0


def _twin_key(frame: pd.DataFrame) -> pd.Series:
    # One 64-bit hash per row of TWIN_FIELDS, vectorised (a joined-text key took 19 s for 200k
    # rows); missing values (no LoRA, no revision) hash alike. Both sides come from one frame,
    # so a column has one dtype for both.
    return pd.util.hash_pandas_object(frame[list(TWIN_FIELDS)], index=False)


def twins(generations: pd.DataFrame, cell_ids: set[str]) -> pd.DataFrame:
    """Cells of other backends with an ok image, each beside its eager PyTorch twin's image, where
    either side is among `cell_ids`: a shard that made only the PyTorch side of a pair (the other
    backend's cells were another shard's, finished first) compares it too.

    Columns: cell_id, other_image, torch_image. Where several twins exist, the one from the same
    run wins, then the same dtype, then the newest.
    """
    ok = generations[generations["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame(columns=["cell_id", "other_image", "torch_image"])
    ok = ok.assign(key=_twin_key(ok))
    other, torch = ok[ok["backend"] != "pytorch"], ok[ok["backend"] == "pytorch"]
    if other.empty or torch.empty:
        return pd.DataFrame(columns=["cell_id", "other_image", "torch_image"])
    made_here = torch.loc[torch["cell_id"].isin(cell_ids), "key"]
    other = other[other["cell_id"].isin(cell_ids) | other["key"].isin(made_here)]
    pairs = other[["cell_id", "key", "run_id", "dtype", "image_path"]].merge(
        torch[["key", "run_id", "dtype", "image_path", "created_at"]], on="key", suffixes=("", "_torch")
    )
    pairs["same_run"] = pairs["run_id"] == pairs["run_id_torch"]
    pairs["same_dtype"] = pairs["dtype"] == pairs["dtype_torch"]
    pairs = pairs.sort_values(["same_run", "same_dtype", "created_at"], ascending=False, kind="stable")
    best = pairs.drop_duplicates("cell_id")
    return best.rename(columns={"image_path": "other_image", "image_path_torch": "torch_image"})[
        ["cell_id", "other_image", "torch_image"]
    ].reset_index(drop=True)


def _pixels(images_dir: Path, relpath: str) -> np.ndarray:
    from PIL import Image

    with Image.open(safe_join(images_dir, relpath)) as im:
        return np.asarray(im.convert("RGB"))


def record(data_dir: Path, images_dir: Path, cell_ids: set[str]) -> int:
    """Append both parity metrics for the other-backend cells that this sweep made, or whose eager
    PyTorch twin it made, where both images exist and no parity scores do yet; returns the
    number of images compared."""
    scores = store.read(data_dir, "scores")
    done = set(scores.loc[scores["metric"] == PSNR_METRIC, "cell_id"]) & set(
        scores.loc[scores["metric"] == MAX_DIFF_METRIC, "cell_id"]
    )
    todo = twins(store.read(data_dir, "generations"), set(cell_ids))
    todo = todo[~todo["cell_id"].isin(done)]
    rows, now = [], datetime.now(UTC)
    for pair in todo.itertuples():
        a, b = _pixels(images_dir, pair.other_image), _pixels(images_dir, pair.torch_image)
        rows += [
            {"cell_id": pair.cell_id, "metric": PSNR_METRIC, "value": psnr_db(a, b), "created_at": now},
            {"cell_id": pair.cell_id, "metric": MAX_DIFF_METRIC, "value": max_abs_diff(a, b), "created_at": now},
        ]
    store.append(data_dir, "scores", rows)
    return len(rows) // 2
