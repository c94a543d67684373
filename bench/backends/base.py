"""The interface every backend implements: load once, swap schedulers, generate a batch of seeds.

A backend is built as `Backend(spec, runtime)`: the model's registry entry with the suite's
overrides applied, and the Runtime the plan resolved for its (backend, family) once. It never
sees the suite.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    import numpy as np
    from PIL.Image import Image

    from bench.models import ModelSpec


@dataclass(frozen=True)
class Request:
    """One call: one prompt, several explicit seeds (one image each)."""

    prompt: str
    negative_prompt: str
    seeds: tuple[int, ...]
    steps: int
    guidance_scale: float
    width: int
    height: int
    eta: float | None = None  # the pipeline call's eta, where the model's card sets one (TCD)
    # A fixed initial latent (C, H, W), float32, for every image of the call instead of each
    # seed's noise (bench.latents); the seeds still drive the noise a scheduler adds per step.
    latents: np.ndarray | None = field(default=None, compare=False)


@dataclass
class Generated:
    """One generated image and what we know of it."""

    image: Image | None  # None when nothing usable came out
    # ok, or nan (non-finite pixels). No pipeline blanks NSFW images any more (the nsfw metric
    # flags them), so "nsfw" is only found in the data of older runs.
    status: str = "ok"
    extra: dict = field(default_factory=dict)  # family-specific columns (BigGAN's class)

    @classmethod
    def from_array(cls, pixels: np.ndarray, extra: dict | None = None) -> Generated:
        """An (h, w, 3) float image in [0, 1]: a picture, or status "nan" if any value is not finite.

        The uint8 rounding is diffusers' own (numpy_to_pil), so PyTorch and ONNX Runtime twins
        compare pixel for pixel.
        """
        import numpy as np
        from PIL import Image

        if not np.isfinite(pixels).all():
            return cls(None, "nan", dict(extra or {}))
        return cls(Image.fromarray((np.clip(pixels, 0.0, 1.0) * 255).round().astype("uint8")), "ok", dict(extra or {}))


@dataclass
class CallResult:
    images: list[Generated]
    latency_s: float  # wall time of the call / number of images
    denoise_s: float | None = None  # per image
    step_ms_p50: float | None = None
    peak_mem_mb: float | None = None
    mem_scope: str | None = None
    compile_s: float | None = None  # compilation this call needed first (untimed warm-up), if any
    energy_j: float | None = None  # per image
    power_w_mean: float | None = None


@dataclass
class LoadInfo:
    load_s: float
    dtype: str  # float32, float16 ...
    provider: str  # what really executes: cpu, cuda, tensorrt
    export_s: float = 0.0  # ONNX export; 0 when a cached export was used
    revision: str | None = None
    # What the backend ran with beyond device and dtype, as it really applied (recorded in rows).
    options: dict = field(default_factory=dict)


def once_per_shape(
    built: set, shape: Hashable, generate: Callable[[Request], CallResult], request: Request
) -> CallResult:
    """`generate(request)`, after one untimed call the first time `shape` is seen.

    torch.compile and TensorRT build their kernels or engines lazily, at the first call of each
    new input shape, which takes seconds to minutes. Timed as it is, that call would be an
    outlier in the latency statistics, so it runs once untimed and its images are dropped; the
    time it took beyond the timed call that follows goes into `compile_s`, which only that call
    of the shape carries. `built` holds the shapes already built and is updated here.
    """
    if shape in built:
        return generate(request)
    started = time.perf_counter()
    generate(request)  # builds; its images and timings are not kept
    first_s = time.perf_counter() - started
    built.add(shape)
    result = generate(request)
    result.compile_s = max(0.0, first_s - result.latency_s * len(request.seeds))
    return result


class Backend(ABC):
    """A model loaded on one backend. Created per model x backend, loaded once per sweep."""

    def __init__(self, spec: ModelSpec, runtime: Runtime):
        self.spec = spec
        self.runtime = runtime

    @classmethod
    @abstractmethod
    def resolve(cls, asked: Runtime) -> Runtime:
        """What the suite's `asked` runtime ("auto" values) means for this backend on this
        machine. Raises InstallError or DeviceUnavailable for what cannot work at all."""

    @abstractmethod
    def load(self) -> LoadInfo:
        """Load weights (and export where needed); heavy imports happen here, not at import."""

    def set_scheduler(self, name: str | None) -> None:
        """Swap the scheduler in place (None for families without one)."""

    @abstractmethod
    def generate(self, request: Request) -> CallResult:
        """Make one image per seed; seeds drive explicit generators, so images are reproducible."""

    def close(self) -> None:
        """Drop what was loaded and give its memory back before the next model loads."""
        import gc

        for name in list(vars(self)):
            if name not in ("spec", "runtime"):
                setattr(self, name, None)
        gc.collect()
        if self.runtime.device == "cuda":
            import torch

            torch.cuda.empty_cache()
