"""ONNX exports, made once and reused: one folder per export key under the cache.

A key is a hash of everything that changes the exported graphs or weights: the weights
themselves (hub commit, or a fingerprint of a local folder), the LoRA and its scale (fused into
the UNet before export, since ONNX has no adapters), the replacement VAE, attention upcasting,
dtype (and the VAE's, see vae_dtype), opset and the versions of the libraries that trace and
write the graphs.

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
# Families whose diffusers pipeline decodes in fp32 when its fp16 VAE's config says force_upcast
# (StableDiffusionXLPipeline.__call__, `needs_upcasting`); StableDiffusionPipeline never upcasts.
UPCASTING_FAMILIES = ("sdxl",)
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


def vae_dtype(spec: ModelSpec, dtype: str) -> str:
    """The dtype the VAE graphs are exported in: float32 where the PyTorch pipeline would upcast
    its fp16 VAE to decode, else `dtype`.

    diffusers' SDXL pipeline upcasts by casting `vae.post_quant_conv`, which optimum's ORT VAE
    (a wrapper of two sessions) lacks, and optimum exports the VAE in the pipeline's dtype: an
    fp16 export of a force_upcast VAE fails at its first decode. An fp32 VAE graph decodes as
    PyTorch does, and the ORT pipeline then sees an fp32 VAE and skips the upcast (optimum casts
    the fp16 latents to the session's input type). ORT's own SDXL recipe keeps the VAE decoder
    in fp32 for the same overflow (onnxruntime.transformers optimize_pipeline).
    """
    if dtype != "float16" or spec.family not in UPCASTING_FAMILIES:
        return dtype
    if spec.vae:
        config = hub_file(spec.vae, "config.json", spec.vae_revision, False)
    else:
        config = hub_file(spec.hub_id, "vae/config.json", spec.revision, spec.tiny)
    # AutoencoderKL's own default is force_upcast=True; the fp16-fix SDXL VAE sets it false.
    return "float32" if json.loads(config.read_text()).get("force_upcast", True) else dtype


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
        "vae": None if spec.vae is None else _weights_version(spec.vae, "config.json", spec.vae_revision, False),
        # Only changes the graph in fp16 (the PyTorch backend upcasts only there).
        "upcast_attention": spec.upcast_attention and dtype == "float16",
        "dtype": dtype,
        "vae_dtype": vae_dtype(spec, dtype),
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
            if fields["vae_dtype"] != dtype:
                _export_fp32_vae(pipe, work, device)
        del pipe
        gc.collect()
        export_s = time.perf_counter() - started
        (work / MANIFEST).write_text(json.dumps(dict(fields, export_s=export_s), indent=2))
    log.info("exported %s in %.1f s", spec.key, export_s)
    return Export(final, export_s)


def _export_fp32_vae(pipe, work: Path, device: str) -> None:
    """Replaces the VAE graphs of an fp16 export with fp32 ones (see vae_dtype).

    optimum takes one float dtype for the whole pipeline, so the VAE is traced again on its own,
    with optimum's own VAE export configs (small next to the UNet: seconds). Encoder and decoder
    both: the ORT VAE's dtype is that of whichever of its two sessions it lists first.
    """
    import torch
    from optimum.exporters.onnx.convert import export_models
    from optimum.exporters.utils import get_diffusion_models_for_export

    pipe.vae.to(torch.float32)
    parts = get_diffusion_models_for_export(pipe, float_dtype="fp32", exporter="onnx")
    vae = {name: parts[name] for name in ("vae_encoder", "vae_decoder")}
    for name in vae:
        for old in (work / name).glob("model.onnx*"):  # the graph and any external data of the fp16 one
            old.unlink()
    export_models(vae, work, opset=OPSET, output_names=[f"{name}/model.onnx" for name in vae], device=device)
