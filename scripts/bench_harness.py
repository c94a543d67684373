"""Harness overhead: `bench`'s sweep against a bare diffusers loop making the same images.

Both sides load tiny SD once, swap schedulers in place, make the same seeds in the same batches
with the same CPU generators, and write PNGs; the harness also times every call, hashes and
records every image in Parquet. Scoring is left out of both (it is a separate pass). Runs
alternate between the two sides and the median of the repeats is reported. Prints figures;
asserts nothing about speed.

    python scripts/bench_harness.py [--size 64] [--steps 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

SCHEDULERS = ["euler-a", "euler", "ddim", "dpmpp-2m"]
PROMPTS = ["a lighthouse on a rocky coast at dusk", "a bowl of ramen, studio photo"]
SEEDS = [0, 1, 2, 3]


def suite_toml(size: int, steps: int) -> str:
    prompts = "".join(f'[[prompts]]\nid = "p{i}"\ntext = "{p}"\n' for i, p in enumerate(PROMPTS))
    return (
        f'name = "harness"\nmodels = ["tiny-sd"]\nschedulers = {SCHEDULERS!r}\nseeds = "0-3"\n'
        f'batch_size = 4\nsteps = {steps}\nwidth = {size}\nheight = {size}\nmetrics = ["clip_tiny"]\n' + prompts
    ).replace("'", '"')


def run_harness(suite_path: Path, out: Path) -> tuple[float, int]:
    from bench import sweep
    from bench.config import load_suite

    suite = load_suite(str(suite_path))
    started = time.perf_counter()
    # Scoring is a separate pass (bench score), left out of both sides.
    report = sweep.run(suite, out / "data", out / "images", score=False)
    return time.perf_counter() - started, report.ok


def run_bare(size: int, steps: int, out: Path) -> tuple[float, int]:
    import diffusers
    import torch

    from bench.schedulers import SCHEDULERS as REGISTRY
    from bench.tiny import tiny_path

    started = time.perf_counter()
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(str(tiny_path("tiny-sd")), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    base = pipe.scheduler.config
    n = 0
    for name in SCHEDULERS:
        spec = REGISTRY[name]
        pipe.scheduler = getattr(diffusers, spec.class_name).from_config(base, **spec.overrides)
        for i, prompt in enumerate(PROMPTS):
            generators = [torch.Generator("cpu").manual_seed(s) for s in SEEDS]
            with torch.inference_mode():
                images = pipe(
                    prompt=[prompt] * len(SEEDS),
                    num_inference_steps=steps,
                    guidance_scale=7.5,
                    width=size,
                    height=size,
                    generator=generators,
                ).images
            for seed, image in zip(SEEDS, images):
                image.save(out / f"{name}-{i}-{seed}.png")
                n += 1
    return time.perf_counter() - started, n


def digests(folder: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.png")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bench.console import quiet_libraries
    from bench.tiny import tiny_path

    quiet_libraries(progress_bars=True)
    tiny_path("tiny-sd")  # build outside the timed region
    harness_ips, bare_ips = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        suite_path = tmp / "harness.toml"
        suite_path.write_text(suite_toml(args.size, args.steps))
        (tmp / "warmup").mkdir()
        run_bare(args.size, 2, tmp / "warmup")  # first-call costs (allocator, kernels) off the clock
        for r in range(args.repeats):
            (tmp / f"bare{r}").mkdir()
            seconds, n = run_bare(args.size, args.steps, tmp / f"bare{r}")
            bare_ips.append(n / seconds)
            seconds, n = run_harness(suite_path, tmp / f"harness{r}")
            harness_ips.append(n / seconds)
        same = digests(tmp / "bare0") == digests(tmp / "harness0" / "images")
    h, b = statistics.median(harness_ips), statistics.median(bare_ips)
    print(
        f"tiny SD {args.size}px, {args.steps} steps, {len(SCHEDULERS)} schedulers x {len(PROMPTS)} prompts x "
        f"{len(SEEDS)} seeds (batch 4), CPU, {args.repeats} alternating repeats, load included"
    )
    print(f"  bare diffusers loop : {b:6.2f} images/s  (runs: {', '.join(f'{x:.2f}' for x in bare_ips)})")
    print(f"  bench harness       : {h:6.2f} images/s  (runs: {', '.join(f'{x:.2f}' for x in harness_ips)})")
    print(f"  harness / bare      : {h / b:6.1%}   (target >= 95%)")
    print(f"  identical images    : {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
