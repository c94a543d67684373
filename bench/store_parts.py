"""One part file of a table at a time: whether it belongs to the table, its rows (only the
columns asked for), moving a file that does not belong aside; and the winning row per key.

A part is opened once: its footer says whether it belongs, then only the columns asked for are
decoded. Reading many small parts costs about 0.2 ms each whatever their rows, most of it
parsing the footer (45 columns of metadata) and a fixed cost per column decoded. pyarrow's
dataset reader pays the same: with no checks at all it read 10,000 parts at best 1.5 times
faster, and with the per-part schema check a part needs (a second footer parse) it was slower
than this (scripts/bench_store.py prints the plain scan beside `store.read`). So reads stay
fast at scale by keeping the parts few (store.compact_tiers), not by another reader.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import uuid
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.errors import StorageError
from bench.schema import KEYS, ORDER_BY, PREFER, TABLES

log = logging.getLogger("bench.store")  # the store's warnings, under the store's name
QUARANTINE = ".quarantine"
# A FIFO named *.parquet must not block the open, and a symlink is never followed: a part is a
# regular file of the table's own folder, whatever its name points at.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class Unfit(Exception):
    """A file in a table's folder that is not one of its parts; the message says why."""


class Part(NamedTuple):
    rows: pa.Table
    newer: tuple[str, ...]  # columns this version does not know: the part has a newer schema


def needed_columns(table: str, columns: list[str] | None) -> list[str]:
    """The columns to read for `columns` (all when None): those, plus the key and the columns
    that order a key's versions, which the winning-row rule needs, in schema order."""
    schema = TABLES[table]
    if columns is None:
        return schema.names
    if isinstance(columns, str):
        raise TypeError(f"columns: a list of column names, not the string {columns!r}")
    unknown = [c for c in columns if schema.get_field_index(c) < 0]
    if unknown:
        raise ValueError(f"{table}: unknown column(s) {unknown}; columns: {', '.join(schema.names)}")
    preferred = [PREFER[table][0]] if table in PREFER else []
    wanted = {*columns, *KEYS[table], ORDER_BY[table], *preferred}
    return [n for n in schema.names if n in wanted]


def check_columns(table: str, found: pa.Schema) -> list[str]:
    """The part's columns that this version does not know (a newer schema's), or Unfit."""
    schema = TABLES[table]
    if len(set(found.names)) != len(found.names):
        raise Unfit(f"repeated column names: {found.names}")
    unknown = [n for n in found.names if schema.get_field_index(n) < 0]
    if unknown and len(found.names) - len(unknown) < len(schema.names):
        # Columns are only ever added, so a newer version's part has every column this one
        # knows. A file with others and without all of ours (a scores part dropped into
        # generations/) belongs to another table, whose rows must not read as ours.
        raise Unfit(f"columns not in the {table} schema: {unknown}, and not all of its own")
    missing = [n for n in [*KEYS[table], ORDER_BY[table]] if n not in found.names]
    if missing:
        raise Unfit(f"lacks the {table} column(s) {missing} that identify its rows")
    return unknown


@lru_cache(maxsize=64)
def _subschema(table: str, names: tuple[str, ...]) -> pa.Schema:
    return pa.schema([TABLES[table].field(n) for n in names])


def conform(table: str, t: pa.Table, names: list[str]) -> pa.Table:
    """The part's rows as the table's columns `names` exactly; Unfit when they cannot be."""
    schema = _subschema(table, tuple(names))
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
            raise Unfit(f"values that do not fit the {table} schema: {e}") from e
    null_keys = [k for k in KEYS[table] if t.column(k).null_count]
    if null_keys:
        raise Unfit(f"rows with a null key in {null_keys}")
    return t


def _not_regular(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link: parts are regular files, never followed"
    return "a folder, not a file" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)"


def read_regular(path: Path) -> bytes | None:
    """A part's bytes, in one read (a part removed from now on cannot fail us half-way); None
    if it is gone (merged by a compaction, or moved aside). Unfit for anything but a regular
    file; a StorageError naming the path when it cannot be read (permissions, I/O)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ESTALE:  # NFS: another host merged and removed it while we read it
            return None
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):  # a symlink (O_NOFOLLOW), a socket: not a part, not a storage error
            raise Unfit(_not_regular(mode)) from e
        raise StorageError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise Unfit(_not_regular(mode))
        with open(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError as e:
        if e.errno == errno.ESTALE:
            return None
        raise StorageError(f"cannot read {path}: {e.strerror or e}") from e
    finally:
        os.close(fd)


def load(path: Path, table: str, names: list[str], newer: bool = False) -> Part | None:
    """One part's rows as the columns `names` (and, with `newer`, the columns this version does
    not know, as the file has them), None if the file is gone."""
    data = read_regular(path)
    if data is None:
        return None
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        found = pf.schema_arrow
        if found.equals(TABLES[table]):  # a part as `append` writes it: no column to check or cast
            t = pf.read(columns=names, use_threads=False)
            return Part(conform(table, t.replace_schema_metadata(None) if t.schema.metadata else t, names), ())
        unknown = check_columns(table, found)
        # A column left unread must fit the table as well, or a read of a few columns would
        # count rows that a full read skips: read it too when its type is not the table's.
        schema = TABLES[table]
        odd = [
            n
            for n in found.names
            if n not in names and n not in unknown and not found.field(n).type.equals(schema.field(n).type)
        ]
        wanted = {*names, *odd, *(unknown if newer else ())}
        t = pf.read(columns=[n for n in found.names if n in wanted], use_threads=False)
    except (pa.ArrowException, OSError, ValueError, TypeError) as e:
        raise Unfit(f"not a readable Parquet file: {e}") from e
    if odd:
        conform(table, t, [n for n in schema.names if n in t.column_names])
    rows = conform(table, t.select([n for n in t.column_names if n in names]), names)
    if newer:  # kept as they are, for a merge that must not lose them
        for n in unknown:
            rows = rows.append_column(found.field(n), t.column(n))
    return Part(rows, tuple(unknown))


def try_load(path: Path, table: str, names: list[str], newer: bool = False) -> Part | Unfit | None:
    try:
        return load(path, table, names, newer)
    except Unfit as e:
        return e


def quarantine(path: Path, reason: str) -> None:
    """Move a file that is not a part out of the table's folder: kept for a person, never read.
    Only a writer's merge calls this: a reader skips such a file and says so."""
    aside = path.parent / QUARANTINE
    dest = aside / path.name
    try:
        aside.mkdir(exist_ok=True)
        if dest.exists():
            dest = aside / f"{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}"
        os.rename(path, dest)
    except FileNotFoundError:
        if not path.exists():
            return  # another process moved it aside first, and said so
        raise
    except OSError as e:
        log.warning(
            "%s is not a part of its table (%s); it is skipped, and could not be moved aside: %s", path, reason, e
        )
        return
    log.warning("%s is not a part of its table (%s); moved aside to %s", path, reason, dest)


def newest(table: str, t: pa.Table, order: np.ndarray) -> pa.Table:
    """The winning row per key, in ORDER_BY order (ties: as they come in `t`).

    A key's versions are ordered by the PREFER value first (a generation that is `ok` beats
    one that is not, whatever the clocks say), then by `order` (each row's file order, from the
    store's part sequence: a later append beats an earlier one), then by ORDER_BY (the
    writer's clock, which only separates versions of one file order), then by position in `t`;
    the last wins. Done in Arrow on those columns only: the other columns are taken once, for
    the rows kept.
    """
    if t.num_rows == 0:
        return t
    t = t.combine_chunks()  # one chunk per column: take and to_pandas crawl over 100,000 chunks
    by = ORDER_BY[table]
    ranks = {"_order": pa.array(order, pa.int64()), by: t.column(by)}
    if table in PREFER:
        column, value = PREFER[table]
        ranks = {"_preferred": pc.fill_null(pc.equal(t.column(column), value), False), **ranks}
    versions = pc.sort_indices(pa.table(ranks), sort_keys=[(name, "ascending") for name in ranks])
    keys = t.select(KEYS[table]).take(versions).append_column("_pos", pa.array(np.arange(t.num_rows)))
    last = np.sort(keys.group_by(KEYS[table], use_threads=False).aggregate([("_pos", "max")]).column("_pos_max"))
    kept = versions.to_numpy()[last]
    # The rows kept in time order: a merge writes them so, and a reader returns them so.
    in_time = pc.sort_indices(t.column(by).take(kept)).to_numpy()
    return t.take(kept[in_time])
