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


def test_a_gpu_counter_is_read_around_the_call_on_this_process_s_own_gpu(monkeypatch):
    """NVML faked (no GPU here). A torchrun shard or Ray worker sees only its GPU, as torch's
    device 0 (CUDA_VISIBLE_DEVICES=3); NVML ignores that variable, so its index 0 is another GPU:
    the meter must find the physical GPU 3 by its UUID."""
    import torch

    uuids = {"GPU-00000000-0000-0000-0000-000000000000": "gpu0", "GPU-33333333-3333-3333-3333-333333333333": "gpu3"}
    readings = iter([10_000, 19_000])
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda index: f"gpu{index}",
        nvmlDeviceGetHandleByUUID=lambda uuid: uuids[uuid],
        nvmlDeviceGetTotalEnergyConsumption=lambda handle: next(readings) if handle == "gpu3" else pytest.fail(),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    props = types.SimpleNamespace(uuid="33333333-3333-3333-3333-333333333333")  # str() as torch's _CUuuid
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props if index == 0 else pytest.fail())
    meter = timing.EnergyMeter("cuda")
    readings = iter([5, 10_000, 19_000])  # the first read probes that the counter exists
    assert meter.read_mj() == 5 and meter.read_mj() == 10_000 and meter.read_mj() == 19_000
    assert meter.unavailable is None


def test_a_gpu_without_the_counter_gives_null_and_says_why(monkeypatch, caplog):
    import torch

    probed = []

    def unsupported(handle):
        probed.append(handle)
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByUUID=lambda uuid: "gpu",
        nvmlDeviceGetTotalEnergyConsumption=unsupported,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: types.SimpleNamespace(uuid="0-0"))
    meter = timing.EnergyMeter("cuda")
    assert meter.read_mj() is None
    assert probed == ["gpu"]  # the counter itself was asked, and said no
    assert meter.unavailable == "RuntimeError: NVML_ERROR_NOT_SUPPORTED"
    assert "no GPU energy counter" in caplog.text and "NVML_ERROR_NOT_SUPPORTED" in caplog.text
