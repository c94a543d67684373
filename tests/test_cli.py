"""The command line: helpful help, light start-up, listings from the registries."""

from __future__ import annotations

import subprocess
import sys

from bench.cli import main


def run(*code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True, text=True, timeout=120)


def test_help_and_list_import_no_torch():
    out = run(
        "import sys, contextlib, io",
        "from bench.cli import main",
        "with contextlib.redirect_stdout(io.StringIO()):",
        "    main(['list'])",
        "    try: main(['--help'])",
        "    except SystemExit: pass",
        "heavy = [m for m in ('torch', 'diffusers', 'onnxruntime', 'open_clip') if m in sys.modules]",
        "print(heavy)",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


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
    assert main(["summary", "--data-dir", str(tmp_path)]) == 1
    assert "bench run --suite tiny" in capsys.readouterr().out


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
