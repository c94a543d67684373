"""The sweep: suite -> plan -> images -> scores -> Parquet, resumable and failure-tolerant.

Each batch's rows are appended as one whole Parquet file right after its images are on disk, so
a kill loses at most the batch in flight, and a rerun skips every cell already done. A cell
that raises becomes a `failed` row and the sweep goes on. Several sweeps may share a data dir:
each claims a (model, backend) group before loading it (bench.claims), so no cell is made twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import claims, parity, scoring, set_scoring, shard, store
from bench import latents as fixed_latents
from bench.backends import backend_class
from bench.backends.base import Backend, CallResult, LoadInfo, Request
from bench.config import Suite
from bench.environment import describe
from bench.files import writable_dir
from bench.images import image_relpath, save_png
from bench.interrupts import raise_if_stopped
from bench.plan import Cell, Plan, batches, make_plan
from bench.weights import lock as weights_lock
from bench.weights.check import preflight
from bench.writer import BatchWriter

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    run_id: str
    planned: int = 0
    skipped_done: int = 0
    ok: int = 0
    failed: int = 0
    other: int = 0  # nan (non-finite pixels)
    scored: int = 0
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    weights_lock_sha256: str | None = None  # the lock the run's weights matched (bench.weights.lock)


def _row(run_id: str, cell: Cell, load: LoadInfo | None, **values) -> dict:
    row = {
        "run_id": run_id,
        "cell_id": cell.cell_id,
        "prompt_id": cell.prompt_id,
        "prompt": cell.prompt,
        "negative_prompt": cell.negative_prompt,
        "category": cell.category,
        "challenge": cell.challenge,
        "model": cell.model,
        "family": cell.family,
        "hub_id": cell.hub_id,
        "revision": (load.revision if load else None) or cell.revision,
        "lora": cell.lora,
        "lora_scale": cell.lora_scale,
        "vae": cell.vae,
        "vae_revision": cell.vae_revision,
        "backend": cell.backend,
        "provider": load.provider if load else None,
        "dtype": load.dtype if load else cell.dtype,
        "scheduler": cell.scheduler,
        "steps": cell.steps,
        "guidance_scale": cell.guidance_scale,
        "width": cell.width,
        "height": cell.height,
        "seed": cell.seed,
        "latents_sha256": cell.latents_sha256,
        "latent_index": cell.latent_index,
        "load_s": load.load_s if load else None,
        "export_s": load.export_s if load else None,
        "backend_options": json.dumps(load.options, sort_keys=True) if load and load.options else None,
        "created_at": datetime.now(UTC),
    }
    row.update(values)
    return row


def _is_oom(error: BaseException) -> bool:
    text = f"{type(error).__name__}: {error}".lower()
    return "out of memory" in text or "outofmemory" in text or "failed to allocate memory" in text


def failed_rows(run_id, cells, load, error: BaseException) -> list[dict]:
    message = f"{type(error).__name__}: {error}".strip()[:2000]
    return [_row(run_id, c, load, status="failed", error=message) for c in cells]


def eta_of(cell: Cell) -> float | None:
    """The card's pipeline-call eta a cell's knobs carry (bench.models.ModelSpec.image_knobs)."""
    return json.loads(cell.knobs).get("eta") if cell.knobs else None


def latents_of(cell: Cell):
    """The fixed initial latent (C, H, W) a cell starts from (bench.latents)."""
    return fixed_latents.load(cell.latents_file, cell.latents_sha256)[cell.latent_index]


def _generate(backend: Backend, batch: list[Cell]) -> list[tuple[list[Cell], CallResult | BaseException]]:
    """Generate a batch; on out-of-memory, retry in halves down to one image per call."""
    first = batch[0]
    try:
        # a latents file changed since the plan fails these cells, not the sweep
        request = Request(
            prompt=first.prompt,
            negative_prompt=first.negative_prompt,
            seeds=tuple(c.seed for c in batch),
            steps=first.steps,
            guidance_scale=first.guidance_scale,
            width=first.width,
            height=first.height,
            eta=eta_of(first),
            latents=None if first.latents_sha256 is None else latents_of(first),
        )
        return [(batch, backend.generate(request))]
    except Exception as e:  # noqa: BLE001 - one failing cell must not stop the sweep
        if _is_oom(e) and len(batch) > 1:
            half = len(batch) // 2
            return _generate(backend, batch[:half]) + _generate(backend, batch[half:])
        return [(batch, e)]


def _batch_rows(run_id, cells, result: CallResult, load, warm) -> tuple[list[dict], list[tuple[dict, object]]]:
    """The rows of a generated batch, and (row, image) pairs still to save: each such row gets
    its image's sha256 when the writer has put the image on disk."""
    rows, saves = [], []
    for cell, generated in zip(cells, result.images):
        path = image_relpath(cell.model, cell.backend, cell.cell_id) if generated.image is not None else None
        row = _row(
            run_id,
            cell,
            load,
            status=generated.status,
            image_path=path,
            image_sha256=None,
            batch_size=len(cells),
            latency_s=result.latency_s,
            denoise_s=result.denoise_s,
            step_ms_p50=result.step_ms_p50,
            peak_mem_mb=result.peak_mem_mb,
            mem_scope=result.mem_scope,
            compile_s=result.compile_s,
            energy_j=result.energy_j,
            power_w_mean=result.power_w_mean,
            warm=warm,
            **generated.extra,
        )
        rows.append(row)
        if generated.image is not None:
            saves.append((row, generated.image))
    return rows, saves


def _save_job(data_dir: Path, images_dir: Path, rows: list[dict], saves: list[tuple[dict, object]], report):
    """The writer's job for one batch: its images on disk first, then its rows; only then are
    they counted in the report (and so in the run's record)."""

    def job() -> None:
        for row, image in saves:
            row["image_sha256"] = save_png(image, images_dir, row["image_path"])
        store.append(data_dir, "generations", rows)
        for r in rows:  # only the writer's one thread counts: no race with the sweep
            key = r["status"] if r["status"] in ("ok", "failed") else "other"
            setattr(report, key, getattr(report, key) + 1)

    return job


def _still_todo(data_dir: Path, group: list[Cell], retry_failed: bool) -> list[Cell]:
    """The cells of a group that no sweep has made since the plan was read (another sweep may
    have worked on the group while this one waited for it)."""
    done = store.read(data_dir, "generations", columns=["cell_id", "status"])
    if retry_failed:
        done = done[done["status"] != "failed"]
    done_ids = set(done["cell_id"])
    return [c for c in group if c.cell_id not in done_ids]


_UNSET = object()


@dataclass
class Loaded:
    """One model loaded on one backend, and what its next calls need to know (a Ray worker
    keeps several of these between units of work)."""

    backend: Backend
    load: LoadInfo
    warm: bool = False  # the first call after a load pays for lazy init: recorded, not counted
    scheduler: object = _UNSET  # the scheduler set now: swapped in place only when it changes

    @classmethod
    def of(cls, spec, cell: Cell) -> Loaded:
        """Load the model of `cell`'s group (raises what the backend's load raises)."""
        backend = backend_class(cell.backend, spec.family)(spec, cell.runtime)
        return cls(backend, backend.load())

    def make(self, cells: list[Cell], batch_size: int, run_id: str):
        """Generate `cells` (one group, in plan order) in batches; yields (batch, rows, saves)
        per batch, where saves are (row, image) pairs still to write. A failing call becomes
        failed rows and the rest goes on."""
        for batch in batches(cells, batch_size):
            raise_if_stopped()
            if batch[0].scheduler != self.scheduler:
                self.scheduler = batch[0].scheduler
                self.backend.set_scheduler(self.scheduler)
            rows, saves = [], []
            for made, result in _generate(self.backend, batch):
                if isinstance(result, BaseException):
                    first = made[0]
                    log.error(
                        "%s [%s] %s: %s: %s", first.model, first.backend, first.scheduler, type(result).__name__, result
                    )
                    rows += failed_rows(run_id, made, self.load, result)
                else:
                    made_rows, made_saves = _batch_rows(run_id, made, result, self.load, self.warm)
                    rows, saves = rows + made_rows, saves + made_saves
                    self.warm = True
            yield batch, rows, saves

    def close(self) -> None:
        self.backend.close()


def _run_group(
    plan: Plan, group: list[Cell], suite: Suite, data_dir, images_dir, report, progress, task, writer
) -> None:
    """Load one model on one backend, swap schedulers in place, make the group's cells in
    batches; the writer saves each batch while the next one generates."""
    model, backend_name = group[0].group
    if progress:
        progress.update(task, description=f"loading {model} [{backend_name}]")
    try:
        loaded = Loaded.of(plan.specs[model], group[0])
    except Exception as e:  # noqa: BLE001 - a model that will not load fails its cells only
        log.error("%s [%s] did not load: %s: %s", model, backend_name, type(e).__name__, e)
        writer.submit(_save_job(data_dir, images_dir, failed_rows(report.run_id, group, None, e), [], report))
        if progress:
            progress.advance(task, len(group))
        return
    try:
        for batch, rows, saves in loaded.make(group, suite.batch_size, report.run_id):
            if progress:
                progress.update(task, description=f"{model} [{backend_name}] {batch[0].scheduler or ''}".strip())
            writer.submit(_save_job(data_dir, images_dir, rows, saves, report))
            if progress:
                progress.advance(task, len(batch))
    finally:
        loaded.close()


def run(
    suite: Suite,
    data_dir: Path,
    images_dir: Path,
    *,
    retry_failed: bool = True,
    score: bool = True,
    progress=None,
    part: shard.Shard = shard.WHOLE,
    update_lock: bool = False,
) -> SweepReport:
    """Run every cell of `suite` (of its shard `part`) not yet done, then score what this sweep
    made (`score=False` leaves scoring to a later `bench score`). Weights that differ from the
    data dir's weights lock are refused unless `update_lock`. Messages go to the `bench` logger."""
    report = SweepReport(run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6])
    started = datetime.now(UTC)

    # 1. plan, minus the cells already done; output folders checked first, so a sweep never
    # spends hours on results it cannot save
    writable_dir(data_dir)
    writable_dir(images_dir)
    plan = shard.narrow(make_plan(suite, data_dir, retry_failed), part)
    report.planned, report.skipped_done, report.notes = len(plan.cells), len(plan.cells) - len(plan.todo), plan.notes
    for note in report.notes:
        log.info("note: %s", note)
    for warning in plan.warnings:
        log.warning("%s", warning)

    # 2. fail in seconds on anything that does not need a model loaded
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in plan.todo:
        groups.setdefault(cell.group, []).append(cell)
    if plan.todo:
        schedulers = {key: sorted({c.scheduler for c in plan.todo if c.model == key} - {None}) for key in plan.specs}
        metrics = suite.metrics if score else []  # a sweep that does not score needs no CLIP
        specs = [plan.specs[model] for model in dict.fromkeys(m for m, _ in groups)]
        preflight(specs, schedulers, metrics)
        report.weights_lock_sha256 = weights_lock.check(data_dir, specs, metrics, update=update_lock)

    task = progress.add_task("generating", total=len(plan.todo)) if progress else None
    try:
        # 3. each (model, backend) group under its claim: groups another sweep holds come last
        with BatchWriter() as writer:
            group_args = (plan, suite, data_dir, images_dir, report, retry_failed, progress, task, writer)
            deferred = []
            for key, group in groups.items():
                claim = claims.try_claim(data_dir, key, part)
                if claim is None:
                    log.info("another sweep is making %s [%s]; doing the other models first", *key)
                    deferred.append((key, group))
                    continue
                with claim:
                    _claimed_group(group, *group_args)
            for key, group in deferred:
                log.info("waiting for the other sweep to finish %s [%s]", *key)
                with claims.wait_claim(data_dir, key, part):
                    _claimed_group(group, *group_args)
        if progress:
            progress.update(task, description=f"generated: {len(groups)} model x backend groups")

        # 4. score what this sweep's cells made (and anything of theirs left unscored), then
        # compare each ONNX Runtime image with its PyTorch twin
        ids = {c.cell_id for c in plan.cells}
        if score:
            report.scored = scoring.score(data_dir, images_dir, suite.metrics, cell_ids=ids, progress=progress)
        parity.record(data_dir, images_dir, ids)

        # 5. set metrics (FID, KID) over each image set of the suite's cells, now that every
        # image of the set is on disk
        if score:
            report.scored += score_sets(suite, data_dir, images_dir, ids, report.run_id, progress)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        # 6. the run's record, written even when interrupted
        record_run(data_dir, report, suite.name, started, part)
        if not report.interrupted:
            for table in ("generations", "scores", "set_scores"):
                store.compact_tiers(data_dir, table)
    return report


def score_sets(suite: Suite, data_dir: Path, images_dir: Path, ids: set[str], run_id: str, progress=None) -> int:
    """The suite's set metrics over its cells' image sets, as the suite asks (its reference
    statistics and protocol image count); rows written."""
    return set_scoring.score_sets(
        data_dir,
        images_dir,
        suite.metrics,
        cell_ids=ids,
        reference=suite.fid_reference,
        protocol_images=suite.protocol_images,
        run_id=run_id,
        progress=progress,
    )


def record_run(
    data_dir: Path,
    report: SweepReport,
    suite_name: str,
    started,
    part: shard.Shard,
    launch=None,
    workers: int = 1,
    machine: dict | None = None,
) -> None:
    """The run's row in `runs` (environment, counts, shard); a rerun that did nothing leaves none.
    `machine`: describe() as a worker elsewhere answered it (a Ray run's GPUs and packages are
    the workers', not the driver's); the command and commit stay the driver's."""
    if not (report.ok or report.failed or report.other or report.scored or report.interrupted):
        return
    here = describe()
    measured_on = {k: v for k, v in (machine or {}).items() if k not in ("command", "git_commit")}
    row = dict(
        here | measured_on,
        run_id=report.run_id,
        suite=suite_name,
        started_at=started,
        finished_at=datetime.now(UTC),
        images_ok=report.ok,
        images_failed=report.failed,
        shard=None if part.whole else str(part),
        launch_id=launch or shard.launch_id(),
        workers=workers,
        weights_lock_sha256=report.weights_lock_sha256,
    )
    store.append(data_dir, "runs", [row])


def _claimed_group(group, plan, suite, data_dir, images_dir, report, retry_failed, progress, task, writer) -> None:
    """A group this sweep holds the claim of: what is still missing of it, made now, and on disk
    before the claim is let go (another sweep then reads it as done)."""
    todo = _still_todo(data_dir, group, retry_failed)
    if len(todo) < len(group):
        report.skipped_done += len(group) - len(todo)
        log.info("%s [%s]: %d cells made by another sweep meanwhile", *group[0].group, len(group) - len(todo))
        if progress:
            progress.advance(task, len(group) - len(todo))
    if todo:
        _run_group(plan, todo, suite, data_dir, images_dir, report, progress, task, writer)
    writer.drain()
