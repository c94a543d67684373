"""Rendered prompt-page fragments, cached on disk under the hash of everything they are made of.

A rebuild over unchanged data (`mkdocs serve`, CI with the cache restored) then reads each
prompt page's HTML instead of rendering its table and gallery again: at 1,632 prompts that is
most of a rebuild. The key covers the page's inputs (pickled) and the source of the report
package and of the metric registry, so a change to either renders afresh; an entry that no
longer matches is never read, only left behind (the cache lives under .cache/, git-ignored).
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path

from bench.files import write_bytes


@functools.cache
def _code() -> bytes:
    """The source that renders a page: bench/report/**/*.py and bench/metrics.py."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*here.rglob("*.py"), here.parent / "metrics.py"]):
        digest.update(path.read_bytes())
    return digest.digest()


def cached(cache_dir: Path, inputs: tuple, render: Callable[[], str]) -> str:
    """render(), or what it returned before for the same inputs and code."""
    key = hashlib.sha256(_code() + pickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()[:32]
    path = cache_dir / f"{key}.html"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    html = render()
    write_bytes(path, html.encode("utf-8"))  # whole or absent, like the thumbnails
    return html
