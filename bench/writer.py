"""The sweep's background writer: the GPU makes the next batch while this one is saved.

Each batch is one job, run in order on one thread: encode and write its images (atomically),
then append its rows. A row is therefore on disk only after its image is, exactly as when the
sweep wrote in line, so a kill -9 loses at most the batches in the queue and never leaves a row
without its image. Every few batches an append also merges small part files (the store's
rolling merge, bench.store.append), here on this thread too, so neither holds up the GPU.
The queue is bounded (`max_pending`), so a slow disk slows the sweep rather than filling memory
with images. An error in a job (a full disk) is raised in the sweep at its next submit or drain.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class BatchWriter:
    def __init__(self, max_pending: int = 2):
        self.max_pending = max_pending
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-writer")
        self.pending: deque[Future] = deque()

    def submit(self, job: Callable[[], object]) -> None:
        """Queue a job after the ones already queued; waits while `max_pending` are queued."""
        while len(self.pending) >= self.max_pending:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(job))

    def drain(self) -> None:
        """Wait until every queued job is done (raising the first error, if any)."""
        while self.pending:
            self.pending.popleft().result()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Interrupted or failed: finished batches still reach the disk before the sweep exits.
        try:
            if exc_type is None:
                self.drain()
                return
            try:
                self.drain()
            except Exception as e:  # noqa: BLE001 - the error already on its way out is the one to report
                log.error("saving the last batches failed too: %s: %s", type(e).__name__, e)
        finally:
            self.pool.shutdown(wait=True)
