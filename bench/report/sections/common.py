"""Blocks that several pages share: the CLIP scale, the metric line, the empty state, a chart."""

from __future__ import annotations

from dataclasses import dataclass

from bench.report.html import Num, esc, fmt, href, missing


@dataclass(frozen=True)
class Scale:
    """How CLIP numbers are printed: the raw cosine (as the seed did) or x100."""

    name: str  # "raw" or "x100"
    metric_title: str  # e.g. "CLIP ViT-B/32 (OpenAI)"

    @property
    def factor(self) -> float:
        return 100.0 if self.name == "x100" else 1.0

    @property
    def digits(self) -> int:
        return 2 if self.name == "x100" else 4

    @property
    def unit(self) -> str:
        return "cosine × 100" if self.name == "x100" else "raw cosine"

    @property
    def num(self) -> Num:
        """The cell format of a raw CLIP value."""
        return Num(self.digits, self.factor)

    def fmt(self, raw: object) -> str:
        """A raw CLIP value as this scale prints it (a dash when missing)."""
        return fmt(None if missing(raw) else float(raw) * self.factor, self.digits)

    def label(self, what: str = "CLIP") -> str:
        return f"{what} ({self.metric_title}, {self.unit})"


def metric_header(scale: Scale, note: str = "") -> str:
    how = (
        "cosine similarity × 100, the scale of torchmetrics, HEIM and MLPerf"
        if scale.name == "x100"
        else "raw cosine similarity, as the seed study printed it (×100 is the torchmetrics/HEIM/MLPerf scale)"
    )
    out = (
        f'<p class="bench-metric">Quality is the CLIP score with <strong>{esc(scale.metric_title)}</strong>: the '
        f"{how}. Higher is better.</p>"
    )
    return out + metric_note(note)


def metric_note(note: str, title: str = "Metric", folded: bool = False) -> str:
    """The data's own word on what a page shows (a metric's fallback, one setting of a swept
    axis), as a note box; "" without one. folded: only its title shows until it is opened."""
    if not note:
        return ""
    if folded:
        return f'<details class="note bench-folded"><summary>{esc(title)}</summary><p>{esc(note)}</p></details>'
    return f'<div class="admonition note"><p class="admonition-title">{esc(title)}</p><p>{esc(note)}</p></div>'


def empty_state(data_dir: str) -> str:
    return (
        '<div class="admonition info bench-empty-state"><p class="admonition-title">No results yet</p>'
        f"<p>There is no generation in <code>{esc(data_dir)}/</code>. Make some, then rebuild "
        "(<code>mkdocs serve</code> reloads by itself):</p>"
        "<ul><li><code>nox -s demo</code>: the <code>tiny</code> suite, offline on a CPU, in a few minutes;</li>"
        "<li><code>nox -s bench -- --suite seed</code>: the seed study on a GPU.</li></ul>"
        "<p>The sweep writes Parquet tables to <code>data/</code> and images to <code>images/</code>; "
        "this site is built from those two folders.</p></div>"
    )


def note(text: str) -> str:
    """A line of small print under a table (plain text)."""
    return f'<p class="bench-note">{esc(text)}</p>'


def chart(root: str, site_path: str, alt: str) -> str:
    src = href(root, site_path)
    return f'<figure class="bench-chart"><a class="glightbox" href="{src}" data-type="image"><img src="{src}" alt="{esc(alt)}"></a></figure>'
