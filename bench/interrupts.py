"""Stopping a long run cleanly: Ctrl-C, SIGTERM (timeout, Slurm, Kubernetes) and SIGHUP (a closed
terminal) all become the same KeyboardInterrupt, so one code path keeps finished work, writes
the run's record and exits with 128 + the signal's number.

Python drops an exception raised while a destructor or weakref callback runs ("Exception ignored
in ..."), and a signal can land exactly there. So the signal is also remembered, and the sweep
asks `raise_if_stopped()` between batches: a stop request is never lost, at worst it waits for
the batch in flight.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []


class Stopped(KeyboardInterrupt):
    """A stop request by signal; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum, _frame) -> None:
    _received.append(signum)
    raise Stopped(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise Stopped (a KeyboardInterrupt).
    Only the main thread may set handlers; elsewhere the block changes nothing."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in HANDLED}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def raise_if_stopped() -> None:
    """Raise Stopped if a signal arrived whose exception was swallowed on the way."""
    if _received:
        raise Stopped(_received[-1])


def exit_code(error: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + getattr(error, "signum", signal.SIGINT)
