"""Time `mkdocs build` of the report site on a synthetic sweep: first build, then a rebuild.

    python scripts/bench_site_build.py [--rows 20000] [--images 2000] [--image-px 512] [--keep DIR]
    python scripts/bench_site_build.py --parti [--keep DIR]     # PartiPrompts-sized: see PARTI

With --keep DIR the folder is kept, and a later run reuses the dataset it holds (the
thumbnail and chart caches are emptied first, so the first build is still a cold one).

The dataset (bench.report.synthetic) is 13 prompts x 10 models x 5 schedulers x 3 backends
(eager, compiled, ONNX Runtime) x 10 seeds = 19,500 generations rows (--rows 20000) pointing at
2,000 distinct PNG files. The first build
starts with empty thumbnail and chart caches; the rebuild finds them filled, which is the
everyday case (`mkdocs serve`, CI with the cache restored). Each build is the real
command line in a fresh interpreter, so imports are counted. Wall time is what a person waits;
CPU time (user + system of the build process) is printed beside it because it does not grow
when other work shares the machine. Targets on a 2-core machine: first build under 60 s,
rebuild under 15 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.report.synthetic import ModelSpec, copy_site_sources, mkdocs_build, write_dataset

REPO = Path(__file__).resolve().parents[1]
SCHEDULERS = ["euler-a", "euler", "ddim", "dpmpp-2m", "pndm"]
# A PartiPrompts sweep: 1,632 prompts x 5 models x 4 schedulers x 3 backends x 2 seeds = 195,840
# generations rows pointing at 20,000 distinct images. Targets: first build under 5 minutes,
# rebuild under 30 s, and a prompt page whose size does not grow with the number of prompts.
PARTI = {"prompts": 1632, "models": 5, "schedulers": 4, "seeds": 2, "images": 20_000, "image_px": 256}


def synthetic_grid(rows: int) -> tuple[dict, dict, int]:
    """Prompts and models for a grid of about `rows` rows (10 seeds per cell)."""
    models = {
        f"model-{k:02d}": ModelSpec(
            "sd", SCHEDULERS, ["pytorch", "pytorch-compile", "onnxruntime"], 0.5 + k, 0.25 + 0.01 * k
        )
        for k in range(10)
    }
    n_prompts = max(1, rows // (len(models) * len(SCHEDULERS) * 3 * 10))
    prompts = {
        f"prompt-{k:02d}": f"Prompt {k}: a lighthouse on a cliff at dusk, oil painting, " * 3 for k in range(n_prompts)
    }
    return prompts, models, 10


def parti_grid() -> tuple[dict, dict, int]:
    models = {
        f"model-{k:02d}": ModelSpec(
            "sd",
            SCHEDULERS[: PARTI["schedulers"]],
            ["pytorch", "pytorch-compile", "onnxruntime"],
            0.5 + k,
            0.25 + 0.01 * k,
        )
        for k in range(PARTI["models"])
    }
    prompts = {
        f"parti-{k:04d}": f"Parti prompt {k}: a raccoon wearing a tuxedo, oil painting" for k in range(PARTI["prompts"])
    }
    return prompts, models, PARTI["seeds"]


def page_sizes(public: Path) -> str:
    """The prompt pages' sizes (median and largest) and the biggest page of the site."""
    prompt_pages = sorted(p.stat().st_size for p in (public / "prompts").glob("*/index.html"))
    pages = sorted((p.stat().st_size, p) for p in public.rglob("*.html"))
    html_mb = sum(size for size, _ in pages) / 1e6
    median = prompt_pages[len(prompt_pages) // 2] / 1e3 if prompt_pages else 0
    largest = prompt_pages[-1] / 1e3 if prompt_pages else 0
    big, where = pages[-1] if pages else (0, public)
    return (
        f"HTML {html_mb:.0f} MB; prompt pages: median {median:.0f} KB, largest {largest:.0f} KB; "
        f"largest page {big / 1e3:.0f} KB ({where.relative_to(public)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--image-px", type=int, default=512)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it (default: a temporary folder)")
    parser.add_argument("--parti", action="store_true", help="a PartiPrompts-sized sweep (PARTI); ignores --rows")
    args = parser.parse_args()
    if args.parti:
        args.images, args.image_px = PARTI["images"], PARTI["image_px"]

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-site-"))
    try:
        copy_site_sources(REPO, root)
        prompts, models, seeds = parti_grid() if args.parti else synthetic_grid(args.rows)
        if (root / "data" / "generations").is_dir():
            shutil.rmtree(root / ".cache", ignore_errors=True)  # thumbnails and charts: a cold first build
            print(f"dataset: reusing {root / 'data'}")
        else:
            t0 = time.perf_counter()
            sweep, images = write_dataset(
                root / "data", root / "images", prompts=prompts, models=models, seeds=seeds,
                image_px=args.image_px, n_images=args.images,
            )  # fmt: skip
            print(
                f"dataset: {len(sweep.generations)} generations rows, {images} images of {args.image_px} px, {len(prompts)} prompts ({time.perf_counter() - t0:.1f} s to write, not timed below)"
            )
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}"
        )
        for label in ("first build (empty caches)", "rebuild (thumbnails and charts cached)"):
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = mkdocs_build(root, "--strict")
            seconds = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            print(f"{label}: {seconds:.1f} s wall, {cpu:.1f} s CPU")
        pages = len(list((root / "public").rglob("*.html")))
        size_mb = sum(p.stat().st_size for p in (root / "public").rglob("*") if p.is_file()) / 1e6
        print(f"site: {pages} HTML pages, {size_mb:.0f} MB in {root / 'public'}")
        print(f"pages: {page_sizes(root / 'public')}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
