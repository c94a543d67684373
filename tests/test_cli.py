"""The command line: helpful help, light start-up, listings from the registries."""

from __future__ import annotations

import subprocess
import sys

from bench.cli import main


def run(*code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True, text=True, timeout=120)


def imported_after(modules: tuple[str, ...], *code: str) -> list[str]:
    """Which of `modules` a fresh interpreter has imported once `code` has run."""
    out = run("import sys", *code, f"print(*[m for m in {modules!r} if m in sys.modules])")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_help_and_list_import_no_torch():
    code = (
        "import contextlib, io",
        "from bench.cli import main",
        "with contextlib.redirect_stdout(io.StringIO()):",
        "    main(['list'])",
        "    try: main(['--help'])",
        "    except SystemExit: pass",
    )
    assert imported_after(("torch", "diffusers", "onnxruntime", "open_clip"), *code) == []


def test_a_ray_worker_that_loads_nothing_imports_no_torch():
    """A Ray worker answers where() and its preflight before any model loads: the seconds of
    importing torch, diffusers and transformers are spent only by one that loads something."""
    code = ("from bench.ray_worker import Worker", "Worker().where()")
    assert imported_after(("torch", "diffusers", "transformers", "onnxruntime"), *code) == []


def test_help_lists_every_command(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    text = capsys.readouterr().out
    for command in ("run", "score", "list", "summary"):
        assert command in text


def test_list_shows_registries(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for word in ("sd15", "dalle3-xl", "euler-a", "dpmpp-2m-karras", "seed", "tiny", "clip_vit_b_32"):
        assert word in text


def test_list_backends_says_what_each_runs_and_its_suite_options(capsys):
    import json

    from bench.backends import IMPLEMENTATIONS
    from bench.config import BACKENDS

    assert main(["list", "backends", "--format", "json"]) == 0
    rows = {r["backend"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(BACKENDS)
    assert all(rows[b]["families"].split(", ") == [f for c, f in IMPLEMENTATIONS if c == b] for b in rows)
    assert "mode" in rows["pytorch-compile"]["options"] and "optimize" in rows["onnxruntime"]["options"]
    try:
        main(["run", "--help"])
    except SystemExit as e:
        assert e.code == 0
    assert "(bench list backends)" in " ".join(capsys.readouterr().out.split())  # help text wraps


def test_dry_run_counts_cells_without_loading(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--suite",
                "tiny",
                "--models",
                "tiny-sd",
                "--schedulers",
                "ddim",
                "--backends",
                "pytorch",
                "--seeds",
                "0-2",
                "--dry-run",
                "--data-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert "6 cells, 6 to do" in capsys.readouterr().err


def test_summary_without_data_says_how_to_get_some(tmp_path, capsys):
    assert main(["summary", "--format", "csv", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "bench run --suite tiny" in out.err and out.out == ""  # nothing but CSV ever on stdout


def test_messages_print_as_they_are_never_as_markup(tmp_path, capsys):
    """A value in brackets is not rich markup: it prints literally, in errors and in the log."""
    import logging

    from bench.console import console, quiet_libraries, setup_logging

    assert main(["run", "--suite", str(tmp_path / "[bold]nope[/bold].toml")]) == 2
    assert "[bold]nope[/bold].toml" in capsys.readouterr().err
    setup_logging(console(stderr=True))
    quiet_libraries()
    logging.getLogger("bench.sweep").warning("prompt %s", "[red]x[/red]")
    logging.getLogger("diffusers").warning("library chatter")  # quieted by name
    logging.getLogger("some.library").warning("a library warning [y]")  # the root is not quieted
    err = capsys.readouterr().err
    assert "prompt [red]x[/red]" in err and "a library warning [y]" in err and "library chatter" not in err


def test_a_bad_command_line_is_one_line_and_exit_2(capsys):
    assert main_exit(["run", "--batch-size", "many"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: argument --batch-size: invalid int value: 'many'")
    assert main_exit(["run", "--steps", "many"]) == 2  # an axis: one number or a list of them
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--steps: 'many' is not a number or a comma-separated list" in err
    assert main_exit(["nope"]) == 2 and capsys.readouterr().err.count("\n") == 1


def main_exit(argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse exits itself
        return e.code


def test_help_shows_the_defaults(capsys):
    assert main_exit(["run", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default: tiny)" in out and "(default: data)" in out and "(default: None)" not in out


def test_summary_of_an_unknown_metric_is_a_config_error(tmp_path, capsys):
    assert main(["summary", "--metric", "bogus", "--data-dir", str(tmp_path)]) == 2
    assert "clip_vit_b_32" in capsys.readouterr().err


def test_list_for_scripts_as_json_and_csv(capsys):
    import csv
    import io
    import json

    from bench.models import MODELS

    assert main(["list", "models", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in rows] == list(MODELS) and rows[0]["steps"] == MODELS["sd15"].steps
    assert main(["list", "metrics", "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["metric"]: r["kind"] for r in table}["psnr_db_vs_pytorch"] == "parity"


def test_tables_fit_80_columns_without_cutting_what_users_type(monkeypatch, capsys):
    from bench.models import MODELS

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert all(f" {key} " in out for key in MODELS) and "…" not in out
    # a hub id too long for its column wraps after a "/" or "-", never mid-word
    lines = out.splitlines()
    header = next(line for line in lines if " hub id " in line)
    column = header.index("hub id")
    cells: list[list[str]] = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.strip():
            break
        piece = line[column:].split("  ")[0].strip()
        if line[1:3].strip():  # a model's first line; the others continue its cells
            cells.append([piece])
        elif piece:
            cells[-1].append(piece)
    assert any(len(pieces) > 1 for pieces in cells)
    assert {"".join(pieces) for pieces in cells} == {m.hub_id for m in MODELS.values()}
    assert all(piece[-1] in "/-" for pieces in cells for piece in pieces[:-1]), cells
    assert main(["list", "suites"]) == 0
    out = capsys.readouterr().out
    assert "Offline smoke sweep" in out  # each suite's description, not only its name


def test_a_log_that_is_not_a_terminal_gets_plain_progress_lines():
    import io

    from rich.console import Console

    from bench.console import progress_bar

    buffer = io.StringIO()
    with progress_bar(Console(file=buffer, width=100), every_s=0) as progress:
        task = progress.add_task("generating", total=4)
        progress.advance(task, 1)
        progress.update(task, description="tiny-sd [pytorch] ddim")  # brackets stay text
        progress.advance(task, 3)
        progress.update(task, description="generated: all")
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("generating: 1/4 (25%)") and "left" in lines[0]
    assert lines[-1].startswith("generated: all: 4/4 (100%)") and len(lines) == 2


def test_brackets_in_progress_lines_are_text_on_a_terminal_too():
    """On a terminal the rich bar renders descriptions: "[/x]" once crashed it (MarkupError) and
    "[pytorch]" vanished."""
    import io

    from rich.console import Console

    from bench.console import progress_bar

    buffer = io.StringIO()
    with progress_bar(Console(file=buffer, force_terminal=True, width=120)) as progress:
        task = progress.add_task("tiny-sd [pytorch] [/x]", total=2)
        progress.advance(task, 2)
    assert "tiny-sd [pytorch] [/x]" in buffer.getvalue()


def test_a_pytorch_only_plan_never_imports_onnx_runtime(tmp_path):
    """bench imports a backend's libraries only when that backend runs (diffusers itself imports
    onnxruntime when it is installed: that is its own doing, at pipeline import)."""
    out = run(
        "import sys",
        "from pathlib import Path",
        "from bench.config import load_suite",
        "from bench.plan import make_plan",
        "plan = make_plan(load_suite('tiny', {'backends': 'pytorch'}), Path(sys.argv[1] if len(sys.argv) > 1 else '.'))",
        "print(len(plan.cells), [m for m in ('onnxruntime', 'optimum', 'diffusers') if m in sys.modules])",
    )
    assert out.returncode == 0, out.stderr
    cells, imported = out.stdout.split(" ", 1)
    assert int(cells) > 0 and imported.strip() == "[]"


def test_cuda_asked_for_without_a_gpu_is_one_line_before_anything_loads(tmp_path, capsys):
    import pytest
    import torch

    from bench.cli import EXIT_CODES
    from bench.errors import DeviceUnavailable

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["run", "--device", "cuda", "--models", "tiny-sd", "--backends", "pytorch", "--data-dir", str(tmp_path)]
    assert main(argv) == EXIT_CODES[DeviceUnavailable] == 5
    from test_cli_robustness import without_loading_note

    err = without_loading_note(capsys.readouterr().err)
    assert err.count("\n") == 1 and "torch sees no CUDA device" in err


def test_a_dry_run_that_cannot_run_offline_says_what_is_missing_and_exits_4(tmp_path, capsys, monkeypatch):
    """`bench run --dry-run && bench run` must never start a sweep that stops at its preflight: the
    seed suite's weights are not here (the tests run offline), so the plan says so and exits 4,
    with the weights column shown at 80 columns (wrapped, not left out)."""
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["run", "--suite", "seed", "--dry-run", "--data-dir", str(tmp_path)]) == 4
    out, err = capsys.readouterr()
    assert "weights" in out and "missing: model_index.json" in " ".join(out.split())
    assert all(len(line) <= 80 for line in out.splitlines())
    last = " ".join(err.strip().splitlines()[-3:])
    assert last.startswith("cannot run as it stands: weights missing for 8 model(s): sd15")
    assert "2 metric(s): clip_vit_b_32, nsfw" in last
    assert main(["run", "--suite", "tiny", "--dry-run", "--data-dir", str(tmp_path)]) == 0  # all built here


def test_serve_runs_mkdocs_serve_without_materials_banner(monkeypatch):
    import subprocess

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda argv, env: calls.append((argv, env)) or 0)
    assert main(["serve", "--", "--dev-addr", "127.0.0.1:8001"]) == 0
    ((argv, env),) = calls
    assert argv[1:] == ["-m", "mkdocs", "serve", "--dev-addr", "127.0.0.1:8001"]
    assert env["NO_MKDOCS_2_WARNING"] == "1"
