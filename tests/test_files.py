"""Paths from configuration stay inside their root, and nothing is removed that we did not make."""

from __future__ import annotations

import os
import socket

import pytest

from bench import files
from bench.errors import ConfigError, StorageError
from bench.tiny import tiny_path


def test_a_tiny_model_name_cannot_walk_out_of_the_cache(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    with pytest.raises(KeyError):
        tiny_path("tiny-biggan/../../../../" + str(victim).lstrip("/"))
    assert (victim / "keep.txt").read_text() == "mine"


def test_cache_paths_must_stay_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    assert files.cache_dir("weights", "biggan-deep-256-abcd").is_dir()
    with pytest.raises(ConfigError, match="leaves the cache folder"):
        files.cache_dir("weights", "../../elsewhere")
    assert not (tmp_path / "elsewhere").exists()


def test_only_marked_staging_folders_of_dead_processes_are_removed(tmp_path):
    dead_pid = 999_999_999
    ours = tmp_path / f".tmp-x-{dead_pid}-00000000"
    ours.mkdir()
    (ours / files.STAGING_MARKER).touch()
    foreign = tmp_path / f".tmp-y-{dead_pid}-00000000"  # same name pattern, not made by us
    foreign.mkdir()
    alive = tmp_path / f".tmp-z-{os.getpid()}-00000000"
    alive.mkdir()
    (alive / files.STAGING_MARKER).touch()
    # another machine's, on a shared cache: its pid is not this machine's to look up
    elsewhere = tmp_path / f".tmp-w-{dead_pid}-00000000"
    elsewhere.mkdir()
    (elsewhere / files.STAGING_MARKER).write_text("gpu-node-17")
    files.remove_orphans(tmp_path)
    assert not ours.exists() and foreign.is_dir() and alive.is_dir() and elsewhere.is_dir()
    with files.staged_dir(tmp_path / "model") as work:  # what a staging folder says of its maker
        assert (work / files.STAGING_MARKER).read_text() == socket.gethostname()


def test_a_staged_folder_is_published_whole_or_not_at_all(tmp_path):
    final = tmp_path / "model"
    with pytest.raises(RuntimeError), files.staged_dir(final) as work:
        (work / "half.bin").write_bytes(b"x")
        raise RuntimeError("killed mid-build")
    assert not final.exists() and not list(tmp_path.glob(".tmp-*"))
    with files.staged_dir(final) as work:
        (work / "whole.bin").write_bytes(b"x")
    assert sorted(p.name for p in final.iterdir()) == ["whole.bin"]  # no staging marker left


def test_a_write_that_fails_names_the_path(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StorageError, match="cannot write"):
        files.write_bytes(tmp_path / "file" / "x.png", b"png")
    with pytest.raises(StorageError, match="is a file, not a folder"):
        files.writable_dir(tmp_path / "file")
