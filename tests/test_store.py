"""Parquet store: whole files only, one row per key, documented columns, readable everywhere;
files that are not parts of a table are never read or merged, and a writer's merge moves them
aside (processes sharing a data dir: test_store_processes.py; what reads meet in a data dir,
newer parts, clocks ahead, FIFOs, unreadable files: test_store_reads.py)."""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from filelock import FileLock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import store
from bench.errors import StorageError
from bench.schema import GENERATIONS, KEYS, ORDER_BY, SCORES, TABLES

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


def quarantined(folder) -> list[str]:
    return sorted(p.name for p in (folder / store.QUARANTINE).glob("*"))


def test_a_part_of_another_table_is_skipped_then_moved_aside_and_never_hides_or_replaces_rows(tmp_path, caplog):
    """The red-team case: scores for the same cells, dropped into generations/, read as newer
    generations with a null status ("8 already done") and then compacted over the real rows.
    A read skips it (and moves nothing); a writer's merge moves it aside."""
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
    assert foreign.exists() and not (tmp_path / "generations" / store.QUARANTINE).exists()
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert str(foreign) in record.message and "not in the generations schema" in record.message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        store.compact(tmp_path, "generations")
    assert not foreign.exists() and quarantined(tmp_path / "generations") == [foreign.name]
    assert str(tmp_path / "generations" / store.QUARANTINE / foreign.name) in caplog.text
    after = store.read(tmp_path, "generations")
    assert sorted(after["cell_id"]) == cells and (after["status"] == "ok").all()
    assert quarantined(tmp_path / "generations") == [foreign.name]  # kept for a person to look at


def test_truncated_empty_and_garbage_files_are_skipped_by_reads_and_moved_aside_by_a_merge(tmp_path, caplog):
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
    assert not (folder / store.QUARANTINE).exists() and len(list(folder.glob("*.parquet"))) == 6
    [warned] = [r.message for r in caplog.records if r.levelno == logging.WARNING]  # one per read
    assert all(str(folder / name) in warned for name in bad) and "not a readable Parquet file" in warned
    store.compact(tmp_path, "generations")  # a writer's merge: what this process found unfit goes aside
    assert quarantined(folder) == bad and len(list(folder.glob("*.parquet"))) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        assert store.read(tmp_path, "generations").equals(df)  # and the next read is quiet
    assert not caplog.records


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
def test_a_part_that_does_not_fit_its_table_is_skipped_then_moved_aside(tmp_path, caplog, columns, why):
    store.append(tmp_path, "scores", [{"cell_id": "x", "metric": "clip", "value": 0.9, "created_at": T0}])
    pq.write_table(scores_part(**columns), tmp_path / "scores" / "zz-odd.parquet")
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        df = store.read(tmp_path, "scores")
    assert df[["cell_id", "value"]].values.tolist() == [["x", 0.9]]
    assert (tmp_path / "scores" / "zz-odd.parquet").exists() and why in caplog.text
    store.compact(tmp_path, "scores")
    assert quarantined(tmp_path / "scores") == ["zz-odd.parquet"]


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


def test_a_part_another_host_removed_over_nfs_reads_as_gone_not_as_an_error(tmp_path, monkeypatch):
    """On NFS, a part another machine merged and removed can fail its read with ESTALE rather
    than FileNotFoundError: the reader must list again, as for a part gone locally."""
    import errno

    from bench import store_parts

    store.append(tmp_path, "generations", [gen("c0")])
    (part,) = tmp_path.glob("generations/*.parquet")
    real = os.open

    def failing(code):
        def open_(path, *args, **kwargs):
            if Path(path) == part:
                raise OSError(code, os.strerror(code))
            return real(path, *args, **kwargs)

        return open_

    monkeypatch.setattr(os, "open", failing(errno.ESTALE))
    assert store_parts.load(part, "generations", list(GENERATIONS.names)) is None
    monkeypatch.setattr(os, "open", failing(errno.EIO))
    with pytest.raises(StorageError, match="Input/output error"):  # any other failure is still one
        store_parts.load(part, "generations", list(GENERATIONS.names))


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


# Reads at scale: only the columns asked for, and merges (rolling tiers, or all at once) that
# never change what reads back.


def file_order(name: str) -> tuple[int, str]:
    """Where a file's rows stand, from its name: the sequence it starts with (0 for the names
    used before sequences), a part after a merged file of the same sequence, then the name."""
    seq = re.match(r"(\d{12})-", name)
    return 2 * (int(seq.group(1)) if seq else 0) + ("-m" not in name), name


def reference_read(folder, table: str) -> pd.DataFrame:
    """An independent route to what `read` must return: each part read whole with pyarrow,
    missing columns added as nulls, then pandas orders each key's versions (an ok generation
    first, then the file order, then time) and keeps the last, returned in time order."""
    schema = TABLES[table]
    tables, orders = [], []
    for path in sorted(folder.glob("*.parquet"), key=lambda p: file_order(p.name)):
        t = pq.read_table(path).replace_schema_metadata(None)
        for field in schema:
            if field.name not in t.column_names:
                t = t.append_column(field, pa.nulls(len(t), field.type))
        tables.append(t.select(schema.names).cast(schema))
        orders += [file_order(path.name)[0]] * len(t)
    t = pa.concat_tables(tables) if tables else schema.empty_table()
    versions = t.select([*KEYS[table], ORDER_BY[table]]).to_pandas()
    versions["ok"] = (t["status"].to_pandas() == "ok") if table == "generations" else False
    versions["file"], versions["pos"] = orders, range(len(versions))
    versions = versions.sort_values(["ok", "file", ORDER_BY[table], "pos"])
    kept = versions.drop_duplicates(KEYS[table], keep="last").sort_values(ORDER_BY[table], kind="stable")
    # The rows kept, converted alone: a superseded row's null does not make an int column float.
    return t.take(kept.index.to_numpy()).to_pandas()


OPTIONAL = {"scores": ["value", "truncated_tokens"], "generations": ["status", "seed", "latency_s"]}


@st.composite
def tables_of_parts(draw):
    """A table and its parts: few keys (so versions collide), few times (so stamps tie), times
    a day ahead (a host whose clock is wrong), parts named before sequences and after them
    (with sequences that tie, as concurrent appends' do), and parts that lack some optional
    columns, as parts written before a column was added do."""
    table = draw(st.sampled_from(["scores", "generations"]))
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        dropped = draw(st.sets(st.sampled_from(OPTIONAL[table])))
        rows = []
        seq = draw(st.none() | st.integers(1, 4))
        for _ in range(draw(st.integers(1, 5))):
            row = {
                "cell_id": draw(st.sampled_from("abc")),
                "created_at": T0 + timedelta(minutes=draw(st.sampled_from([0, 1, 2, 24 * 60]))),
            }
            if table == "scores":
                row |= {"metric": draw(st.sampled_from(["m1", "m2"])), "value": draw(st.floats(-1, 1)),
                        "truncated_tokens": draw(st.none() | st.integers(0, 9))}  # fmt: skip
            else:
                row |= {"status": draw(st.sampled_from(["ok", "failed"])), "seed": draw(st.integers(0, 3)),
                        "latency_s": draw(st.none() | st.floats(0, 9))}  # fmt: skip
            rows.append({k: v for k, v in row.items() if k not in dropped})
        parts.append((seq, rows))
    columns = draw(st.lists(st.sampled_from(TABLES[table].names), min_size=1, max_size=3, unique=True))
    return table, parts, columns


def write_parts(folder, table: str, parts: list[tuple[int | None, list[dict]]]) -> None:
    folder.mkdir(parents=True)
    for i, (seq, rows) in enumerate(parts):
        names = [n for n in TABLES[table].names if any(n in r for r in rows)]
        schema = pa.schema([TABLES[table].field(n) for n in names])
        t = pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows], schema=schema)
        stamp = f"20260101T0000{i:02d}000000Z-{i:08x}"
        pq.write_table(t, folder / (f"{stamp}.parquet" if seq is None else f"{seq:012d}-{stamp}.parquet"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables_of_parts())
def test_read_equals_a_file_by_file_read_before_and_after_merges(case):
    """Merges, tier by tier or all at once, keep the winner a read chooses, whatever the clocks."""
    table, parts, columns = case
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(store, "FANOUT", 2):
        data = Path(tmp)
        write_parts(data / table, table, parts)
        expected = reference_read(data / table, table)
        pd.testing.assert_frame_equal(store.read(data, table), expected)
        pd.testing.assert_frame_equal(store.read(data, table, columns=columns), expected[columns])
        store.compact_tiers(data, table)  # merges the parts tier by tier (two files make a tier)
        pd.testing.assert_frame_equal(store.read(data, table), expected)
        store.append(data, table, [])  # nothing to append: still nothing merged or lost
        store.compact(data, table)
        pd.testing.assert_frame_equal(store.read(data, table, columns=columns), expected[columns])
        assert len(list((data / table).glob("*.parquet"))) == 1


def test_read_only_some_columns_in_the_order_asked_still_keeps_the_newest_row(tmp_path):
    store.append(tmp_path, "generations", [gen("a", "failed", 0, latency_s=1.0), gen("b", "ok", 0)])
    store.append(tmp_path, "generations", [gen("a", "ok", 5, latency_s=3.0)])
    df = store.read(tmp_path, "generations", columns=["status", "cell_id"])
    assert list(df.columns) == ["status", "cell_id"]  # created_at was read to order the versions, not returned
    assert sorted(df.values.tolist()) == [["ok", "a"], ["ok", "b"]]
    assert list(store.read(tmp_path / "empty", "generations", columns=["cell_id"]).columns) == ["cell_id"]
    with pytest.raises(ValueError, match="colour"):
        store.read(tmp_path, "generations", columns=["cell_id", "colour"])


def test_a_read_of_a_few_columns_skips_what_a_full_read_would(tmp_path, caplog):
    """A file whose unread columns do not fit is not a part either: a plan reading two columns
    must not count rows that the next full read drops."""
    store.append(tmp_path, "scores", [{"cell_id": "x", "metric": "clip", "value": 0.9, "created_at": T0}])
    pq.write_table(scores_part(value=pa.array(["high", "low"])), tmp_path / "scores" / "zz-odd.parquet")
    pq.write_table(scores_part(colour=pa.array(["red", "blue"])), tmp_path / "scores" / "zz-foreign.parquet")
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        df = store.read(tmp_path, "scores", columns=["cell_id", "metric"])
    assert df.values.tolist() == [["x", "clip"]]
    assert (tmp_path / "scores" / "zz-odd.parquet").exists() and (tmp_path / "scores" / "zz-foreign.parquet").exists()
    assert "do not fit the scores schema" in caplog.text and "not in the scores schema" in caplog.text


def rows_written(monkeypatch) -> list[int]:
    written, real = [], store.write_atomic
    monkeypatch.setattr(store, "write_atomic", lambda path, t: (written.append(t.num_rows), real(path, t))[1])
    return written


def test_rolling_merges_keep_reads_whole_and_the_files_few(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "FANOUT", 3)
    monkeypatch.setattr(store, "ROLL_EVERY_PARTS", 2)
    expected = {}
    for i in range(90):
        rows = [gen(f"c{i}-{r}", "failed", i) for r in range(2)]
        if i:  # each append reruns the last one's cells: the newest row must win through merges
            rows += [gen(f"c{i - 1}-{r}", "ok", i) for r in range(2)]
        store.append(tmp_path, "generations", rows)
        expected |= {r["cell_id"]: r["status"] for r in rows}
        got = store.read(tmp_path, "generations", columns=["cell_id", "status"])
        assert dict(zip(got["cell_id"], got["status"], strict=True)) == expected
    names = [p.name for p in (tmp_path / "generations").glob("*.parquet")]
    assert any("-m" in n for n in names)  # merged files carry their row count
    # At most FANOUT - 1 files per tier (log_3 of 180 rows: 5 tiers) and the parts since the last merge.
    assert len(names) <= 2 * 6 + 2
    assert not (tmp_path / "generations" / store.QUARANTINE).exists()


@pytest.mark.parametrize("fanout", [2, 4, 8])
def test_tiered_merges_rewrite_each_row_about_log_n_times(tmp_path, monkeypatch, fanout):
    """The cost the tiers are for: n rows appended one part at a time are rewritten at most
    once per tier, O(n log n) in all, where merging everything each time would be O(n^2)."""
    monkeypatch.setattr(store, "FANOUT", fanout)
    monkeypatch.setattr(store, "ROLL_EVERY_PARTS", 1)
    written, n = rows_written(monkeypatch), 256
    for i in range(n):
        store.append(tmp_path, "generations", [gen(f"c{i}", minutes=i)])
    tiers = math.log(n, fanout) + 1
    merged = sum(written) - n  # the appends themselves wrote n rows
    assert merged <= n * tiers, (merged, n * tiers)
    assert len(list((tmp_path / "generations").glob("*.parquet"))) <= (fanout - 1) * tiers
    assert len(store.read(tmp_path, "generations")) == n


def test_a_rolling_merge_skips_its_turn_while_another_merge_holds_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "FANOUT", 2)
    for i in range(4):
        store.append(tmp_path, "generations", [gen(f"c{i}")])
    with FileLock(tmp_path / "generations" / store.COMPACT_LOCK):
        started = time.monotonic()
        assert store.compact_tiers(tmp_path, "generations") == []
        assert time.monotonic() - started < 5  # it did not wait for the lock
    assert len(list((tmp_path / "generations").glob("*.parquet"))) == 4
    [merged] = store.compact_tiers(tmp_path, "generations")
    assert list((tmp_path / "generations").glob("*.parquet")) == [merged] and merged.name.endswith("-m4.parquet")


def test_a_failed_rolling_merge_is_logged_and_the_append_still_stands(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(store, "FANOUT", 2)
    monkeypatch.setattr(store, "ROLL_EVERY_PARTS", 2)

    def full_disk(*args):
        raise StorageError("no space left on device")

    monkeypatch.setattr(store, "_merge", full_disk)
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        paths = [store.append(tmp_path, "generations", [gen(f"c{i}")]) for i in range(2)]
    assert all(p.exists() for p in paths) and "no space left" in caplog.text
    assert sorted(store.read(tmp_path, "generations")["cell_id"]) == ["c0", "c1"]
