"""Parquet results: append-only part files, read back as one deduplicated frame.

Each append writes a new file `data/<table>/<utc-time>-<random>.parquet` under a temporary name
and renames it into place, so a kill at any moment leaves only whole files. Nothing is rewritten
in place; a rerun or rescore appends, and `read` keeps the newest row per key (schema.KEYS).
The parts are the `*.parquet` files of the table's folder whose names start with neither `.`
nor `_` (the files pyarrow and pandas read from the folder too).

A part belongs to its table when its columns are a subset of the table's schema (a column added
later reads as typed nulls), it has the key columns (schema.KEYS) and the column that orders a
key's versions (schema.ORDER_BY), every value casts to the schema's type, and no key is null.
Any other file, and one that cannot be read at all (truncated, garbage), is never read or
merged: it is moved to `data/<table>/.quarantine/` with a WARNING naming it and why, and the
good parts are read. Move it back by hand once it is repaired.

`compact` merges a table's parts into one file (written whole and checked to hold every key of
the parts it read, then those parts are removed): a crash between the steps leaves duplicates
that `read` already ignores. Several processes may share a data dir: appends only add files;
a lock file (`.compact.lock`) lets one compaction run at a time per table; a reader that finds
a listed part gone lists the folder again, because the compaction that removed it wrote its
merged file first.
"""

from __future__ import annotations

import logging
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from bench.errors import StorageError
from bench.files import atomic_write
from bench.schema import KEYS, ORDER_BY, TABLES

log = logging.getLogger(__name__)
QUARANTINE = ".quarantine"
COMPACT_LOCK = ".compact.lock"


class _Unfit(Exception):
    """A file in a table's folder that is not one of its parts; the message says why."""


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
    """Append rows to a table as one new part file; returns its path (None for no rows)."""
    if not rows:
        return None
    path = _table_dir(data_dir, table) / f"{_stamp()}-{uuid.uuid4().hex[:8]}.parquet"
    write_atomic(path, _to_arrow(table, rows))
    return path


def _part_names(folder: Path) -> list[str]:
    # scandir, not glob: one system call per batch of names, for folders of 100,000 parts.
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.endswith(".parquet") and e.name[0] not in "._"]
    except (FileNotFoundError, NotADirectoryError):
        return []  # no table yet (the data dir's writers say what is wrong with it)
    return sorted(names)


def _check_columns(table: str, found: pa.Schema) -> None:
    schema = TABLES[table]
    unknown = [n for n in found.names if schema.get_field_index(n) < 0]
    if unknown:
        raise _Unfit(f"columns not in the {table} schema: {unknown}")
    if len(set(found.names)) != len(found.names):
        raise _Unfit(f"repeated column names: {found.names}")
    missing = [n for n in [*KEYS[table], ORDER_BY[table]] if n not in found.names]
    if missing:
        raise _Unfit(f"lacks the {table} column(s) {missing} that identify its rows")


def _conform(table: str, t: pa.Table) -> pa.Table:
    """The part's rows with the table's schema exactly; _Unfit when they cannot have it."""
    schema = TABLES[table]
    if t.schema.metadata:
        t = t.replace_schema_metadata(None)  # pandas' notes on a file it wrote must not steer to_pandas
    if not t.schema.equals(schema):
        # Older parts may lack newer columns: add them as typed nulls.
        for field in schema:
            if field.name not in t.column_names:
                t = t.append_column(field, pa.nulls(len(t), field.type))
        try:
            t = t.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise _Unfit(f"values that do not fit the {table} schema: {e}") from e
    null_keys = [k for k in KEYS[table] if t.column(k).null_count]
    if null_keys:
        raise _Unfit(f"rows with a null key in {null_keys}")
    return t


def _load(path: Path, table: str) -> pa.Table | None:
    """One part's rows, None if the file is gone (merged by a compaction, or moved aside)."""
    try:
        # One read of the bytes: a part removed from now on cannot fail us half-way, and any
        # error below comes from the file's content, not from the file system.
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as e:
        raise _Unfit("a folder, not a file") from e
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        _check_columns(table, pf.schema_arrow)
        t = pf.read(use_threads=False)
    except (pa.ArrowException, OSError, ValueError, TypeError) as e:
        raise _Unfit(f"not a readable Parquet file: {e}") from e
    return _conform(table, t)


def _quarantine(path: Path, reason: str) -> None:
    """Move a file that is not a part out of the table's folder: kept for a person, never read."""
    aside = path.parent / QUARANTINE
    dest = aside / path.name
    try:
        aside.mkdir(exist_ok=True)
        if dest.exists():
            dest = aside / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
        os.rename(path, dest)
    except FileNotFoundError:
        if not path.exists():
            return  # another reader moved it aside first, and said so
        raise
    except OSError as e:
        log.warning(
            "%s is not a part of its table (%s); it is skipped, and could not be moved aside: %s", path, reason, e
        )
        return
    log.warning("%s is not a part of its table (%s); moved aside to %s", path, reason, dest)


def _try_load(path: Path, table: str) -> pa.Table | _Unfit | None:
    try:
        return _load(path, table)
    except _Unfit as e:
        return e


def _gather(folder: Path, table: str) -> tuple[list[pa.Table], list[Path]]:
    """The rows of every good part in the folder, in file-name order, and the parts read."""
    found: dict[str, pa.Table] = {}
    seen: set[str] = set()
    # Parts are decoded in threads (pyarrow lets go of the GIL), each on one thread: a part is
    # too small for pyarrow's own threads to pay, and there may be 100,000 of them.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        while True:
            names = [n for n in _part_names(folder) if n not in seen]
            seen.update(names)
            vanished = False
            for name, t in zip(names, pool.map(lambda n: _try_load(folder / n, table), names), strict=True):
                if isinstance(t, _Unfit):
                    _quarantine(folder / name, str(t))
                elif t is None:
                    vanished = True
                else:
                    found[name] = t
            # A part listed but gone was merged by a compaction that wrote its merged file before
            # removing it: list again to read that file (or the one a later compaction made of
            # it). A part only disappears that way or by being moved aside, so no row is missed.
            if not vanished:
                break
    names = sorted(found)
    return [found[n] for n in names], [folder / n for n in names]


def _newest(table: str, parts: list[pa.Table]) -> pd.DataFrame:
    if not parts:
        return TABLES[table].empty_table().to_pandas()
    # One chunk per column: to_pandas is far slower over thousands of tiny chunks.
    df = pa.concat_tables(parts).combine_chunks().to_pandas()
    # Stable, on rows in file-name order: of two versions stamped alike, the later file wins.
    df = df.sort_values(ORDER_BY[table], kind="stable")
    return df.drop_duplicates(KEYS[table], keep="last").reset_index(drop=True)


def read(data_dir: Path, table: str) -> pd.DataFrame:
    """The whole table, newest row per key, with every schema column present."""
    parts, _ = _gather(_table_dir(data_dir, table), table)
    return _newest(table, parts)


def _keys(table: str, t: pa.Table) -> set[tuple]:
    return set(zip(*(t.column(k).to_pylist() for k in KEYS[table]), strict=True))


def compact(data_dir: Path, table: str) -> Path | None:
    """Merge a table's part files into one; the result reads exactly as before.

    Parts appended while it runs are left as they are; a merged file that does not hold every
    key of the parts it read is removed again, the parts kept, and a StorageError raised.
    """
    folder = _table_dir(data_dir, table)
    if len(_part_names(folder)) < 2:
        return None
    with FileLock(folder / COMPACT_LOCK):
        parts, paths = _gather(folder, table)
        if len(paths) < 2:
            return None  # another compaction merged them while this one waited for the lock
        merged = pa.Table.from_pandas(_newest(table, parts), schema=TABLES[table], preserve_index=False)
        path = folder / f"{_stamp()}-compact.parquet"
        write_atomic(path, merged)
        try:
            # Read back from disk: the file the parts are about to be replaced by must hold them.
            written = pq.read_table(path, columns=KEYS[table])
            lost = set().union(*(_keys(table, t) for t in parts)) - _keys(table, written)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if lost or written.num_rows != merged.num_rows:
            path.unlink(missing_ok=True)
            raise StorageError(
                f"compacting {folder}: the merged file lacked {len(lost)} key(s) of its parts "
                f"(e.g. {sorted(lost, key=str)[:3]}) or rows; it was removed and the {len(paths)} parts kept"
            )
        for part in paths:
            part.unlink(missing_ok=True)
    return path
