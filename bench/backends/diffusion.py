"""What the PyTorch and ONNX Runtime diffusion backends share: the same call, the same seeds.

Both drive a diffusers-style pipeline `__call__` (optimum's ORT pipelines reuse diffusers'), so
an ONNX image and its PyTorch twin come from the same noise and the same scheduler. Neither
holds a safety checker: one classifier flags every model's images as a metric instead
(bench.scorers.nsfw), so no pipeline blanks or drops an image.
"""

from __future__ import annotations

import inspect

from bench.backends.base import CallResult, Generated, Request
from bench.schedulers import SCHEDULERS
from bench.timing import StepClock, peak_memory_mb, reset_peak_memory

# diffusers pipeline class per family, in diffusers and (with an "ORT" prefix) in optimum.
PIPELINES = {"sd": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline"}


def without_safety_checker(pipeline_class) -> dict:
    """from_pretrained arguments that load `pipeline_class` without its own safety checker, where
    it takes one (SD does, SDXL does not). Only SD 1.x checkpoints ship one, so keeping it would
    blank, and leave unscored, the flagged images of some models and not of others."""
    takes = inspect.signature(pipeline_class.__init__).parameters
    return {k: v for k, v in {"safety_checker": None, "requires_safety_checker": False}.items() if k in takes}


class SchedulerSwap:
    """Swaps schedulers in place, always from the config the model shipped with, so options of
    one scheduler (say Karras sigmas) never leak into the next."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.base_config = pipe.scheduler.config

    def __call__(self, name: str) -> None:
        # The diffusers idiom: a new scheduler from the config the pipeline shipped with.
        import diffusers

        spec = SCHEDULERS[name]
        self.pipe.scheduler = getattr(diffusers, spec.class_name).from_config(self.base_config, **spec.overrides)


def run_pipeline(pipe, request: Request, device: str) -> CallResult:
    """One timed call for all seeds of a request; NaN images are flagged, not saved."""
    import numpy as np
    import torch

    n = len(request.seeds)
    # CPU generators: the same initial noise on every device and backend, so images have twins.
    generators = [torch.Generator("cpu").manual_seed(int(s)) for s in request.seeds]
    # A fixed latent, in the dtype the pipeline would have drawn its noise in (its prepare_latents
    # moves given latents to the device but leaves their dtype); it scales them by the
    # scheduler's init_noise_sigma itself, as it does drawn noise.
    latents = None
    if request.latents is not None:
        latents = torch.from_numpy(np.repeat(request.latents[None], n, axis=0)).to(pipe.unet.dtype)
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
            **({} if latents is None else {"latents": latents}),
            **({} if request.eta is None else {"eta": request.eta}),
            output_type="np",
            callback_on_step_end=clock.on_step_end,
        )
    peak_mb, scope = peak_memory_mb(device)
    arrays = np.asarray(out.images, dtype=np.float32)
    # A pipeline's `nsfw_content_detected` decides nothing (the backends load none that could set
    # it): every finite image is kept and scored, and the nsfw metric flags it.
    images = [Generated.from_array(array) for array in arrays]
    denoise = clock.denoise_s
    energy_j, power_w = clock.energy(n)
    return CallResult(
        images=images,
        latency_s=clock.wall_s / n,
        denoise_s=None if denoise is None else denoise / n,
        step_ms_p50=clock.step_ms_p50,
        peak_mem_mb=peak_mb,
        mem_scope=scope,
        energy_j=energy_j,
        power_w_mean=power_w,
    )
