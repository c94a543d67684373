"""Static SVG charts drawn at build time with matplotlib: no JavaScript, no CDN.

matplotlib is imported inside the functions and used through `Figure` rather than pyplot, so
no global backend or figure state is touched. Importing and drawing cost about two seconds, so
`cached` keeps each SVG under the hash of its input and of this file: a rebuild over the same
data draws nothing. Labels come from the data, so their `$` are escaped: a dollar sign in a
model name never starts mathtext.
"""

from __future__ import annotations

import hashlib
import io
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from bench.files import write_bytes

STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller files, selectable, the page's font
    "svg.hashsalt": "bench-report",  # stable element ids: a rebuild gives the same file
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
BACKEND_STYLE = {"pytorch": ("o", "#ee4c2c"), "onnxruntime": ("s", "#2f6db5")}


def _figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    # No layout engine: savefig's tight bounding box fits the labels at a third of the cost.
    return Figure(figsize=(width_in, height_in))


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight", pad_inches=0.1)
    return buf.getvalue()


def _label(row) -> str:
    return f"{row['model']} · {row['scheduler'] or '—'}".replace("$", r"\$")


def pareto_svg(board: pd.DataFrame, scale: float, y_label: str) -> str:
    """Mean CLIP against p50 latency, one marker per backend, the Pareto front as a step line."""
    import matplotlib

    data = board.dropna(subset=["latency_p50_s", "clip_mean"])
    with matplotlib.rc_context(STYLE):
        fig = _figure(7.5, 4.2)
        ax = fig.add_subplot()
        for backend, part in data.groupby("backend"):
            marker, colour = BACKEND_STYLE.get(backend, ("^", "#666666"))
            y = part["clip_mean"] * scale
            err = np.vstack([y - part["clip_lo"] * scale, part["clip_hi"] * scale - y])
            ax.errorbar(
                part["latency_p50_s"], y, yerr=np.nan_to_num(err), fmt=marker, color=colour,
                ecolor=colour, elinewidth=0.8, alpha=0.85, capsize=2, label=backend,
            )  # fmt: skip
        front = data[data["pareto"]].sort_values("latency_p50_s")
        if not front.empty:
            ax.step(
                front["latency_p50_s"],
                front["clip_mean"] * scale,
                where="post",
                color="#444444",
                linewidth=1,
                linestyle="--",
                label="Pareto front",
            )
            for _, row in front.iterrows():
                ax.annotate(
                    _label(row),
                    (row["latency_p50_s"], row["clip_mean"] * scale),
                    textcoords="offset points",
                    xytext=(5, 4),
                    fontsize=7,
                )
        x = data["latency_p50_s"]
        if len(x) and x.min() > 0 and x.max() / x.min() > 20:
            ax.set_xscale("log")
        ax.set_xlabel("latency per image, p50 over warm calls (s)")
        ax.set_ylabel(y_label)
        if len(data):
            ax.legend(loc="best", fontsize=8)
        return _svg(fig)


def speed_svg(pairs: pd.DataFrame) -> str:
    """PyTorch and ONNX Runtime p50 latency side by side per model x scheduler, speed-up written."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = _figure(7.5, 1.0 + 0.4 * max(len(pairs), 1))
        ax = fig.add_subplot()
        pos = np.arange(len(pairs))
        for offset, backend, col in [(-0.2, "pytorch", "latency_p50_s_pt"), (0.2, "onnxruntime", "latency_p50_s_ort")]:
            ax.barh(pos + offset, pairs[col], height=0.38, color=BACKEND_STYLE[backend][1], label=backend)
        for i, row in enumerate(pairs.itertuples()):
            longest = np.nanmax([row.latency_p50_s_pt, row.latency_p50_s_ort, 0])
            if np.isfinite(row.speedup):
                ax.annotate(f"×{row.speedup:.2f}", (longest, i), textcoords="offset points", xytext=(4, -3), fontsize=8)
        ax.set_yticks(pos, [_label(r) for _, r in pairs.iterrows()])
        ax.invert_yaxis()
        ax.set_xlabel("latency per image, p50 over warm calls (s); ×: PyTorch ÷ ONNX Runtime")
        ax.margins(x=0.15)
        if len(pairs):
            ax.legend(loc="best", fontsize=8)
        return _svg(fig)


def cached(cache_dir: Path, chart: str, frame: pd.DataFrame, *args) -> str:
    """`chart(frame, *args)` (a function of this module), from the cache when drawn before."""
    key = hashlib.sha256()
    for part in (Path(__file__).read_bytes(), version("matplotlib").encode(), repr((chart, args)).encode()):
        key.update(part)
    key.update(frame.to_csv(index=False).encode())
    path = cache_dir / f"{chart}-{key.hexdigest()[:20]}.svg"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    svg = globals()[chart](frame, *args)
    write_bytes(path, svg.encode("utf-8"))  # whole or absent, like the thumbnails
    return svg
