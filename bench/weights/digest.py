"""The sha256 of weights files, without reading a multi-GB file where its hash is already known.

In the Hugging Face cache a snapshot's files are links to blobs, and an LFS file's blob (every
weights file) is named by its sha256: that name is the hash, so checking it costs a readlink.
(A small file kept in git has its git sha1 as its blob's name, 40 hex: it is read.) Any other
file, such as a local folder's weights, is read once and its hash remembered in the bench cache
by its path and stat, so a folder of weights is hashed on the first run, not on every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.files import atomic_write, cache_dir, sha256_file

TABLE = "sha256-by-stat.json"  # in cache_dir("weights")
VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


def git_blob_id(path: Path) -> str:
    """`git hash-object` of a file: sha1 of b"blob <size>\\0" + its bytes, the id a git repository
    knows the file by (how a file copied from a repository, e.g. MLPerf's val2014.npz, is pinned)."""
    path = Path(path)
    with open(path, "rb") as f:
        h = hashlib.sha1(f"blob {os.fstat(f.fileno()).st_size}\0".encode(), usedforsecurity=False)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def blob_sha256(path: Path) -> str | None:
    """The sha256 an HF cache blob's name gives (None for any other file)."""
    real = Path(path).resolve()
    return real.name if real.parent.name == "blobs" and _SHA256.fullmatch(real.name) else None


def _stamp(real: Path) -> list[int]:
    # ctime and the inode as well as size and mtime: a file rewritten in place, or replaced by a
    # rename, with its old size and modification time restored (rsync -t, touch -d) still gets a
    # new change time, which no user command can set back.
    st = real.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _load(table: Path) -> dict[str, list]:
    try:
        doc = json.loads(table.read_bytes())
        return dict(doc["files"]) if doc.get("version") == VERSION else {}
    except (OSError, ValueError, TypeError, KeyError):
        return {}  # none yet, or unreadable: everything is hashed again


def sha256_of(paths: list[Path], *, remember: bool = True) -> dict[Path, str]:
    """Each file's sha256 (keyed as given). `remember=False` writes nothing (a dry run)."""
    table = cache_dir("weights") / TABLE
    known = _load(table)
    out: dict[Path, str] = {}
    todo: list[tuple[Path, str, list[int]]] = []
    for path in paths:
        if (name := blob_sha256(path)) is not None:
            out[path] = name
            continue
        real = Path(path).resolve()
        stamp, entry = _stamp(real), known.get(str(real))
        if isinstance(entry, list) and len(entry) == 5 and entry[:4] == stamp and _SHA256.fullmatch(str(entry[4])):
            out[path] = entry[4]
        else:
            todo.append((path, str(real), stamp))
    # hashlib releases the GIL on large reads, so threads share the cores. The stamp was taken
    # before the read: a file changed meanwhile mismatches next time and is read again.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for (path, real, stamp), sha in zip(todo, pool.map(lambda job: sha256_file(job[0]), todo)):
            out[path] = sha
            known[real] = [*stamp, sha]
    if todo and remember:
        # Other folders' entries are kept (another suite's local weights), less those now gone.
        known = {p: e for p, e in known.items() if os.path.exists(p)}
        with atomic_write(table) as f:
            f.write(json.dumps({"version": VERSION, "files": known}, separators=(",", ":")).encode())
    return out
