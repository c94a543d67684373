"""ONNX exports, made once and reused: one folder per export key under the cache.

A key is a hash of everything that changes the exported graphs or weights: the weights
themselves (hub commit, or a fingerprint of a local folder), the LoRA and its scale (fused into
the UNet before export, since ONNX has no adapters), the replacement VAE, attention upcasting,
dtype, opset and the versions of the libraries that trace and write the graphs.

An export is written into a staging folder and published by renaming it to its final name
(bench.files.staged_dir), which is atomic on one file system: readers see a whole export or
none, and two processes exporting the same key at once need no lock (the second rename fails;
the loser's copy is dropped and the winner's used).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.environment import version
from bench.files import cache_dir, staged_dir
from bench.models import ModelSpec
from bench.weights.hub import hub_file

# optimum-onnx 0.1.0's default for every diffusion component; spelled out so the key names it.
OPSET = 18
# Libraries whose version can change what an export contains. onnxruntime is not among them: it
# only reads the files (its TensorRT engines are cached apart, see the backend).
KEY_LIBRARIES = ("torch", "diffusers", "transformers", "peft", "optimum", "optimum-onnx", "onnx")
MANIFEST = "bench-export.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Export:
    path: Path  # folder that ORT pipelines load with from_pretrained(export=False)
    export_s: float  # 0.0 when the cache was hit


def _folder_fingerprint(folder: Path) -> str:
    """Local weights have no commit: names, sizes and modification times stand in for one."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        h.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _weights_version(hub_id: str, filename: str, revision: str | None, tiny: bool) -> str:
    """The commit the weights come from: resolved from the HF cache path where we can, so a
    moving branch (revision None = main) gets a new export when it moves."""
    path = hub_file(hub_id, filename, revision, tiny)
    if path.parent.parent.name == "snapshots" and _COMMIT.match(path.parent.name):
        return path.parent.name
    return "local:" + _folder_fingerprint(path.parent)


def key_fields(spec: ModelSpec, dtype: str) -> dict:
    """Everything an export depends on, as plain JSON (also written beside it, for people)."""
    lora = spec.lora
    return {
        "hub_id": spec.hub_id,
        "weights": _weights_version(spec.hub_id, "model_index.json", spec.revision, spec.tiny),
        "lora": None
        if lora is None
        else {
            "hub_id": lora.hub_id,
            "weight_name": lora.weight_name,
            "scale": lora.scale,
            "weights": _weights_version(lora.hub_id, lora.weight_name, lora.revision, spec.tiny),
        },
        "vae": None if spec.vae is None else _weights_version(spec.vae, "config.json", None, False),
        # Only changes the graph in fp16 (the PyTorch backend upcasts only there).
        "upcast_attention": spec.upcast_attention and dtype == "float16",
        "dtype": dtype,
        "opset": OPSET,
        "libraries": {dist: version(dist) for dist in KEY_LIBRARIES},
    }


def export_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def ensure(spec: ModelSpec, dtype: str, device: str, build: Callable[[], object]) -> Export:
    """The export folder for `spec` in `dtype`, exporting it first if no cached one matches.

    `build()` returns the diffusers pipeline to trace (on `device`, in `dtype`, LoRA fused);
    it is only called on a cache miss, so a hit never loads PyTorch weights.
    """
    fields = key_fields(spec, dtype)
    final = cache_dir("onnx") / f"{spec.key}-{dtype}-{export_key(fields)}"
    if (final / MANIFEST).is_file():
        return Export(final, 0.0)

    log.info("exporting %s (%s) to ONNX, once; cached in %s", spec.key, dtype, final)
    started = time.perf_counter()
    with staged_dir(final) as work:
        from optimum.exporters.onnx import onnx_export_from_model

        pipe = build()
        with warnings.catch_warnings():
            # The tracer warns about every Python branch it freezes (dozens per UNet); for these
            # graphs that is expected, and the dynamic axes are optimum's to declare.
            warnings.simplefilter("ignore")
            # Validation would run every graph once more against PyTorch; the parity metrics of
            # each sweep compare whole images instead.
            onnx_export_from_model(
                pipe, work, opset=OPSET, task="text-to-image", device=device, no_post_process=True, do_validation=False
            )
        del pipe
        gc.collect()
        export_s = time.perf_counter() - started
        (work / MANIFEST).write_text(json.dumps(dict(fields, export_s=export_s), indent=2))
    log.info("exported %s in %.1f s", spec.key, export_s)
    return Export(final, export_s)
