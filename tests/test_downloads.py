"""The downloads page's data: one merged Parquet file per table, as the store reads it, and a
column dictionary in which every column of every table has a meaning and, where it has one, a unit."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from bench import schema_docs, store
from bench.report import downloads
from bench.schema import TABLES

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.mark.parametrize("table", list(TABLES))
def test_every_column_of_every_table_has_a_meaning(table):
    undocumented = [f.name for f in TABLES[table] if not schema_docs.meaning(table, f.name).strip()]
    assert not undocumented, f"add these {table} columns to bench/schema_docs.py: {undocumented}"


def test_the_dictionary_names_no_column_the_schema_lacks():
    extra = {t: sorted(set(cols) - set(TABLES[t].names)) for t, cols in schema_docs.COLUMNS.items()}
    assert set(schema_docs.COLUMNS) == set(TABLES) and not any(extra.values()), extra


def test_a_unit_comes_from_the_name_or_is_given():
    assert schema_docs.unit("generations", "latency_s") == "s"
    assert schema_docs.unit("generations", "peak_mem_mb") == "MB"
    assert schema_docs.unit("generations", "energy_j") == "J"
    assert schema_docs.unit("runs", "ram_gb") == "GB"
    assert schema_docs.unit("generations", "step_ms_p50") == "ms"  # the suffix is p50: given
    assert schema_docs.unit("generations", "width") == "px"
    assert schema_docs.unit("generations", "prompt") == ""


def test_the_merged_tables_hold_one_row_per_key_with_the_schema_types(tmp_path):
    first, again = NOW, NOW + timedelta(minutes=5)
    store.append(tmp_path, "generations", [
        {"run_id": "r1", "cell_id": "a", "prompt_id": "p", "model": "m", "backend": "pytorch", "status": "failed",
         "seed": 0, "created_at": first},
        {"run_id": "r1", "cell_id": "b", "prompt_id": "p", "model": "m", "backend": "pytorch", "status": "ok",
         "seed": 1, "latency_s": 1.5, "created_at": first},
    ])  # fmt: skip
    store.append(tmp_path, "generations", [
        {"run_id": "r2", "cell_id": "a", "prompt_id": "p", "model": "m", "backend": "pytorch", "status": "ok",
         "seed": 0, "latency_s": 2.5, "created_at": again},
    ])  # fmt: skip
    store.append(tmp_path, "runs", [{"run_id": "r1", "suite": "tiny", "started_at": first}])
    files = downloads.merged(tmp_path)
    assert set(files) == {"downloads/generations.parquet", "downloads/runs.parquet"}  # no parts, no file
    merged = pq.read_table(io.BytesIO(files["downloads/generations.parquet"]))
    assert merged.schema.equals(TABLES["generations"])
    rows = {r["cell_id"]: r for r in merged.to_pylist()}
    assert len(rows) == merged.num_rows == 2 and rows["a"]["status"] == "ok" and rows["a"]["latency_s"] == 2.5
    assert rows["a"]["created_at"] == again


def test_the_downloads_page_lists_each_table_and_its_columns(tmp_path):
    store.append(tmp_path, "runs", [{"run_id": "r1", "suite": "tiny", "started_at": NOW}])
    merged = downloads.merged(tmp_path)
    html = downloads.downloads_page(downloads.files(tmp_path, store.read(tmp_path, "runs")), {
        p: len(b) for p, b in merged.items()}, "../")  # fmt: skip
    assert 'href="../downloads/runs.parquet"' in html and "runs table part" in html
    assert ">ram_gb<" in html and ">GB<" in html and ">double<" in html and "the machine&#x27;s memory" in html
