"""What ONNX Runtime's Stable Diffusion optimizer (backend_options.onnxruntime.optimize) costs and
whether its graph computes the same UNet, on this machine, from a fresh temporary cache.

    python scripts/bench_ort_optimize.py               # tiny SD: a quick check anywhere
    python scripts/bench_ort_optimize.py --full-size   # SD 1.5-sized, random weights: ~8 min and
                                                       # ~18 GB of RAM on 2 cores, ~12 GB of disk

It prints the seconds of the fp32 export and of each optimizer run (CPU fusions in fp32, then
the CUDA fusions and fp16 that a GPU run loads: fusing needs no GPU), the optimizer child's peak
RSS, the fused operators, and the optimized fp32 UNet against the plain export's on ORT's CPU
provider, same random inputs: time per call and relative L2 difference. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def unet_parity(plain: Path, optimized: Path, latent_px: int) -> str:
    """Both UNet graphs on ORT's CPU provider with the same random inputs (CFG's batch of 2)."""
    import numpy as np
    import onnxruntime

    outputs, seconds = {}, {}
    for name, path in (("plain", plain), ("optimized", optimized)):
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        shapes = {i.name: i.shape for i in session.get_inputs()}
        width = shapes["encoder_hidden_states"][2]
        feeds = {
            "sample": np.random.default_rng(0).standard_normal((2, 4, latent_px, latent_px), dtype=np.float32),
            "timestep": np.array(981, dtype=np.float32),
            "encoder_hidden_states": np.random.default_rng(1).standard_normal((2, 77, width), dtype=np.float32),
        }
        session.run(None, feeds)  # warm-up
        started = time.perf_counter()
        outputs[name] = session.run(None, feeds)[0]
        seconds[name] = time.perf_counter() - started
        del session
    a, b = outputs["plain"], outputs["optimized"]
    plain_ms, optimized_ms = seconds["plain"] * 1000, seconds["optimized"] * 1000
    return (
        f"UNet on ORT CPU, {latent_px}x{latent_px} latents: plain {plain_ms:.1f} ms, optimized {optimized_ms:.1f} ms "
        f"per call ({plain_ms / optimized_ms:.2f}x); relative L2 difference {float(np.linalg.norm(a - b) / np.linalg.norm(a)):.1e}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-size", action="store_true", help="SD 1.5-sized random weights (as sd15)")
    args, _ = parser.parse_known_args(argv)  # nox passes its posargs to every benchmark script
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-ort-optimize-") as cache:
        os.environ["BENCH_CACHE"] = cache  # fresh: a cached graph would time nothing
        return run(args.full_size)


def run(full_size: bool) -> int:
    from bench.backends import export, ort_optimize
    from bench.backends.pytorch import pipeline_for_export
    from bench.console import quiet_libraries
    from bench.models import MODELS
    from bench.tiny import full_size_sd_path

    quiet_libraries(progress_bars=True)
    started = time.perf_counter()
    spec = MODELS["sd15"].with_overrides(hub_id=str(full_size_sd_path())) if full_size else MODELS["tiny-sd"]
    made = export.ensure(spec, "float32", "cpu", lambda: pipeline_for_export(spec, "cpu", "float32"))
    graph_gb = sum(f.stat().st_size for f in (made.path / "unet").iterdir()) / 1e9
    print(
        f"{spec.key}{' (SD 1.5 size, random weights)' if full_size else ''}: model and fp32 export in "
        f"{time.perf_counter() - started:.0f} s (export {made.export_s:.0f} s); UNet graph {graph_gb:.2f} GB",
        flush=True,
    )
    graphs = {}
    for cuda, float16 in ((False, False), (True, True)):
        done = ort_optimize.ensure(made.path, cuda=cuda, float16=float16)
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB: the largest child so far
        fused = json.loads((done.path / ort_optimize.MANIFEST).read_text())["fused"]
        print(
            f"optimizer, {'CUDA fusions + fp16' if cuda else 'CPU fusions, fp32'}: {done.optimize_s:.0f} s, "
            f"child peak RSS so far {peak_gb:.1f} GB; UNet {fused.get('unet', {})}",
            flush=True,
        )
        graphs[cuda] = done.path
    print(unet_parity(made.path / "unet" / "model.onnx", graphs[False] / "unet" / "model.onnx", 64 if full_size else 8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
