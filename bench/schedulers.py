"""Scheduler registry: a short name -> a diffusers class name and config overrides.

Class names, not classes, so that `bench list` and config validation import no diffusers.
Which scheduler fits which model is diffusers' own `pipe.scheduler.compatibles`, checked
before a sweep starts (bench.weights.check, from the model's model_index.json); schedulers are
built from these entries by bench.backends.diffusion.SchedulerSwap.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SchedulerSpec:
    name: str
    class_name: str
    overrides: dict = field(default_factory=dict)
    title: str = ""


SCHEDULERS: dict[str, SchedulerSpec] = {
    s.name: s
    for s in [
        SchedulerSpec("euler-a", "EulerAncestralDiscreteScheduler", title="Euler Ancestral"),
        SchedulerSpec("euler", "EulerDiscreteScheduler", title="Euler"),
        SchedulerSpec("ddim", "DDIMScheduler", title="DDIM"),
        SchedulerSpec("dpmpp-2m", "DPMSolverMultistepScheduler", title="DPM++ 2M"),
        SchedulerSpec(
            "dpmpp-2m-karras",
            "DPMSolverMultistepScheduler",
            {"use_karras_sigmas": True},
            title="DPM++ 2M Karras",
        ),
        # A1111's "DPM++ 2M SDE Karras" (diffusers' own mapping); its noise comes from the
        # pipeline's generators, so images stay reproducible per seed. ("DPM++ SDE Karras",
        # DPMSolverSDEScheduler, needs torchsde and seeds its Brownian noise from the global RNG
        # or one config seed per batch, not per image: left out.)
        SchedulerSpec(
            "dpmpp-2m-sde-karras",
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
            title="DPM++ 2M SDE Karras",
        ),
        SchedulerSpec("unipc", "UniPCMultistepScheduler", title="UniPC"),
        SchedulerSpec("unipc-karras", "UniPCMultistepScheduler", {"use_karras_sigmas": True}, title="UniPC Karras"),
        SchedulerSpec("lms", "LMSDiscreteScheduler", title="LMS"),
        SchedulerSpec("pndm", "PNDMScheduler", title="PNDM"),
        SchedulerSpec("heun", "HeunDiscreteScheduler", title="Heun"),
        SchedulerSpec("deis", "DEISMultistepScheduler", title="DEIS"),
        SchedulerSpec("deis-karras", "DEISMultistepScheduler", {"use_karras_sigmas": True}, title="DEIS Karras"),
        SchedulerSpec("ddpm", "DDPMScheduler", title="DDPM"),
        # Distilled few-step samplers: they fit only a model with their LoRA (its card's
        # scheduler: bench.models scheduler_hint), not the base's compatibles.
        SchedulerSpec("lcm", "LCMScheduler", title="LCM"),
        SchedulerSpec("tcd", "TCDScheduler", title="TCD"),
    ]
}
