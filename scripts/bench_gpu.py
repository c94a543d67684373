"""The GPU benchmark: the sweep's own backends against bare diffusers calls, on one GPU, in a few
minutes, with the full-size SD 1.5 architecture (random weights, built offline; timings depend
on the architecture, not the weights).

    python scripts/bench_gpu.py                 # on a GPU: 512 px, 30 steps, euler-a
    python scripts/bench_gpu.py --tiny          # the tiny SD instead (a quick check on a CPU)

It prints, each side measured in this run on this machine, calls alternating between the sides
after untimed warm-up calls, in this order (surest first: a line prints as soon as it is known, so
a capped run that a long max-autotune compile cuts short keeps the rest):
- the harness (bench's PyTorch backend, with its per-step clock) against a bare pipeline call;
- energy per image (NVML), where the GPU has the counter;
- the share of a whole sweep's wall time spent generating (3 schedulers x 2 prompts x 8 seeds,
  batch 4: the harness's writer, hashing and Parquet included);
- ONNX Runtime on the same device, where this onnxruntime build has its provider: the plain
  export and ORT's optimized graph (its Stable Diffusion fusions), each against eager;
- torch.compile (the pytorch-compile backend) against eager, its compile time, and the harness
  against a bare call of the same compiled pipeline; then each ORT graph against compiled.
Each of ORT's graphs and the compiled pipeline also prints its image's PSNR against eager's for
the same seed (bench.parity), so a speed-up never stands for a different computation.
CLIP scoring's own figures come from scripts/bench_scoring.py. Asserts nothing about speed.

    python scripts/bench_gpu.py --prepare       # times nothing: makes the CPU-only parts ahead

`--prepare` builds the model and ORT's optimized graphs for this machine's race (on the full-size
UNet, about 3 min of single-threaded Python and 18 GB of RAM) into $BENCH_CACHE, tracing on the
CPU, so that a GPU run started after it finds them cached. scripts/gpu_checks.sh runs it in the
background while its other steps use the GPU, and lets the race start only once it has ended.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "A lighthouse on a rocky coast at dusk, oil painting"


def bare_call(pipe, request, device: str) -> float:
    """The same call the harness makes, without its per-step clock, timed the same way."""
    import torch

    generators = [torch.Generator("cpu").manual_seed(s) for s in request.seeds]
    n = len(request.seeds)
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    with torch.inference_mode():
        pipe(
            prompt=[request.prompt] * n,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            width=request.width,
            height=request.height,
            generator=generators,
            output_type="np",
        )
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def race(sides: dict, calls: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per image of each side's calls, alternating sides after untimed warm-ups."""
    times = {name: [] for name in sides}
    for i in range(warmup + calls):
        for name, call in sides.items():
            seconds = call()
            if i >= warmup:
                times[name].append(seconds)
    return times


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def parity(call, reference) -> str:
    """PSNR of a call's first image against eager's for the same seed: a faster graph that
    computes something else would be no win."""
    import numpy as np

    from bench.parity import psnr_db

    image = call.images[0].image
    if image is None or reference is None:
        return "PSNR vs eager: no image to compare (non-finite pixels)"
    return f"PSNR vs eager {psnr_db(np.asarray(image), np.asarray(reference)):.1f} dB"


def sweep_share(model: str, overrides: dict, steps: int, px: int) -> str:
    """Share of a sweep's wall time spent inside generation calls."""
    from bench import store, sweep
    from bench.config import Prompt, Suite

    suite = Suite(
        name="gpu-share",
        prompts=[Prompt("a", PROMPT), Prompt("b", "A bowl of ramen, studio photo")],
        models=[model],
        schedulers=["euler-a", "euler", "ddim"],
        seeds="0-7",
        steps=steps,
        width=px,
        height=px,
        batch_size=4,
        model_overrides=overrides,
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        sweep.run(suite, Path(tmp) / "data", Path(tmp) / "images", score=False)
        span = time.perf_counter() - started
        gen = store.read(Path(tmp) / "data", "generations")
    generating = float(gen["latency_s"].sum())  # each row: its call's wall time / images in the call
    load = float(gen.groupby("model")["load_s"].first().sum())
    return (
        f"sweep of {len(gen)} images: {span:.1f} s wall, {generating:.1f} s in generation calls, load {load:.1f} s: "
        f"{generating / span:.0%} generating ({generating / (span - load):.0%} leaving out the load)"
    )


def race_ort(spec, device: str, dtype: str, request, eager, reference, args) -> dict[str, float]:
    """ms/image of ONNX Runtime's plain export and of its optimized graph (ORT's own Stable
    Diffusion fusions, fp16 on CUDA), each raced against eager in its own run."""
    import onnxruntime

    from bench.backends.onnxruntime import OrtBackend
    from bench.runtime import Runtime

    if device == "cuda" and "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        print(f"ONNX Runtime: skipped, this build ({onnxruntime.__version__}) has no CUDAExecutionProvider")
        return {}
    ms = {}
    for graph, options in [("plain", ""), ("optimized", json.dumps({"optimize": True}))]:
        ort = OrtBackend(spec, OrtBackend.resolve(Runtime(device, dtype, options=options)))
        info = ort.load()
        ort.set_scheduler("euler-a")
        times = race(
            {
                "ort": lambda ort=ort: ort.generate(request).latency_s,
                "harness eager": lambda: eager.generate(request).latency_s,
            },
            args.calls,
            args.warmup,
        )
        o, e = median_ms(times["ort"]), median_ms(times["harness eager"])
        print(
            f"ONNX Runtime {graph} ({info.provider}, export and optimize {info.export_s:.0f} s, {info.options}): "
            f"{o:.1f} ms/image vs eager {e:.1f}: {e / o:.2f}x; {parity(ort.generate(request), reference)}",
            flush=True,
        )
        ms[graph] = o
        ort.close()
    return ms


def prepare(spec, device: str, dtype: str) -> None:
    """Makes the race's ORT optimized graphs (and the fp32 export they come from) on the CPU."""
    from bench.backends.onnxruntime import OrtBackend
    from bench.runtime import Runtime

    runtime = OrtBackend.resolve(Runtime(device, dtype, options=json.dumps({"optimize": True})))
    path, seconds = OrtBackend(spec, runtime).graphs(trace_on="cpu")
    print(f"prepare: ORT's optimized graphs for {runtime.provider} {dtype} in {seconds:.0f} s: {path}", flush=True)


def race_compiled(spec, device: str, dtype: str, request, eager, reference, args) -> float:
    """ms/image of the pytorch-compile backend, raced against a bare call of the same compiled
    pipeline and against eager; prints its compile time and energy."""
    from bench.backends.compiled import CompiledBackend
    from bench.runtime import Runtime

    compiled = CompiledBackend(
        spec, CompiledBackend.resolve(Runtime(device, dtype, device, options=json.dumps({"mode": args.mode})))
    )
    compiled.load()
    compiled.set_scheduler("euler-a")
    print(f"torch.compile ({compiled.runtime.option('mode')}): compiling, from {time.strftime('%H:%M:%S')}", flush=True)
    first = compiled.generate(request)
    n = len(request.seeds)
    times = race(
        {
            "bare compiled": lambda: bare_call(compiled.pipe, request, device) / n,
            "harness compiled": lambda: compiled.generate(request).latency_s,
            "harness eager": lambda: eager.generate(request).latency_s,
        },
        args.calls,
        args.warmup,
    )
    c_bare, c_harness, e_harness = (median_ms(times[k]) for k in ("bare compiled", "harness compiled", "harness eager"))
    print(
        f"torch.compile ({compiled.runtime.option('mode')}): compile {first.compile_s:.1f} s; "
        f"{c_harness:.1f} ms/image vs eager {e_harness:.1f}: {e_harness / c_harness:.2f}x faster; "
        f"harness at {c_bare / c_harness:.1%} of a bare compiled call"
    )
    last = compiled.generate(request)
    print(f"torch.compile: {parity(last, reference)}")
    if last.energy_j is not None:
        print(f"energy: compiled {last.energy_j:.1f} J/image")
    compiled.close()
    return c_harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny SD at 64 px (a quick check anywhere)")
    parser.add_argument("--steps", type=int, default=None, help="default: 30 (full size), 4 (tiny)")
    parser.add_argument("--calls", type=int, default=6, help="timed calls per side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per side")
    parser.add_argument("--batch", type=int, default=1, help="images per call")
    parser.add_argument(
        "--mode", default="auto", help="torch.compile mode (auto: the backend's default for the device)"
    )
    parser.add_argument(
        "--prepare", action="store_true", help="time nothing: make the model and ORT's optimized graphs, on the CPU"
    )
    args, _ = parser.parse_known_args(argv)  # nox passes its posargs to every benchmark script
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from bench.backends.base import Request
    from bench.backends.pytorch import DiffusersBackend
    from bench.console import quiet_libraries
    from bench.models import MODELS
    from bench.runtime import Runtime
    from bench.tiny import full_size_sd_path

    quiet_libraries(progress_bars=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.tiny:
        print("bench_gpu: no GPU here; the full-size run is for a GPU (--tiny checks the script anywhere)")
        return 0
    dtype = "float16" if device == "cuda" else "float32"
    if args.tiny:
        model, overrides, px, steps = "tiny-sd", {}, 64, args.steps or 4
    else:
        started = time.perf_counter()
        model, px, steps = "sd15", 512, args.steps or 30
        overrides = {"sd15": {"hub_id": str(full_size_sd_path())}}
        if args.prepare:
            print(f"prepare: full-size SD 1.5 architecture in {time.perf_counter() - started:.0f} s", flush=True)
    spec = MODELS[model].with_overrides(**overrides.get(model, {}))
    if args.prepare:
        prepare(spec, device, dtype)
        return 0
    request = Request(PROMPT, "", tuple(range(args.batch)), steps, 7.5, px, px)
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "no GPU"
    print(f"{gpu}; torch {torch.__version__}; {model} at {px} px, {steps} steps, euler-a, batch {args.batch}, {dtype}")

    # Cheapest and surest first: on a lent GPU this runs under a time cap, and each line prints as
    # it comes, so a torch.compile that runs long (max-autotune) leaves every other figure behind.
    eager = DiffusersBackend(spec, Runtime(device, dtype, device))
    eager.load()
    eager.set_scheduler("euler-a")
    n = args.batch
    times = race(
        {
            "bare eager": lambda: bare_call(eager.pipe, request, device) / n,
            "harness eager": lambda: eager.generate(request).latency_s,
        },
        args.calls,
        args.warmup,
    )
    bare, harness = median_ms(times["bare eager"]), median_ms(times["harness eager"])
    print(f"eager: bare {bare:.1f} ms/image, harness {harness:.1f} ms/image: harness at {bare / harness:.1%} of bare")
    last = eager.generate(request)
    reference, energy = last.images[0].image, last.energy_j  # eager's image: what the others must match
    print(f"energy: eager {energy:.1f} J/image" if energy is not None else "energy: no NVML energy counter here")
    print(sweep_share(model, overrides, steps, px), flush=True)

    ort_ms = race_ort(spec, device, dtype, request, eager, reference, args)
    compiled_ms = race_compiled(spec, device, dtype, request, eager, reference, args)
    for graph, o in ort_ms.items():
        print(f"ONNX Runtime {graph} vs compiled: {o:.1f} vs {compiled_ms:.1f} ms/image: {compiled_ms / o:.2f}x")
    eager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
