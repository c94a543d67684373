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
        SchedulerSpec("unipc", "UniPCMultistepScheduler", title="UniPC"),
        SchedulerSpec("lms", "LMSDiscreteScheduler", title="LMS"),
        SchedulerSpec("pndm", "PNDMScheduler", title="PNDM"),
        SchedulerSpec("heun", "HeunDiscreteScheduler", title="Heun"),
        SchedulerSpec("deis", "DEISMultistepScheduler", title="DEIS"),
        SchedulerSpec("ddpm", "DDPMScheduler", title="DDPM"),
    ]
}
