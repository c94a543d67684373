"""Cooperative claims, so several sweeps can share one data dir without doing a cell twice.

A sweep claims a (model, backend) group with a lock file under `data/.claims/` before it loads
the model, and holds it while it works through the group. Another sweep that finds the group
claimed does its other groups first, then waits for the claim and makes only what is still
missing. The operating system releases a lock when its process dies, so a killed sweep never
leaves a group claimed.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

# A group's lock file is named from registry keys (plain ids), never from prompt text.
CLAIMS_DIR = ".claims"


def _lock(data_dir: Path, group: tuple[str, str]) -> FileLock:
    folder = Path(data_dir) / CLAIMS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    model, backend = group
    return FileLock(folder / f"{model}--{backend}.lock")


def try_claim(data_dir: Path, group: tuple[str, str]) -> FileLock | None:
    """The group's lock, held; None when another sweep holds it now."""
    lock = _lock(data_dir, group)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


def wait_claim(data_dir: Path, group: tuple[str, str]) -> FileLock:
    """The group's lock, held, waiting for as long as another sweep holds it."""
    lock = _lock(data_dir, group)
    lock.acquire()
    return lock
