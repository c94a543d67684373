"""How long a plan's images take on one GPU: an estimate, never a measurement, and said to be one.

The only GPU figure this project has measured for full-size weights' architecture is SD 1.5 on one
H200 (shared/notes/gpu-h200-2026-11-27.md): fp16, 512 px, batch 4, 30 steps in 0.967 s per call,
so 8.1 ms per image-step. Other cells scale by steps x pixels (bench.shard.cell_cost) and by their
UNet's size: SDXL's UNet (2.6 B parameters against SD 1.5's 0.86 B) is counted 3x, an assumption.
A BigGAN image is counted as one step. An H100 is no faster than that H200 on this work.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.shard import cell_cost

MEASURED_S_PER_UNIT = 0.967 / (4 * 30)  # H200, SD 1.5, 512 px, fp16, batch 4: one image-step
UNET_WEIGHT = {"sdxl": 3.0}  # relative to SD 1.5's UNet per latent pixel and step (assumed)
WHERE = (
    "an H200's measured 8.1 ms per 512 px image-step of SD 1.5 (fp16, batch 4), scaled by steps x pixels, "
    "SDXL x3; an H100 is no faster"
)


def gpu_hours(cells: Iterable) -> float:
    """Estimated hours of generation on one GPU for `cells` (model loads and scoring not counted)."""
    units = sum(cell_cost(c) * UNET_WEIGHT.get(c.family, 1.0) for c in cells)
    return units * MEASURED_S_PER_UNIT / 3600
