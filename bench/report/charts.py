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
BACKEND_STYLE = {"pytorch": ("o", "#ee4c2c"), "pytorch-compile": ("D", "#e6a100"), "onnxruntime": ("s", "#2f6db5")}
# Colours of backends the style does not name, in order of appearance: each keeps its own.
OTHER_COLOURS = ("#2a9d8f", "#8e44ad", "#6d4c41", "#666666")


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
                ecolor=colour, elinewidth=0.8, alpha=0.85, capsize=2, label=backend.replace("$", r"\$"),
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


def _colours(backends) -> dict[str, str]:
    spare = iter(OTHER_COLOURS * (1 + len(backends) // len(OTHER_COLOURS)))
    return {b: BACKEND_STYLE[b][1] if b in BACKEND_STYLE else next(spare) for b in backends}


def speed_svg(comparison: pd.DataFrame) -> str:
    """p50 latency of every backend per model x scheduler, a group of bars each, one colour per
    backend, the speed-up over eager PyTorch written at the end of each bar.

    `comparison` holds the rows of stats.backend_comparison (model, scheduler, backend,
    latency_p50_s, speedup) in the order they are drawn, top to bottom.
    """
    import matplotlib

    rows = comparison.reset_index(drop=True)
    by_cell = rows.groupby(["model", "scheduler"], sort=False)
    cell, sizes = by_cell.ngroup().to_numpy(), by_cell.size().to_numpy()
    # A bar per row, a gap between groups, so that each group reads as one model x scheduler.
    starts = np.cumsum(sizes + 0.7) - (sizes + 0.7)
    pos = starts[cell] + by_cell.cumcount().to_numpy()
    centres = starts + (sizes - 1) / 2
    labels = [_label(row) for _, row in by_cell.head(1).iterrows()]
    colours = _colours(list(dict.fromkeys(rows["backend"])))
    with matplotlib.rc_context(STYLE):
        fig = _figure(7.5, 1.0 + 0.2 * len(rows) + 0.15 * len(sizes))
        ax = fig.add_subplot()
        for backend, colour in colours.items():
            part = rows["backend"].eq(backend).to_numpy()
            label = backend.replace("$", r"\$")
            ax.barh(pos[part], rows.loc[part, "latency_p50_s"], height=0.85, color=colour, label=label)
        for i, row in enumerate(rows.itertuples()):
            if np.isfinite(row.speedup) and np.isfinite(row.latency_p50_s):
                ax.annotate(
                    f"×{row.speedup:.2f}", (row.latency_p50_s, pos[i]), textcoords="offset points",
                    xytext=(3, 0), va="center", fontsize=7,
                )  # fmt: skip
        ax.set_yticks(centres, labels)
        ax.set_ylim(starts[-1] + sizes[-1] - 0.2 if len(rows) else 1, -0.8)  # top to bottom, in table order
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("latency per image, p50 over warm calls (s); ×: eager PyTorch p50 ÷ this backend's p50")
        ax.margins(x=0.12)
        if len(rows):  # above the bars, in one line: it never hides one
            ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=len(colours), fontsize=8, frameon=False)
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
