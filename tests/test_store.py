"""Parquet store: whole files only, newest row per key, documented columns, readable everywhere;
files that are not parts of a table are moved aside, never read or merged (processes sharing a
data dir: test_store_processes.py)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from filelock import FileLock

from bench import store
from bench.errors import StorageError
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
    (tmp_path / "a-file").write_text("not a data dir")
    for table, schema in TABLES.items():
        assert list(store.read(tmp_path / "empty", table).columns) == schema.names
        assert store.read(tmp_path / "a-file", table).empty and store.compact(tmp_path / "a-file", table) is None


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


def quarantined(folder) -> list[str]:
    return sorted(p.name for p in (folder / store.QUARANTINE).glob("*"))


def test_a_part_of_another_table_is_moved_aside_and_never_hides_or_replaces_rows(tmp_path, caplog):
    """The red-team case: scores for the same cells, dropped into generations/, read as newer
    generations with a null status ("8 already done") and then compacted over the real rows."""
    cells = [f"c{i}" for i in range(8)]
    for c in cells:
        store.append(tmp_path, "generations", [gen(c)])
    scores = store.append(tmp_path, "scores", [{"cell_id": c, "metric": "clip", "value": 0.3,
                                                "created_at": T0 + timedelta(days=1)} for c in cells])  # fmt: skip
    foreign = tmp_path / "generations" / "99999999T000000Z-scores.parquet"
    scores.rename(foreign)
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        df = store.read(tmp_path, "generations")
    assert sorted(df["cell_id"]) == cells and (df["status"] == "ok").all()
    assert not foreign.exists() and quarantined(tmp_path / "generations") == [foreign.name]
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert str(foreign) in record.message and "not in the generations schema" in record.message
    assert str(tmp_path / "generations" / store.QUARANTINE / foreign.name) in record.message
    store.compact(tmp_path, "generations")
    after = store.read(tmp_path, "generations")
    assert sorted(after["cell_id"]) == cells and (after["status"] == "ok").all()
    assert quarantined(tmp_path / "generations") == [foreign.name]  # kept for a person to look at


def test_truncated_empty_and_garbage_files_are_moved_aside_not_read(tmp_path, caplog):
    good = store.append(tmp_path, "generations", [gen("a"), gen("b")])
    folder = tmp_path / "generations"
    data = good.read_bytes()
    (folder / "x-truncated.parquet").write_bytes(data[: len(data) // 2])
    (folder / "x-tail-cut.parquet").write_bytes(data[:-5])
    (folder / "x-garbage.parquet").write_bytes(b"not parquet at all")
    (folder / "x-empty.parquet").write_bytes(b"")
    (folder / "x-folder.parquet").mkdir()
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        df = store.read(tmp_path, "generations")
    assert sorted(df["cell_id"]) == ["a", "b"]
    bad = ["x-empty.parquet", "x-folder.parquet", "x-garbage.parquet", "x-tail-cut.parquet", "x-truncated.parquet"]
    assert quarantined(folder) == bad and sorted(p.name for p in folder.glob("*.parquet")) == [good.name]
    warned = " ".join(r.message for r in caplog.records if r.levelno == logging.WARNING)
    assert all(str(folder / name) in warned for name in bad) and "not a readable Parquet file" in warned
    assert store.read(tmp_path, "generations").equals(df)  # and the next read is quiet
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == len(bad)


def scores_part(**columns) -> pa.Table:
    base = {
        "cell_id": pa.array(["x", "y"]),
        "metric": pa.array(["clip", "clip"]),
        "value": pa.array([0.1, 0.2]),
        "created_at": pa.array([T0, T0], type=SCORES.field("created_at").type),
    }
    base.update(columns)
    return pa.table({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("columns", "why"),
    [
        ({"colour": pa.array(["red", "blue"])}, "not in the scores schema"),
        ({"metric": pa.array(["clip", None])}, "null key"),
        ({"cell_id": pa.array([None, None], type=pa.string())}, "null key"),
        ({"metric": None}, "lacks the scores column(s) ['metric']"),
        ({"created_at": None}, "lacks the scores column(s) ['created_at']"),
        ({"value": pa.array(["high", "low"])}, "do not fit the scores schema"),
        ({"value": pa.array([[1.0], [2.0]])}, "do not fit the scores schema"),
    ],
    ids=["extra-column", "a-null-key", "null-keys", "no-key-column", "no-order-column", "uncastable", "list"],
)
def test_a_part_that_does_not_fit_its_table_is_moved_aside(tmp_path, caplog, columns, why):
    store.append(tmp_path, "scores", [{"cell_id": "x", "metric": "clip", "value": 0.9, "created_at": T0}])
    pq.write_table(scores_part(**columns), tmp_path / "scores" / "zz-odd.parquet")
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        df = store.read(tmp_path, "scores")
    assert df[["cell_id", "value"]].values.tolist() == [["x", 0.9]]
    assert quarantined(tmp_path / "scores") == ["zz-odd.parquet"] and why in caplog.text


def test_parts_with_castable_types_and_pandas_metadata_still_belong(tmp_path):
    odd = scores_part(value=pa.array([1, 2]), truncated_tokens=pa.array([3, None], type=pa.int32()))
    pq.write_table(odd, (tmp_path / "scores").mkdir() or tmp_path / "scores" / "a.parquet")
    frame = pd.DataFrame({"cell_id": ["z"], "metric": ["clip"], "value": [0.5], "created_at": [T0]})
    frame.to_parquet(tmp_path / "scores" / "b.parquet", coerce_timestamps="us")  # written by pandas
    df = store.read(tmp_path, "scores")
    assert list(df["cell_id"]) == ["x", "y", "z"] and list(df["value"]) == [1.0, 2.0, 0.5]
    assert df["truncated_tokens"].iloc[0] == 3 and df["truncated_tokens"].iloc[1:].isna().all()
    assert quarantined(tmp_path / "scores") == []


def test_a_row_without_its_key_is_refused_on_append(tmp_path):
    with pytest.raises(ValueError, match="metric"):
        store.append(tmp_path, "scores", [{"cell_id": "a", "value": 1.0}])
    assert not (tmp_path / "scores").exists()


def test_compaction_moves_a_bad_file_aside_and_keeps_the_parts_if_its_merge_is_short(tmp_path, monkeypatch):
    for i in range(3):
        store.append(tmp_path, "generations", [gen(f"c{i}"), gen(f"d{i}")])
    folder = tmp_path / "generations"
    (folder / "x-garbage.parquet").write_bytes(b"PAR1 not really")
    parts = sorted(folder.glob("*.parquet"))
    good = [p for p in parts if p.name != "x-garbage.parquet"]
    before = store.read(tmp_path, "generations")
    real = store.write_atomic
    monkeypatch.setattr(store, "write_atomic", lambda path, table: real(path, table.slice(1)))  # loses a row
    with pytest.raises(StorageError, match="parts kept"):
        store.compact(tmp_path, "generations")
    assert sorted(folder.glob("*.parquet")) == good and quarantined(folder) == ["x-garbage.parquet"]
    pd.testing.assert_frame_equal(store.read(tmp_path, "generations"), before)
    monkeypatch.setattr(store, "write_atomic", real)
    merged = store.compact(tmp_path, "generations")
    assert sorted(folder.glob("*.parquet")) == [merged]
    pd.testing.assert_frame_equal(store.read(tmp_path, "generations"), before)


def test_a_reader_finds_the_rows_of_parts_compacted_after_it_listed_them(tmp_path, monkeypatch):
    for i in range(4):
        store.append(tmp_path, "generations", [gen(f"c{i}", minutes=i), gen("dup", minutes=i)])
    expected = store.read(tmp_path, "generations")
    real, listings = store._part_names, []

    def list_then_compact(folder):
        names = real(folder)
        listings.append(names)
        if len(listings) == 1:
            store.compact(tmp_path, "generations")  # every part just listed is merged and removed
        return names

    monkeypatch.setattr(store, "_part_names", list_then_compact)
    pd.testing.assert_frame_equal(store.read(tmp_path, "generations"), expected)
    assert len(listings[0]) == 4 and len(listings[-1]) == 1  # it listed again and read the merged file


def test_compaction_removes_only_the_parts_it_merged(tmp_path, monkeypatch):
    for i in range(3):
        store.append(tmp_path, "generations", [gen(f"c{i}")])
    real, late = store.write_atomic, []

    def append_meanwhile(path, table):
        monkeypatch.setattr(store, "write_atomic", real)  # appends do not wait for a compaction
        late.append(store.append(tmp_path, "generations", [gen("late", minutes=9)]))
        real(path, table)

    monkeypatch.setattr(store, "write_atomic", append_meanwhile)
    merged = store.compact(tmp_path, "generations")
    assert sorted((tmp_path / "generations").glob("*.parquet")) == sorted([merged, *late])
    assert sorted(store.read(tmp_path, "generations")["cell_id"]) == ["c0", "c1", "c2", "late"]


def test_one_compaction_at_a_time_per_table(tmp_path):
    for i in range(3):
        store.append(tmp_path, "generations", [gen(f"c{i}")])
    result = []
    with FileLock(tmp_path / "generations" / store.COMPACT_LOCK):
        worker = threading.Thread(target=lambda: result.append(store.compact(tmp_path, "generations")))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and not result  # waits for the compaction that holds the lock
        assert len(list((tmp_path / "generations").glob("*.parquet"))) == 3
    worker.join(10)
    assert result and list((tmp_path / "generations").glob("*.parquet")) == [result[0]]
