"""What the PyTorch and ONNX Runtime diffusion backends share: the same call, the same seeds.

Both drive a diffusers-style pipeline `__call__` (optimum's ORT pipelines reuse diffusers'), so
an ONNX image and its PyTorch twin come from the same noise and the same scheduler.
"""

from __future__ import annotations

import numpy as np

from bench.backends.base import CallResult, Generated, Request
from bench.config import ConfigError
from bench.schedulers import SCHEDULERS, build_scheduler
from bench.timing import StepClock, peak_memory_mb, reset_peak_memory


def check_compatible(scheduler_class: str, model: str, names: list[str]) -> None:
    """Reject schedulers that the model's own scheduler does not list in `compatibles`.

    Runs before any weights load: the scheduler class comes from model_index.json.
    """
    import diffusers

    compatible = {cls.__name__ for cls in getattr(diffusers, scheduler_class)().compatibles}
    for name in names:
        if SCHEDULERS[name].class_name not in compatible:
            raise ConfigError(
                f"schedulers: {name!r} is not compatible with model {model!r} "
                f"(which ships {scheduler_class}); compatible: "
                + ", ".join(n for n, s in SCHEDULERS.items() if s.class_name in compatible)
            )


class SchedulerSwap:
    """Swaps schedulers in place, always from the config the model shipped with, so options of
    one scheduler (say Karras sigmas) never leak into the next."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.base_config = pipe.scheduler.config

    def __call__(self, name: str) -> None:
        self.pipe.scheduler = build_scheduler(name, self.base_config)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """diffusers' own float [0,1] -> uint8 rounding (numpy_to_pil), kept so twins compare."""
    return (np.clip(images, 0.0, 1.0) * 255).round().astype("uint8")


def run_pipeline(pipe, request: Request, device: str) -> CallResult:
    """One timed call for all seeds of a request; NaN and NSFW images are flagged, not saved."""
    import torch
    from PIL import Image

    n = len(request.seeds)
    # CPU generators: the same initial noise on every device and backend, so images have twins.
    generators = [torch.Generator("cpu").manual_seed(int(s)) for s in request.seeds]
    clock = StepClock(device)
    reset_peak_memory(device)
    with clock:
        out = pipe(
            prompt=[request.prompt] * n,
            negative_prompt=[request.negative_prompt] * n if request.negative_prompt else None,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            width=request.width,
            height=request.height,
            generator=generators,
            output_type="np",
            callback_on_step_end=clock.on_step_end,
        )
    peak_mb, scope = peak_memory_mb(device)
    arrays = np.asarray(out.images, dtype=np.float32)
    nsfw = getattr(out, "nsfw_content_detected", None) or [False] * n
    images = []
    for array, flagged in zip(arrays, nsfw):
        if not np.isfinite(array).all():
            images.append(Generated(None, "nan"))
        elif flagged:
            images.append(Generated(None, "nsfw"))
        else:
            images.append(Generated(Image.fromarray(to_uint8(array))))
    denoise = clock.denoise_s
    return CallResult(
        images=images,
        latency_s=clock.wall_s / n,
        denoise_s=None if denoise is None else denoise / n,
        step_ms_p50=clock.step_ms_p50,
        peak_mem_mb=peak_mb,
        mem_scope=scope,
    )
