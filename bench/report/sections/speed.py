"""The speed page: every backend of each model x scheduler against eager PyTorch, table and chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from bench.report.html import Col, Num, Td, esc, missing, table
from bench.report.sections.common import chart, note

# What the one-off column holds on each row, for its cell's tooltip.
ONE_OFF = {
    "compile": "torch.compile: median over the calls that compiled a new shape, never timed",
    "export": "ONNX export (0 when the export cache was hit)",
}


@dataclass(frozen=True)
class OneOff:
    """A one-off cost in seconds with a tooltip saying what it was (the row's `one_off_kind`)."""

    digits: int = 1
    numeric: ClassVar[bool] = True

    def __call__(self, value: object, row: dict) -> Td:
        cell = Num(self.digits)(value, row)
        kind = row.get("one_off_kind") or ""
        if missing(value) or kind not in ONE_OFF:
            return cell
        html = f'<span title="{esc(ONE_OFF[kind])}">{cell.html} <small>({esc(kind)})</small></span>'
        return Td(html, cell.sort)


COLUMNS = [
    Col("Model", "model"),
    Col("Scheduler", "scheduler"),
    Col("Backend", "backend"),
    Col("Size px", "size", tooltip="the images' width × height: latency grows with it"),
    Col("p50 s", "latency_p50_s", Num(3), "median latency per image, warm calls", "lower"),
    Col(
        "p50 s/MP",
        "latency_p50_s_per_mp",
        Num(3),
        "median latency per megapixel: models of different native sizes compared at equal work",
        "lower",
    ),
    Col("p90 s", "latency_p90_s", Num(3), "90th percentile latency per image, warm calls", "lower"),
    Col(
        "speed-up ×",
        "speedup",
        Num(2),
        "eager PyTorch p50 ÷ this backend's p50: above 1, faster than eager (eager itself is 1.00)",
        "higher",
    ),
    Col("min PSNR dB", "psnr_db_min", Num(1), "worst PSNR of an image against its eager PyTorch twin", "higher"),
    Col("max |Δ|", "max_abs_diff_max", Num(4), "largest absolute pixel difference (0..1) against eager", "lower"),
    Col(
        "one-off cost s",
        "one_off_s",
        OneOff(),
        "paid once, before the first timed image, and never in the latency: torch.compile time or ONNX export",
        "lower",
    ),
    Col("load s", "load_s", Num(1), "model load (ONNX Runtime: session creation)", "lower"),
    Col("peak MB", "peak_mem_mb", Num(0), "peak memory: CUDA allocated, or process RSS on CPU", "lower"),
    Col("J/image", "energy_j", Num(1), "median GPU energy per image, warm calls (NVML counter)", "lower"),
    Col("images/kWh", "images_per_kwh", Num(0), "3.6 million ÷ J/image", "higher"),
    Col("Measured on", "measured_on", tooltip="the machine and the day of the latencies"),
    Col("Provider", "provider", tooltip="the device or execution provider that really ran"),
    Col("Options", "options", tooltip="how the backend ran beyond device and dtype, as it recorded it"),
    Col("timed", "n_timed", Num(0), "warm ok images behind the latency and energy figures", "higher"),
]


def speed_table(comparison: pd.DataFrame) -> str:
    """The rows of stats.backend_comparison as they come: by model, scheduler, eager first."""
    caption = (
        "Latency: seconds per image (and per megapixel) over warm calls, at the size shown. Memory: MB. "
        "Energy: GPU joules per image."
    )
    return table(COLUMNS, comparison, caption) + note(
        "A dash: no value recorded (no energy reading on a CPU, no parity for eager PyTorch itself)."
    )


def speed_chart(root: str, site_path: str) -> str:
    return chart(root, site_path, "p50 latency per model and scheduler, one bar per backend, speed-up over eager")


def no_comparison() -> str:
    return note("No model and scheduler ran on both eager PyTorch and another backend yet.")
