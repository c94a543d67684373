"""The background writer: jobs in order, a bounded queue, errors raised in the sweep, and
finished batches saved even when the sweep stops."""

from __future__ import annotations

import threading
import time

import pytest

from bench.writer import BatchWriter


def test_jobs_run_in_order_on_one_thread_and_the_queue_is_bounded():
    done, threads, running = [], set(), []
    gate = threading.Event()

    def job(i):
        def run():
            running.append(i)
            gate.wait(5)
            threads.add(threading.get_ident())
            done.append(i)

        return run

    with BatchWriter(max_pending=2) as writer:
        writer.submit(job(0))
        writer.submit(job(1))
        waiter = threading.Thread(target=writer.submit, args=(job(2),))
        waiter.start()
        time.sleep(0.2)
        assert waiter.is_alive()  # a third batch waits while two are queued
        gate.set()
        waiter.join(5)
    assert done == [0, 1, 2] and len(threads) == 1 and threading.get_ident() not in threads


def test_an_error_in_a_job_reaches_the_sweep():
    def full_disk():
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"), BatchWriter() as writer:
        writer.submit(full_disk)
        writer.drain()


def test_stopping_still_saves_the_batches_already_queued():
    saved = []
    with pytest.raises(KeyboardInterrupt), BatchWriter(max_pending=4) as writer:
        for i in range(3):
            writer.submit(lambda i=i: (time.sleep(0.05), saved.append(i)))
        raise KeyboardInterrupt
    assert saved == [0, 1, 2]


def test_rolling_merges_run_on_the_writer_thread_after_its_appends(tmp_path, monkeypatch):
    """The sweep's jobs append through bench.store, which merges full tiers every few parts:
    on the writer's one thread, so the sweep never waits for a merge."""
    from datetime import UTC, datetime

    from bench import store

    monkeypatch.setattr(store, "FANOUT", 2)
    monkeypatch.setattr(store, "ROLL_EVERY_PARTS", 2)
    merged_on, real = set(), store.compact_tiers
    monkeypatch.setattr(store, "compact_tiers", lambda *a: (merged_on.add(threading.get_ident()), real(*a))[1])
    row = lambda i: {"run_id": "r", "cell_id": f"c{i}", "status": "ok", "created_at": datetime.now(UTC)}  # noqa: E731
    with BatchWriter() as writer:
        for i in range(12):
            writer.submit(lambda i=i: store.append(tmp_path, "generations", [row(i)]))
    assert merged_on and threading.get_ident() not in merged_on
    assert len(list((tmp_path / "generations").glob("*.parquet"))) < 12
    assert sorted(store.read(tmp_path, "generations")["cell_id"]) == sorted(f"c{i}" for i in range(12))
