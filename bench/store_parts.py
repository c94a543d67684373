"""One part file of a table at a time: whether it belongs to the table, its rows (only the
columns asked for), moving a file that does not belong aside; and the newest row per key.

A part is opened once: its footer says whether it belongs, then only the columns asked for are
decoded. Reading many small parts costs about 0.2 ms each whatever their rows, most of it
parsing the footer (45 columns of metadata) and a fixed cost per column decoded. pyarrow's
dataset reader pays the same: with no checks at all it read 10,000 parts at best 1.5 times
faster, and with the per-part schema check that quarantine needs (a second footer parse) it
was slower than this (scripts/bench_store.py prints the plain scan beside `store.read`). So
reads stay fast at scale by keeping the parts few (store.compact_tiers), not by another reader.
"""

from __future__ import annotations

import errno
import logging
import os
import uuid
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.schema import KEYS, ORDER_BY, TABLES

log = logging.getLogger("bench.store")  # the store's warnings, under the store's name
QUARANTINE = ".quarantine"


class Unfit(Exception):
    """A file in a table's folder that is not one of its parts; the message says why."""


def needed_columns(table: str, columns: list[str] | None) -> list[str]:
    """The columns to read for `columns` (all when None): those, plus the key and the column
    that orders a key's versions, which the newest-row rule needs, in schema order."""
    schema = TABLES[table]
    if columns is None:
        return schema.names
    if isinstance(columns, str):
        raise TypeError(f"columns: a list of column names, not the string {columns!r}")
    unknown = [c for c in columns if schema.get_field_index(c) < 0]
    if unknown:
        raise ValueError(f"{table}: unknown column(s) {unknown}; columns: {', '.join(schema.names)}")
    wanted = {*columns, *KEYS[table], ORDER_BY[table]}
    return [n for n in schema.names if n in wanted]


def check_columns(table: str, found: pa.Schema) -> None:
    schema = TABLES[table]
    unknown = [n for n in found.names if schema.get_field_index(n) < 0]
    if unknown:
        raise Unfit(f"columns not in the {table} schema: {unknown}")
    if len(set(found.names)) != len(found.names):
        raise Unfit(f"repeated column names: {found.names}")
    missing = [n for n in [*KEYS[table], ORDER_BY[table]] if n not in found.names]
    if missing:
        raise Unfit(f"lacks the {table} column(s) {missing} that identify its rows")


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


def load(path: Path, table: str, names: list[str]) -> pa.Table | None:
    """One part's rows as the columns `names`, None if the file is gone (merged by a
    compaction, or moved aside)."""
    try:
        # One read of the bytes: a part removed from now on cannot fail us half-way, and any
        # error below comes from the file's content, not from the file system.
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as e:
        raise Unfit("a folder, not a file") from e
    except OSError as e:
        if e.errno == errno.ESTALE:  # NFS: another host merged and removed it while we read it
            return None
        raise
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        found = pf.schema_arrow
        if found.equals(TABLES[table]):  # a part as `append` writes it: no column to check or cast
            t = pf.read(columns=names, use_threads=False)
            return conform(table, t.replace_schema_metadata(None) if t.schema.metadata else t, names)
        check_columns(table, found)
        # A column left unread must fit the table as well, or a read of a few columns would
        # count rows that a full read moves aside: read it too when its type is not the table's.
        schema = TABLES[table]
        odd = [n for n in found.names if n not in names and not found.field(n).type.equals(schema.field(n).type)]
        t = pf.read(columns=[n for n in found.names if n in names or n in odd], use_threads=False)
    except (pa.ArrowException, OSError, ValueError, TypeError) as e:
        raise Unfit(f"not a readable Parquet file: {e}") from e
    if odd:
        conform(table, t, [n for n in schema.names if n in t.column_names])
    return conform(table, t.select([n for n in t.column_names if n in names]), names)


def try_load(path: Path, table: str, names: list[str]) -> pa.Table | Unfit | None:
    try:
        return load(path, table, names)
    except Unfit as e:
        return e


def quarantine(path: Path, reason: str) -> None:
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


def newest(table: str, t: pa.Table) -> pa.Table:
    """The last row per key once rows are ordered by ORDER_BY, in that order.

    The sort is stable, so of two versions stamped alike the later one in `t` wins (rows come
    in file-name order). Done in Arrow on the key and order columns only: the other columns
    are taken once, for the rows kept.
    """
    if t.num_rows == 0:
        return t
    t = t.combine_chunks()  # one chunk per column: take and to_pandas crawl over 100,000 chunks
    order = pc.sort_indices(t.select([ORDER_BY[table]]), sort_keys=[(ORDER_BY[table], "ascending")])
    keys = t.select(KEYS[table]).take(order).append_column("_pos", pa.array(np.arange(t.num_rows)))
    last = keys.group_by(KEYS[table], use_threads=False).aggregate([("_pos", "max")]).column("_pos_max")
    return t.take(order.to_numpy()[np.sort(last.to_numpy())])
