"""Files that appear whole or not at all, content hashes, and where caches live.

A sweep can be killed at any moment and several processes may share a cache, so every file the
project writes goes to a temporary name in its final folder and is renamed into place (atomic on
one file system), and every folder it builds (tiny models, ONNX exports) is built beside its
final name and published with one rename. Paths come partly from configuration, so a cache path
must stay inside the cache, and only folders that carry our own marker are ever removed.
A write that fails (full disk, read-only folder) is a StorageError naming the path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from bench.errors import ConfigError, StorageError

log = logging.getLogger(__name__)
# Written into every staging folder (staged_dir): remove_orphans removes nothing without it.
STAGING_MARKER = ".bench-staging"


def cache_dir(*parts: str) -> Path:
    """$BENCH_CACHE, else ~/.cache/bench; sub-folders are created on demand. Never committed.

    Parts may come from configuration (a model's hub id): the result must stay in the cache.
    """
    root = Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "bench")
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise ConfigError(f"cache path {'/'.join(parts)!r} leaves the cache folder {root}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create the cache folder {path}: {e.strerror or e}") from e
    return path


def writable_dir(path: Path) -> Path:
    """`path` as a folder this process can write to (created if missing), or a StorageError
    now, before hours of work are spent on results that could not be saved."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StorageError(f"{path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise StorageError(f"cannot write to {path}: {e.strerror or e}") from e
    return path


@contextmanager
def atomic_write(path: Path, *, fsync: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write `path` through: readers see the old file or the whole new one.

    `fsync` also forces the bytes to disk before the rename, for files that must survive a
    power cut (the Parquet parts that record results), at a few milliseconds each.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except StorageError:
        raise
    except OSError as e:
        # Full disk, read-only folder, a file where a folder should be: one clear line.
        raise StorageError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        with suppress(FileNotFoundError, NotADirectoryError):  # never created
            tmp.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_write(path) as f:
        f.write(data)


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """An empty folder beside `final` to build into; on success it becomes `final` in one rename.

    If another process published `final` first, its folder is kept and ours is dropped: both
    were built from the same inputs. On failure nothing is published. Callers check for `final`
    before building; a half-built folder is never seen under the final name.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(final.parent)
    work = final.with_name(f".tmp-{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    work.mkdir()
    (work / STAGING_MARKER).write_text(socket.gethostname())  # whose pid the name holds
    try:
        yield work
        (work / STAGING_MARKER).unlink()  # the published folder is the user's cache, not staging
        try:
            work.rename(final)
        except OSError:
            if not final.is_dir():
                raise
            log.info("another process published %s first; using it", final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def remove_orphans(root: Path) -> None:
    """Staging folders (staged_dir) left by processes killed on this machine: their pid is gone.
    A folder without our marker is left alone, whatever its name, and so is one another host
    made: on a cache shared between machines (a Slurm array on NFS) a pid says nothing here."""
    host = socket.gethostname()
    for tmp in root.glob(".tmp-*"):
        try:
            maker = (tmp / STAGING_MARKER).read_text().strip()
        except OSError:
            continue  # no marker: not ours
        if maker and maker != host:  # an empty marker predates the host name: this machine's
            continue
        pid = tmp.name.rsplit("-", 2)[-2]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, PermissionError):
            pass  # not ours to judge: a foreign name, or another user's live process


def sha256_file(path: Path) -> str:
    """The file's sha256 as hex; a file is read once per size and modification time (weights
    are hashed in the preflight and again at load)."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _sha256(path: str, _size: int, _mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
