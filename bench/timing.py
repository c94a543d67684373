"""Timing done the way serious benchmarks do it: synchronised clocks, per-step times, peaks.

The clock is `time.perf_counter`; on CUDA every reading is preceded by a synchronise so that
queued kernels are counted where they run, not where they were launched.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time


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

    def __enter__(self) -> StepClock:
        _sync(self.device)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        _sync(self.device)
        self.finished = time.perf_counter()

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
