"""PyTorch against ONNX Runtime: latency p50 of the same pipeline call, same machine, same run.

    python scripts/bench_backends.py                          # tiny SD, 64 and 128 px, CPU
    python scripts/bench_backends.py --full-size --sizes 512  # SD 1.5-sized, random weights

Both backends are the sweep's own (bench.backends), loaded once, with the suite's "auto"
device, provider and dtype (fp16 on CUDA, fp32 on the CPU). After warm-up calls, calls
alternate between the backends, so that other load on the machine hits both alike. Prints a
table; asserts nothing about speed. `--full-size` builds an SD 1.5-sized pipeline with random
weights (offline; about 4 GB in the cache), since no real weights can be fetched here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

from bench.backends.base import Request
from bench.config import Prompt, Suite
from bench.tiny import full_size_sd_path

PROMPT = "A lighthouse on a rocky coast at dusk, oil painting"


def machine() -> str:
    import torch

    from bench.environment import describe

    env = describe()  # after importing torch, so that it names the GPU
    return (
        f"{env['cpu']} ({env['cpu_count']} CPUs), {env['gpu_name'] or 'no GPU'}; torch {env['torch']} "
        f"({torch.get_num_threads()} threads), {env['onnxruntime']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sd", help="model key (default tiny-sd)")
    parser.add_argument("--full-size", action="store_true", help="SD 1.5-sized random weights (as sd15)")
    parser.add_argument("--sizes", default="64,128", help="comma-separated square sizes in pixels")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--scheduler", default="euler-a")
    parser.add_argument("--calls", type=int, default=10, help="timed calls per backend and size")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per backend and size")
    parser.add_argument("--provider", default="auto", help="ONNX Runtime provider: auto, cpu, cuda, tensorrt")
    args, _ = parser.parse_known_args(argv)  # nox passes its posargs to every benchmark script

    import warnings

    from bench.backends import backend_class
    from bench.console import quiet_libraries
    from bench.plan import resolve_runtimes

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The table is the output: no library progress bars, deprecation or tracer warnings.
    quiet_libraries(progress_bars=True)
    warnings.simplefilter("ignore")
    model, overrides = args.model, {}
    if args.full_size:
        model, overrides = "sd15", {"sd15": {"hub_id": str(full_size_sd_path())}}
    suite = Suite(
        name="bench-backends",
        prompts=[Prompt("p", PROMPT)],
        models=[model],
        schedulers=[args.scheduler],
        backends=["pytorch", "onnxruntime"],
        provider=args.provider,
        model_overrides=overrides,
    )
    spec = suite.model_spec(model)
    runtimes = resolve_runtimes(suite, {model: spec})
    backends, loads = {}, {}
    for name in suite.backends:
        backends[name] = backend_class(name, spec.family)(spec, runtimes[(name, spec.family)])
        loads[name] = backends[name].load()
        backends[name].set_scheduler(args.scheduler)

    print(machine())
    print(
        f"model {model}{' (random weights, SD 1.5 size)' if args.full_size else ''}, {args.scheduler}, "
        f"{args.steps} steps, guidance 7.5, batch 1; {args.warmup} warm-up + {args.calls} timed calls each"
    )
    for name, load in loads.items():
        print(
            f"  {name:<12} provider {load.provider}, {load.dtype}, load {load.load_s:.1f} s, "
            f"export {load.export_s:.1f} s"
        )
    header = (
        f"{'size':>6} {'pytorch p50 ms':>15} {'ort p50 ms':>11} {'pytorch/ort':>12} "
        f"{'step p50 ms (pt/ort)':>21} {'max |diff|':>11}"
    )
    print(header + "\n" + "-" * len(header))
    for size in [int(s) for s in args.sizes.split(",")]:
        latency = {name: [] for name in backends}
        steps = {name: [] for name in backends}
        pixels = {}
        for call in range(args.warmup + args.calls):
            for name, backend in backends.items():
                request = Request(PROMPT, "", (call,), args.steps, 7.5, size, size)
                result = backend.generate(request)
                if call >= args.warmup:
                    latency[name].append(result.latency_s * 1000)
                    steps[name].append(result.step_ms_p50 or float("nan"))
                image = result.images[0].image
                pixels[name] = None if image is None else np.asarray(image, dtype=np.int16)
        pt, ort = (statistics.median(latency[n]) for n in ("pytorch", "onnxruntime"))
        step_pt, step_ort = (statistics.median(steps[n]) for n in ("pytorch", "onnxruntime"))
        # the last seed's pair of images: the same noise, so they should agree
        if any(p is None for p in pixels.values()):
            diff = "nan image"
        else:
            diff = f"{np.abs(pixels['pytorch'] - pixels['onnxruntime']).max() / 255:.4f}"
        print(f"{size:>6} {pt:>15.1f} {ort:>11.1f} {pt / ort:>11.2f}x {step_pt:>10.1f} / {step_ort:<8.1f} {diff:>11}")
    for backend in backends.values():
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
