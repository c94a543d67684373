"""The Runtime: where and how a backend runs (device, dtype, execution provider, fallback).

A plain value, light on purpose: a suite states the one it asks for, each backend class
resolves it for this machine (bench.backends.base.Backend.resolve), the plan does that once per
(backend, family), and every cell carries the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    """Where and how a backend runs. A suite asks with "auto" values (Suite.runtime); each
    backend class resolves them for this machine (Backend.resolve), once per plan."""

    device: str = "auto"  # cpu or cuda: where tensors live and clocks synchronise
    dtype: str = "auto"  # float32, float16, bfloat16
    provider: str = "auto"  # what to load: PyTorch runs on its device; ONNX Runtime on cpu, cuda or tensorrt
    fallback: str = "error"  # a requested ONNX Runtime provider that did not load: error or warn
    # The provider the suite asked for by name ("auto": none). Cell ids include it, so TensorRT
    # and CUDA cells (one device, different engines) are never taken for each other.
    requested: str = "auto"
    # Why the requested provider cannot run here, found while resolving; the load then fails
    # (fallback "error") or warns and runs on what `provider` says (fallback "warn").
    unavailable: str | None = None
    # The suite's [backend_options.<backend>] that change how it runs (torch.compile's mode,
    # channels_last, fused QKV, ORT's graph optimizer), resolved, as sorted JSON; "" for none.
    # Cell ids include it when it is not empty, so a compiled or optimized image is its own cell.
    options: str = ""

    def option(self, name: str, default=None):
        return json.loads(self.options).get(name, default) if self.options else default
