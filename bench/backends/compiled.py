"""PyTorch with torch.compile: the backend a speed-minded user runs, raced beside eager PyTorch.

The UNet and the VAE decoder are compiled (inductor) in the suite's mode. Compilation happens
lazily, at the first call of each new input shape, and takes from seconds (tiny models, CPU) to
about a minute (SD 1.5 on a GPU). So before the first timed call at a shape, one untimed call
compiles it; the time that call took beyond a compiled call goes into `compile_s` and never into
the latency statistics.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from bench.backends.base import CallResult, LoadInfo, Request, once_per_shape
from bench.backends.pytorch import DiffusersBackend
from bench.runtime import Runtime

log = logging.getLogger(__name__)
# max-autotune-no-cudagraphs: autotuned kernels without CUDA graphs, which would replay the
# per-step callback's synchronise and clock reads out of order. On the CPU, inductor's default.
AUTO_MODE = {"cuda": "max-autotune-no-cudagraphs", "cpu": "default"}


class CompiledBackend(DiffusersBackend):
    @classmethod
    def resolve(cls, asked: Runtime) -> Runtime:
        runtime = super().resolve(asked)
        options = json.loads(asked.options or "{}")
        if options.get("mode", "auto") == "auto":
            options["mode"] = AUTO_MODE[runtime.device]
        return replace(runtime, options=json.dumps(options, sort_keys=True))

    def load(self) -> LoadInfo:
        import torch

        info = super().load()
        mode = self.runtime.option("mode")
        # Every scheduler family (integer or float timesteps) and batch shape is a graph of its
        # own; past dynamo's default of 8 per function it would quietly run eager instead.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        # Compilation itself waits for the first call; wrapping is instant.
        self.pipe.unet = torch.compile(self.pipe.unet, mode=mode)
        self.pipe.vae.decoder = torch.compile(self.pipe.vae.decoder, mode=mode)
        self.compiled_shapes: set[tuple] = set()
        info.options = dict(info.options, mode=mode)
        return info

    def set_scheduler(self, name: str | None) -> None:
        super().set_scheduler(name)
        self.scheduler = name

    def generate(self, request: Request) -> CallResult:
        # What decides the graphs: images per call, size, classifier-free guidance (which doubles
        # the UNet's batch), and the scheduler (integer or float timesteps).
        shape = (len(request.seeds), request.width, request.height, request.guidance_scale > 1, self.scheduler)
        if shape not in self.compiled_shapes:
            log.info("%s [pytorch-compile]: compiling for %s, %s images of %sx%s", self.spec.key, shape[4], *shape[:3])
        return once_per_shape(self.compiled_shapes, shape, super().generate, request)
