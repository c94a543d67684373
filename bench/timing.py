"""Timing done the way serious benchmarks do it: synchronised clocks, per-step times, peaks.

The clock is `time.perf_counter`; on CUDA every reading is preceded by a synchronise so that
queued kernels are counted where they run, not where they were launched.
"""

from __future__ import annotations

import logging
import resource
import statistics
import sys
import time
from functools import cache

log = logging.getLogger("bench")


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


class StepClock:
    """Times one pipeline call: total wall time and each denoising step (step-end callback).

    diffusers calls `callback_on_step_end` after every step, so the gaps between consecutive
    calls are step times; the first gap is measured from the first step's end, so a call with
    n steps yields n-1 clean step times (the first also contains prompt encoding).
    """

    def __init__(self, device: str):
        self.device = device
        self.step_ends: list[float] = []
        self.started = self.finished = 0.0
        self.meter = energy_meter(device)
        self.energy_mj: tuple[int | None, int | None] = (None, None)

    def __enter__(self) -> StepClock:
        _sync(self.device)
        start_mj = self.meter.read_mj()
        self.started = time.perf_counter()
        self.energy_mj = (start_mj, None)
        return self

    def __exit__(self, *exc) -> None:
        _sync(self.device)
        self.finished = time.perf_counter()
        self.energy_mj = (self.energy_mj[0], self.meter.read_mj())

    def energy(self, images: int) -> tuple[float | None, float | None]:
        """(joules per image, mean watts) of the timed call; (None, None) without a counter."""
        return energy(*self.energy_mj, self.wall_s, images)

    def on_step_end(self, pipe, step, timestep, callback_kwargs):
        _sync(self.device)
        self.step_ends.append(time.perf_counter())
        return callback_kwargs

    @property
    def wall_s(self) -> float:
        return self.finished - self.started

    @property
    def step_ms(self) -> list[float]:
        return [(b - a) * 1000 for a, b in zip(self.step_ends, self.step_ends[1:])]

    @property
    def step_ms_p50(self) -> float | None:
        return statistics.median(self.step_ms) if len(self.step_ends) > 1 else None

    @property
    def denoise_s(self) -> float | None:
        """Time in the denoising loop: n steps at the median step time (see class docstring)."""
        p50 = self.step_ms_p50
        return None if p50 is None else p50 * len(self.step_ends) / 1000


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def peak_memory_mb(device: str) -> tuple[float, str]:
    """CUDA: peak bytes allocated by torch since the last reset. CPU: the process's peak RSS
    (it never goes down, so it bounds what the model needed from above)."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20, "cuda_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10), "process_rss"


class EnergyMeter:
    """GPU energy of one call, from NVML's total-energy counter (millijoules since the driver
    loaded; Volta and newer), the counter ML.ENERGY reads too. Read before and after the call,
    after the clock's synchronise, so it covers the same span as the wall time.

    Without a CUDA device, NVML or a counter (the CPU, older GPUs) every reading is None: a
    missing energy figure is null, never zero. On a GPU that is a surprise, so `unavailable` keeps
    why (also logged once per process, through energy_meter's cache).
    """

    def __init__(self, device: str):
        self.handle, self.unavailable = None, None
        if device != "cuda":
            self.unavailable = f"no energy counter on {device}"
            return
        try:
            import pynvml
            import torch

            pynvml.nvmlInit()
            # NVML numbers the GPUs physically and ignores CUDA_VISIBLE_DEVICES, which torchrun
            # shards and Ray workers narrow to their own GPU: there torch's index 0 is not NVML's
            # 0. The UUID names the same GPU to both (torch's omits NVML's "GPU-" prefix).
            uuid = str(torch.cuda.get_device_properties(torch.cuda.current_device()).uuid)
            self.handle = pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}")
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)  # raises where unsupported
        except Exception as e:  # noqa: BLE001 - no library, no driver, no counter: energy is unknown
            self.handle, self.unavailable = None, f"{type(e).__name__}: {e}"
            log.warning("no GPU energy counter (energy_j and power_w_mean stay null): %s", self.unavailable)

    def read_mj(self) -> int | None:
        if self.handle is None:
            return None
        import pynvml

        return pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)


def energy(
    before_mj: int | None, after_mj: int | None, wall_s: float, images: int
) -> tuple[float | None, float | None]:
    """(joules per image, mean watts) between two readings; (None, None) without a counter."""
    if before_mj is None or after_mj is None or images < 1:
        return None, None
    joules = (after_mj - before_mj) / 1000
    return joules / images, (joules / wall_s if wall_s > 0 else None)


@cache
def energy_meter(device: str) -> EnergyMeter:
    """One meter per device for the process: NVML is initialised once."""
    return EnergyMeter(device)
