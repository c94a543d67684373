"""`bench`: run suites, score images, list what exists, summarise results.

Imports stay light at start-up (argparse, rich, the registries); torch and diffusers load only
inside the commands that need them (bench.cli.commands), so `bench --help` and `bench list`
answer at once. Expected failures (bench.errors) print one line and exit with their code
below; `--debug` shows the traceback too. A bad command line is exit code 2 with one line, like
a bad suite value.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from bench.cli import commands
from bench.cli.tables import FORMATS
from bench.console import console, plain, quiet_libraries
from bench.errors import BenchError, ConfigError, DeviceUnavailable, InstallError, StorageError, WeightsError

EXIT_CONFIG = 2
# The one place where an expected failure becomes an exit code; the first matching class wins.
# 1 also means "the command ran but some cells failed"; 128 + n: stopped by signal n.
EXIT_CODES: dict[type[BenchError], int] = {
    ConfigError: EXIT_CONFIG,
    InstallError: 3,
    WeightsError: 4,
    DeviceUnavailable: 5,
    StorageError: 6,
    BenchError: 1,
}
# The reader of our output went away (`bench list --format csv | head`): exit quietly, as a program
# that SIGPIPE ends does (128 + 13, as for the other signals), not with a traceback.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
log = logging.getLogger("bench")
UPDATE_LOCK_HELP = (
    "accept weights that differ from the weights lock (weights-lock.json in --data-dir) and record "
    "them there; without it they are refused"
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default where there is one worth showing (not None, not a False flag)."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line and exit 2, like any other bad value (argparse prints its usage block too).
        self.exit(EXIT_CONFIG, f"bench: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="bench",
        formatter_class=HelpFormatter,
        description="Benchmark text-to-image models x schedulers x backends: images, CLIP scores, "
        "timings, saved to Parquet under data/ and PNG under images/.",
        epilog="Start offline with `bench run --suite tiny`; see `bench list` for models, schedulers, "
        "backends, suites and metrics. Exit codes: 0 ok, 1 some cells failed, 2 bad setting, 3 install, "
        "4 weights, 5 device, 6 storage, 128+n stopped by signal n.",
    )
    debug_help = "debug log, and tracebacks for expected errors too"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    # Also after the command (`bench run --debug`); SUPPRESS keeps a top-level --debug.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], formatter_class=HelpFormatter, **kwargs)

    def dirs(p):
        p.add_argument("--data-dir", type=Path, default=Path("data"), help="Parquet tables")
        p.add_argument("--images-dir", type=Path, default=Path("images"), help="PNG images")

    def scale_out(p, what: str):
        p.add_argument(
            "--shard",
            metavar="K/N",
            help=f"make only shard K of N of the {what} (K from 0); without it, torchrun's RANK/WORLD_SIZE "
            "or a Slurm array's SLURM_ARRAY_TASK_ID/COUNT pick the shard",
        )
        p.add_argument(
            "--ray",
            nargs="?",
            const="",
            metavar="ADDRESS",
            help="spread the work over a Ray cluster's workers (one per GPU): no ADDRESS starts a local "
            "cluster (or joins RAY_ADDRESS), 'auto' joins `ray start`'s, ray://host:10001 a remote one",
        )
        p.add_argument("--workers", type=int, help="Ray workers to start (default: one per GPU of the cluster)")

    def output(p):
        p.add_argument(
            "--format", choices=FORMATS, default="table", help="a table fitted to the terminal, or csv / json"
        )

    run = add(
        "run",
        help="run a suite (resumes: cells already done are skipped)",
        description="Generate, time and score every cell of a suite not yet done.",
    )
    run.add_argument("--suite", default="tiny", help="shipped suite name (bench list suites) or a .toml path")
    run.add_argument("--models", help="comma-separated model keys, replacing the suite's")
    run.add_argument("--schedulers", help="comma-separated scheduler names, replacing the suite's")
    run.add_argument("--backends", help="comma-separated backends, replacing the suite's (bench list backends)")
    run.add_argument("--seeds", help='seeds: "0-3" or "0,5,9"')
    run.add_argument("--steps", help='denoising steps for every model: 30, or a sweep axis "10,20,30"')
    run.add_argument("--guidance", help='guidance scale for every model: 7.5, or a sweep axis "4,7.5"')
    run.add_argument("--batch-size", type=int, help="seeds per pipeline call (halved on out-of-memory)")
    run.add_argument("--metrics", help="comma-separated metrics to score with")
    run.add_argument("--device", help="auto, cpu or cuda")
    run.add_argument("--dtype", help="auto, float32, float16 or bfloat16")
    run.add_argument("--provider", help="ONNX Runtime provider: auto, cpu, cuda or tensorrt")
    run.add_argument("--provider-fallback", help="when the provider did not load: error (fail the cells) or warn")
    run.add_argument(
        "--dry-run", action="store_true", help="print the plan: cells, weights present, disk; load nothing"
    )
    run.add_argument("--no-retry-failed", action="store_true", help="treat failed cells as done")
    run.add_argument("--update-lock", action="store_true", help=UPDATE_LOCK_HELP)
    scale_out(run, "cells")
    dirs(run)
    output(run)
    run.set_defaults(func=commands.cmd_run)

    score = add("score", help="score images not yet scored (or rescore) with a metric")
    score.add_argument("--metrics", default="clip_vit_b_32", help="comma-separated metrics")
    score.add_argument("--rescore", action="store_true", help="score again even where a score exists")
    score.add_argument(
        "--fid-reference", type=Path, help="set metrics (fid, kid): reference statistics .npz in place of the metric's"
    )
    score.add_argument(
        "--protocol-images",
        type=int,
        help="set metrics: the published protocol's image count; smaller sets are marked indicative",
    )
    scale_out(score, "images")
    dirs(score)
    score.set_defaults(func=commands.cmd_score)

    stats = add(
        "fid-stats",
        help="reference statistics (FID, KID) of a folder of your own images, for a suite's fid_reference",
        description="Read every image file of FOLDER (not its subfolders) with a set metric's FID Inception "
        "and write their mean, covariance and features to an .npz (pytorch-fid's layout, plus features for "
        'KID); name it in a suite as fid_reference = "FILE.npz".',
    )
    stats.add_argument("folder", type=Path, help="a folder of reference images (png, jpg, webp, bmp)")
    stats.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    stats.add_argument("--metric", default="fid", help="the set metric whose network reads them (fid, fid_tiny)")
    stats.set_defaults(func=commands.cmd_fid_stats)

    lst = add("list", help="list models, schedulers, backends, suites and metrics")
    lst.add_argument(
        "what", nargs="?", default="all", choices=["all", "models", "schedulers", "backends", "suites", "metrics"]
    )
    output(lst)
    lst.set_defaults(func=commands.cmd_list)

    fetch = add(
        "fetch",
        help="download every weight a suite needs (then run with HF_HUB_OFFLINE=1)",
        description="Download the weights of a suite's models and CLIP metrics into the "
        "Hugging Face cache (BigGAN's into the bench cache), printing sizes, "
        "licences and which repos need a token.",
    )
    fetch.add_argument("--suite", help="shipped suite name or a .toml path: its models and metrics")
    fetch.add_argument("--models", help="comma-separated model keys (with --suite: replacing the suite's)")
    fetch.add_argument(
        "--metrics", help="comma-separated metrics whose CLIP to fetch (default with --models: clip_vit_b_32)"
    )
    fetch.add_argument(
        "--dry-run",
        action="store_true",
        help="list repos, files and sizes; download no weights (offline: what can be known)",
    )
    fetch.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="where the weights lock (weights-lock.json) is kept"
    )
    fetch.add_argument("--update-lock", action="store_true", help=UPDATE_LOCK_HELP)
    fetch.set_defaults(func=commands.cmd_fetch)

    summary = add(
        "summary",
        help="who wins: image sets ranked by paired tests, their speed per backend, the winner's margin",
    )
    summary.add_argument(
        "--metric", default=None, help="quality metric to rank by (default: the first CLIP metric scored)"
    )
    summary.add_argument(
        "--vs", nargs=2, metavar=("A", "B"), help="compare two image sets (as the table names them) on their pairs"
    )
    dirs(summary)
    output(summary)
    summary.set_defaults(func=commands.cmd_summary)

    serve = add(
        "serve",
        help="browse the report as it grows: mkdocs serve, quiet, rebuilding once a sweep's writes settle",
        description="Runs `mkdocs serve` on the report (mkdocs.yml here) without Material's end-of-life "
        "banner; arguments after `--` go to mkdocs (e.g. -- --dev-addr 0.0.0.0:8000).",
    )
    serve.add_argument("mkdocs_args", nargs=argparse.REMAINDER, help="passed on to mkdocs serve")
    serve.set_defaults(func=commands.cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    _escape_unencodable()
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # output still buffered meets a closed pipe here, not at exit
    except BrokenPipeError:
        _silence_closed_streams()
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    try:
        return args.func(args)
    except BenchError as e:
        if args.debug:
            log.exception("%s", type(e).__name__)
        code = next(code for cls, code in EXIT_CODES.items() if isinstance(e, cls))
        console(stderr=True).print(plain("bench: error: ", "red") + plain(e), soft_wrap=True)
        return code


def _escape_unencodable() -> None:
    """Characters stdout's encoding cannot hold (a model's title or a prompt under
    PYTHONIOENCODING=ascii) are written as backslash escapes (\\u2014), not a UnicodeEncodeError
    halfway through the output. One setting on the stream covers every writer of every command
    (print, csv, json, rich, argparse's help), and stderr already works this way."""
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")


def _silence_closed_streams() -> None:
    """Point the streams whose reader went away at /dev/null, so that Python's own flush at exit
    does not print "Exception ignored ... BrokenPipeError"; a stream still open keeps its output."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError):
                pass  # not a file (a test's capture): nothing will flush it at exit
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
