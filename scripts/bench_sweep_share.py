"""The sweep's own overhead without a GPU: the share of a sweep's wall time spent generating when
each call takes as long as it does on a GPU.

The sweep runs with its real writer, hashing, Parquet, claims, compaction and run record, but the
model is a stand-in that waits `--call-s` seconds per call (the wait releases the GIL, as a
CUDA synchronise does) and returns `--px` pixel images of noise, which compress like photographs
at worst. Torch and diffusers are imported first, as a GPU sweep has them imported by its load,
which this share leaves out. So whatever is not generation here is the harness's own cost; on a
GPU, the difference from this figure is the GPU's (kernel launches competing with the writer
thread for the GIL, synchronisation).

    python scripts/bench_sweep_share.py [--call-s 1.25] [--px 512] [--profile]

Defaults: the H200's figure for a call of 4 images of full-size SD 1.5 at 512 px and 30 steps
(about 1.25 s), 3 schedulers x 2 prompts x 8 seeds in batches of 4, as scripts/bench_gpu.py's
sweep. Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--call-s", type=float, default=1.25, help="seconds each call of 4 images waits")
    parser.add_argument("--px", type=int, default=512, help="image size")
    parser.add_argument("--profile", action="store_true", help="print where the time outside generation went")
    args, _ = parser.parse_known_args(argv)  # nox passes its posargs to every benchmark script
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bench.console import quiet_libraries

    # Imports diffusers before the clock starts, as a GPU sweep's load has done, and quietly.
    quiet_libraries(progress_bars=True)
    import numpy as np
    from PIL import Image

    from bench import backends, store, sweep
    from bench.backends.base import Backend, CallResult, Generated, LoadInfo
    from bench.config import Prompt, Suite

    eager = backends.IMPLEMENTATIONS[("pytorch", "sd")]

    class Waiting(Backend):
        """A model whose calls wait as long as a GPU's do."""

        @classmethod
        def resolve(cls, asked):
            return eager.resolve(asked)

        def load(self) -> LoadInfo:
            return LoadInfo(load_s=0.0, dtype="float32", provider="cpu")

        def generate(self, request) -> CallResult:
            started = time.perf_counter()
            time.sleep(args.call_s * len(request.seeds) / 4)
            rng = np.random.default_rng(request.seeds[0])
            shape = (request.height, request.width, 3)
            images = [Generated(Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))) for _ in request.seeds]
            return CallResult(images, (time.perf_counter() - started) / len(request.seeds))

    # The stand-in takes the place of eager PyTorch for this process only.
    backends.IMPLEMENTATIONS[("pytorch", "sd")] = Waiting
    suite = Suite(
        name="sweep-share",
        prompts=[Prompt("a", "A lighthouse on a rocky coast at dusk"), Prompt("b", "A bowl of ramen, studio photo")],
        models=["tiny-sd"],
        schedulers=["euler-a", "euler", "ddim"],
        seeds="0-7",
        steps=30,
        width=args.px,
        height=args.px,
        batch_size=4,
        metrics=["clip_tiny"],
    )
    profile = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        profile.enable()
        sweep.run(suite, Path(tmp) / "data", Path(tmp) / "images", score=False)
        profile.disable()
        span = time.perf_counter() - started
        gen = store.read(Path(tmp) / "data", "generations")
    generating = float(gen["latency_s"].sum())  # each row: its call's wall time / images in the call
    print(
        f"sweep of {len(gen)} images of {args.px} px, calls of {args.call_s:.2f} s per 4 images: {span:.2f} s wall, "
        f"{generating:.2f} s generating: {generating / span:.1%}; the harness's own {span - generating:.2f} s"
    )
    if args.profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
