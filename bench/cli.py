"""`bench`: run suites, score images, list what exists, summarise results.

Imports stay light at start-up (argparse, the registries); torch and diffusers load only inside
the commands that need them, so `bench --help` and `bench list` answer at once. Expected
failures (bench.errors) print one line and exit with their code below; `--debug` shows the
traceback too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rich.markup import escape

from bench.console import console, fetch_listing, progress_bar, quiet_libraries, setup_logging
from bench.errors import BenchError, ConfigError, DeviceUnavailable, InstallError, WeightsError

EXIT_FAILED_CELLS = 1  # the command ran, but some cells failed (their rows say why)
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
# The one place where an expected failure becomes an exit code; the first matching class wins.
EXIT_CODES: dict[type[BenchError], int] = {
    ConfigError: EXIT_CONFIG,
    InstallError: 3,
    WeightsError: 4,
    DeviceUnavailable: 5,
    BenchError: 1,
}
log = logging.getLogger("bench")


def _suite_overrides(args) -> dict:
    return {
        "models": args.models,
        "schedulers": args.schedulers,
        "backends": args.backends,
        "seeds": args.seeds,
        "steps": args.steps,
        "metrics": args.metrics,
        "batch_size": args.batch_size,
        "device": args.device,
        "dtype": args.dtype,
        "provider": args.provider,
        "provider_fallback": args.provider_fallback,
    }


def cmd_run(args) -> int:
    from bench import sweep
    from bench.config import load_suite
    from bench.plan import make_plan

    suite = load_suite(args.suite, _suite_overrides(args))
    err = console(stderr=True)
    if args.dry_run:
        plan = make_plan(suite, args.data_dir)
        for note in plan.notes:
            err.print(f"note: {note}", markup=False)
        done = len(plan.cells) - len(plan.todo)
        err.print(
            f"suite {suite.name}: {len(plan.cells)} cells, {len(plan.todo)} to do, {done} already done", markup=False
        )
        return 0
    quiet_libraries()
    progress = progress_bar(err)
    setup_logging(progress.console, args.debug)
    try:
        with progress:
            report = sweep.run(
                suite, args.data_dir, args.images_dir, retry_failed=not args.no_retry_failed, progress=progress
            )
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]: finished batches are saved; run the same command to resume.")
        return EXIT_INTERRUPTED
    err.print(
        f"run {report.run_id}: {report.ok} ok, {report.failed} failed, {report.other} nan/nsfw, "
        f"{report.skipped_done} already done, {report.scored} scores written "
        f"-> {args.data_dir}/, {args.images_dir}/",
        markup=False,
    )
    from bench.summary import print_summary

    print_summary(args.data_dir, suite.metrics[0], console())
    return 0 if report.failed == 0 else EXIT_FAILED_CELLS


def cmd_score(args) -> int:
    from bench import scoring
    from bench.config import check_choices, split_list
    from bench.metrics import SCORABLE

    metrics = split_list(args.metrics)
    check_choices("metrics", metrics, SCORABLE)
    quiet_libraries()
    err = console(stderr=True)
    with progress_bar(err) as progress:
        setup_logging(progress.console, args.debug)
        n = scoring.score(args.data_dir, args.images_dir, metrics, rescore=args.rescore, progress=progress)
    err.print(f"{n} scores written to {args.data_dir}/scores/", markup=False)
    return 0


def cmd_list(args) -> int:
    from rich.table import Table

    from bench.config import shipped_suites
    from bench.metrics import METRICS
    from bench.models import MODELS
    from bench.schedulers import SCHEDULERS

    out = console()
    what = args.what
    if what in ("models", "all"):
        t = Table("key", "family", "hub id", "size", "steps", "cfg", "notes", title="models")
        for m in MODELS.values():
            notes = ", ".join(
                x
                for x in [
                    f"LoRA {m.lora.hub_id}" if m.lora else "",
                    "tiny" if m.tiny else "",
                    "needs HF_TOKEN" if m.gated else "",
                ]
                if x
            )
            t.add_row(m.key, m.family, m.hub_id, f"{m.width}x{m.height}", str(m.steps), str(m.guidance_scale), notes)
        out.print(t)
    if what in ("schedulers", "all"):
        t = Table("name", "diffusers class", "options", title="schedulers")
        for s in SCHEDULERS.values():
            t.add_row(s.name, s.class_name, ", ".join(f"{k}={v}" for k, v in s.overrides.items()))
        out.print(t)
    if what in ("suites", "all"):
        t = Table("suite", title="suites (or pass a path to a .toml file)")
        for name in shipped_suites():
            t.add_row(name)
        out.print(t)
    if what in ("metrics", "all"):
        t = Table("metric", "title", "kind", "unit", "higher is better", title="metrics")
        for m in METRICS.values():
            t.add_row(m.name, m.title, m.kind, m.unit, "yes" if m.higher_is_better else "no")
        out.print(t)
    return 0


def cmd_summary(args) -> int:
    from bench.summary import print_summary

    return 0 if print_summary(args.data_dir, args.metric, console()) else 1


def cmd_fetch(args) -> int:
    from bench.config import check_choices, load_suite, split_list
    from bench.metrics import SCORABLE
    from bench.models import MODELS
    from bench.weights import fetch

    if args.suite:
        suite = load_suite(args.suite, {"models": args.models, "metrics": args.metrics})
        specs, metrics = [suite.model_spec(k) for k in suite.models], suite.metrics
    elif args.models:
        keys, metrics = split_list(args.models), split_list(args.metrics or "clip_vit_b_32")
        check_choices("models", keys, MODELS)
        check_choices("metrics", metrics, SCORABLE)
        specs = [MODELS[k] for k in keys]
    else:
        raise ConfigError("fetch: give --suite NAME or --models KEY[,KEY...]")
    setup_logging(console(stderr=True), args.debug)
    items, notes = fetch.plan(specs, metrics)
    print(fetch_listing(items, notes))
    if args.dry_run:
        return 0
    from huggingface_hub import get_token

    if any(item.gated for item in items) and not get_token():
        print("warning: some repos are gated and no HF token is set (HF_TOKEN or `hf auth login`)")
    fetched, failed = [], 0
    for item in items:
        try:
            resolved = fetch.download(item)
        except Exception as e:  # noqa: BLE001 - report every failure, fetch the rest
            failed += 1
            print(f"failed: {item.source}: {type(e).__name__}: {e}")
            continue
        fetched.append((item, resolved))
        print(f"fetched: {item.source} ({resolved})")
    snippet = fetch.pin_snippet(fetched)
    if snippet:
        print("\nTo run exactly these weights later, pin them in the suite file:\n" + snippet)
    print(f"\n{len(fetched)} fetched, {failed} failed; run the sweep with HF_HUB_OFFLINE=1")
    return 0 if failed == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Benchmark text-to-image models x schedulers x backends: images, CLIP scores, "
        "timings, saved to Parquet under data/ and PNG under images/.",
        epilog="Start offline with `bench run --suite tiny`; see `bench list` for models, schedulers, "
        "suites and metrics.",
    )
    debug_help = "debug log, and tracebacks for expected errors too"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    # Also after the command (`bench run --debug`); SUPPRESS keeps a top-level --debug.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def dirs(p):
        p.add_argument("--data-dir", type=Path, default=Path("data"), help="Parquet tables (default: data)")
        p.add_argument("--images-dir", type=Path, default=Path("images"), help="PNG images (default: images)")

    run = sub.add_parser(
        "run",
        parents=[common],
        help="run a suite (resumes: cells already done are skipped)",
        description="Generate, time and score every cell of a suite not yet done.",
    )
    run.add_argument("--suite", default="tiny", help="shipped suite name (bench list suites) or a .toml path")
    run.add_argument("--models", help="comma-separated model keys, replacing the suite's")
    run.add_argument("--schedulers", help="comma-separated scheduler names, replacing the suite's")
    run.add_argument("--backends", help="pytorch, onnxruntime (comma-separated)")
    run.add_argument("--seeds", help='seeds: "0-3" or "0,5,9"')
    run.add_argument("--steps", type=int, help="denoising steps for every model")
    run.add_argument("--batch-size", type=int, help="seeds per pipeline call (halved on out-of-memory)")
    run.add_argument("--metrics", help="comma-separated metrics to score with")
    run.add_argument("--device", help="auto, cpu or cuda")
    run.add_argument("--dtype", help="auto, float32, float16 or bfloat16")
    run.add_argument("--provider", help="ONNX Runtime provider: auto, cpu, cuda or tensorrt")
    run.add_argument("--provider-fallback", help="when the provider did not load: error (fail the cells) or warn")
    run.add_argument("--dry-run", action="store_true", help="validate and print the plan; load nothing")
    run.add_argument("--no-retry-failed", action="store_true", help="treat failed cells as done")
    dirs(run)
    run.set_defaults(func=cmd_run)

    score = sub.add_parser("score", parents=[common], help="score images not yet scored (or rescore) with a metric")
    score.add_argument("--metrics", default="clip_vit_b_32", help="comma-separated metrics")
    score.add_argument("--rescore", action="store_true", help="score again even where a score exists")
    dirs(score)
    score.set_defaults(func=cmd_score)

    lst = sub.add_parser("list", help="list models, schedulers, suites and metrics")
    lst.add_argument("what", nargs="?", default="all", choices=["all", "models", "schedulers", "suites", "metrics"])
    lst.set_defaults(func=cmd_list)

    fetch = sub.add_parser(
        "fetch",
        parents=[common],
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
    fetch.set_defaults(func=cmd_fetch)

    summary = sub.add_parser("summary", help="model x scheduler table: mean CLIP with 95%% interval, latency p50")
    summary.add_argument("--metric", default=None, help="metric to show (default: the first one scored)")
    dirs(summary)
    summary.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BenchError as e:
        if args.debug:
            log.exception("%s", type(e).__name__)
        code = next(code for cls, code in EXIT_CODES.items() if isinstance(e, cls))
        console(stderr=True).print(f"[red]bench: error:[/red] {escape(str(e))}", soft_wrap=True)
        return code


if __name__ == "__main__":
    sys.exit(main())
