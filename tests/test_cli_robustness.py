"""The command line under hostile input and careless setups: a Ray address that never answers,
shard counts past the plan, output into a closed pipe or an ASCII terminal, a zero-width
terminal, and user text that looks like rich markup. Every case ends in one line or in the
output asked for, never a hang, a traceback or silence.

No test here starts a Ray cluster or sends traffic anywhere: Ray rewrites a loopback address
to the host's own interface address, so `ray.init` is stubbed wherever an address is given.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass

import pytest

from bench import shard
from bench.cli import EXIT_BROKEN_PIPE, main, tables
from bench.console import console, setup_logging
from bench.errors import ConfigError

HOSTILE = ["[/]", "[link=https://example.invalid]click[/link]", ":cat:", "[bold red]loud"]


def one_error_line(capsys) -> str:
    """The error, one line, after at most the run's "loading the libraries" note."""
    err = without_loading_note(capsys.readouterr().err)
    assert err.count("\n") == 1 and err.startswith("bench: error: "), err
    return err


def without_loading_note(err: str) -> str:
    note, _, rest = err.partition("\n")
    return rest if note.endswith("loading the libraries (torch, diffusers)...") else err


# --- Ray: connecting is bounded, and its failures are one line ------------------------------


@pytest.fixture
def ray_init(monkeypatch):
    """ray.init replaced: it records the addresses asked for and does what the test sets
    (`behave`); the commands' heavy library set-up is skipped (it imports diffusers)."""
    ray = pytest.importorskip("ray")
    calls: list[str | None] = []
    release = threading.Event()
    stub = {"behave": lambda: release.wait(30)}

    def init(address=None, **_):
        calls.append(address)
        stub["behave"]()

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr("bench.cli.commands.quiet_libraries", lambda **_: None)
    stub["calls"] = calls
    yield stub
    release.set()  # the thread left waiting ends


def ray_run(tmp_path, address: str) -> list[str]:
    dirs = ["--data-dir", str(tmp_path / "d"), "--images-dir", str(tmp_path / "i")]
    return ["run", "--suite", "tiny", "--ray", address, *dirs]


def test_a_ray_address_that_does_not_answer_fails_within_the_timeout_with_one_line(
    ray_init, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BENCH_RAY_INIT_TIMEOUT_S", "0.5")
    started = time.monotonic()
    assert main(ray_run(tmp_path, "127.0.0.1:1")) == 5  # a cluster out of reach: like a device
    assert time.monotonic() - started < 20
    assert ray_init["calls"] == ["127.0.0.1:1"]
    err = one_error_line(capsys)
    assert "127.0.0.1:1 did not answer within 0.5 s" in err and "BENCH_RAY_INIT_TIMEOUT_S" in err


def test_a_bad_ray_timeout_setting_is_a_config_error(ray_init, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_RAY_INIT_TIMEOUT_S", "-1")
    assert main(ray_run(tmp_path, "127.0.0.1:1")) == 2
    assert "BENCH_RAY_INIT_TIMEOUT_S='-1'" in one_error_line(capsys)
    assert ray_init["calls"] == []


def test_ray_auto_with_no_cluster_says_how_to_get_one(ray_init, tmp_path, capsys):
    # What Ray raises when `auto` finds no cluster (stubbed: a real lookup would find any Ray
    # another test, or person, runs on this machine)
    def no_cluster():
        raise ConnectionError(
            "Could not find any running Ray instance. Please specify the one to connect to by "
            "setting `--address` flag or `RAY_ADDRESS` environment variable."
        )

    def unreachable():
        raise ConnectionError("Unable to connect to GCS at x\nmore")

    ray_init["behave"] = no_cluster
    assert main(ray_run(tmp_path, "auto")) == 5
    assert "--ray auto: no Ray cluster is running" in one_error_line(capsys)
    ray_init["behave"] = unreachable
    assert main(ray_run(tmp_path, "127.0.0.1:1")) == 5
    assert "cannot reach the Ray cluster: Unable to connect to GCS at x" in one_error_line(capsys)


def test_a_malformed_ray_address_is_a_bad_setting(ray_init, tmp_path, capsys):
    def bad_address():
        raise ValueError("Invalid address format: foo")  # what Ray raises, before any connection

    ray_init["behave"] = bad_address
    assert main(ray_run(tmp_path, "foo")) == 2
    assert "--ray foo: Invalid address format: foo; expected auto, HOST:PORT" in one_error_line(capsys)


def test_ray_client_without_its_package_is_an_install_error_before_any_connection(
    ray_init, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "grpc", None)  # as without ray[client], whatever is installed
    assert main(ray_run(tmp_path, "ray://127.0.0.1:1")) == 3
    assert "pip install 'ray[client]'" in one_error_line(capsys)
    assert ray_init["calls"] == []


# --- shards: N is bounded by the plan, and an empty --shard is no shard ---------------------


@dataclass(frozen=True)
class FakeCell:
    cell_id: str
    group: tuple[str, str] = ("m", "pytorch")
    scheduler: str | None = "euler"
    prompt_id: str = "p"
    steps: int = 2
    width: int = 64
    height: int = 64


def fake_plan(n: int, groups: int = 1) -> list[FakeCell]:
    return [FakeCell(f"{i:08x}", group=(f"m{i % groups}", "pytorch"), prompt_id=f"p{i}") for i in range(n)]


@pytest.mark.parametrize("count", [10**7, 99_999_999_999_999])
def test_more_shards_than_cells_is_refused_before_anything_is_sized_by_n(count):
    cells = fake_plan(40)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="the plan has only 40 cells; give N from 1 to 40"):
            shard.select(cells, shard.Shard(0, count))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # a list of N loads was 8 bytes x N


def test_a_split_into_as_many_shards_as_cells_takes_time_in_log_n():
    cells = fake_plan(6000, groups=6000)  # one piece per cell
    started = time.perf_counter()
    owner = shard.assign(cells, len(cells))
    assert time.perf_counter() - started < 3  # a scan of every shard per piece took ~15 s
    assert sorted(owner.values()) == list(range(len(cells)))


def test_an_empty_or_endless_shard_is_one_line_not_the_whole_sweep(tmp_path, capsys):
    for text in ["", "0/" + "9" * 5000]:
        assert main(["run", "--suite", "tiny", "--shard", text, "--dry-run", "--data-dir", str(tmp_path)]) == 2
        err = one_error_line(capsys)
        assert "--shard: expected K/N" in err and len(err) < 200


# --- output: closed pipes, ASCII encodings, unusable widths --------------------------------


def bench(*args: str, env: dict | None = None, close: str = "stdout") -> subprocess.Popen:
    """`bench args` whose `close` stream's reader has gone away before it writes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    getattr(proc, close).close()
    return proc


def test_a_reader_that_goes_away_ends_every_output_quietly():
    # all at once: each start imports bench anew
    procs = {
        "csv": (bench("list", "--format", "csv"), EXIT_BROKEN_PIPE),
        "json": (bench("list", "--format", "json"), EXIT_BROKEN_PIPE),
        "table": (bench("list"), EXIT_BROKEN_PIPE),
        "help": (bench("--help"), 0),  # argparse drops its help on a closed pipe itself
        "an error on stderr": (bench("run", "--suite", "no-such-suite", close="stderr"), EXIT_BROKEN_PIPE),
    }
    for what, (proc, code) in procs.items():
        rest = proc.stdout if proc.stderr.closed else proc.stderr
        said = rest.read().decode()
        assert proc.wait(timeout=120) == code, (what, said)
        assert "Traceback" not in said and "Exception ignored" not in said, (what, said)


@pytest.mark.parametrize("args", [["list", "metrics", "--format", "csv"], ["list", "metrics"], ["list", "models"]])
def test_an_ascii_output_gets_escapes_for_what_it_cannot_hold(monkeypatch, args):
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii", write_through=True))
    monkeypatch.setenv("COLUMNS", "300")
    assert main(args) == 0
    text = raw.getvalue().decode("ascii")
    assert "\\u" in text  # metrics: "max |Δ| vs eager PyTorch"; models: the dash of a missing value
    assert "clip_vit_b_32" in text or "sd15" in text


def test_an_ascii_locale_end_to_end():
    proc = subprocess.run(
        [sys.executable, "-m", "bench.cli", "list", "metrics", "--format", "csv"],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"max |\\u0394| vs eager PyTorch" in proc.stdout


ROWS = [{"suite": "tiny", "description": "the whole pipeline on tiny models"}]
SUITE_COLUMNS = [tables.Col("suite", "suite", keep=True), tables.Col("description", "description")]


@pytest.mark.parametrize("columns", ["0", "-3", "5", "wide", ""])
@pytest.mark.parametrize("terminal", [False, True])
def test_an_unusable_terminal_width_is_the_default_not_an_empty_table(monkeypatch, capsys, columns, terminal):
    monkeypatch.setenv("COLUMNS", columns)
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")  # rich then treats the capture as a terminal
    else:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
    out = console()
    assert out.width == (80 if terminal else 160)
    tables.render(out, ROWS, SUITE_COLUMNS, title="suites")
    assert "the whole pipeline on tiny models" in capsys.readouterr().out


# --- user text is text: in titles, headers, cells, errors and log lines --------------------


def test_markup_and_emoji_codes_in_user_text_print_as_they_are(monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")  # a terminal: where a hyperlink would be made
    monkeypatch.setenv("COLUMNS", "200")
    for hostile in HOSTILE:
        tables.render(
            console(), [{"suite": hostile, "description": hostile}], [tables.Col(hostile, "suite"), SUITE_COLUMNS[1]],
            title=f"suite {hostile}: the plan",
        )  # fmt: skip
        out = capsys.readouterr().out
        assert out.count(hostile) == 4, (hostile, out)  # title, header, two cells
        assert "\x1b]8;" not in out and "🐱" not in out


def test_an_error_naming_user_text_prints_it_as_it_is(capsys):
    for hostile in HOSTILE:
        assert main(["run", "--suite", hostile]) == 2
        assert repr(hostile) in one_error_line(capsys)


def test_log_lines_are_text(capsys):
    setup_logging(console(stderr=True))
    for hostile in HOSTILE:
        logging.getLogger("bench.test").warning("model %s failed", hostile)
        assert f"model {hostile} failed" in capsys.readouterr().err


def test_control_characters_in_stored_text_are_shown_not_obeyed(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("FORCE_COLOR", raising=False)  # no colours: any escape in the output is the data's
    rows = [{"suite": "x\x1b[2Jy", "description": "\x9b31m"}]
    tables.render(console(), rows, SUITE_COLUMNS, title="t\x07")
    out = capsys.readouterr().out
    assert "x\\x1b[2Jy" in out and "\\x9b31m" in out and "t\\x07" in out
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out


def test_a_local_cluster_starts_on_the_calling_thread_and_a_join_on_its_own():
    """Ray kills the processes it starts when the thread that started them ends
    (PR_SET_PDEATHSIG): a local cluster must start on the caller's thread; a join, which starts
    none, runs on a thread that may be left behind."""
    from bench.ray_cluster import connect

    threads = []

    class FakeRay:
        @staticmethod
        def init(**_):
            threads.append(threading.current_thread())

    connect(FakeRay, None, 5)
    connect(FakeRay, "127.0.0.1:1", 5)
    assert threads[0] is threading.main_thread() and threads[1] is not threading.main_thread()
