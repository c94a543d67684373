"""ONNX Runtime's own Stable Diffusion graph optimizer, applied to an ONNX export once and cached.

onnxruntime.transformers (shipped in the onnxruntime wheel) rewrites optimum's graphs: attention
into MultiHeadAttention, LayerNorm, Gelu and bias adds into fused kernels and, for CUDA only,
GroupNorm, NHWC convolutions and fp16. This module runs the same steps as its
models/stable_diffusion/optimize_pipeline.py, part by part, so that what runs on the CPU (no
CUDA-only operators, no fp16) and which parts stay fp32 (the VAE, where the PyTorch pipeline
upcasts it: bench.backends.export.vae_dtype) are ours to choose.

An optimized folder is keyed by the export it was made from, the onnxruntime version and every
fusion option, and published whole with bench.files.staged_dir, like an export. The optimizer
runs in a child process (see _in_child): it needs about 5x the graphs' fp32 size in RAM.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.files import cache_dir, staged_dir

log = logging.getLogger(__name__)
# Each ONNX part of an optimum export -> the optimizer's model type for it.
PART_TYPES = {
    "unet": "unet",
    "text_encoder": "clip",
    "text_encoder_2": "clip",
    "vae_encoder": "vae",
    "vae_decoder": "vae",
}
# Fusions into com.microsoft operators that only the CUDA provider implements: a CPU session
# refuses such a graph ("Could not find an implementation for NhwcConv").
CUDA_ONLY_FUSIONS = (
    "enable_nhwc_conv",
    "enable_group_norm",
    "enable_skip_group_norm",
    "enable_bias_splitgelu",
    "enable_bias_add",
)
# ORT's CUDA kernels of BiasAdd and BiasSplitGelu take only Stable Diffusion's own channel widths
# (contrib_ops/cuda/diffusion/bias_add.cc: "Number of channels should be 320, 640 or 1280"), though
# the Python fusions never check; its GroupNorm kernel reads two channels of a group per thread.
# A UNet of other widths (the tiny test models: 32, 64) would fail at its first call, so it gets
# only the fusions every provider runs, even on CUDA. SD 1.x, 2.x and SDXL all fit.
SD_CHANNEL_WIDTHS = frozenset({320, 640, 1280})
MANIFEST = "bench-optimize.json"
# Fused operators counted into the manifest, to show what the optimizer did.
FUSED_OPS = (
    "MultiHeadAttention",
    "Attention",
    "LayerNormalization",
    "SkipLayerNormalization",
    "GroupNorm",
    "SkipGroupNorm",
    "NhwcConv",
    "BiasSplitGelu",
    "BiasAdd",
    "BiasGelu",
    "QuickGelu",
    "FastGelu",
    "Gelu",
)


@dataclass(frozen=True)
class Optimized:
    path: Path  # a folder optimum's ORT pipelines load, like the export's
    optimize_s: float  # 0.0 when the cache was hit


def fusion_options(model_type: str, cuda: bool, float16: bool):
    """optimize_pipeline's fusion options for one part, less what the CPU provider cannot run."""
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions(model_type)
    if model_type == "unet":
        # optimize_pipeline packs Q/K/V weights for fp16 only (its CUDA kernels want them so).
        options.enable_packed_qkv = float16 and options.enable_packed_qkv
        options.enable_packed_kv = float16 and options.enable_packed_kv
    if not cuda:
        for name in CUDA_ONLY_FUSIONS:
            setattr(options, name, False)
    return options


def unet_widths(export: Path) -> list[int] | None:
    """The exported UNet's block_out_channels (optimum saves its config beside the graph)."""
    try:
        return list(json.loads((export / "unet" / "config.json").read_text())["block_out_channels"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def cuda_kernels_fit(export: Path) -> bool:
    widths = unet_widths(export)
    return widths is not None and set(widths) <= SD_CHANNEL_WIDTHS


def key_fields(export: Path, cuda: bool, float16: bool, fp32_parts: tuple[str, ...]) -> dict:
    import onnxruntime

    cuda_fusions = cuda and cuda_kernels_fit(export)
    return {
        "export": export.name,  # its name ends with the export's own key
        "onnxruntime": onnxruntime.__version__,
        "target": "cuda" if cuda else "cpu",
        "cuda_fusions": cuda_fusions,
        "float16": float16,
        "fp32_parts": sorted(fp32_parts) if float16 else [],
        "fusions": {
            kind: vars(fusion_options(kind, cuda_fusions, float16)) for kind in sorted(set(PART_TYPES.values()))
        },
    }


def ensure(export: Path, *, cuda: bool, float16: bool, fp32_parts: tuple[str, ...] = ()) -> Optimized:
    """The optimized copy of the export folder `export`, made first if no cached one matches.

    `cuda`: fuse into CUDA-only operators too; `float16`: convert to fp16 after fusing, except
    `fp32_parts`. Fusion runs in Python on the CPU and needs no GPU.
    """
    fields = key_fields(export, cuda, float16, fp32_parts)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    final = cache_dir("onnx-optimized") / f"{export.name}-{digest}"
    if (final / MANIFEST).is_file():
        return Optimized(final, 0.0)
    if cuda and not fields["cuda_fusions"]:
        log.info(
            "%s: UNet channel widths %s are not Stable Diffusion's (320, 640, 1280), which ORT's fused CUDA "
            "kernels need: only the fusions every provider runs",
            export.name,
            unet_widths(export),
        )

    log.info("optimizing the ONNX graphs of %s with ONNX Runtime's optimizer, once; cached in %s", export.name, final)
    started = time.perf_counter()
    with staged_dir(final) as work:
        shutil.copytree(export, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.onnx", "*.onnx_data"))
        fused = _in_child(export, work, fields["cuda_fusions"], float16, fp32_parts)
        optimize_s = time.perf_counter() - started
        (work / MANIFEST).write_text(json.dumps(dict(fields, optimize_s=optimize_s, fused=fused), indent=2))
    log.info("optimized %s in %.1f s: %s", export.name, optimize_s, fused.get("unet", {}))
    return Optimized(final, optimize_s)


def _in_child(export: Path, work: Path, cuda: bool, float16: bool, fp32_parts: tuple[str, ...]) -> dict:
    """_optimize_parts in a process of its own, which hands back its memory when it ends.

    ORT's optimizer peaks at about 5x a graph's fp32 size (17 GB for SD 1.5's UNet, 3.4 GB) and
    leaves GBs in reference cycles after; none of that should stay in a sweep that goes on to load
    models. And if the kernel's out-of-memory killer ends it, this model's cells fail with that
    reason instead of the whole sweep vanishing with "Killed". Its warnings are logged here.
    A plain `python -c` child, not multiprocessing's spawn: that re-runs the caller's main module,
    which fails in any script without a `__main__` guard. Like spawn, it imports from this
    process's sys.path, so it runs the same bench (and libraries) as its parent.
    """
    needed = 5 * max((f.stat().st_size for f in export.rglob("*.onnx*")), default=0)
    available = available_memory_bytes()
    if available is not None and available < needed:
        log.warning(
            "ONNX Runtime's optimizer needs about %.0f GB of RAM for %s (5x its largest graph) and %.0f GB are "
            "available: the system may stop it",
            needed / 1e9,
            export.name,
            available / 1e9,
        )
    result = work / ".optimizer-result.json"
    job = {
        "export": str(export),
        "work": str(work),
        "cuda": cuda,
        "float16": float16,
        "fp32_parts": list(fp32_parts),
        "parent": os.getpid(),
    }
    code = (
        "import json, sys; sys.path[:] = json.loads(sys.argv[3]); "
        "from bench.backends.ort_optimize import _child_main; _child_main(sys.argv[1], sys.argv[2])"
    )
    child = None
    try:
        child = subprocess.Popen([sys.executable, "-c", code, json.dumps(job), str(result), json.dumps(sys.path)])
        child.wait()
    finally:
        if child is not None and child.returncode is None:  # this process is being stopped: so is the child
            child.terminate()
            child.wait()
    rc = child.returncode
    if rc != 0 or not result.is_file():
        if rc >= 0:
            raise RuntimeError(
                f"ONNX Runtime's optimizer ended with exit code {rc} and no result (its output is above)"
            )
        hint = (
            f"; most likely out of memory: it needs about 5x the largest fp32 graph, here about "
            f"{needed / 1e9:.0f} GB of RAM"
            if rc == -signal.SIGKILL
            else ""
        )
        raise RuntimeError(f"ONNX Runtime's optimizer was stopped by signal {-rc}{hint}")
    outcome = json.loads(result.read_text())
    result.unlink()
    for line in outcome["warnings"]:
        log.warning("ONNX Runtime's optimizer: %s", line)
    if outcome["error"]:
        raise RuntimeError(f"ONNX Runtime's optimizer failed: {outcome['error']}")
    return outcome["fused"]


def available_memory_bytes() -> int | None:
    """What the kernel could give a new process without swapping (Linux's MemAvailable); None
    where /proc/meminfo does not say."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _child_main(job: str, result: str) -> None:
    """The child's side of _in_child: writes {fused operators, warnings, error or None} to `result`."""
    # Ctrl-C reaches the whole process group; the parent, stopping, ends this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    args = json.loads(job)
    _end_with_parent(args["parent"])
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(f"{record.name}: {record.getMessage()}")

    root = logging.getLogger()
    root.addHandler(Collect(logging.WARNING))
    root.setLevel(logging.WARNING)
    outcome = {"fused": {}, "warnings": warnings, "error": None}
    try:
        outcome["fused"] = _optimize_parts(
            Path(args["export"]), Path(args["work"]), args["cuda"], args["float16"], tuple(args["fp32_parts"])
        )
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
        outcome["error"] = f"{type(e).__name__}: {e}"
    Path(result).write_text(json.dumps(outcome))


def _end_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies. A parent stopped by a signal it
    does not handle (a script's SIGTERM, the OOM killer) runs no `finally`, and this child would
    go on for minutes with GBs of RAM, beside whatever the machine does next. Elsewhere (no
    prctl) the parent's `finally` is the only guard."""
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request took hold
        os._exit(1)


def _optimize_parts(export: Path, work: Path, cuda: bool, float16: bool, fp32_parts: tuple[str, ...]) -> dict:
    fused = {}
    for part, model_type in PART_TYPES.items():
        if (export / part / "model.onnx").is_file():
            half = float16 and part not in fp32_parts
            fused[part] = _optimize_part(export / part / "model.onnx", work / part, model_type, cuda, half)
    return fused


def _optimize_part(source: Path, folder: Path, model_type: str, cuda: bool, float16: bool) -> dict[str, int]:
    """One part through the optimizer into `folder`; returns the fused operators it now holds."""
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    external = any(
        t.HasField("data_location") and t.data_location == onnx.TensorProto.EXTERNAL
        for t in onnx.load_model(str(source), load_external_data=False).graph.initializer
    )
    with _attention_fusion_numpy_fix(), _no_fusion_bar():
        model = optimize_model(
            str(source),
            model_type=model_type,
            num_heads=0,  # found in the graph, per attention: SDXL's blocks differ
            hidden_size=0,
            opt_level=0,  # the optimizer's Python fusions only: ORT's own pass runs at session load
            optimization_options=fusion_options(model_type, cuda, float16),
            use_gpu=cuda,
        )
        if float16:
            model.convert_float_to_float16(keep_io_types=False)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_model_to_file(str(folder / "model.onnx"), use_external_data_format=external)
    ops = Counter(node.op_type for node in model.nodes())
    return {op: ops[op] for op in FUSED_OPS if ops[op]}


@contextmanager
def _attention_fusion_numpy_fix():
    """The attention fusions read head counts with `int()` of a one-element constant array
    (onnxruntime/transformers/fusion_attention_unet.py:66 in FusionAttentionUnet.get_num_heads,
    fusion_attention_vae.py:46). NumPy 1.25 deprecated that and NumPy 2.4 raises "only
    0-dimensional arrays can be converted to Python scalars", which stops the whole optimizer at
    the UNet's first attention. While it runs, the constants it reads convert as they did
    before (one-element arrays only); nothing else changes."""
    import numpy as np
    from onnxruntime.transformers import optimizer

    class Constant(np.ndarray):
        def __int__(self):
            return int(self.item() if self.size == 1 else np.asarray(self))

        def __float__(self):
            return float(self.item() if self.size == 1 else np.asarray(self))

    # The optimizer imports its modules by their bare names (it puts its folder on sys.path):
    # this is the OnnxModel its fusions use, not the copy at onnxruntime.transformers.onnx_model.
    model_class = optimizer.OnnxModel
    original = model_class.get_constant_value

    def get_constant_value(self, output_name):
        value = original(self, output_name)
        return value.view(Constant) if isinstance(value, np.ndarray) else value

    model_class.get_constant_value = get_constant_value
    try:
        yield
    finally:
        model_class.get_constant_value = original


@contextmanager
def _no_fusion_bar():
    """The UNet optimizer draws a tqdm bar of its own ("fusion", onnx_model_unet.py: optimize)
    on stderr, under the sweep's progress bar; while it runs, tqdm's bars are created disabled.
    (TQDM_DISABLE would not do: tqdm reads its environment once, at import.)"""
    try:
        import tqdm
    except ImportError:  # the optimizer then runs without a bar anyway
        yield
        return
    original = tqdm.tqdm

    class Quiet(original):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    tqdm.tqdm = Quiet
    try:
        yield
    finally:
        tqdm.tqdm = original
