"""`bench`: run suites, score images, list what exists, summarise results.

Imports stay light at start-up (argparse, the registries); torch and diffusers load only inside
the commands that need them, so `bench --help` and `bench list` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.config import ConfigError

EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # piped or logged: rich would assume 80 columns and wrap tables
        console.width = 160
    return console


def _quiet_libraries() -> None:
    """One progress bar of ours instead of diffusers' per-step and loading bars."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging
    import warnings

    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger().setLevel(logging.ERROR)  # open_clip's "initialized randomly" for tiny CLIP
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def _print_error(console, error: Exception) -> None:
    from rich.markup import escape

    console.print(f"[red]error:[/red] {escape(str(error))}")


def _progress(console):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


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
    from bench.weights import WeightsMissing

    suite = load_suite(args.suite, _suite_overrides(args))
    err = _console(stderr=True)
    if args.dry_run:
        cells, todo, notes = sweep.plan(suite, args.data_dir)
        for note in notes:
            err.print(f"note: {note}")
        err.print(f"suite {suite.name}: {len(cells)} cells, {len(todo)} to do, {len(cells) - len(todo)} already done")
        return 0
    _quiet_libraries()
    progress = _progress(err)
    try:
        with progress:
            report = sweep.run(
                suite,
                args.data_dir,
                args.images_dir,
                retry_failed=not args.no_retry_failed,
                progress=progress,
                log=progress.console.print,
            )
    except WeightsMissing as e:
        _print_error(err, e)
        return 1
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]: finished batches are saved; run the same command to resume.")
        return EXIT_INTERRUPTED
    err.print(
        f"run {report.run_id}: {report.ok} ok, {report.failed} failed, {report.other} nan/nsfw, "
        f"{report.skipped_done} already done, {report.scored} scores written "
        f"-> {args.data_dir}/, {args.images_dir}/"
    )
    from bench.summary import print_summary

    print_summary(args.data_dir, suite.metrics[0], _console())
    return 0 if report.failed == 0 else 1


def cmd_score(args) -> int:
    from bench import scoring
    from bench.metrics import METRICS
    from bench.weights import WeightsMissing

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    scorable = [name for name, info in METRICS.items() if info.scorer]
    for metric in metrics or [""]:
        if metric not in scorable:
            raise ConfigError(f"metrics: unknown value {metric!r}; allowed: {', '.join(scorable)}")
    _quiet_libraries()
    err = _console(stderr=True)
    try:
        with _progress(err) as progress:
            n = scoring.score(args.data_dir, args.images_dir, metrics, rescore=args.rescore, progress=progress)
    except WeightsMissing as e:
        _print_error(err, e)
        return 1
    err.print(f"{n} scores written to {args.data_dir}/scores/")
    return 0


def cmd_list(args) -> int:
    from rich.table import Table

    from bench.config import shipped_suites
    from bench.metrics import METRICS
    from bench.models import MODELS
    from bench.schedulers import SCHEDULERS

    console = _console()
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
        console.print(t)
    if what in ("schedulers", "all"):
        t = Table("name", "diffusers class", "options", title="schedulers")
        for s in SCHEDULERS.values():
            t.add_row(s.name, s.class_name, ", ".join(f"{k}={v}" for k, v in s.overrides.items()))
        console.print(t)
    if what in ("suites", "all"):
        t = Table("suite", title="suites (or pass a path to a .toml file)")
        for name in shipped_suites():
            t.add_row(name)
        console.print(t)
    if what in ("metrics", "all"):
        t = Table("metric", "title", "unit", "higher is better", title="metrics")
        for m in METRICS.values():
            t.add_row(m.name, m.title, m.unit, "yes" if m.higher_is_better else "no")
        console.print(t)
    return 0


def cmd_summary(args) -> int:
    from bench.summary import print_summary

    return 0 if print_summary(args.data_dir, args.metric, _console()) else 1


def cmd_fetch(args) -> int:
    from bench import fetch
    from bench.config import load_suite
    from bench.metrics import METRICS
    from bench.models import MODELS

    if args.suite:
        suite = load_suite(args.suite, {"models": args.models, "metrics": args.metrics})
        specs, metrics = [suite.model_spec(k) for k in suite.models], suite.metrics
    elif args.models:
        keys = [k.strip() for k in args.models.split(",") if k.strip()]
        metrics = [m.strip() for m in (args.metrics or "clip_vit_b_32").split(",") if m.strip()]
        for name, values, allowed in (("models", keys, MODELS), ("metrics", metrics, METRICS)):
            unknown = [v for v in values if v not in allowed]
            if unknown or not values:
                raise ConfigError(f"{name}: unknown value {(unknown or [''])[0]!r}; allowed: {', '.join(allowed)}")
        specs = [MODELS[k] for k in keys]
    else:
        raise ConfigError("fetch: give --suite NAME or --models KEY[,KEY...]")
    items, notes = fetch.plan(specs, metrics)
    print(fetch.render(items, notes))
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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def dirs(p):
        p.add_argument("--data-dir", type=Path, default=Path("data"), help="Parquet tables (default: data)")
        p.add_argument("--images-dir", type=Path, default=Path("images"), help="PNG images (default: images)")

    run = sub.add_parser(
        "run",
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

    score = sub.add_parser("score", help="score images not yet scored (or rescore) with a metric")
    score.add_argument("--metrics", default="clip_vit_b_32", help="comma-separated metrics")
    score.add_argument("--rescore", action="store_true", help="score again even where a score exists")
    dirs(score)
    score.set_defaults(func=cmd_score)

    lst = sub.add_parser("list", help="list models, schedulers, suites and metrics")
    lst.add_argument("what", nargs="?", default="all", choices=["all", "models", "schedulers", "suites", "metrics"])
    lst.set_defaults(func=cmd_list)

    fetch = sub.add_parser(
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
    except ConfigError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
