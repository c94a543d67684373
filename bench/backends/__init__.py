"""Backends: one narrow interface (bench.backends.base.Backend), one module per implementation.

The modules import torch, diffusers and optimum only inside their methods, so this registry can
hold the classes themselves and still be imported in a blink.
"""

from __future__ import annotations

from bench.backends.base import Backend
from bench.backends.biggan import BigGANBackend
from bench.backends.compiled import CompiledBackend
from bench.backends.onnxruntime import OrtBackend
from bench.backends.pytorch import DiffusersBackend

# (backend, family) -> class. A pair that is missing is not supported, and the plan leaves those
# cells out with a note (BigGAN has no ONNX Runtime path).
IMPLEMENTATIONS: dict[tuple[str, str], type[Backend]] = {
    ("pytorch", "sd"): DiffusersBackend,
    ("pytorch", "sdxl"): DiffusersBackend,
    ("pytorch-compile", "sd"): CompiledBackend,
    ("pytorch-compile", "sdxl"): CompiledBackend,
    ("onnxruntime", "sd"): OrtBackend,
    ("onnxruntime", "sdxl"): OrtBackend,
    ("pytorch", "gan"): BigGANBackend,
}


def supports(backend: str, family: str) -> bool:
    return (backend, family) in IMPLEMENTATIONS


def backend_class(backend: str, family: str) -> type[Backend]:
    return IMPLEMENTATIONS[(backend, family)]
