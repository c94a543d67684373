"""Parquet results: append-only part files, read back as one deduplicated frame.

Each append writes a new file `data/<table>/<utc-time>-<random>.parquet` under a temporary name
and renames it into place, so a kill at any moment leaves only whole files. No file is changed
in place; a rerun or rescore appends, and `read` keeps the newest row per key (schema.KEYS).
The parts are the `*.parquet` files of the table's folder whose names start with neither `.`
nor `_` (the files pyarrow and pandas read from the folder too).

A part belongs to its table when its columns are a subset of the table's schema (a column added
later reads as typed nulls), it has the key columns (schema.KEYS) and the column that orders a
key's versions (schema.ORDER_BY), every value casts to the schema's type, and no key is null.
Any other file, and one that cannot be read at all (truncated, garbage), is never read or
merged: it is moved to `data/<table>/.quarantine/` with a WARNING naming it and why, and the
good parts are read. Move it back by hand once it is repaired.

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
removed it wrote its merged file first (a merge, under the lock, skips it: it was moved aside). Merged files carry a random part in their
names too, so two hosts whose clocks agree to the microsecond still never write the same name.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from bench.errors import StorageError
from bench.files import atomic_write
from bench.schema import KEYS, TABLES
from bench.store_parts import QUARANTINE, Unfit, needed_columns, newest, quarantine, try_load

log = logging.getLogger(__name__)
__all__ = ["QUARANTINE", "append", "compact", "compact_tiers", "read", "write_atomic"]
COMPACT_LOCK = ".compact.lock"
FANOUT = 8  # files of one tier merged together: more means fewer rewrites but more files to read
ROLL_EVERY_PARTS = 32  # parts this process appends to a table between two rolling merges ...
ROLL_EVERY_S = 60.0  # ... or seconds, whichever comes first
_MERGED = re.compile(r"-m(\d+)\.parquet$")  # a merged file's name ends with its row count


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


def append(data_dir: Path, table: str, rows: list[dict]) -> Path | None:
    """Append rows to a table as one new part file; returns its path (None for no rows).

    Every ROLL_EVERY_PARTS appends of this process to the table, or ROLL_EVERY_S seconds, it
    then merges full tiers of small parts (compact_tiers), on the caller's thread: the sweep's
    background writer. A merge that fails is logged and leaves the parts as they were.
    """
    if not rows:
        return None
    path = _table_dir(data_dir, table) / f"{_stamp()}-{uuid.uuid4().hex[:8]}.parquet"
    write_atomic(path, _to_arrow(table, rows))
    if _roll_due(path.parent):
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
    except (FileNotFoundError, NotADirectoryError):
        return []  # no table yet (the data dir's writers say what is wrong with it)
    return sorted(names)


def _load_all(folder: Path, table: str, names: list[str], columns: list[str]) -> tuple[dict[str, pa.Table], bool]:
    """The parts `names` that belong, by name, and whether any was gone; unfit ones moved aside."""
    found, vanished = {}, False
    # Parts are decoded in threads (pyarrow lets go of the GIL), each on one thread: a part is
    # too small for pyarrow's own threads to pay, and there may be 100,000 of them, handed out
    # in runs so that handing them out costs little beside reading them.
    runs = [names[i : i + 64] for i in range(0, len(names), 64)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        loaded = chain.from_iterable(pool.map(lambda run: [try_load(folder / n, table, columns) for n in run], runs))
        for name, t in zip(names, loaded, strict=True):
            if isinstance(t, Unfit):
                quarantine(folder / name, str(t))
            elif t is None:
                vanished = True
            else:
                found[name] = t
    return found, vanished


def _gather(folder: Path, table: str, columns: list[str]) -> tuple[list[pa.Table], list[Path]]:
    """The rows of every good part in the folder, in file-name order, and the parts read."""
    found: dict[str, pa.Table] = {}
    seen: set[str] = set()
    while True:
        names = [n for n in _part_names(folder) if n not in seen]
        seen.update(names)
        more, vanished = _load_all(folder, table, names, columns)
        found.update(more)
        # A part listed but gone was merged by a compaction that wrote its merged file before
        # removing it: list again to read that file (or the one a later compaction made of
        # it). A part only disappears that way or by being moved aside, so no row is missed.
        if not vanished:
            break
    names = sorted(found)
    return [found[n] for n in names], [folder / n for n in names]


def _concat(table: str, parts: list[pa.Table], columns: list[str]) -> pa.Table:
    if not parts:
        return pa.schema([TABLES[table].field(n) for n in columns]).empty_table()
    return pa.concat_tables(parts)


def read(data_dir: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The table, newest row per key, with every schema column present, or only `columns`
    (in that order; the plan needs 2 or 3 of 45, and reads that many times faster)."""
    needed = needed_columns(table, columns)
    parts, _ = _gather(_table_dir(data_dir, table), table, needed)
    t = newest(table, _concat(table, parts, needed))
    return t.select(list(columns) if columns is not None else needed).to_pandas()


def _tier(name: str) -> int:
    rows = _MERGED.search(name)
    return 0 if rows is None else int(math.log(max(int(rows.group(1)), 1), FANOUT) + 1e-9)


def _merge(folder: Path, table: str, names: list[str]) -> Path | None:
    """Merge the parts `names` into one file (None when fewer than two are left to merge)."""
    everything = TABLES[table].names
    found, _ = _load_all(folder, table, names, everything)  # under the lock, a part goes only when moved aside
    if len(found) < 2:
        return None
    parts = [found[n] for n in sorted(found)]
    merged = newest(table, pa.concat_tables(parts))
    path = folder / f"{_stamp()}-{uuid.uuid4().hex[:8]}-m{merged.num_rows}.parquet"
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


def _keys(table: str, t: pa.Table) -> set[tuple]:
    return set(zip(*(t.column(k).to_pylist() for k in KEYS[table]), strict=True))


def compact(data_dir: Path, table: str) -> Path | None:
    """Merge all of a table's part files into one; the result reads exactly as before.

    Parts appended while it runs are left as they are; a merged file that does not hold every
    key of the parts it read is removed again, the parts kept, and a StorageError raised.
    """
    folder = _table_dir(data_dir, table)
    if len(_part_names(folder)) < 2:
        return None
    with FileLock(folder / COMPACT_LOCK):
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
    tier; the merged files made. Skipped (nothing merged) while another merge holds the lock."""
    folder = _table_dir(data_dir, table)
    if not _full_tier(_part_names(folder)):
        return []
    lock, made = FileLock(folder / COMPACT_LOCK), []
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return []  # another process is merging this table; this one tries again at its next turn
    try:
        # Each merge takes FANOUT or more files out of a tier and adds one file above it.
        while names := _full_tier(_part_names(folder)):
            merged = _merge(folder, table, names)
            if merged is None:
                break
            made.append(merged)
    finally:
        lock.release()
    return made
