"""Scale-out: the tiny suite on a local Ray cluster with 1 and 2 workers, side by side, and a
projection to 8 GPUs from measured per-image latencies and load times.

The measured part runs the same suite three ways into fresh folders: one plain process
(`bench run`), Ray with 1 worker (both cores), Ray with 2 workers (a core each). The projection
replays the driver's own dispatch policy (units largest first, a worker prefers a model it has
loaded, two models kept per worker) over a plan, with each cell's time taken from measured
latencies. It is checked first against the 2-worker run it can be compared with, then applied
to the PartiPrompts study with the H200 figures measured by scripts/bench_gpu.py on 2026-11-27.
Prints figures; asserts nothing about speed.

    python scripts/bench_scaleout.py [--seeds 0-1] [--skip-measure]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import OrderedDict, deque
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# H200, full-size SD 1.5 architecture, fp16, 512 px, 30 steps, batch 4 (../shared/notes and the
# session note of 2026-11-27): seconds per image and one-off seconds per (worker, model).
H200_S_PER_IMAGE = {
    "pytorch": 0.967 / 4,
    "pytorch-compile": 0.967 / 4 * 0.527 / 0.792,
    "onnxruntime": 0.967 / 4 * 687 / 941,
}
H200_LOAD_S = {"pytorch": 3.7, "pytorch-compile": 3.7 + 54.0, "onnxruntime": 3.7 + 27.0}


def simulate(cells, workers: int, seconds_per_cell, load_s, unit_cells: int, keep_models: int = 2):
    """Makespan (s) and model loads of the Ray driver's dispatch over `cells`."""
    from bench.ray_driver import units_of

    queue = deque(units_of(cells, unit_cells))
    free_at = [0.0] * workers
    loaded = [OrderedDict() for _ in range(workers)]
    loads = 0
    while queue:
        w = min(range(workers), key=lambda i: (free_at[i], i))  # the next worker to go idle
        unit = next((u for u in queue if u.group in loaded[w]), queue[0])
        queue.remove(unit)
        t = sum(seconds_per_cell(c) for c in unit.cells)
        if unit.group in loaded[w]:
            loaded[w].move_to_end(unit.group)
        else:
            t += load_s(unit.cells[0])
            loads += 1
            loaded[w][unit.group] = True
            if len(loaded[w]) > keep_models:
                loaded[w].popitem(last=False)
        free_at[w] += t
    return max(free_at), loads


def measure(seeds: str) -> None:
    from bench import ray_driver, store, sweep
    from bench.config import load_suite

    suite = load_suite("tiny", {"backends": "pytorch", "seeds": seeds, "metrics": "clip_tiny"})
    print(f"tiny suite, PyTorch, seeds {seeds}: {len(suite.models)} models x {len(suite.schedulers)} schedulers")
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, go in [
            ("one process (bench run)", lambda d: sweep.run(suite, d / "data", d / "images", score=False)),
            (
                "Ray, 1 worker x 2 cores",
                lambda d: ray_driver.run(suite, d / "data", d / "images", workers=1, score=False),
            ),
            (
                "Ray, 2 workers x 1 core",
                lambda d: ray_driver.run(suite, d / "data", d / "images", workers=2, score=False),
            ),
        ]:
            out = Path(tmp) / name.split(",")[0].replace(" ", "_") / str(len(walls))
            started = time.perf_counter()
            report = go(out)
            walls[name] = time.perf_counter() - started
            print(
                f"  {name:<26} {walls[name]:7.1f} s wall for {report.ok} images ({report.ok / walls[name]:.2f} images/s)"
            )
            if "2 workers" in name:
                gen = store.read(out / "data", "generations")
        one, two = walls["Ray, 1 worker x 2 cores"], walls["Ray, 2 workers x 1 core"]
        print(f"  speed-up of 2 workers over 1: {one / two:.2f}x (Ray start-up and model loads included)")
        # The simulator against that run: per-cell latency and per-model load as measured there.
        lat = gen.groupby("model")["latency_s"].median().to_dict()
        load = gen.groupby("model")["load_s"].median().to_dict()
        from bench.plan import make_plan

        with tempfile.TemporaryDirectory() as empty:
            cells = make_plan(suite, Path(empty)).cells
        span, loads = simulate(cells, 2, lambda c: lat[c.model], lambda c: load[c.model], 4 * suite.batch_size)
        print(f"  the dispatch replayed with those latencies: {span:.1f} s of work per worker, {loads} model loads")


def project(workers: int) -> None:
    from bench.config import load_suite
    from bench.plan import cells_for
    from bench.runtime import Runtime
    from bench.shard import cell_cost

    suite = load_suite("parti", {"backends": "pytorch,pytorch-compile,onnxruntime", "seeds": "0-3"})
    suite = suite.model_copy(update={"schedulers": ["euler-a", "euler", "ddim"]})
    specs = {k: suite.model_spec(k) for k in suite.models}
    gpu = Runtime("cuda", "float16", "cuda")
    cells, _ = cells_for(suite, specs, {(b, f): gpu for b in suite.backends for f in ("sd", "sdxl", "gan")})
    # SD 1.5's figures scaled by each cell's steps x pixels (an SDXL image at 1024 px is 4x).
    per_cell = lambda c: H200_S_PER_IMAGE[c.backend] * cell_cost(c) / 30  # noqa: E731 (cost of 30 steps at 512 px = 30)
    load = lambda c: H200_LOAD_S[c.backend]  # noqa: E731
    serial = sum(per_cell(c) for c in cells)
    print(
        f"projection, PartiPrompts x {len(suite.models)} models x 3 schedulers x 4 seeds x 3 backends = "
        f"{len(cells):,} images, H200 figures:"
    )
    for n in (1, workers):
        span, loads = simulate(cells, n, per_cell, load, 4 * suite.batch_size)
        print(
            f"  {n} GPU{'s' if n > 1 else ' '}: {span / 3600:6.1f} h ({loads} model loads; "
            f"generation alone {serial / n / 3600:.1f} h; efficiency {serial / n / span:.0%})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-1", help="seeds of the measured tiny sweep")
    parser.add_argument("--workers", type=int, default=8, help="GPUs of the projection")
    parser.add_argument("--skip-measure", action="store_true", help="only the projection")
    args = parser.parse_args()
    if not args.skip_measure:
        measure(args.seeds)
    project(args.workers)


if __name__ == "__main__":
    main()
