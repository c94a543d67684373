"""Processes sharing one data dir: writers (with clocks that jump a day back and forth) append
while two others compact and read, and two more read, all at once; and shards of a sweep that
append, read and merge while two other processes compact the same table.

Real processes, as sweeps on one machine are: no exception anywhere, every read holds
every row whose append had returned before it began, and the end holds each row exactly once.
A reader or a merge that lists a part which another process's merge then removes must list
again, never fail: that was the `FileNotFoundError` one sweep got when another compacted.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import store

WRITERS, BATCHES, ROWS = 3, 60, 4


def keys(writer: int, batch: int) -> list[str]:
    return [f"w{writer}-b{batch}-r{r}" for r in range(ROWS)]


def rows(writer: int, batch: int, status: str, skew: timedelta = timedelta(0)) -> list[dict]:
    now = datetime.now(UTC) + skew
    return [
        dict(run_id="r", cell_id=k, model="m", status=status, seed=batch, created_at=now) for k in keys(writer, batch)
    ]


def writer(data_dir: Path, w: int, start, progress, errors, sweep_like: bool = False) -> None:
    """Each batch's cells first fail, then the next append reruns them: the rerun must win, though
    the writer's clock jumps a day ahead and back between appends. A sweep-like writer merges tiers as it appends (small tiers, to merge often), reads the
    table after each append, as a sweep does before each group, and compacts it now and then."""
    try:
        if sweep_like:
            store.FANOUT, store.ROLL_EVERY_PARTS = 3, 2
        start.wait(60)
        for b in range(BATCHES + 1):
            skew = timedelta(days=1 if b % 2 else -1)  # a failure stamped ahead, its rerun behind
            new = rows(w, b, "failed", skew) if b < BATCHES else []
            rerun = rows(w, b - 1, "ok", skew) if b else []
            store.append(data_dir, "generations", new + rerun)
            progress[w] = b + 1
            if sweep_like:
                got = store.read(data_dir, "generations", columns=["cell_id", "status"]).set_index("cell_id")
                assert got["status"].reindex(keys(w, b - 1) if b else []).eq("ok").all()
                if b % 20 == 19:
                    store.compact(data_dir, "generations")
            time.sleep(random.uniform(0, 0.05))
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def other(data_dir: Path, compacts: bool | str, start, progress, stop, errors, counts) -> None:
    """Reads (after compacting, if `compacts`: "tiers" merges full tiers only) in a loop; each
    read must hold what the writers had finished."""
    try:
        store.FANOUT = 3
        start.wait(60)
        while not stop.is_set():
            if compacts == "tiers":
                store.compact_tiers(data_dir, "generations")
            elif compacts:
                store.compact(data_dir, "generations")
            time.sleep(random.uniform(0, 0.02) if compacts else 0)  # reads fall anywhere in a compaction
            done = list(progress)  # appends returned before the read began
            df = store.read(data_dir, "generations").set_index("cell_id")
            assert df.index.is_unique
            for w, n in enumerate(done):
                for b in range(min(n, BATCHES)):
                    expected = "ok" if b + 1 < n else "failed"  # batch b is rerun by append b + 1
                    got = df["status"].reindex(keys(w, b))
                    assert got.notna().all(), f"rows of writer {w} batch {b} missing from a read"
                    assert expected == "failed" or (got == "ok").all(), f"an old row of w{w} b{b} came back"
            with counts.get_lock():
                counts.value += 1
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def run_all(tmp_path, others_modes, sweep_like: bool) -> None:
    """Writers and others (readers, compactors) at once; then the end holds each row exactly once."""
    # Not fork: this process holds torch's threads. A fork server that has imported the store
    # once, rather than a fresh interpreter (spawn) importing pyarrow and pandas for each of
    # the nine processes: the processes are as separate, and start in a fraction of the time.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["bench.store", __name__])
    progress, stop, errors, counts = ctx.Array("i", WRITERS), ctx.Event(), ctx.Queue(), ctx.Value("i", 0)
    start = ctx.Barrier(WRITERS + len(others_modes))  # all start together, once spawned and imported
    store.append(tmp_path, "generations", rows(99, 0, "ok"))  # something to compact from the start
    others = [
        ctx.Process(target=other, args=(tmp_path, compacts, start, progress, stop, errors, counts))
        for compacts in others_modes
    ]
    writers = [
        ctx.Process(target=writer, args=(tmp_path, w, start, progress, errors, sweep_like)) for w in range(WRITERS)
    ]
    for p in others + writers:
        p.start()
    try:
        for p in writers:
            p.join(120)
        # Let the others run over the finished table too, then stop them.
        deadline = time.time() + 10
        start = counts.value
        while counts.value < start + len(others) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for p in others + writers:
            p.join(30)
            if p.is_alive():
                p.kill()
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert not failures, "\n".join(failures)
    assert [p.exitcode for p in others + writers] == [0] * (len(others) + WRITERS)
    assert counts.value >= len(others)  # the others did compact and read while the writers wrote
    df = store.read(tmp_path, "generations")
    expected = {k for w in range(WRITERS) for b in range(BATCHES) for k in keys(w, b)} | set(keys(99, 0))
    assert len(df) == len(expected) and set(df["cell_id"]) == expected
    assert (df["status"] == "ok").all()
    assert not (tmp_path / "generations" / store.QUARANTINE).exists()


def test_writers_compactors_and_readers_at_once_lose_and_duplicate_nothing(tmp_path):
    run_all(tmp_path, [True, True, False, False], sweep_like=False)


def test_sweeps_that_merge_as_they_append_beside_two_compactors_lose_and_duplicate_nothing(tmp_path):
    """Shards of a sweep (append, read, merge tiers, compact) while one process compacts
    everything and another merges tiers, over and over: no crash, no row lost or doubled."""
    run_all(tmp_path, ["full", "tiers"], sweep_like=True)
