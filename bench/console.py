"""How `bench` talks to a terminal or a log file: rich consoles, the progress bar, the `bench`
logger's handler, quieter third-party libraries, and the text of `bench fetch`'s listing.

Library code never prints: it logs to `logging.getLogger(__name__)` (all under "bench") and the
CLI decides how that looks. Messages are printed as plain text (markup off), so a prompt or path
holding `[x]` prints as it is.
"""

from __future__ import annotations

import logging
import os
import warnings

# Libraries whose own INFO/WARNING chatter (download bars, deprecations, tracer notes) would
# bury the sweep's progress bar; their errors still print. Quieted by name, never the root.
NOISY_LOGGERS = ("diffusers", "transformers", "optimum", "huggingface_hub", "torch", "timm", "PIL", "urllib3")


def console(stderr: bool = False):
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:  # piped or logged: rich would assume 80 columns and wrap tables
        out.width = 160
    return out


def progress_bar(out):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=out,
    )


class ConsoleHandler(logging.Handler):
    """Log records on a rich console, one line each, as plain text (never markup): above the
    progress bar while one runs, with no padding to the terminal's width in a log file."""

    PREFIX = {
        logging.DEBUG: ("debug: ", "dim"),
        logging.WARNING: ("warning: ", "yellow"),
        logging.ERROR: ("error: ", "red"),
    }

    def __init__(self, out):
        super().__init__()
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            prefix, style = self.PREFIX.get(min(record.levelno, logging.ERROR), ("", ""))
            line = Text(prefix, style=style) + Text(self.format(record))
            self.out.print(line, soft_wrap=True, highlight=False)
        except Exception:  # noqa: BLE001 - logging must never take the sweep down
            self.handleError(record)


def setup_logging(out, debug: bool = False) -> None:
    """Route log records to `out` (the progress bar's console, so they print above the bar).

    The `bench` logger shows INFO (DEBUG with `debug`); other libraries' records reach the same
    handler through the root logger from WARNING up (open_clip logs on the root logger itself).
    """
    handler = ConsoleHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(old)  # a second call (tests run several commands) replaces, not doubles
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("bench").setLevel(logging.DEBUG if debug else logging.INFO)


def quiet_libraries() -> None:
    """One progress bar of ours instead of diffusers' per-step and loading bars and warnings."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Read when the libraries set up their loggers, so their import-time chatter ("Multiple
    # distributions found for package optimum") is quiet too; a user's own setting wins.
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    # diffusers and transformers set their own logger levels; theirs must be lowered their way.
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "size ?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def fetch_listing(items, notes: list[str]) -> str:
    """`bench fetch`'s listing (bench.weights.fetch.plan's items): per item its source,
    licence, token need, and files with sizes."""
    legend = (
        "listed from: hub = the hub's file list now; cache = the local HF cache; "
        "expected = what the loader reads (nothing reachable to list; sizes unknown)"
    )
    lines = [legend, ""]
    total, unknown = 0, 0
    for item in items:
        where = item.source if item.is_url else f"{item.source} @ {item.revision or 'default branch'}"
        commit = f", commit {item.commit}" if item.commit else ""
        lines.append(f"{', '.join(item.models)}: {item.kind} {where} [listed from {item.listed_from}{commit}]")
        token = "needs HF_TOKEN (gated)" if item.gated else "no token needed"
        lines.append(f"  licence: {item.licence or 'unknown'}; {token}")
        if item.note:
            lines.append(f"  note: {item.note}")
        for f in item.files:
            lines.append(f"    {f.path:<60} {human_bytes(f.size_bytes):>10}{'  cached' if f.cached else ''}")
            if f.size_bytes is None:
                unknown += 1
            else:
                total += f.size_bytes
    lines += [f"note: {n}" for n in notes]
    known = human_bytes(total) if total or not unknown else "sizes unknown here"
    lines.append(
        f"total: {len(items)} downloads, {known}"
        + (f" (+ {unknown} files of unknown size)" if unknown and total else "")
    )
    return "\n".join(lines)
