"""The speed page: PyTorch against ONNX Runtime for each model x scheduler that ran on both."""

from __future__ import annotations

import pandas as pd

from bench.report.html import Col, Num, table
from bench.report.sections.common import chart, note

COLUMNS = [
    Col("Model", "model"),
    Col("Scheduler", "scheduler"),
    Col("PyTorch p50 s", "latency_p50_s_pt", Num(3), better="lower"),
    Col("ORT p50 s", "latency_p50_s_ort", Num(3), better="lower"),
    Col(
        "speed-up ×",
        "speedup",
        Num(2),
        "PyTorch p50 ÷ ONNX Runtime p50: above 1, ONNX Runtime is faster",
        "higher",
        default=True,
    ),
    Col("PyTorch ms/step", "step_ms_p50_pt", Num(1), better="lower"),
    Col("ORT ms/step", "step_ms_p50_ort", Num(1), better="lower"),
    Col("PyTorch load s", "load_s_pt", Num(1), better="lower"),
    Col("ORT load s", "load_s_ort", Num(1), "session creation; the ONNX export is in the next column", "lower"),
    Col("ORT export s", "export_s_ort", Num(1), "0 when the export cache was hit", "lower"),
    Col("PyTorch peak MB", "peak_mem_mb_pt", Num(0), better="lower"),
    Col("ORT peak MB", "peak_mem_mb_ort", Num(0), better="lower"),
    Col("ORT provider", "provider_ort", tooltip="the execution provider that really ran"),
    Col("PyTorch device", "provider_pt"),
    Col("min PSNR dB", "psnr_db_min", Num(1), "worst PSNR of an ORT image against its PyTorch twin", "higher"),
    Col("max |Δ|", "max_abs_diff_max", Num(4), "largest absolute pixel difference (0..1) against PyTorch", "lower"),
]


def speed_table(pairs: pd.DataFrame) -> str:
    """The pairs of stats.backend_pairs, largest speed-up first."""
    return table(COLUMNS, pairs.sort_values("speedup", ascending=False, na_position="last"))


def speed_chart(root: str, site_path: str) -> str:
    return chart(root, site_path, "p50 latency per model and scheduler, PyTorch and ONNX Runtime")


def no_pairs() -> str:
    return note("No model and scheduler ran on both PyTorch and ONNX Runtime yet.")
