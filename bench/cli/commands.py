"""What each `bench` command does, once its arguments are parsed. Heavy libraries are imported
inside the commands that need them, so `bench list` and `bench --help` answer at once."""

from __future__ import annotations

import logging
import sys

from rich.text import Text

from bench.cli import tables
from bench.console import console, fetch_listing, plain, progress_bar, quiet_libraries, setup_logging
from bench.errors import ConfigError, PromptsNotFetched, first_line
from bench.interrupts import exit_code, stop_on_signals

EXIT_FAILED_CELLS = 1  # the command ran, but some cells failed (their rows say why)
EXIT_WEIGHTS_MISSING = 4  # a dry run whose plan cannot run as it stands (bench.cli: WeightsError's code)
# A PNG of a generated image, per pixel: what the dry run's disk estimate assumes (photographic
# content at 512 px compresses to about 1.2 bytes per pixel; noise does worse, flat art better).
PNG_BYTES_PER_PIXEL = 1.2
log = logging.getLogger("bench")


def _suite_overrides(args) -> dict:
    from bench.config_rules import parse_axis

    return {
        "models": args.models,
        "schedulers": args.schedulers,
        "backends": args.backends,
        "seeds": args.seeds,
        "steps": parse_axis("--steps", args.steps),
        "guidance_scale": parse_axis("--guidance", args.guidance),
        "metrics": args.metrics,
        "batch_size": args.batch_size,
        "device": args.device,
        "dtype": args.dtype,
        "provider": args.provider,
        "provider_fallback": args.provider_fallback,
    }


def cmd_run(args) -> int:
    from bench.config import load_suite

    suite = load_suite(args.suite, _suite_overrides(args))
    part = _shard(args)
    err = console(stderr=True)
    if args.dry_run:
        return _dry_run(suite, args, err, part)
    # importing torch, diffusers and optimum takes seconds: say so rather than sit silent
    err.print(Text(f"suite {suite.name}: loading the libraries (torch, diffusers)..."))
    from bench import sweep

    quiet_libraries(progress_bars=True)
    progress = progress_bar(err)
    setup_logging(progress.console, args.debug)
    if not part.whole:
        log.info("shard %s (from %s)", part, part.source)
    try:
        with stop_on_signals(), progress:
            if args.ray is not None:
                from bench import ray_driver

                report = ray_driver.run(
                    suite,
                    args.data_dir,
                    args.images_dir,
                    address=args.ray,
                    workers=args.workers,
                    retry_failed=not args.no_retry_failed,
                    progress=progress,
                    update_lock=args.update_lock,
                )
            else:
                report = sweep.run(
                    suite,
                    args.data_dir,
                    args.images_dir,
                    retry_failed=not args.no_retry_failed,
                    progress=progress,
                    part=part,
                    update_lock=args.update_lock,
                )
    except KeyboardInterrupt as stop:
        reason = str(stop) or "SIGINT"
        err.print(
            plain(f"stopped ({reason})", "yellow")
            + plain(": finished batches are saved; run the same command to resume.")
        )
        return exit_code(stop)
    err.print(
        Text(
            f"run {report.run_id}: {report.ok} ok, {report.failed} failed, {report.other} nan, "
            f"{report.skipped_done} already done, {report.scored} scores written "
            f"-> {args.data_dir}/, {args.images_dir}/"
        )
    )
    from bench.summary import quality_metrics

    _print_summary(args.data_dir, next((m for m in suite.metrics if m in quality_metrics()), None), "table")
    return 0 if report.failed == 0 else EXIT_FAILED_CELLS


def _shard(args):
    """This process's shard: --shard, else the launcher's environment; and its GPU, chosen
    before torch starts CUDA (torchrun's LOCAL_RANK)."""
    from bench import shard

    # `--shard ""` (an unset variable in a launch script) is refused, not read as no shard
    part = shard.parse(args.shard) if args.shard is not None else shard.from_env()
    if args.ray is not None and not part.whole:
        raise ConfigError(
            f"--ray spreads the whole sweep over the cluster; it takes no shard (got {part} from {part.source})"
        )
    if args.workers is not None and (args.ray is None or args.workers < 1):
        raise ConfigError("--workers: a number of Ray workers (1 or more), with --ray")
    gpu = shard.pick_gpu()
    if gpu is not None:
        log.info("LOCAL_RANK picks GPU %s (CUDA_VISIBLE_DEVICES)", gpu)
    return part


def _dry_run(suite, args, err, part) -> int:
    """The plan without loading anything: cells per model and backend, whether each model's
    weights are here, and about how much disk the images will take."""
    from bench.estimate import WHERE, gpu_hours
    from bench.plan import make_plan
    from bench.shard import narrow
    from bench.weights import lock as weights_lock
    from bench.weights.check import HOW_TO_GET, missing, missing_metrics

    plan = narrow(make_plan(suite, args.data_dir), part)
    if not part.whole:
        err.print(Text(f"shard {part} (from {part.source}): {len(plan.cells)} cells of the suite's plan"))
    for note in plan.notes:
        err.print(Text(f"note: {note}"))
    for warning in plan.warnings:
        err.print(Text(f"warning: {warning}", style="yellow"))
    specs = [plan.specs[m] for m in suite.models]
    # missing() says "key (hub id): reason"; the table names the model already
    weights = {line.split(" ", 1)[0]: "missing: " + line.split(": ", 1)[-1] for line in missing(specs)}
    rows = []
    for model, backend in dict.fromkeys(c.group for c in plan.cells):
        cells = [c for c in plan.cells if c.group == (model, backend)]
        todo = [c for c in plan.todo if c.group == (model, backend)]
        spec = plan.specs[model]
        rows.append(
            {
                "model": model,
                "backend": backend,
                "device": f"{cells[0].device} {cells[0].dtype}",
                "size": f"{spec.width}x{spec.height}",
                "cells": len(cells),
                "to_do": len(todo),
                "weights": "built locally (tiny)" if spec.tiny else weights.get(model, "here"),
                "disk_mb": len(todo) * spec.width * spec.height * PNG_BYTES_PER_PIXEL / 1e6,
            }
        )
    columns = [
        tables.Col("model", "model", keep=True),
        tables.Col("backend", "backend", keep=True),
        tables.Col("device", "device", priority=1),
        tables.Col("size", "size", numeric=True, priority=5),
        tables.Col("cells", "cells", numeric=True, priority=3),
        tables.Col("to do", "to_do", numeric=True, keep=True),
        tables.Col("images MB", "disk_mb", tables.number(".0f"), numeric=True, priority=2),
        tables.Col("weights", "weights", stay=True),
    ]
    tables.render(console(), rows, columns, args.format, title=f"suite {suite.name}: the plan")
    for line in axis_counts(plan.cells):
        err.print(Text(line))
    # the metrics' weights, and a GAN's class-mapping CLIP's, as the run's preflight checks them
    clips = list(dict.fromkeys(suite.metrics + [s.class_clip for s in specs if s.family == "gan"]))
    metric_problems = missing_metrics(clips)
    done = len(plan.cells) - len(plan.todo)
    disk = sum(r["disk_mb"] for r in rows)
    err.print(
        Text(f"estimate (not measured for this suite): about {gpu_hours(plan.todo):.1f} h on one GPU, from {WHERE}")
    )
    err.print(
        Text(
            f"suite {suite.name}: {len(plan.cells)} cells, {len(plan.todo)} to do, {done} already done; "
            f"about {disk:.0f} MB of images; metrics {', '.join(suite.metrics)}"
        )
    )
    if (latents := suite.latents) is not None:
        shared = "one latent for every prompt" if latents.count == 1 else f"one latent per prompt ({latents.count})"
        err.print(
            Text(
                f"latents: {latents.source} ({latents.path}, sha256 {latents.sha256[:12]}...): {shared}, "
                f"shape (C, H, W) = {latents.shape[1:]}"
            )
        )
    for line in set_metric_lines(suite):
        err.print(Text(line))
    err.print(Text(weights_lock.summary(args.data_dir, specs, suite.metrics)))
    if plan.todo and (models := [s.key for s in specs if s.key in weights]) + metric_problems:
        # the last line says what is missing, and the exit code that the run would stop (4), so
        # that `bench run --dry-run && bench run` never starts a sweep that cannot run
        for line in metric_problems:
            err.print(Text(f"missing: metric {line}"))
        err.print(Text(HOW_TO_GET))
        metrics = list(dict.fromkeys(line.split(" ", 1)[0] for line in metric_problems))
        what = [
            f"{len(found)} {kind}(s): {', '.join(found)}"
            for kind, found in (("model", models), ("metric", metrics))
            if found
        ]
        err.print(Text("cannot run as it stands: weights missing for " + "; and ".join(what), style="bold"))
        return EXIT_WEIGHTS_MISSING
    return 0


def set_metric_lines(suite) -> list[str]:
    """A line per set metric of the suite: the network and the reference statistics it needs,
    each with its pin, and when a set counts as indicative."""
    from bench.metrics import METRICS, SET_METRICS

    def named(w) -> str:
        pin = "tiny, built locally" if w.tiny else w.pin or "unpinned"
        return f"{w.hub_id} {w.files[0]} ({pin})"

    lines = []
    for metric in [m for m in suite.metrics if m in SET_METRICS]:
        inception, stats = METRICS[metric].weights
        reference = f"the suite's fid_reference {suite.fid_reference}" if suite.fid_reference else named(stats)
        lines.append(f"set metric {metric}: once per image set, on {named(inception)} against {reference}")
    if lines:
        lines.append(
            f"set metrics on fewer than {suite.protocol_images:,} images per set are marked indicative"
            if suite.protocol_images
            else "set metrics: no protocol image count (protocol_images), so none is marked indicative"
        )
    return lines


def axis_counts(cells) -> list[str]:
    """A line per swept setting with more than one value: the cells each value makes."""
    from collections import Counter

    lines = []
    for name, label in (("steps", "steps"), ("guidance_scale", "guidance")):
        counts = Counter(getattr(c, name) for c in cells if c.family != "gan")
        if len(counts) > 1:
            lines.append(f"{label} axis: " + ", ".join(f"{v:g}: {n} cells" for v, n in sorted(counts.items())))
    return lines


def cmd_score(args) -> int:
    from bench import scoring, set_scoring
    from bench.config import check_choices, split_list
    from bench.metrics import SCORABLE, SET_METRICS

    metrics = split_list(args.metrics)
    check_choices("metrics", metrics, SCORABLE)
    quiet_libraries(progress_bars=True)
    err = console(stderr=True)
    part = _shard(args)
    try:
        with stop_on_signals(), progress_bar(err) as progress:
            setup_logging(progress.console, args.debug)
            if args.ray is not None:
                from bench import ray_driver

                n = ray_driver.score(
                    args.data_dir, args.images_dir, metrics, args.rescore, args.ray, args.workers, progress
                )
            else:
                ids = None if part.whole else _shard_ids(args.data_dir, part)
                n = scoring.score(
                    args.data_dir, args.images_dir, metrics, rescore=args.rescore, cell_ids=ids, progress=progress
                )
            # set metrics read whole image sets: never split by shard, never on Ray's workers
            n_sets = (
                set_scoring.score_sets(
                    args.data_dir,
                    args.images_dir,
                    metrics,
                    reference=args.fid_reference,
                    protocol_images=args.protocol_images,
                    rescore=args.rescore,
                    progress=progress,
                )
                if part.whole
                else 0
            )
    except KeyboardInterrupt as stop:
        err.print(
            plain("stopped", "yellow") + plain(": scores written so far are saved; run the same command to go on.")
        )
        return exit_code(stop)
    err.print(Text(f"{n} scores written to {args.data_dir}/scores/"))
    if any(m in SET_METRICS for m in metrics):
        err.print(Text(f"{n_sets} set scores written to {args.data_dir}/set_scores/"))
    return 0


def cmd_fid_stats(args) -> int:
    from bench.config import check_choices
    from bench.metrics import SET_METRICS

    check_choices("metric", [args.metric], SET_METRICS)
    if args.out.suffix != ".npz":
        raise ConfigError(f"--out: {str(args.out)!r} must end in .npz")
    quiet_libraries(progress_bars=True)
    err = console(stderr=True)
    from bench import set_scoring

    try:
        with stop_on_signals(), progress_bar(err) as progress:
            setup_logging(progress.console, args.debug)
            n = set_scoring.reference_from_folder(args.folder, args.out, args.metric, progress)
    except ValueError as e:  # the folder or the metric, in one line
        raise ConfigError(f"fid-stats: {first_line(e)}") from None
    err.print(
        Text(
            f'{args.out}: statistics of {n} images ({args.metric}\'s network); in a suite: fid_reference = "{args.out}"'
        )
    )
    return 0


def _shard_ids(data_dir, part) -> set[str]:
    """The generations' cell ids that are this shard's to score (a split by id: every image
    costs a scorer about the same)."""
    from bench import shard, store

    ids = store.read(data_dir, "generations", columns=["cell_id"])["cell_id"]
    return {cid for cid in ids if shard.owns(cid, part)}


def cmd_list(args) -> int:
    from bench.backends import IMPLEMENTATIONS
    from bench.config import BACKEND_OPTION_KEYS, BACKENDS, load_suite, shipped_suites
    from bench.metrics import METRICS
    from bench.models import MODELS
    from bench.schedulers import SCHEDULERS

    out, what, fmt = console(), args.what, args.format
    if what in ("models", "all"):
        _list_models(out, fmt, MODELS.values())
    if what in ("schedulers", "all"):
        rows = [
            {"name": s.name, "class": s.class_name, "options": ", ".join(f"{k}={v}" for k, v in s.overrides.items())}
            for s in SCHEDULERS.values()
        ]
        columns = [
            tables.Col("name", "name", keep=True),
            tables.Col("diffusers class", "class", priority=1),
            tables.Col("options", "options"),
        ]
        tables.render(out, rows, columns, fmt, title="schedulers")
    if what in ("backends", "all"):
        rows = [
            {
                "backend": name,
                "families": ", ".join(f for b, f in IMPLEMENTATIONS if b == name),
                "runs": runs,
                "options": ", ".join(BACKEND_OPTION_KEYS[name]),
            }
            for name, runs in BACKENDS.items()
        ]
        columns = [
            tables.Col("backend", "backend", keep=True),
            tables.Col("families", "families", priority=2),
            tables.Col("runs", "runs", priority=3),
            tables.Col("suite options", "options", priority=1),
        ]
        tables.render(out, rows, columns, fmt, title="backends")
    if what in ("suites", "all"):
        rows = [{"suite": name, "description": _described(name, load_suite)} for name in shipped_suites()]
        columns = [tables.Col("suite", "suite", keep=True), tables.Col("description", "description", priority=1)]
        tables.render(out, rows, columns, fmt, title="suites (or give a path to a .toml file)")
    if what in ("metrics", "all"):
        rows = [
            {
                "metric": m.name,
                "title": m.title,
                "kind": m.kind,
                "unit": m.unit,
                "better": "higher" if m.higher_is_better else "lower",
            }
            for m in METRICS.values()
        ]
        columns = [
            tables.Col("metric", "metric", keep=True),
            tables.Col("title", "title", priority=2),
            tables.Col("kind", "kind", priority=1),
            tables.Col("unit", "unit"),
            tables.Col("better", "better", priority=3),
        ]
        tables.render(out, rows, columns, fmt, title="metrics")
    return 0


def _described(name: str, load_suite) -> str:
    """A shipped suite's description, also while its prompts are still to be fetched (hpdv2)."""
    try:
        return load_suite(name).description
    except PromptsNotFetched:
        return load_suite(name, without_prompts=True).description + " (prompts not fetched yet)"


def _list_models(out, fmt: str, specs) -> None:
    """The registry: each model's pinned commit (or "unpinned") and the settings its card gives,
    with the card cited; a terminal table cites each source once, as a numbered note below it."""
    rows = [
        {
            "key": m.key,
            "family": m.family,
            "hub_id": m.hub_id,
            "revision": m.revision
            or ("built locally" if m.tiny else f"sha256 {m.weights_sha256}" if m.weights_sha256 else "unpinned"),
            "size": f"{m.width}x{m.height}",
            "steps": m.steps,
            "guidance_scale": m.guidance_scale,
            "scheduler": m.scheduler_hint or "",
            "notes": ", ".join(
                x
                for x in (
                    f"LoRA {m.lora.hub_id}@{(m.lora.revision or 'unpinned')[:10]} x{m.lora.scale:g}" if m.lora else "",
                    f"VAE {m.vae}@{(m.vae_revision or 'unpinned')[:10]}" if m.vae else "",
                    "tiny" if m.tiny else "",
                    "needs HF_TOKEN" if m.gated else "",
                )
                if x
            ),
            "source": m.source,
        }
        for m in specs
    ]
    sources = list(dict.fromkeys(r["source"] for r in rows if r["source"]))
    if fmt == "table":  # a URL per row would crowd out the numbers: cite each once, below
        rows = [dict(r, source=f"[{sources.index(r['source']) + 1}]" if r["source"] else "") for r in rows]
    columns = [
        tables.Col("key", "key", keep=True),
        tables.Col("revision", "revision", _short_pin, priority=6),
        tables.Col("family", "family", priority=3),
        tables.Col("hub id", "hub_id", priority=5),
        tables.Col("size", "size", numeric=True, priority=4),
        tables.Col("steps", "steps", numeric=True, priority=2),
        tables.Col("cfg", "guidance_scale", numeric=True, priority=1),
        tables.Col("scheduler", "scheduler", tables.text, priority=1),
        tables.Col("card", "source", tables.text, priority=7),
        tables.Col("notes", "notes", priority=0),
    ]
    tables.render(
        out, rows, columns, fmt, title="models (size, steps, cfg and scheduler: each card's; -: the pipeline's)"
    )
    if fmt == "table":
        for i, source in enumerate(sources, 1):
            out.print(Text(f"[{i}] {source}"))


def _short_pin(pin: object) -> str:
    """A commit or "sha256 <hex>" cut to the first 10 hex digits, as git shows commits (the CSV and
    JSON keep them whole); other words as they are."""
    text = str(pin)
    if len(text) == 40:
        return text[:10]
    return text[:17] if text.startswith("sha256 ") else text


def _print_summary(data_dir, metric: str | None, fmt: str, vs: list[str] | None = None) -> bool:
    """The ranked image sets, then (for a table) the winner line and any warning on stderr; with
    `vs`, one paired comparison instead. False when there is nothing to show yet."""
    from bench.report.paired import p_text
    from bench.summary import summarize, title

    summary = summarize(data_dir, metric)
    err = console(stderr=True)  # the verdict lines: `--format csv` output piped on must stay CSV
    if not summary.rows:
        err.print(Text(f"no scored results in {data_dir}/ yet: run `bench run --suite tiny` first"))
        return False
    if vs:
        d = summary.versus(*vs)
        err.print(
            Text(
                f"{vs[0]} minus {vs[1]}: {d.mean:+.4f} (95% {d.lo:+.4f} to {d.hi:+.4f}), "
                f"{'significant' if d.significant else 'not significant'} (Holm p {p_text(d.p)} over the ranking's pairs); "
                f"{vs[0]} wins {d.win_rate:.0%} of {d.n_prompts} prompts; {d.n_pairs} shared (prompt, seed) pairs"
            )
        )
        return True
    four, three = tables.number(".4f"), tables.number(".3f")
    rows = [dict(r, rank_text=f"={r['rank']}" if r["tie"] else str(r["rank"])) for r in summary.rows]
    columns = [
        tables.Col("rank", "rank_text", keep=True),
        tables.Col("image set", "set", keep=True),
        tables.Col("mean", "mean", four, numeric=True, keep=True),
        tables.Col("±95%", "half_width", four, numeric=True, priority=5),
        tables.Col("pairs", "n_pairs", numeric=True, priority=1),
        *(
            tables.Col(f"p50 s {b}", f"p50__{b}", three, numeric=True, priority=4 - i)
            for i, b in enumerate(summary.backends)
        ),
    ]
    tables.render(console(), rows, columns, fmt, title=title(summary.metric))
    if fmt == "table":
        sys.stdout.flush()  # the table before the verdict, where both go to one terminal
        err.print(Text(summary.winner, style="bold"))
        if summary.warning:
            err.print(Text(summary.warning, style="yellow"))
    if summary.unranked:  # another suite's prompts in the same data dir (the demo's MLPerf twin)
        err.print(
            Text(
                f"not ranked, sharing no prompt and seed with the sets above: {', '.join(summary.unranked)}",
                style="yellow",
            )
        )
    return True


def cmd_summary(args) -> int:
    return 0 if _print_summary(args.data_dir, args.metric, args.format, args.vs) else EXIT_FAILED_CELLS


def cmd_serve(args) -> int:
    """`mkdocs serve` in a child process, with the end-of-life banner of mkdocs-material silenced;
    the plugin itself waits for a sweep's writes to settle before rebuilding (serve_settle_s)."""
    import importlib.util
    import os
    import subprocess

    from bench.errors import InstallError

    if importlib.util.find_spec("mkdocs") is None:
        raise InstallError("bench serve needs the site's packages: pip install -e '.[site]'")
    extra = [a for a in args.mkdocs_args if a != "--"]
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.call([sys.executable, "-m", "mkdocs", "serve", *extra], env=env)


def cmd_fetch(args) -> int:
    from bench.config import check_choices, load_suite, split_list
    from bench.metrics import SCORABLE
    from bench.models import MODELS
    from bench.weights import fetch, hub

    prompt_sets = []  # a prompt set fetched like weights (hpdv2), when the suite's is not here
    if args.suite:
        overrides = {"models": args.models, "metrics": args.metrics}
        try:
            suite = load_suite(args.suite, overrides)
        except PromptsNotFetched as e:
            prompt_sets.append(e.name)
            suite = load_suite(args.suite, overrides, without_prompts=True)
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
    if hub.offline() or not hub.hub_reachable():
        why = "HF_HUB_OFFLINE is set" if hub.offline() else "the hub cannot be reached from here"
        print(f"offline ({why}): files and sizes below come from the local cache, or are what the loader expects")
    print(fetch_listing(items, notes))
    for name in prompt_sets:
        print(fetch.prompts_line(name))
    if args.dry_run:
        return 0
    from huggingface_hub import get_token

    if any(item.gated for item in items) and not get_token():
        print("warning: some repos are gated and no HF token is set (HF_TOKEN or `hf auth login`)")
    fetched, failed = [], 0
    for name in prompt_sets:
        try:
            print(f"fetched: prompts {name} ({fetch.download_prompts(name)})")
        except Exception as e:  # noqa: BLE001 - report it, fetch the weights too
            failed += 1
            print(f"failed: prompts {name}: {causes(e)}")
    for item in items:
        try:
            resolved = fetch.download(item)
        except Exception as e:  # noqa: BLE001 - report every failure, fetch the rest
            failed += 1
            print(f"failed: {item.source}: {causes(e)}")
            continue
        fetched.append((item, resolved))
        print(f"fetched: {item.source} ({resolved})")
    refused = _lock_fetched(args.data_dir, [item for item, _ in fetched], args.update_lock)
    fetched = [(item, resolved) for item, resolved in fetched if item not in refused]
    failed += len(refused)
    snippet = fetch.pin_snippet(fetched)
    if snippet:
        print("\nTo run exactly these weights later, pin them in the suite file:\n" + snippet)
    then = "run the sweep with HF_HUB_OFFLINE=1" if not failed else "fix the failures above, then fetch again"
    print(f"\n{len(fetched)} fetched, {failed} failed; {then}")
    return 0 if failed == 0 else 1


def _lock_fetched(data_dir, items: list, update: bool) -> list:
    """Record what was fetched in the weights lock; returns the items refused because the lock
    holds other weights for them (`update` accepts those instead)."""
    from bench.weights import lock

    found, _ = lock.observe_items(items)
    verdict = lock.settle(data_dir, found, update=update, refuse=False)
    path = lock.path_of(data_dir)
    for key, lines in verdict.changed.items():
        if update:
            print(f"lock: accepted new weights for {key}: {'; '.join(lines)}")
        else:
            print(f"failed: {key}: {path} locks other weights: {'; '.join(lines)}; `--update-lock` accepts them")
    if verdict.sha256:
        print(f"lock: {path} (sha256 {verdict.sha256[:12]}...): {len(verdict.added)} items added, {len(found)} checked")
    refused = set() if update else set(verdict.changed)
    return [item for item in items if lock.key_of(lock.asked(item)) in refused]


def causes(error: BaseException) -> str:
    """An error and the ones behind it, a line each: diffusers wraps a hub failure in "Cannot
    load model ... check out the root cause in the stacktrace above", with none printed."""
    lines, seen = [], set()
    while error is not None and id(error) not in seen and len(lines) < 4:
        seen.add(id(error))
        lines.append(f"{type(error).__name__}: {first_line(error)[:300]}")
        error = error.__cause__ or error.__context__
    return "\n    caused by ".join(lines)
