"""Parquet results: append-only part files, read back as one deduplicated frame.

Each append writes a new file `data/<table>/<utc-time>-<random>.parquet` under a temporary name
and renames it into place, so a kill at any moment leaves only whole files. Nothing is rewritten
in place; a rerun or rescore appends, and `read` keeps the newest row per key (schema.KEYS).
`compact` merges a table's parts into one file (written whole, then the parts removed): a crash
between the two steps leaves duplicates that `read` already ignores.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.files import atomic_write
from bench.schema import KEYS, ORDER_BY, TABLES


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
    columns = {name: [r.get(name) for r in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def write_atomic(path: Path, table: pa.Table) -> None:
    """Write a Parquet file so that readers only ever see it whole, and it survives a power cut."""
    with atomic_write(path, fsync=True) as f:
        pq.write_table(table, f)


def append(data_dir: Path, table: str, rows: list[dict]) -> Path | None:
    """Append rows to a table as one new part file; returns its path (None for no rows)."""
    if not rows:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = _table_dir(data_dir, table) / f"{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    write_atomic(path, _to_arrow(table, rows))
    return path


def _parts(data_dir: Path, table: str) -> list[Path]:
    folder = _table_dir(data_dir, table)
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def read(data_dir: Path, table: str) -> pd.DataFrame:
    """The whole table, newest row per key, with every schema column present."""
    schema = TABLES[table]
    frames = []
    for part in _parts(data_dir, table):
        t = pq.read_table(part)
        # Older parts may lack newer columns: add them as typed nulls.
        for field in schema:
            if field.name not in t.column_names:
                t = t.append_column(field, pa.nulls(len(t), field.type))
        frames.append(t.select(schema.names).cast(schema))
    if not frames:
        return schema.empty_table().to_pandas()
    df = pa.concat_tables(frames).to_pandas()
    df = df.sort_values(ORDER_BY[table], kind="stable")
    return df.drop_duplicates(KEYS[table], keep="last").reset_index(drop=True)


def compact(data_dir: Path, table: str) -> Path | None:
    """Merge a table's part files into one; the result reads exactly as before."""
    parts = _parts(data_dir, table)
    if len(parts) < 2:
        return None
    merged = pa.Table.from_pandas(read(data_dir, table), schema=TABLES[table], preserve_index=False)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = _table_dir(data_dir, table) / f"{stamp}-compact.parquet"
    write_atomic(path, merged)
    for part in parts:
        part.unlink(missing_ok=True)
    return path
