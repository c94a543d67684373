"""Backends: one narrow interface (bench.backends.base.Backend), one module per implementation.

The registry holds dotted paths, not classes, so nothing heavy is imported until a run starts.
"""

from __future__ import annotations

import importlib

# (backend, family) -> "module:Class". A pair that is missing is not supported, and the plan
# leaves those cells out with a note (BigGAN has no ONNX Runtime path).
IMPLEMENTATIONS: dict[tuple[str, str], str] = {
    ("pytorch", "sd"): "bench.backends.pytorch:DiffusersBackend",
    ("pytorch", "sdxl"): "bench.backends.pytorch:DiffusersBackend",
    ("onnxruntime", "sd"): "bench.backends.onnxruntime:OrtBackend",
    ("onnxruntime", "sdxl"): "bench.backends.onnxruntime:OrtBackend",
    ("pytorch", "gan"): "bench.backends.biggan:BigGANBackend",
}


def supports(backend: str, family: str) -> bool:
    return (backend, family) in IMPLEMENTATIONS


def backend_class(backend: str, family: str):
    module, _, name = IMPLEMENTATIONS[(backend, family)].partition(":")
    return getattr(importlib.import_module(module), name)
