"""How `bench` talks to a terminal or a log file: rich consoles, the progress bar, the `bench`
logger's handler, quieter third-party libraries, and the text of `bench fetch`'s listing.

Library code never prints: it logs to `logging.getLogger(__name__)` (all under "bench") and the
CLI decides how that looks. Every console has rich's markup and emoji codes off, and user text
goes through `plain` (control characters shown as escapes), so a suite named `[/]`, `[link=...]`
or `:cat:` prints as it is, in titles, cells, log lines and errors alike.
"""

from __future__ import annotations

import logging
import os
import re
import time
import warnings

# Libraries whose own INFO/WARNING chatter (download bars, deprecations, tracer notes) would
# bury the sweep's progress bar; their errors still print. Quieted by name, never the root.
NOISY_LOGGERS = ("diffusers", "transformers", "optimum", "huggingface_hub", "torch", "timm", "PIL", "urllib3")


# Narrower than this no table can be drawn (COLUMNS=0 printed nothing and exited 0): such a
# COLUMNS is treated as unset.
MIN_COLUMNS = 20
DEFAULT_COLUMNS = 80  # rich's own default width
PIPED_COLUMNS = 160  # piped or logged: rich would assume 80 columns and wrap tables
# C0 controls but tab and newline, DEL, C1 controls: an escape sequence in stored data would
# drive the reader's terminal (colours, hyperlinks, a cleared screen).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def usable_columns(environ=None) -> int | None:
    """COLUMNS when it is a width a table fits in; None when unset or unusable (0, -1, "wide", 5)."""
    environ = os.environ if environ is None else environ
    try:
        columns = int(environ.get("COLUMNS", ""))
    except ValueError:
        return None
    return columns if columns >= MIN_COLUMNS else None


def console(stderr: bool = False):
    from rich.console import Console

    # markup and emoji off: anything printed as a str is shown as it is, whoever wrote it
    out = Console(stderr=stderr, highlight=False, markup=False, emoji=False)
    # rich's hook for a closed pipe exits with 1 (bench's "some cells failed"); raised instead,
    # bench.cli's entry point ends every command alike (EXIT_BROKEN_PIPE)
    out.on_broken_pipe = _broken_pipe
    if usable_columns() is None:
        if not out.is_terminal:
            out.width = PIPED_COLUMNS
        elif "COLUMNS" in os.environ:
            out.width = DEFAULT_COLUMNS  # rich took COLUMNS=0 (or 5) at its word
    return out


def _broken_pipe() -> None:
    raise BrokenPipeError("the reader of the output went away")


def plain(text: object, style: str = ""):
    """User text as rich Text: never markup, control characters shown as escapes (\\x1b)."""
    from rich.text import Text

    return Text(_CONTROLS.sub(lambda m: f"\\x{ord(m[0]):02x}", str(text)), style=style)


class PlainProgress:
    """The progress bar's interface for output that is not a terminal (CI, nohup, Slurm logs):
    one plain line per task every `every_s` seconds, and when it completes, instead of a bar
    redrawn in place (which a log file shows as nothing, or as thousands of lines)."""

    def __init__(self, out, every_s: float = 30.0):
        self.console, self.every_s, self.tasks = out, every_s, []

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        self._finish()

    def add_task(self, description: str, total: int) -> int:
        self._finish()
        now = time.monotonic()
        self.tasks.append({"description": description, "total": total, "done": 0, "start": now, "shown": now})
        return len(self.tasks) - 1

    def _finish(self) -> None:
        """The last line of each task that completed, under its final description (the sweep
        relabels its task as the total when it ends)."""
        for t in self.tasks:
            if t["done"] >= t["total"] and not t.get("finished"):
                t["finished"] = True
                self._line(t, time.monotonic())

    def update(self, task: int, description: str | None = None) -> None:
        if description is not None:
            self.tasks[task]["description"] = description

    def advance(self, task: int, n: int = 1) -> None:
        t = self.tasks[task]
        t["done"] += n
        now = time.monotonic()
        if now - t["shown"] >= self.every_s and t["done"] < t["total"]:
            t["shown"] = now
            self._line(t, now)

    def _line(self, t: dict, now: float) -> None:
        elapsed = now - t["start"]
        total, done = max(t["total"], 1), t["done"]
        left = f", about {_clock(elapsed / done * (total - done))} left" if 0 < done < total else ""
        line = f"{t['description']}: {done}/{t['total']} ({done / total:.0%}), {_clock(elapsed)} elapsed{left}"
        self.console.print(plain(line), soft_wrap=True)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_bar(out, every_s: float = 30.0):
    """A rich progress bar on a terminal; plain lines every `every_s` seconds elsewhere."""
    if not out.is_terminal:
        return PlainProgress(out, every_s)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        # Descriptions hold model names and "[backend]": text, never markup.
        TextColumn("{task.description:<40}", markup=False),
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
        try:
            prefix, style = self.PREFIX.get(min(record.levelno, logging.ERROR), ("", ""))
            line = plain(prefix, style) + plain(self.format(record))
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


# Read by the libraries when they set up (a user's own setting wins): see quiet_libraries.
QUIET_ENV = {"TOKENIZERS_PARALLELISM": "false", "DIFFUSERS_VERBOSITY": "error", "TRANSFORMERS_VERBOSITY": "error"}


def quiet_libraries(progress_bars: bool = False) -> None:
    """One progress bar of ours instead of the libraries' loading bars, deprecations and notes.

    The environment variables are read when diffusers and transformers set up their loggers (so
    even their import-time chatter, "Multiple distributions found for package optimum", is
    quiet), and the logger levels cover a library imported before this call; a user's own
    setting of those variables wins. Turning off their loading bars (`progress_bars`) needs
    them imported, so only the commands that load models ask for it.
    """
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    if progress_bars:
        import diffusers
        import transformers

        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()


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
