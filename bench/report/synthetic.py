"""A synthetic sweep for previews and build benchmarks: the three tables and small PNG images.

`make_sweep` lays out the rows of a grid (model x backend x scheduler x prompt x seed) in
memory; `write_sweep` writes its images and appends its tables through bench.store, the
sweep's own writer; `write_dataset` does both. A caller can edit the rows in between (the
tests add a failed row). Values are made up but deterministic, and look like a real sweep's:
the first call of each model and backend is cold; torch.compile rows record a compile time at
the first call of each scheduler and ONNX Runtime rows an export time; both carry parity scores
against eager PyTorch and their `backend_options`. Every other model ran "on a GPU" (provider
cuda, with energy readings); the others on a CPU, where energy is null as a real sweep leaves it.

`copy_site_sources` and `mkdocs_build` build the repository's site over such a dataset in
another folder, the way `nox -s docs` builds it (a fresh interpreter).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from bench import store
from bench.files import write_bytes

STARTED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DOCS_DIR = "site"  # docs_dir of the repository's mkdocs.yml
LATENCY_FACTOR = {"pytorch-compile": 0.7, "onnxruntime": 0.8}  # of eager PyTorch's latency
# backend_options as the backends record them (sorted JSON); ONNX Runtime's depend on the model.
COMPILE_OPTIONS = '{"channels_last": true, "mode": "max-autotune-no-cudagraphs"}'
ORT_OPTIONS = ('{"graph": "optimized", "io_binding": true}', '{"graph": "plain", "io_binding": false}')
GPU_WATTS = 250.0  # mean power of the made-up GPU runs


class ModelSpec(NamedTuple):
    """A made-up model; a plain tuple in this order works too."""

    family: str
    schedulers: list[str | None]  # None: a model without a scheduler (a GAN)
    backends: list[str]
    latency_s: float  # eager PyTorch seconds per image; LATENCY_FACTOR for the others
    clip_mean: float  # raw cosine


@dataclass
class Sweep:
    """Rows of the three tables, as bench.store takes them."""

    generations: list[dict]
    scores: list[dict]
    run: dict


def png_bytes(key: int, px: int) -> bytes:
    """A small, distinct, cheap image: a gradient tinted by `key`, with a square."""
    from PIL import Image, ImageDraw

    rnd = random.Random(key)
    base = Image.linear_gradient("L").resize((px, px))
    tint = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
    im = Image.merge("RGB", [base.point(lambda v, t=t: (v + t) % 256) for t in tint])
    x, y = rnd.randrange(px // 2), rnd.randrange(px // 2)
    ImageDraw.Draw(im).rectangle([x, y, x + px // 3, y + px // 3], fill=tint[::-1])
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def make_sweep(
    prompts: dict[str, str],
    models: dict[str, ModelSpec | tuple],
    *,
    seeds: int = 3,
    n_images: int | None = None,
    metric: str = "clip_vit_b_32",
    run_id: str = "run-synthetic",
    categories: dict[str, str] | None = None,
) -> Sweep:
    """Every cell of the grid as an "ok" row with a score; no file is written.

    n_images: the number of distinct image files; rows beyond it reuse them (for big builds).
    categories: prompt_id -> its category (PartiPrompts' `category` column); without it the
    rows have no category, as most prompt sets leave it.
    """
    rnd = random.Random(0)
    more = random.Random(1)  # for the newer columns, so the older ones keep their values
    gens: list[dict] = []
    scores: list[dict] = []
    for m_index, (model, spec) in enumerate(models.items()):
        family, schedulers, backends, latency_s, clip_mean = spec
        gpu = m_index % 2 == 0
        for backend in backends:
            ort, compiled = backend == "onnxruntime", backend == "pytorch-compile"
            calls = 0
            for scheduler in schedulers:
                for prompt_id, prompt in prompts.items():
                    for seed in range(seeds):
                        i = len(gens)
                        cell_id = hashlib.sha256(
                            f"{model}|{backend}|{scheduler}|{prompt_id}|{seed}".encode()
                        ).hexdigest()[:16]
                        latency = latency_s * LATENCY_FACTOR.get(backend, 1.0) * (1 + 0.1 * rnd.random())
                        image = f"{model}/{i:06d}.png" if n_images is None else f"shared/{i % n_images:06d}.png"
                        first_of_scheduler = prompt_id == next(iter(prompts)) and seed == 0
                        watts = GPU_WATTS * (1 + 0.1 * more.random()) if gpu else None
                        gens.append(
                            {
                                "run_id": run_id,
                                "cell_id": cell_id,
                                "prompt_id": prompt_id,
                                "prompt": prompt,
                                "model": model,
                                "family": family,
                                "hub_id": f"org/{model}",
                                "revision": "main",
                                "backend": backend,
                                "provider": "cuda" if gpu else "cpu",
                                "dtype": "float32",
                                "scheduler": scheduler,
                                "steps": 1 if family == "gan" else 30,
                                "guidance_scale": None if family == "gan" else 7.5,
                                "width": 512,
                                "height": 512,
                                "seed": seed,
                                "status": "ok",
                                "error": None,
                                "image_path": image,
                                "image_sha256": None,  # filled in by write_sweep, from the file it writes
                                "load_s": 3.0 + m_index,
                                "export_s": 20.0 if ort else None,
                                "backend_options": COMPILE_OPTIONS
                                if compiled
                                else ORT_OPTIONS[m_index % 2]
                                if ort
                                else None,
                                # A compiled call per new shape (here: per scheduler), never timed.
                                "compile_s": 40.0 + m_index + more.random()
                                if compiled and first_of_scheduler
                                else None,
                                "batch_size": 1,
                                "latency_s": latency,
                                "denoise_s": latency * 0.9,
                                "step_ms_p50": latency * 1000 / 30,
                                "peak_mem_mb": 2000.0 + 500 * m_index + (300 if ort else 0),
                                "energy_j": None if watts is None else watts * latency,
                                "power_w_mean": watts,
                                "mem_scope": "cuda_allocated" if gpu else "process_rss",
                                "warm": calls > 0,  # the first call after a load is cold
                                "created_at": STARTED_AT + timedelta(seconds=i),
                            }
                        )
                        if categories is not None:
                            gens[-1]["category"] = categories.get(prompt_id)
                        calls += 1
                        clip = clip_mean + (0.004 if scheduler == "ddim" else 0) + 0.04 * (rnd.random() - 0.5)
                        scores.append(_score(cell_id, metric, clip, truncated_tokens=0))
                        if ort:
                            scores.append(_score(cell_id, "psnr_db_vs_pytorch", 38.0 + rnd.random()))
                            scores.append(_score(cell_id, "max_abs_diff_vs_pytorch", 0.01 * rnd.random()))
                        elif compiled:  # closer to eager than ONNX Runtime: the same kernels, fused
                            scores.append(_score(cell_id, "psnr_db_vs_pytorch", 45.0 + more.random()))
                            scores.append(_score(cell_id, "max_abs_diff_vs_pytorch", 0.004 * more.random()))
    run = {
        "run_id": run_id,
        "suite": "synthetic",
        "started_at": STARTED_AT,
        "finished_at": STARTED_AT + timedelta(seconds=len(gens)),
        "command": "synthetic sweep (bench.report.synthetic)",
        "git_commit": "0123abc",
        "python": "3.11.7",
        "platform": "Linux-x86_64",
        "torch": "2.14.1",
        "diffusers": "0.39.0",
        "onnxruntime": "1.32.0",
        "cpu": "Synthetic CPU",
        "cpu_count": 2,
        "ram_gb": 24.0,
    }
    return Sweep(gens, scores, run)


def _score(cell_id: str, metric: str, value: float, **extra) -> dict:
    return {"cell_id": cell_id, "metric": metric, "value": value, "created_at": STARTED_AT, **extra}


def write_sweep(sweep: Sweep, data_dir: Path, images_dir: Path, *, image_px: int = 64) -> int:
    """Write the image of every "ok" row and append the three tables; returns the images written."""
    written: dict[str, str] = {}  # image_path -> sha256
    for row in sweep.generations:
        path = row["image_path"]
        if row["status"] == "ok" and path and path not in written:
            blob = png_bytes(len(written), image_px)
            write_bytes(images_dir / path, blob)
            written[path] = hashlib.sha256(blob).hexdigest()
        row["image_sha256"] = written.get(path)
    statuses = [row["status"] for row in sweep.generations]
    run = {**sweep.run, "images_ok": statuses.count("ok"), "images_failed": len(statuses) - statuses.count("ok")}
    store.append(data_dir, "generations", sweep.generations)
    store.append(data_dir, "scores", sweep.scores)
    store.append(data_dir, "runs", [run])
    return len(written)


def write_dataset(
    data_dir: Path,
    images_dir: Path,
    *,
    prompts: dict[str, str],
    models: dict[str, ModelSpec | tuple],
    seeds: int = 3,
    image_px: int = 64,
    n_images: int | None = None,
    metric: str = "clip_vit_b_32",
    categories: dict[str, str] | None = None,
) -> tuple[Sweep, int]:
    """make_sweep, then write_sweep: the sweep and the number of image files written."""
    sweep = make_sweep(prompts, models, seeds=seeds, n_images=n_images, metric=metric, categories=categories)
    return sweep, write_sweep(sweep, data_dir, images_dir, image_px=image_px)


def copy_site_sources(repo: Path, root: Path) -> Path:
    """Copy the repository's mkdocs.yml and docs folder into `root`, so that data/, images/ and
    public/ land beside them."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(repo / DOCS_DIR, root / DOCS_DIR, dirs_exist_ok=True)
    return root


def mkdocs_build(root: Path, *args: str, importtime: bool = False, timeout_s: float = 600, run=subprocess.run):
    """Run `mkdocs build` on root/mkdocs.yml in a fresh interpreter; returns the CompletedProcess.
    `run` starts it (subprocess.run; the tests fork it from an interpreter that has imported mkdocs)."""
    cmd = [
        sys.executable,
        *(["-X", "importtime"] if importtime else []),
        "-m",
        "mkdocs",
        "build",
        "-f",
        str(root / "mkdocs.yml"),
        *args,
    ]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return run(cmd, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s)
