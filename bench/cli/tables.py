"""Tables for the terminal, and the same rows as CSV or JSON for scripts (`--format`).

A terminal table must fit its width: identifiers a user types (model keys, scheduler names) are
never cut, long text wraps, and when the columns cannot all fit, the least important ones are
left out (and named below the table) rather than every number being cut to "0.0…".
"""

from __future__ import annotations

import csv
import json
import math
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from bench.console import plain

FORMATS = ("table", "csv", "json")
DASH = "—"


@dataclass(frozen=True)
class Col:
    header: str
    key: str  # the row dict's key; CSV and JSON use it as the column name
    format: Callable[[object], str] = str
    numeric: bool = False  # right-aligned
    keep: bool = False  # an identifier: never cut, never left out
    priority: int = 0  # lower goes first when the terminal is too narrow for every column
    stay: bool = False  # text the table is for (a dry run's weights): never left out, wrapped instead


def number(spec: str) -> Callable[[object], str]:
    """A formatter for numbers with `spec` ("{:.3f}"-style, without braces); a dash when missing."""

    def fmt(value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return DASH
        return format(value, spec)

    return fmt


def text(value: object) -> str:
    return DASH if value is None or value == "" or (isinstance(value, float) and math.isnan(value)) else str(value)


def _fits(columns: list[Col], rows: list[dict], width: int) -> list[Col]:
    """The columns to show: all of them if they fit, else drop the lowest priority ones first."""

    def need(col: Col) -> int:
        cells = [len(col.format(r.get(col.key))) for r in rows] or [0]
        # Text columns may wrap to about a third of their longest cell; numbers and keys may not.
        longest = max(cells)
        room = longest if col.numeric or col.keep else max(len(col.header), min(longest, max(12, longest // 3)))
        return max(room, len(col.header) if col.numeric or col.keep else 8) + 3  # padding and rule

    shown = list(columns)
    droppable = sorted((c for c in columns if not (c.keep or c.stay)), key=lambda c: c.priority)
    while sum(need(c) for c in shown) + 1 > width and droppable:
        shown.remove(droppable.pop(0))
    return shown


def render(out, rows: list[dict], columns: list[Col], fmt: str = "table", title: str = "") -> None:
    """Print `rows` as a table fitted to `out` (a rich Console), or as CSV / JSON on stdout."""
    if fmt == "json":
        sys.stdout.write(json.dumps([{c.key: _plain(r.get(c.key)) for c in columns} for r in rows], indent=1) + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([c.key for c in columns])
        writer.writerows([[_plain(r.get(c.key)) for c in columns] for r in rows])
        return
    from rich import box
    from rich.table import Table

    shown = _fits(columns, rows, out.width)
    widths = _text_widths(shown, rows, out.width)
    # Text, never markup, for the title too: it names a suite or a metric, which users write
    table = Table(title=plain(title) if title else None, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for col in shown:
        table.add_column(
            plain(col.header),
            justify="right" if col.numeric else "left",
            no_wrap=col.numeric or col.keep,
            overflow="fold",
            min_width=max((len(col.format(r.get(col.key))) for r in rows), default=0) if col.keep else None,
        )
    for r in rows:
        # Text, not markup: a model or prompt holding "[x]" prints as it is.
        cells = [col.format(r.get(col.key)) for col in shown]
        table.add_row(*(plain(_wrap(cell, widths.get(col.key))) for col, cell in zip(shown, cells)))
    out.print(table)
    left = [c.header for c in columns if c not in shown]
    if left:
        out.print(
            plain(f"(too narrow for {', '.join(left)}: widen the terminal, or use --format csv or json)", style="dim")
        )


def _text_widths(shown: list[Col], rows: list[dict], width: int) -> dict[str, int]:
    """About the width rich gives each wrapping text column when they cannot all have their
    longest cell (what the fixed columns leave, shared in proportion to each one's longest cell,
    a little under, so that a line broken here is never folded again). Empty when all fit."""
    fixed, longest = 0, {}
    for col in shown:
        cells = [len(col.format(r.get(col.key))) for r in rows] or [0]
        if col.numeric or col.keep:
            fixed += max(max(cells), len(col.header)) + 3
        else:
            longest[col.key] = max(max(cells), len(col.header))
    room = width - 1 - fixed - 3 * len(longest)
    total = sum(longest.values())
    if not longest or total <= room:
        return {}
    return {key: max(8, room * n // total - 1) for key, n in longest.items()}


def _wrap(cell: str, width: int | None) -> str:
    """`cell` broken into lines of at most `width` after a "/", "-" or space where it can be (a
    hub id wraps as "stabilityai/" then "stable-diffusion-xl-", not mid-word); rich folds the
    rest."""
    if width is None or len(cell) <= width:
        return cell
    return "\n".join(textwrap.wrap(cell.replace("/", "/ "), width + 1, break_long_words=False)).replace("/ ", "/")


def _plain(value: object):
    """A value JSON and CSV can hold: numbers stay numbers, missing values are null."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value
