"""Energy per image: NVML's counter around each call on a GPU, null where there is no counter."""

from __future__ import annotations

import sys
import types

import pytest

from bench import timing


def test_energy_is_joules_per_image_and_mean_watts():
    assert timing.energy(1_000_000, 1_250_000, 0.5, 4) == (62.5, 500.0)
    assert timing.energy(None, None, 0.5, 4) == (None, None)


def test_no_counter_means_null_never_zero():
    assert timing.EnergyMeter("cpu").read_mj() is None
    clock = timing.StepClock("cpu")
    with clock:
        pass
    assert clock.energy(4) == (None, None)


def test_a_gpu_counter_is_read_around_the_call(monkeypatch):
    """NVML faked (no GPU here): the meter reads the counter of the current device."""
    import torch

    readings = iter([10_000, 19_000])
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda index: f"gpu{index}",
        nvmlDeviceGetTotalEnergyConsumption=lambda handle: next(readings) if handle == "gpu3" else pytest.fail(),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    meter = timing.EnergyMeter("cuda")
    readings = iter([5, 10_000, 19_000])  # the first read probes that the counter exists
    assert meter.read_mj() == 5 and meter.read_mj() == 10_000 and meter.read_mj() == 19_000


def test_a_gpu_without_the_counter_gives_null(monkeypatch):
    import torch

    def unsupported(handle):
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda index: "gpu",
        nvmlDeviceGetTotalEnergyConsumption=unsupported,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert timing.EnergyMeter("cuda").read_mj() is None
