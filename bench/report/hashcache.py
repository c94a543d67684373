"""The sha256 of each image file now, remembered from build to build by the file's stat.

The gallery checks every image against the hash its run recorded, and a site holds thousands
of them: reading them all on each build would cost seconds. A file whose path, size,
modification time (ns) and inode match the last build's is taken to hold the same bytes, so it
costs one stat; only new or changed files are read. The table is one JSON file in the thumbnail
cache folder, rewritten whole through atomic_write, so a killed or concurrent build leaves the
old table or a new one, never half of one.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.files import atomic_write, sha256_file

FILE = "sha256-by-stat.json"
VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")

Entry = tuple[int, int, int, str]  # size, mtime_ns, inode, sha256


def _stamp(path: Path) -> tuple[int, int, int]:
    # The inode too: a file replaced by rename (how the sweep and rsync write) is a new inode
    # even where the copy kept the old size and modification time. What the stamp cannot see
    # is a same-size rewrite in place within one tick of the clock after it was read.
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _load(table: Path) -> dict[str, Entry]:
    """The last build's table; empty if there is none or it is unreadable (then all is hashed)."""
    try:
        doc = json.loads(table.read_bytes())
        files = doc["files"] if doc.get("version") == VERSION else {}
        return {
            path: (size, mtime, ino, sha)
            for path, (size, mtime, ino, sha) in files.items()
            if all(type(v) is int for v in (size, mtime, ino)) and isinstance(sha, str) and _SHA256.fullmatch(sha)
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def sha256_of(files: Iterable[Path], cache_dir: Path) -> tuple[dict[Path, str], int]:
    """The content sha256 of each file, and how many files had to be read to know it."""
    table = cache_dir / FILE
    known = _load(table)
    now: dict[str, Entry] = {}  # this build's table: only its files, so deleted ones drop out
    out: dict[Path, str] = {}
    todo: list[tuple[Path, tuple[int, int, int]]] = []
    for path in files:
        stamp = _stamp(path)
        entry = known.get(str(path))
        if entry is not None and entry[:3] == stamp:
            out[path] = entry[3]
            now[str(path)] = entry
        else:
            todo.append((path, stamp))
    # hashlib releases the GIL on large reads, so threads share the cores. The stamp was taken
    # before the read: a file that changes meanwhile mismatches next time and is read again.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for (path, stamp), sha in zip(todo, pool.map(lambda job: sha256_file(job[0]), todo)):
            out[path] = sha
            now[str(path)] = (*stamp, sha)
    if now != known:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(table) as f:
            f.write(json.dumps({"version": VERSION, "files": now}, separators=(",", ":")).encode())
    return out, len(todo)
