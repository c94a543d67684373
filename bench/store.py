"""Parquet results: append-only part files, read back as one deduplicated frame.

Each append writes a new file `data/<table>/<seq>-<utc-time>-<random>.parquet` under a temporary
name and renames it into place, so a kill at any moment leaves only whole files. No file is
changed in place; a rerun or rescore appends, and `read` keeps one row per key (schema.KEYS).
The parts are the regular files (never a symlink, a FIFO or a folder) named `*.parquet` in the
table's folder whose names start with neither `.` nor `_` (what pyarrow and pandas read too).

Which version of a key wins (schema.PREFER, then the part sequence, then schema.ORDER_BY) does
not depend on clocks agreeing: `<seq>` is one more than the largest in the folder when the part
is named, so a part appended after another was there (a rerun after the failure it reruns, a
rescore after the score) sorts after it, whatever the writers' clocks say. A merged file takes
the largest sequence of its parts, and a merge takes every file whose sequence lies within those
of the files it picked, so no file's rows move past another's. Of a merged file and a part with
one sequence (appended while the merge ran), the part wins. Files named before sequences
(`<utc-time>-<random>`) have sequence 0. A row time more than FUTURE_TOLERANCE ahead of this
machine's clock is warned about, once per read: a writer's clock is wrong.

A part belongs to its table when its columns are a subset of the table's schema (a column added
later reads as typed nulls) or include all of them (a newer version's part: the columns this
version does not know are left out, with one warning per read naming them, and kept by merges),
it has the key columns (schema.KEYS) and the column that orders a key's versions
(schema.ORDER_BY), every value casts to the schema's type, and no key is null. Any other file,
and one that cannot be read at all (truncated, garbage, not a regular file), is never read or
merged. `read` skips it with one WARNING per read naming each and why; it never moves a file,
so commands that only read (`bench summary`, the site build) change nothing. A writer's merge
(under the lock below) moves it to `data/<table>/.quarantine/`, with a WARNING: the files a merge
takes, and those this process's reads found unfit. Move it back by hand once it is repaired. A
part that cannot be read at all (permissions, I/O errors), or a data dir that is a file, is a
StorageError naming the path: its rows are not to be silently missing.

Merging keeps the parts few, since reading costs about 0.2 ms per part whatever its rows (its
footer): a merge writes one file whole, checks that it holds every key of the parts it read,
then removes those parts; a crash between the steps leaves duplicates that `read` ignores.
- `compact` merges all of a table's parts into one (the end of a sweep): cost O(rows + parts).
- `compact_tiers`, run by `append` every ROLL_EVERY_PARTS parts or ROLL_EVERY_S seconds while
  a sweep goes on, merges size tiers: a merged file is named with its row count, its tier is
  floor(log_FANOUT(rows)) (an appended part is tier 0), and once a tier holds FANOUT files they
  are merged into one of a higher tier. A row is rewritten at most once per tier, so n rows
  cost O(n log n) writes in all, and a table holds O(FANOUT log n) files, not n / batch.
Several processes may share a data dir: an append adds one file (its rolling merge is a merge
like any other); a lock file (`.compact.lock`) lets one merge run at a time per table (a rolling
merge skips its turn when the lock is held, and one that fails is logged, never raised from the
append); a reader that finds a listed part gone lists the folder again, because the merge that
removed it wrote its merged file first (a merge, under the lock, skips it: it was moved aside).
Merged files carry a random part in their names too, so two hosts never write the same name.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from bench.errors import StorageError
from bench.files import atomic_write
from bench.schema import KEYS, ORDER_BY, TABLES
from bench.store_parts import QUARANTINE, Part, Unfit, needed_columns, newest, quarantine, try_load

log = logging.getLogger(__name__)
__all__ = ["QUARANTINE", "append", "compact", "compact_tiers", "part_files", "read", "write_atomic"]
COMPACT_LOCK = ".compact.lock"
FANOUT = 8  # files of one tier merged together: more means fewer rewrites but more files to read
ROLL_EVERY_PARTS = 32  # parts this process appends to a table between two rolling merges ...
ROLL_EVERY_S = 60.0  # ... or seconds, whichever comes first
_MERGED = re.compile(r"-m(\d+)\.parquet$")  # a merged file's name ends with its row count
_SEQ = re.compile(r"^(\d{12,})-")  # a part's sequence; legacy names start `<8 digits>T`
MAX_SEQ = 10**18  # far beyond any real count; a name claiming more cannot push file orders past int64
FUTURE_TOLERANCE = timedelta(minutes=5)  # row times further ahead of this clock are warned about
SHOWN = 5  # files named in one warning


def _table_dir(data_dir: Path, table: str) -> Path:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    return Path(data_dir) / table


def _to_arrow(table: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[table]
    # Columns missing from the rows become nulls; unknown keys are an error in our own code.
    unknown = set().union(*(r.keys() for r in rows)) - set(schema.names)
    if unknown:
        raise KeyError(f"{table}: columns not in the schema: {sorted(unknown)}")
    # A row without its key could never be read back: `read` moves such a part aside.
    keyless = [k for k in KEYS[table] if any(r.get(k) is None for r in rows)]
    if keyless:
        raise ValueError(f"{table}: rows without a value for the key column(s) {keyless}")
    columns = {name: [r.get(name) for r in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def write_atomic(path: Path, table: pa.Table) -> None:
    """Write a Parquet file so that readers only ever see it whole, and it survives a power cut."""
    with atomic_write(path, fsync=True) as f:
        pq.write_table(table, f)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _name(seq: int, rows: int | None = None) -> str:
    """A new file's name: its sequence, a time and a random part (for people and uniqueness),
    and for a merged file its row count."""
    return f"{seq:012d}-{_stamp()}-{uuid.uuid4().hex[:8]}{'' if rows is None else f'-m{rows}'}.parquet"


def _seq(name: str) -> int:
    found = _SEQ.match(name)
    return min(int(found.group(1)), MAX_SEQ) if found else 0


def _file_order(name: str) -> int:
    """Where a file's rows stand among a key's versions: by sequence, and of a merged file and
    a part with one sequence the part after (it was appended while the merge ran)."""
    return 2 * _seq(name) + (_MERGED.search(name) is None)


def _in_order(names) -> list[str]:
    return sorted(names, key=lambda n: (_file_order(n), n))


def append(data_dir: Path, table: str, rows: list[dict]) -> Path | None:
    """Append rows to a table as one new part file; returns its path (None for no rows).

    Every ROLL_EVERY_PARTS appends of this process to the table, or ROLL_EVERY_S seconds, or
    once this process's reads met files that are not parts, it then merges full tiers of small
    parts and moves those files aside (compact_tiers), on the caller's thread: the sweep's
    background writer. A merge that fails is logged and leaves the parts as they were.
    """
    if not rows:
        return None
    folder = _table_dir(data_dir, table)
    t = _to_arrow(table, rows)
    # After every file there now: a Lamport clock kept in the names, not the host's clock.
    path = folder / _name(min(1 + max(map(_seq, _part_names(folder)), default=0), MAX_SEQ))
    write_atomic(path, t)
    if _roll_due(path.parent) or path.parent in _suspects:  # files this process found unfit go aside now
        try:
            compact_tiers(data_dir, table)
        except Exception as e:  # noqa: BLE001 - the rows are safe on disk; a merge can wait for the next turn
            log.warning(
                "merging the parts of %s failed (%s: %s); they are kept and read as before",
                path.parent,
                type(e).__name__,
                e,
            )
    return path


_roll_lock = threading.Lock()
_roll_state: dict[Path, tuple[int, float]] = {}  # folder: (parts appended since the last merge, its time)
_suspects_lock = threading.Lock()
_suspects: dict[Path, set[str]] = {}  # folder: files this process's reads found unfit, for a merge to move aside


def _roll_due(folder: Path) -> bool:
    now = time.monotonic()
    with _roll_lock:
        count, since = _roll_state.get(folder, (0, now))
        due = count + 1 >= ROLL_EVERY_PARTS or now - since >= ROLL_EVERY_S
        _roll_state[folder] = (0, now) if due else (count + 1, since)
    return due


def _part_names(folder: Path) -> list[str]:
    # scandir, not glob: one system call per batch of names, for folders of 100,000 parts.
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.endswith(".parquet") and e.name[0] not in "._"]
    except FileNotFoundError:
        return []  # no data dir or no table yet: nothing written
    except NotADirectoryError as e:
        file = next((p for p in reversed([folder, *folder.parents]) if p.exists() and not p.is_dir()), folder)
        raise StorageError(f"{file} is a file, not a folder") from e
    except OSError as e:
        raise StorageError(f"cannot list {folder}: {e.strerror or e}") from e
    return sorted(names)


def _load_all(
    folder: Path, table: str, names: list[str], columns: list[str], newer: bool = False
) -> tuple[dict[str, Part], dict[str, str], bool]:
    """The parts `names` that belong, by name; the files that do not, with why; and whether
    any was gone."""
    found, unfit, vanished = {}, {}, False
    # Parts are decoded in threads (pyarrow lets go of the GIL), each on one thread: a part is
    # too small for pyarrow's own threads to pay, and there may be 100,000 of them, handed out
    # in runs so that handing them out costs little beside reading them.
    runs = [names[i : i + 64] for i in range(0, len(names), 64)]

    def load_run(run: list[str]) -> list[Part | Unfit | None]:
        return [try_load(folder / n, table, columns, newer) for n in run]

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for name, part in zip(names, chain.from_iterable(pool.map(load_run, runs)), strict=True):
            if isinstance(part, Unfit):
                unfit[name] = str(part)
            elif part is None:
                vanished = True
            else:
                found[name] = part
    return found, unfit, vanished


def _gather(folder: Path, table: str, columns: list[str]) -> tuple[list[tuple[str, Part]], dict[str, str]]:
    """Every good part in the folder, by name in file order; and the files that are not parts."""
    found: dict[str, Part] = {}
    unfit: dict[str, str] = {}
    seen: set[str] = set()
    while True:
        names = [n for n in _part_names(folder) if n not in seen]
        seen.update(names)
        more, odd, vanished = _load_all(folder, table, names, columns)
        found.update(more)
        unfit.update(odd)
        # A part listed but gone was merged by a compaction that wrote its merged file before
        # removing it: list again to read that file (or the one a later compaction made of
        # it). A part only disappears that way or by being moved aside, so no row is missed.
        if not vanished:
            break
    return [(n, found[n]) for n in _in_order(found)], unfit


def _concat(table: str, parts: list[tuple[str, Part]], columns: list[str]) -> tuple[pa.Table, np.ndarray]:
    """The parts' rows as one table, and each row's file order (newest's `order`)."""
    if not parts:
        return pa.schema([TABLES[table].field(n) for n in columns]).empty_table(), np.zeros(0, np.int64)
    orders = np.array([_file_order(name) for name, _ in parts], np.int64)
    counts = [part.rows.num_rows for _, part in parts]
    # A newer version's columns (kept by a merge) are nulls for the other parts' rows; unifying
    # the schemas costs 30 us a part, so only then.
    promote = "default" if any(part.newer and part.rows.num_columns > len(columns) for _, part in parts) else "none"
    t = pa.concat_tables([part.rows for _, part in parts], promote_options=promote)
    return t, np.repeat(orders, counts)


def _listed(folder: Path, names: list[str]) -> str:
    shown = ", ".join(str(folder / n) for n in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _warn_unfit(folder: Path, unfit: dict[str, str]) -> None:
    shown = "; ".join(f"{folder / name} ({why})" for name, why in list(unfit.items())[:SHOWN])
    more = f"; and {len(unfit) - SHOWN} more" if len(unfit) > SHOWN else ""
    log.warning(
        "%d file(s) in %s are not parts of the table and were skipped: %s%s. A read moves no file; a "
        "merge by a writer that meets them (bench run, bench score) moves them to %s",
        len(unfit),
        folder,
        shown,
        more,
        folder / QUARANTINE,
    )


def _warn_future(folder: Path, table: str, t: pa.Table, parts: list[tuple[str, Part]]) -> None:
    """One warning when rows are stamped ahead of this machine's clock: the writer's is wrong."""
    times, now = t.column(ORDER_BY[table]), datetime.now(UTC)
    latest = pc.max(times).as_py()
    if latest is None or latest <= now + FUTURE_TOLERANCE:
        return
    ahead = np.flatnonzero(pc.fill_null(pc.greater(times, pa.scalar(now + FUTURE_TOLERANCE, times.type)), False))
    which = np.unique(np.searchsorted(np.cumsum([p.rows.num_rows for _, p in parts]), ahead, side="right"))
    log.warning(
        "%d row(s) of %s have a %s up to %s, later than this machine's clock (%s) by more than %s: the "
        "clock of the host that wrote them is ahead. Their times are wrong; which version of a key wins "
        "does not depend on them. In: %s",
        len(ahead),
        folder,
        ORDER_BY[table],
        latest.isoformat(timespec="seconds"),
        now.isoformat(timespec="seconds"),
        FUTURE_TOLERANCE,
        _listed(folder, [parts[i][0] for i in which]),
    )


def read(data_dir: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The table, one row per key (the winning version, see the module's docstring), in time
    order, with every schema column present, or only `columns` (in that order; the plan needs 2
    or 3 of 45, and reads that many times faster). Moves and changes no file."""
    needed = needed_columns(table, columns)
    folder = _table_dir(data_dir, table)
    parts, unfit = _gather(folder, table, needed)
    if unfit:
        _warn_unfit(folder, unfit)
        with _suspects_lock:
            _suspects.setdefault(folder, set()).update(unfit)
    newer = sorted({c for _, part in parts for c in part.newer})
    if newer:
        written = [name for name, part in parts if part.newer]
        log.warning(
            "%d part(s) of %s were written with a newer schema, with column(s) %s that this version of "
            "bench does not know; they are read without them (upgrade bench to see them): %s",
            len(written),
            folder,
            newer,
            _listed(folder, written),
        )
    t, order = _concat(table, parts, needed)
    if t.num_rows:
        _warn_future(folder, table, t, parts)
    return newest(table, t, order).select(list(columns) if columns is not None else needed).to_pandas()


def part_files(data_dir: Path, table: str) -> list[Path]:
    """The files `read` takes for the table's parts, in name order: named as parts, and regular
    files (never a symlink, a FIFO or a folder). For publishing them as they are; their content
    is not checked here (`read` skips, with a warning, a file that is not a part of the table)."""
    folder = _table_dir(data_dir, table)
    out = []
    for name in _part_names(folder):
        try:
            if stat.S_ISREG(os.lstat(folder / name).st_mode):
                out.append(folder / name)
        except FileNotFoundError:
            pass  # merged or moved aside since the listing
    return out


def _tier(name: str) -> int:
    rows = _MERGED.search(name)
    return 0 if rows is None else int(math.log(max(int(rows.group(1)), 1), FANOUT) + 1e-9)


def _merge(folder: Path, table: str, names: list[str]) -> Path | None:
    """Merge the parts `names` into one file (None when fewer than two are left to merge);
    move aside those that are not parts. Columns a newer version added are kept."""
    everything = TABLES[table].names
    # Under the lock, a part goes only when moved aside.
    found, unfit, _ = _load_all(folder, table, names, everything, newer=True)
    for name, why in unfit.items():
        quarantine(folder / name, why)
    if len(found) < 2:
        return None
    parts = [(n, found[n]) for n in _in_order(found)]
    try:
        t, order = _concat(table, parts, everything)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise StorageError(
            f"compacting {folder}: parts written by newer versions disagree on a column ({e}); they are kept"
        ) from e
    merged = newest(table, t, order)
    path = folder / _name(max(_seq(n) for n, _ in parts), merged.num_rows)
    write_atomic(path, merged)
    try:
        # Read back from disk: the file the parts are about to be replaced by must hold them.
        written = pq.read_table(path, columns=KEYS[table])
        same = written.num_rows == merged.num_rows and all(written[k].equals(merged[k]) for k in KEYS[table])
        lost = set() if same else _keys(table, merged) - _keys(table, written)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if not same:
        path.unlink(missing_ok=True)
        raise StorageError(
            f"compacting {folder}: the merged file lacked {len(lost)} key(s) of its parts "
            f"(e.g. {sorted(lost, key=str)[:3]}) or rows; it was removed and the {len(parts)} parts kept"
        )
    for name in found:
        (folder / name).unlink(missing_ok=True)
    return path


def _set_aside(folder: Path, table: str) -> None:
    """Under the lock: move aside the files this process's reads found unfit, if they still are."""
    with _suspects_lock:
        names = sorted(_suspects.pop(folder, ()))
    for name in names:
        why = try_load(folder / name, table, needed_columns(table, []))
        if isinstance(why, Unfit):
            quarantine(folder / name, str(why))


def _span(names: list[str], chosen: list[str]) -> list[str]:
    """The files to merge for `chosen`: every file whose sequence lies within theirs, so that
    the merged file (of their largest sequence) passes no other file's rows."""
    lo, hi = min(map(_seq, chosen)), max(map(_seq, chosen))
    return [n for n in names if lo <= _seq(n) <= hi]


def _keys(table: str, t: pa.Table) -> set[tuple]:
    return set(zip(*(t.column(k).to_pylist() for k in KEYS[table]), strict=True))


def compact(data_dir: Path, table: str) -> Path | None:
    """Merge all of a table's part files into one; the result reads exactly as before.

    Parts appended while it runs are left as they are; a merged file that does not hold every
    key of the parts it read is removed again, the parts kept, and a StorageError raised.
    """
    folder = _table_dir(data_dir, table)
    if len(_part_names(folder)) < 2 and folder not in _suspects:
        return None
    with FileLock(folder / COMPACT_LOCK):
        _set_aside(folder, table)
        return _merge(folder, table, _part_names(folder))  # None: another compaction merged them meanwhile


def _full_tier(names: list[str]) -> list[str]:
    """The files of the lowest tier that holds FANOUT of them, or none."""
    tiers: dict[int, list[str]] = {}
    for name in names:
        tiers.setdefault(_tier(name), []).append(name)
    full = [tier for tier, files in tiers.items() if len(files) >= FANOUT]
    return tiers[min(full)] if full else []


def compact_tiers(data_dir: Path, table: str) -> list[Path]:
    """Merge every tier that holds FANOUT files, lowest first, each into one file of a higher
    tier (with the files between them in sequence, see _span); the merged files made. Skipped
    (nothing merged) while another merge holds the lock. Files this process's reads found
    unfit are moved aside first."""
    folder = _table_dir(data_dir, table)
    if not _full_tier(_part_names(folder)) and folder not in _suspects:
        return []
    lock, made = FileLock(folder / COMPACT_LOCK), []
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return []  # another process is merging this table; this one tries again at its next turn
    try:
        _set_aside(folder, table)
        # Each merge takes FANOUT or more files out of a tier and adds one file above it.
        while chosen := _full_tier(names := _part_names(folder)):
            merged = _merge(folder, table, _span(names, chosen))
            if merged is None:
                break
            made.append(merged)
    finally:
        lock.release()
    return made
