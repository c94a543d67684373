"""Parquet store: whole files only, newest row per key, documented columns, readable everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench import store
from bench.schema import GENERATIONS, SCORES, TABLES

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def gen(cell_id: str, status: str = "ok", minutes: int = 0, **extra) -> dict:
    return dict(
        run_id="r",
        cell_id=cell_id,
        model="m",
        status=status,
        seed=0,
        created_at=T0 + timedelta(minutes=minutes),
        **extra,
    )


def test_append_writes_one_whole_file_per_call_and_no_temporaries(tmp_path):
    store.append(tmp_path, "generations", [gen("a"), gen("b")])
    store.append(tmp_path, "generations", [gen("c")])
    files = list((tmp_path / "generations").iterdir())
    assert len(files) == 2 and all(f.suffix == ".parquet" and not f.name.startswith(".") for f in files)
    assert store.append(tmp_path, "generations", []) is None


def test_read_keeps_the_newest_row_per_key(tmp_path):
    store.append(tmp_path, "generations", [gen("a", "failed", 0), gen("b", "ok", 0)])
    store.append(tmp_path, "generations", [gen("a", "ok", 5)])
    df = store.read(tmp_path, "generations")
    assert sorted(df["cell_id"]) == ["a", "b"]
    assert df.set_index("cell_id").loc["a", "status"] == "ok"


def test_documented_columns_readable_by_pandas_and_pyarrow(tmp_path):
    path = store.append(tmp_path, "generations", [gen("a", latency_s=0.5, warm=True)])
    assert pq.read_table(path).schema.names == GENERATIONS.names
    frame = pd.read_parquet(tmp_path / "generations")
    assert list(frame.columns) == GENERATIONS.names and frame.loc[0, "latency_s"] == 0.5
    for table, schema in TABLES.items():
        assert list(store.read(tmp_path / "empty", table).columns) == schema.names


def test_parts_missing_newer_columns_read_as_nulls(tmp_path):
    import pyarrow as pa

    old = pa.table(
        {
            "cell_id": ["x"],
            "metric": ["clip_vit_b_32"],
            "value": [0.3],
            "created_at": pa.array([T0], type=SCORES.field("created_at").type),
        }
    )
    (tmp_path / "scores").mkdir()
    pq.write_table(old, tmp_path / "scores" / "old.parquet")
    df = store.read(tmp_path, "scores")
    assert df.loc[0, "value"] == 0.3 and pd.isna(df.loc[0, "truncated_tokens"])


def test_unknown_columns_are_refused(tmp_path):
    with pytest.raises(KeyError, match="colour"):
        store.append(tmp_path, "scores", [{"cell_id": "a", "colour": "red"}])


def test_compact_merges_parts_without_changing_what_reads_back(tmp_path):
    for i in range(4):
        store.append(tmp_path, "generations", [gen(f"c{i}", minutes=i), gen("dup", minutes=i)])
    before = store.read(tmp_path, "generations")
    store.compact(tmp_path, "generations")
    assert len(list((tmp_path / "generations").glob("*.parquet"))) == 1
    pd.testing.assert_frame_equal(before, store.read(tmp_path, "generations"))
