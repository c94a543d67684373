"""Synthetic sweep outputs for the site's tests and its build benchmark.

`write_dataset` writes the three tables through bench.store (the real writer) and small PNG
images made with Pillow. The default is the test fixture: several prompts (one hostile), models
(one GAN without a scheduler), schedulers, both backends, a failed row and a missing image.
Values are deterministic, and latencies straddle 10 s so that sorting them as text would be wrong.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import store

SEED_PROMPTS = {
    "futuristic-city": "A futuristic city in the clouds where houses are made of crystals and glowing plants.",
    "abandoned-park": "An abandoned amusement park where nature has taken over, and trees wrap around carousels.",
}
HOSTILE_ID = "hostile"
HOSTILE_PROMPT = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> | a | b | '
    "*bold* _em_ [x](javascript:alert(1)) {{ config.site_name }} {% raw %} &amp; " + "averyveryverylongword" * 60
)
# model -> (family, schedulers, backends, latency scale in s, mean CLIP)
MODELS = {
    "sd15": ("sd", ["euler-a", "ddim"], ["pytorch", "onnxruntime"], 2.0, 0.31),
    "sd21-base": ("sd", ["euler-a", "ddim"], ["pytorch", "onnxruntime"], 9.7, 0.33),
    "dalle3-xl": ("sdxl", ["euler-a"], ["pytorch"], 14.0, 0.35),
    "biggan-deep-256": ("gan", [None], ["pytorch"], 0.05, 0.22),
}


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


def write_dataset(
    data_dir: Path,
    images_dir: Path,
    *,
    prompts: dict[str, str] | None = None,
    models: dict | None = None,
    seeds: int = 3,
    image_px: int = 64,
    n_images: int | None = None,
    metric: str = "clip_vit_b_32",
    faults: bool = True,
) -> Written:
    """Write generations, scores and runs (plus images) for every cell of the grid.

    n_images: the number of distinct image files; rows beyond it reuse them (for big benchmarks).
    faults: add one failed row and one "ok" row whose image file is missing.
    """
    prompts = dict(prompts or {**SEED_PROMPTS, HOSTILE_ID: HOSTILE_PROMPT})
    models = models or MODELS
    rnd = random.Random(0)
    t0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    out = Written(prompts=prompts)
    gens, scores = [], []
    written: dict[str, str] = {}  # image_path -> sha256
    for m_index, (model, (family, schedulers, backends, lat, quality)) in enumerate(models.items()):
        for backend in backends:
            calls = 0
            for scheduler in schedulers:
                for prompt_id, prompt in prompts.items():
                    for seed in range(seeds):
                        i = len(gens)
                        cell_id = hashlib.sha256(
                            f"{model}|{backend}|{scheduler}|{prompt_id}|{seed}".encode()
                        ).hexdigest()[:16]
                        key = i if n_images is None else i % n_images
                        image_path = f"{model}/{key:06d}.png" if n_images is None else f"shared/{key:06d}.png"
                        status, error = "ok", None
                        if (
                            faults
                            and model == "sd15"
                            and backend == "pytorch"
                            and scheduler == "ddim"
                            and prompt_id == "futuristic-city"
                            and seed == 1
                        ):
                            status, error, image_path = "failed", "CUDA out of memory (synthetic)", None
                            out.failed_cell = cell_id
                        if image_path and image_path not in written:
                            if (
                                faults
                                and out.missing_image is None
                                and model == "sd21-base"
                                and backend == "pytorch"
                                and seed == 0
                            ):
                                out.missing_image = image_path
                                written[image_path] = "0" * 64  # recorded, but the file is absent
                            else:
                                blob = png_bytes(key, image_px)
                                dest = images_dir / image_path
                                dest.parent.mkdir(parents=True, exist_ok=True)
                                dest.write_bytes(blob)
                                written[image_path] = hashlib.sha256(blob).hexdigest()
                        ort = backend == "onnxruntime"
                        latency = lat * (0.8 if ort else 1.0) * (1 + 0.1 * rnd.random())
                        gens.append(
                            {
                                "run_id": out.run_id,
                                "cell_id": cell_id,
                                "prompt_id": prompt_id,
                                "prompt": prompt,
                                "model": model,
                                "family": family,
                                "hub_id": f"org/{model}",
                                "revision": "main",
                                "backend": backend,
                                "provider": "cpu",
                                "dtype": "float32",
                                "scheduler": scheduler,
                                "steps": 1 if family == "gan" else 30,
                                "guidance_scale": None if family == "gan" else 7.5,
                                "width": 512,
                                "height": 512,
                                "seed": seed,
                                "status": status,
                                "error": error,
                                "image_path": image_path,
                                "image_sha256": written.get(image_path) if image_path else None,
                                "load_s": 3.0 + m_index,
                                "export_s": 20.0 if ort else None,
                                "batch_size": 1,
                                "latency_s": latency if status == "ok" else None,
                                "denoise_s": latency * 0.9 if status == "ok" else None,
                                "step_ms_p50": latency * 1000 / 30 if status == "ok" else None,
                                "peak_mem_mb": 2000.0 + 500 * m_index + (300 if ort else 0),
                                "mem_scope": "process_rss",
                                "warm": calls > 0,
                                "created_at": t0 + timedelta(seconds=i),
                            }
                        )
                        calls += 1
                        if status == "ok":
                            clip = quality + (0.004 if scheduler == "ddim" else 0) + 0.04 * (rnd.random() - 0.5)
                            if image_path == out.missing_image:
                                clip += 0.1  # the best of its cell, so the grid shows the placeholder
                            truncated = 12 if prompt_id == HOSTILE_ID else 0
                            scores.append(
                                {
                                    "cell_id": cell_id,
                                    "metric": metric,
                                    "value": clip,
                                    "truncated_tokens": truncated,
                                    "created_at": t0,
                                }
                            )
                            if ort:
                                scores.append(
                                    {
                                        "cell_id": cell_id,
                                        "metric": "psnr_db_vs_pytorch",
                                        "value": 38.0 + rnd.random(),
                                        "created_at": t0,
                                    }
                                )
                                scores.append(
                                    {
                                        "cell_id": cell_id,
                                        "metric": "max_abs_diff_vs_pytorch",
                                        "value": 0.01 * rnd.random(),
                                        "created_at": t0,
                                    }
                                )
    store.append(data_dir, "generations", gens)
    store.append(data_dir, "scores", scores)
    store.append(
        data_dir,
        "runs",
        [
            {
                "run_id": out.run_id,
                "suite": "fixture",
                "started_at": t0,
                "finished_at": t0 + timedelta(seconds=len(gens)),
                "command": "bench run --suite fixture <not a tag>",
                "git_commit": "0123abc",
                "python": "3.11.7",
                "platform": "Linux-x86_64",
                "torch": "2.14.1",
                "diffusers": "0.39.0",
                "onnxruntime": "1.32.0",
                "cpu": "Synthetic CPU",
                "cpu_count": 2,
                "ram_gb": 24.0,
                "images_ok": sum(g["status"] == "ok" for g in gens),
                "images_failed": sum(g["status"] != "ok" for g in gens),
            }
        ],
    )
    out.rows = len(gens)
    out.images = sum(1 for p, s in written.items() if p != out.missing_image)
    out.cells = gens
    return out


REPO = Path(__file__).resolve().parents[1]


def copy_site_sources(root: Path) -> Path:
    """Copy mkdocs.yml and site/ into `root`, so that data/, images/ and public/ land beside them."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "site", root / "site", dirs_exist_ok=True)
    return root


def mkdocs_build(root: Path, *args: str, importtime: bool = False):
    """Run `mkdocs build` on root/mkdocs.yml in a fresh interpreter; returns the CompletedProcess."""
    import os
    import subprocess
    import sys

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
    return subprocess.run(cmd, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=600)
