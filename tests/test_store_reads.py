"""What a read meets in a data dir, and what it must do about it: a newer version's part is read
without the columns this version lacks (never moved aside); a read moves no file, whatever it
finds; clocks that disagree never decide which version of a key wins, and a merge keeps the
winner a read chooses; a FIFO or a symlink named like a part is never opened; a part that
cannot be read, or a data dir that is a file, is a StorageError (exit 6) in every command."""

from __future__ import annotations

import builtins
import errno
import io
import logging
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mkdocs.exceptions import PluginError
from report_fixtures import copy_site_sources, mkdocs_build

from bench import store
from bench.cli import main
from bench.errors import StorageError
from bench.report import data as report_data
from bench.report import synthetic
from bench.schema import GENERATIONS

NOW = datetime.now(UTC)
AHEAD = NOW + timedelta(days=1)  # a host whose clock is a day ahead


def gen(cell_id: str, status: str = "ok", at: datetime = NOW, **extra) -> dict:
    return {"run_id": "r", "cell_id": cell_id, "model": "m", "status": status, "seed": 0, "created_at": at, **extra}


def score(cell_id: str, value: float, at: datetime = NOW) -> dict:
    return dict(cell_id=cell_id, metric="clip_vit_b_32", value=value, created_at=at)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def with_newer_column(part: Path, name: str, values: list) -> None:
    """Rewrite a part as a newer version of bench would write it: every column, and one more."""
    t = pq.read_table(part)
    pq.write_table(t.append_column(name, pa.array(values)), part)


# 1. A newer version's data: read without what this version does not know, never moved aside.


def test_a_newer_versions_parts_are_read_without_their_new_column_warned_once_and_never_moved(tmp_path, caplog):
    store.append(tmp_path, "generations", [gen("a"), gen("b")])
    newer = [store.append(tmp_path, "generations", [gen(c)]) for c in ("c", "d")]
    for part in newer:
        with_newer_column(part, "colour", ["red"])
    folder, before = tmp_path / "generations", tree(tmp_path)
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        full = store.read(tmp_path, "generations")
        plan = store.read(tmp_path, "generations", columns=["cell_id", "status"])
    assert sorted(full["cell_id"]) == sorted(plan["cell_id"]) == ["a", "b", "c", "d"]
    assert list(full.columns) == GENERATIONS.names and (full["status"] == "ok").all()
    assert tree(tmp_path) == before and not (folder / store.QUARANTINE).exists()
    said = warnings(caplog)
    assert len(said) == 2  # once per read, not once per part
    assert all("2 part(s)" in w and "newer schema" in w and "['colour']" in w for w in said)
    assert all(str(newer[0]) in w for w in said)


def test_a_merge_by_an_older_version_keeps_the_columns_it_does_not_know(tmp_path):
    store.append(tmp_path, "generations", [gen("a")])
    part = store.append(tmp_path, "generations", [gen("b"), gen("c")])
    with_newer_column(part, "colour", ["red", "blue"])
    before = store.read(tmp_path, "generations")
    merged = store.compact(tmp_path, "generations")
    kept = pq.read_table(merged)
    assert dict(zip(kept["cell_id"].to_pylist(), kept["colour"].to_pylist(), strict=True)) == {
        "a": None,
        "b": "red",
        "c": "blue",
    }
    assert store.read(tmp_path, "generations").equals(before)


def test_a_file_of_another_table_with_a_foreign_column_is_still_not_a_part(tmp_path, caplog):
    """A newer part has every column this version knows; a scores part has not: it stays out."""
    store.append(tmp_path, "generations", [gen("a")])
    foreign = store.append(tmp_path, "scores", [score("a", 0.3, AHEAD)])
    foreign = foreign.rename(tmp_path / "generations" / foreign.name)
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        df = store.read(tmp_path, "generations")
    assert df["status"].tolist() == ["ok"] and foreign.exists()
    assert "not parts of the table" in caplog.text and str(foreign) in caplog.text


def test_read_only_commands_move_no_file_whatever_the_data_dir_holds(tmp_path, capsys):
    """`bench summary` (and the site build: test_report_build.py) over garbage, a foreign file
    and a newer version's part: they say so and leave every file where it was."""
    data, images = tmp_path / "data", tmp_path / "images"
    synthetic.write_dataset(data, images, prompts={"p": "a cat"}, models={"sd15": synthetic.ModelSpec(
        "sd", ["ddim"], ["pytorch"], 1.0, 0.3)}, seeds=2)  # fmt: skip
    folder = data / "generations"
    (part,) = folder.glob("*.parquet")
    with_newer_column(part, "colour", ["red"] * pq.read_metadata(part).num_rows)
    (folder / "x-garbage.parquet").write_bytes(b"not parquet")
    shutil.copy(next((data / "scores").glob("*.parquet")), folder / "x-scores.parquet")
    before = tree(data)
    assert main(["summary", "--data-dir", str(data), "--images-dir", str(images), "--format", "csv"]) == 0
    assert "sd15" in capsys.readouterr().out
    assert tree(data) == before


def test_a_writer_that_read_a_file_that_is_no_part_moves_it_aside_at_its_next_append(tmp_path, caplog):
    store.append(tmp_path, "scores", [score("a", 0.1)])
    garbage = tmp_path / "scores" / "x-garbage.parquet"
    garbage.write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        store.read(tmp_path, "scores")
        assert garbage.exists()
        store.append(tmp_path, "scores", [score("b", 0.2)])
    assert not garbage.exists() and (tmp_path / "scores" / store.QUARANTINE / garbage.name).exists()
    assert "moved aside" in caplog.text


# 2. Clocks: which version of a key wins never depends on them; merges keep the winner.


def test_a_failure_stamped_a_day_ahead_never_hides_a_later_success(tmp_path, caplog):
    """The red-team case: a failed row from a host a day ahead beat every rerun's success, so
    each rerun remade the cell, said "1 ok", and the table still said failed."""
    store.append(tmp_path, "generations", [gen("a", "failed", AHEAD), gen("b", "failed", AHEAD)])
    store.append(tmp_path, "generations", [gen("a", "ok")])
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        done = store.read(tmp_path, "generations", columns=["cell_id", "status"])
    assert dict(zip(done["cell_id"], done["status"], strict=True)) == {"a": "ok", "b": "failed"}
    [said] = warnings(caplog)  # once per read
    assert "2 row(s)" in said and "ahead" in said and AHEAD.isoformat(timespec="seconds") in said
    store.compact(tmp_path, "generations")
    assert store.read(tmp_path, "generations").set_index("cell_id")["status"].to_dict() == {"a": "ok", "b": "failed"}


def test_a_success_is_never_hidden_by_a_later_failure_and_otherwise_the_later_append_wins(tmp_path):
    store.append(tmp_path, "generations", [gen("ok-then-failed", "ok", latency_s=1.0)])
    store.append(tmp_path, "generations", [gen("ok-then-failed", "failed", AHEAD)])
    store.append(tmp_path, "generations", [gen("two-oks", "ok", AHEAD, latency_s=1.0)])
    store.append(tmp_path, "generations", [gen("two-oks", "ok", NOW - timedelta(days=1), latency_s=2.0)])
    store.append(tmp_path, "generations", [gen("two-failures", "failed", AHEAD, error="first")])
    store.append(tmp_path, "generations", [gen("two-failures", "failed", error="second")])
    df = store.read(tmp_path, "generations").set_index("cell_id")
    assert df.loc["ok-then-failed", "status"] == "ok" and df.loc["ok-then-failed", "latency_s"] == 1.0
    assert df.loc["two-oks", "latency_s"] == 2.0 and df.loc["two-failures", "error"] == "second"


def test_a_rescore_supersedes_a_score_stamped_later_by_a_wrong_clock(tmp_path):
    store.append(tmp_path, "scores", [score("a", 0.1, AHEAD), score("b", 0.5, AHEAD)])
    store.append(tmp_path, "scores", [score("a", 0.2)])
    assert store.read(tmp_path, "scores").set_index("cell_id")["value"].to_dict() == {"a": 0.2, "b": 0.5}
    store.compact(tmp_path, "scores")
    assert store.read(tmp_path, "scores").set_index("cell_id")["value"].to_dict() == {"a": 0.2, "b": 0.5}


def test_times_within_the_tolerance_are_not_warned_about(tmp_path, caplog):
    store.append(tmp_path, "generations", [gen("a", at=NOW + store.FUTURE_TOLERANCE / 2)])
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        store.read(tmp_path, "generations")
    assert warnings(caplog) == []


def test_parts_named_before_sequences_keep_their_time_order_and_a_new_append_follows_them(tmp_path):
    folder = tmp_path / "generations"
    folder.mkdir()
    for i, (status, minutes) in enumerate([("failed", 10), ("ok", 5), ("failed", 0)]):
        t = pa.Table.from_pylist([gen("old", status, NOW + timedelta(minutes=minutes), error=str(i))], GENERATIONS)
        pq.write_table(t, folder / f"2026010{i}T000000000000Z-0000000{i}.parquet")
    t = pa.Table.from_pylist([gen("new", "failed", NOW + timedelta(minutes=10), error="legacy")], GENERATIONS)
    pq.write_table(t, folder / "20260101T000000000000Z-00000009.parquet")
    store.append(tmp_path, "generations", [gen("new", "failed", NOW, error="appended")])
    df = store.read(tmp_path, "generations").set_index("cell_id")
    assert df.loc["old", "status"] == "ok" and df.loc["new", "error"] == "appended"


def test_rolling_merges_keep_the_winner_a_read_chooses_whatever_the_clocks(tmp_path, monkeypatch):
    """Appends with clocks that jump back and forth, rerunning earlier cells, merged after every
    append in tiers of two: after each, a read gives what the rule gives (an ok beats a failure,
    else the later append), counted here without the store."""
    monkeypatch.setattr(store, "FANOUT", 2)
    monkeypatch.setattr(store, "ROLL_EVERY_PARTS", 1)
    expected: dict[str, tuple[str, int]] = {}
    for i in range(40):
        at = NOW + timedelta(hours=(-1) ** i * (40 - i))  # skew that shrinks, alternating ahead and behind
        rows = [gen(f"c{(i * 7 + k) % 13}", "ok" if (i + k) % 3 == 0 else "failed", at, seed=i) for k in range(2)]
        store.append(tmp_path, "generations", rows)
        for r in rows:
            old = expected.get(r["cell_id"])
            if old is None or r["status"] == "ok" or old[0] != "ok":
                expected[r["cell_id"]] = (r["status"], i)
        got = store.read(tmp_path, "generations", columns=["cell_id", "status", "seed"])
        assert {c: (s, n) for c, s, n in got.itertuples(index=False)} == expected, i
    assert any("-m" in p.name for p in (tmp_path / "generations").glob("*.parquet"))


# 3. Only regular files of the table's own folder are read.


def test_a_fifo_named_like_a_part_never_blocks_a_read_and_a_merge_moves_it_aside(tmp_path, caplog):
    store.append(tmp_path, "generations", [gen("a")])
    fifo = tmp_path / "generations" / "x-fifo.parquet"
    os.mkfifo(fifo)
    result: list = []

    def read_then_compact():
        result.append(store.read(tmp_path, "generations"))
        result.append(store.compact(tmp_path, "generations"))

    worker = threading.Thread(target=read_then_compact, daemon=True)
    try:
        with caplog.at_level(logging.WARNING, logger="bench.store"):
            worker.start()
            worker.join(30)
        assert not worker.is_alive(), "a read or a merge opened the FIFO and waits for a writer"
    finally:
        if worker.is_alive():  # let the blocked open return, so the test run can end
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert result[0]["cell_id"].tolist() == ["a"] and "not a regular file" in caplog.text
    assert (tmp_path / "generations" / store.QUARANTINE / fifo.name).is_fifo()


def test_a_symlink_named_like_a_part_is_never_followed(tmp_path, caplog):
    secret = store.append(tmp_path / "elsewhere", "generations", [gen("secret")])
    part = store.append(tmp_path, "generations", [gen("a")])
    out = tmp_path / "generations" / "000000000099-out.parquet"
    out.symlink_to(secret)
    (tmp_path / "generations" / "000000000098-in.parquet").symlink_to(part.name)
    with caplog.at_level(logging.WARNING, logger="bench.store"):
        df = store.read(tmp_path, "generations")
    assert df["cell_id"].tolist() == ["a"] and caplog.text.count("symbolic link") == 2
    store.compact(tmp_path, "generations")
    assert sorted(p.name for p in (tmp_path / "generations" / store.QUARANTINE).iterdir()) == [
        "000000000098-in.parquet",
        "000000000099-out.parquet",
    ]
    assert secret.exists() and part.exists()


# 4. A part that cannot be read, or a data dir that is a file: a StorageError, exit 6.


def unreadable(monkeypatch, part: Path) -> None:
    """Tests run as root, which mode 000 does not stop: every way of opening the part by name
    (os.open, io.open and so pathlib) fails as it would for anyone else
    (test_a_part_of_mode_000 checks the real thing as an unprivileged user)."""

    def refusing(real):
        def open_(path, *args, **kwargs):
            if isinstance(path, (str, os.PathLike)) and Path(path) == part:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real(path, *args, **kwargs)

        return open_

    monkeypatch.setattr(os, "open", refusing(os.open))
    monkeypatch.setattr(io, "open", refusing(io.open))
    monkeypatch.setattr(builtins, "open", refusing(builtins.open))


DRY_RUN = ["run", "--suite", "tiny", "--models", "tiny-sd", "--schedulers", "ddim", "--backends", "pytorch"]


def test_an_unreadable_part_is_a_storage_error_naming_it_in_every_command(tmp_path, monkeypatch, capsys):
    store.append(tmp_path, "generations", [gen("a")])
    part = store.append(tmp_path, "generations", [gen("b")])
    unreadable(monkeypatch, part)
    with pytest.raises(StorageError, match=f"cannot read {part}: Permission denied"):
        store.read(tmp_path, "generations", columns=["cell_id"])
    for argv in (
        ["summary", "--data-dir", str(tmp_path)],
        [*DRY_RUN, "--seeds", "0", "--dry-run", "--data-dir", str(tmp_path)],
        ["score", "--data-dir", str(tmp_path), "--images-dir", str(tmp_path / "images")],
    ):
        assert main(argv) == 6, argv
        err = capsys.readouterr().err
        assert str(part) in " ".join(err.split()) and "Traceback" not in err, argv
    assert part.exists() and not (tmp_path / "generations" / store.QUARANTINE).exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to drop to nobody")
def test_a_part_of_mode_000_as_a_user_who_cannot_read_it(tmp_path):
    """The red-team case itself, with real permissions: `bench summary` as nobody."""
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-mode-000-{os.getpid()}"
    try:
        part = store.append(data, "generations", [gen("a")])
        for p in (data, part.parent):
            p.chmod(0o755)
        part.chmod(0o000)
        env = {**os.environ, "HOME": str(data), "BENCH_CACHE": str(data / "cache")}
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable]
        # A checkout in a folder only root may enter (mktemp -d makes 0700 ones) is out of
        # nobody's reach: the in-process test above covers the same path there.
        if subprocess.run([*nobody, "-c", "import bench.cli"], env=env, capture_output=True, timeout=60).returncode:
            pytest.skip("nobody cannot import this checkout (a folder only root may enter)")
        cmd = [*nobody, "-m", "bench.cli"]
        proc = subprocess.run(
            [*cmd, "summary", "--data-dir", str(data)], capture_output=True, text=True, env=env, timeout=120
        )
        assert proc.returncode == 6, proc.stderr
        assert "Permission denied" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_a_data_dir_that_is_a_file_is_a_storage_error_naming_it(tmp_path, capsys):
    file = tmp_path / "results.parquet"
    file.write_text("not a folder")
    for call in (
        lambda: store.read(file, "generations"),
        lambda: store.compact(file, "scores"),
        lambda: store.append(file, "runs", [{"run_id": "r"}]),
    ):
        with pytest.raises(StorageError, match=f"{file} is a file, not a folder"):
            call()
    for argv in (
        ["summary", "--data-dir", str(file)],
        ["score", "--data-dir", str(file), "--images-dir", str(tmp_path / "images")],
    ):
        assert main(argv) == 6, argv
        assert f"{file} is a file" in " ".join(capsys.readouterr().err.split()), argv
    with pytest.raises(PluginError, match=f"{file} is a file"):
        report_data.load(file, "clip_vit_b_32", None)


def test_a_site_built_from_a_data_dir_that_is_a_file_fails(tmp_path):
    root = copy_site_sources(tmp_path)
    (root / "data").write_text("not a folder")
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode != 0 and f"{root / 'data'} is a file" in proc.stderr
    assert "Traceback" not in proc.stderr and not (root / "public" / "index.html").exists()
