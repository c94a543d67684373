"""The plan: every cell (model x backend x scheduler x prompt x seed) of a suite, in run order.

The order makes the slow axis (loading a model) change least often: model, then backend, then
scheduler (a cheap in-place swap), then prompt, then seeds (batched into one call).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from itertools import groupby

from bench.backends import supports
from bench.config import Suite
from bench.models import ModelSpec


@dataclass(frozen=True)
class Cell:
    model: str
    family: str
    hub_id: str
    revision: str | None
    lora: str | None
    lora_scale: float | None
    vae: str | None
    backend: str
    device: str  # resolved: cpu or cuda
    # ONNX Runtime's requested provider: TensorRT and CUDA cells share a device, not an image.
    provider_requested: str
    dtype: str  # resolved: float32, float16 ...
    scheduler: str | None  # None for the gan family
    prompt_id: str
    prompt: str
    negative_prompt: str
    steps: int
    guidance_scale: float
    width: int
    height: int
    seed: int
    # Family-specific settings that change the image (BigGAN's truncation, class mapping,
    # weights hash), as sorted JSON; empty for the diffusion families.
    knobs: str = ""

    @property
    def cell_id(self) -> str:
        """Stable hash of everything that defines the image (the prompt text included, so an
        edited prompt is a new cell, not a silently reused one)."""
        blob = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def group(self) -> tuple:
        """Cells that share one loaded model."""
        return (self.model, self.backend)


def cells_for(suite: Suite, resolved: dict[str, tuple[str, str]]) -> tuple[list[Cell], list[str]]:
    """All cells of a suite, and notes on the (model, backend) pairs left out as unsupported.

    `resolved` maps each backend to the (device, dtype) that "auto" means on this machine, so a
    cell made on a CPU is not taken as done on a GPU machine.
    """
    cells, notes = [], []
    for model in suite.models:
        spec: ModelSpec = suite.model_spec(model)
        for backend in suite.backends:
            device, dtype = resolved[backend]
            requested = suite.provider if backend == "onnxruntime" and suite.provider != "auto" else device
            if not supports(backend, spec.family):
                notes.append(f"{model}: the {spec.family} family has no {backend} backend; skipped")
                continue
            schedulers = [None] if spec.family == "gan" else suite.schedulers
            knobs = json.dumps(spec.image_knobs(), sort_keys=True) if spec.image_knobs() else ""
            for scheduler in schedulers:
                for prompt in suite.prompts:
                    negative = prompt.negative if prompt.negative is not None else spec.negative_prompt
                    for seed in suite.seeds:
                        cells.append(
                            Cell(
                                model=model,
                                family=spec.family,
                                hub_id=spec.hub_id,
                                revision=spec.revision,
                                lora=spec.lora.hub_id if spec.lora else None,
                                lora_scale=spec.lora.scale if spec.lora else None,
                                vae=spec.vae,
                                backend=backend,
                                device=device,
                                dtype=dtype,
                                provider_requested=requested,
                                scheduler=scheduler,
                                prompt_id=prompt.id,
                                prompt=prompt.text,
                                negative_prompt=negative,
                                steps=spec.steps,
                                guidance_scale=float(spec.guidance_scale),
                                width=spec.width,
                                height=spec.height,
                                seed=seed,
                                knobs=knobs,
                            )
                        )
    return cells, notes


def batches(cells: list[Cell], batch_size: int):
    """Consecutive cells that one call can make: same group, scheduler and prompt."""
    key = lambda c: (c.group, c.scheduler, c.prompt_id)  # noqa: E731
    for _, run in groupby(cells, key=key):
        run = list(run)
        for i in range(0, len(run), batch_size):
            yield run[i : i + batch_size]
