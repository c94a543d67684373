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

from bench.shard import WHOLE, Shard

# A group's lock file is named from registry keys (plain ids), never from prompt text.
CLAIMS_DIR = ".claims"


def _lock(data_dir: Path, group: tuple[str, str], part: Shard) -> FileLock:
    folder = Path(data_dir) / CLAIMS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    model, backend = group
    # Shards hold disjoint cells of a group, so each claims its own part of it: the shards of one
    # split run side by side, and only a second copy of the same shard waits. (A whole sweep run
    # beside a split one of the same suite is not protected: launch one or the other.)
    suffix = "" if part.whole else f"--shard{part.index}of{part.count}"
    return FileLock(folder / f"{model}--{backend}{suffix}.lock")


def try_claim(data_dir: Path, group: tuple[str, str], part: Shard = WHOLE) -> FileLock | None:
    """The group's lock, held; None when another sweep holds it now."""
    lock = _lock(data_dir, group, part)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


def wait_claim(data_dir: Path, group: tuple[str, str], part: Shard = WHOLE) -> FileLock:
    """The group's lock, held, waiting for as long as another sweep holds it."""
    lock = _lock(data_dir, group, part)
    lock.acquire()
    return lock
