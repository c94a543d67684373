"""HTML building blocks of the report pages: escaping, numbers, links, and the one table builder.

Prompts, model names and every other value from the data are untrusted text. They reach a page
only through `esc`, which the cell formats below call, so a table declares what it shows and
never escapes by hand. The plugin inserts the HTML after Markdown has run, so `*`, `|`, `[x](y)`,
`{{ }}` and `<script>` all stay literal.

A table is a list of `Col`: a title, the row key (or a function of the row) that gives the
value, the format that prints it, a tooltip, and which way is better. `table` renders such a
list over rows (dicts or a DataFrame) as a table that bench.js makes interactive with Tabulator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape
from typing import ClassVar, Literal, NamedTuple, Protocol
from urllib.parse import quote

import pandas as pd

DASH = "—"


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def fmt(value: object, digits: int = 2) -> str:
    """A number for a page: fixed digits, a dash when missing, ∞ for PSNR of identical images."""
    if missing(value):
        return DASH
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}f}"


def show(value: object) -> str:
    """A value as plain text (not escaped): integral floats without ".0" (Parquet ints with nulls read back as floats)."""
    if missing(value):
        return DASH
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def url(root: str, site_path: str) -> str:
    """The address of `site_path` of the site from a page `root` ("../" ...) below it; an
    absolute address (full-size images on an external host: `images_base_url`) stays as it is."""
    if site_path.startswith(("https://", "http://")):
        return site_path
    return root + quote(site_path)


def href(root: str, site_path: str) -> str:
    """url() as an attribute value."""
    return esc(url(root, site_path))


def filter_attr(values: Iterable[str]) -> str:
    """A row's values for one filter of its table (a data-* attribute), as bench.js reads them:
    a JSON list, so that a value holding spaces ("wild animals") stays one value, and the filter
    matches a whole value, never a word of one."""
    return json.dumps(list(values), ensure_ascii=False)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


NSFW_LABEL = "flagged NSFW: click to show"


def nsfw_veil(flagged: object) -> str:
    """The attributes that blur a flagged image's link until it is clicked (bench.css; bench.js
    takes them off at the first click, which does nothing else), or "" for an image not flagged
    (or not scored). Without JavaScript the click opens the image itself."""
    if missing(flagged) or not flagged:
        return ""
    return f' data-nsfw aria-label="{esc(NSFW_LABEL)}" title="{esc(NSFW_LABEL)}"'


# --- cell formats ----------------------------------------------------------------------------


class Td(NamedTuple):
    """A table cell: its HTML (escaped) and the `data-sort` value the table sorts by instead of it."""

    html: str
    sort: str


_EMPTY = Td(DASH, "")


class Format(Protocol):
    """How a column prints a value; the row is there for cells that show a second field."""

    numeric: ClassVar[bool]  # the column sorts as numbers, not as text

    def __call__(self, value: object, row: dict) -> Td: ...


@dataclass(frozen=True)
class Num:
    """A number times `scale` with `digits` after the point; a dash when missing."""

    digits: int = 2
    scale: float = 1.0
    numeric: ClassVar[bool] = True

    def __call__(self, value: object, row: dict) -> Td:
        if missing(value):
            return _EMPTY
        v = float(value) * self.scale
        # 12 significant digits; bench.js reads it with parseFloat, which takes an exponent too.
        key = f"{min(max(v, -1e18), 1e18):.12g}"
        return Td(fmt(v, self.digits), key)


@dataclass(frozen=True)
class Flag:
    """A symbol after a cell's text when the row's `key` is true, with a tooltip that says why."""

    key: str
    symbol: str
    tooltip: str
    css_class: str

    def html(self) -> str:
        return f' <span class="{esc(self.css_class)}" title="{esc(self.tooltip)}">{esc(self.symbol)}</span>'


@dataclass(frozen=True)
class Text:
    """Text as it is; a dash when missing or empty.

    note: a row key whose value follows in small print, in brackets (a backend's provider).
    flag: a mark after the text on the rows it applies to.
    """

    note: str | None = None
    flag: Flag | None = None
    numeric: ClassVar[bool] = False

    def __call__(self, value: object, row: dict) -> Td:
        if missing(value) or value == "":
            return _EMPTY
        text = esc(value)
        shown = text
        if self.flag is not None and row.get(self.flag.key):
            shown += self.flag.html()
        if self.note is not None and row.get(self.note):
            shown += f" <small>({esc(row[self.note])})</small>"
        return Td(shown, text)


@dataclass(frozen=True)
class Prose:
    """Long free text (a prompt): cut to `limit` characters in a box that wraps, all of it in the tooltip."""

    limit: int
    numeric: ClassVar[bool] = False

    def __call__(self, value: object, row: dict) -> Td:
        if missing(value) or value == "":
            return _EMPTY
        text = str(value)
        box = f'<span class="bench-wrap" title="{esc(text)}">{esc(shorten(text, self.limit))}</span>'
        return Td(box, esc(text[: self.limit]))


@dataclass(frozen=True)
class Code:
    """A name to show as code (a metric's key)."""

    numeric: ClassVar[bool] = False

    def __call__(self, value: object, row: dict) -> Td:
        if missing(value) or value == "":
            return _EMPTY
        return Td(f"<code>{esc(value)}</code>", esc(value))


@dataclass(frozen=True)
class Link:
    """Text linking to the address in the row's `url` key (relative to the page)."""

    url: str
    numeric: ClassVar[bool] = False

    def __call__(self, value: object, row: dict) -> Td:
        return Td(f'<a href="{esc(row[self.url])}">{esc(value)}</a>', esc(value))


TEXT = Text()


# --- the table builder -----------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """One column of a sortable table, declared once: what it shows and how it sorts."""

    title: str
    key: str | Callable[[dict], object]  # a key of the row dict, or a function of the row
    format: Format = TEXT
    tooltip: str = ""  # the header's title
    better: Literal["higher", "lower"] | None = None  # "higher": the first click sorts best (highest) first
    default: bool = False  # the rows arrive sorted by this column (the table library marks it)
    name: str = ""  # a stable id for the URL state and the column picker (default: the key or the title)
    hidden: bool = False  # hidden until the reader picks it (the column picker)
    data: tuple[tuple[str, str], ...] = ()  # extra data-* attributes of the header cell

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower", None):
            raise ValueError(f"column {self.title!r}: better must be 'higher', 'lower' or None, not {self.better!r}")

    @property
    def id(self) -> str:
        return self.name or (self.key if isinstance(self.key, str) else self.title)

    def th(self) -> str:
        attrs = f' data-col="{esc(self.id)}"'
        attrs += ' data-sort-method="number"' if self.format.numeric else ""
        attrs += " data-sort-reverse" if self.better == "higher" else ""
        attrs += " data-sort-default" if self.default else ""
        attrs += " data-hidden" if self.hidden else ""
        attrs += "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in self.data)
        attrs += f' title="{esc(self.tooltip)}"' if self.tooltip else ""
        return f"<th{attrs}>{esc(self.title)}</th>"

    def value(self, row: dict) -> object:
        return row.get(self.key) if isinstance(self.key, str) else self.key(row)

    def td(self, row: dict) -> str:
        cell = self.format(self.value(row), row)
        return f'<td data-sort="{cell.sort}">{cell.html}</td>'


def _attrs(values: dict[str, str]) -> str:
    return "".join(f' {esc(k)}="{esc(v)}"' for k, v in values.items())


def table(
    columns: list[Col],
    rows: pd.DataFrame | Iterable[dict],
    caption: str = "",
    row_attrs: Callable[[dict], dict[str, str]] | None = None,
    attrs: dict[str, str] | None = None,
) -> str:
    """A table that bench.js turns into an interactive one (sorting, a sticky header and first
    column, a column picker); without JavaScript it stays a plain table in one scroll box.

    row_attrs: the attributes of a row's <tr> (an id for its anchor, data-* for the filters).
    attrs: the attributes of the wrapping <div> (data-url-state: keep sort and filters in the URL).
    Cells are separated by whitespace so that the search index does not glue their texts."""
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else rows
    head = " ".join(col.th() for col in columns)
    body = "\n".join(
        f"<tr{_attrs(row_attrs(row)) if row_attrs else ''}>" + " ".join(col.td(row) for col in columns) + "</tr>"
        for row in records
    )
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    div = _attrs({"class": "bench-table", **(attrs or {})})
    return f"<div{div}><table>{cap}<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>"
