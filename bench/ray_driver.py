"""`bench run --ray`: one sweep over a Ray cluster's GPUs (or CPUs), driven from one process.

The driver plans the cells, keeps one actor per GPU (`num_gpus=1`; `num_cpus` on a CPU-only
cluster; bench.ray_cluster) and hands units of work to the workers that have started: up to
`unit_cells` cells of one (model, backend, scheduler), largest first. An idle worker takes the
largest unit of a model it has loaded, else the largest unit left, so models load few times and
the long units do not come last. Workers send images (PNG bytes) and rows back through the
object store, and only the driver writes `images/` and Parquet: a multi-node cluster needs no
shared disk.

A worker that dies (a node lost, a kill -9, an out-of-memory kill) has its unit given to a new
worker, up to `max_retries` times per unit; after that the unit's cells are recorded as failed
and the sweep goes on. Rows reach the disk only after their images and only from the driver, so
no cell is lost or written twice. Ctrl-C kills the workers (the units in their hands are
dropped) and keeps what finished; rerunning resumes as any sweep does.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import parity, scoring, shard, store, sweep
from bench.errors import BenchError, WeightsError, first_line
from bench.files import writable_dir
from bench.images import safe_join, write_png
from bench.interrupts import raise_if_stopped
from bench.metrics import SET_METRICS
from bench.plan import Cell, make_plan
from bench.ray_cluster import Cluster, Seat
from bench.weights import lock as weights_lock
from bench.writer import BatchWriter

log = logging.getLogger(__name__)


@dataclass
class Unit:
    """Cells one worker makes in one call: one (model, backend, scheduler), in plan order."""

    cells: list[Cell]
    tries: int = 0

    @property
    def group(self) -> tuple[str, str]:
        return self.cells[0].group

    @property
    def cost(self) -> float:
        return sum(shard.cell_cost(c) for c in self.cells)


def units_of(cells: list[Cell], unit_cells: int) -> list[Unit]:
    """The cells cut into units, largest first (ties in plan order: the sort is stable)."""
    runs: dict[tuple, list[Cell]] = {}
    for cell in cells:
        runs.setdefault((*cell.group, cell.scheduler), []).append(cell)
    units = [Unit(run[i : i + unit_cells]) for run in runs.values() for i in range(0, len(run), unit_cells)]
    return sorted(units, key=lambda u: -u.cost)


def _pick(queue: deque[Unit], seat: Seat) -> Unit:
    """The largest unit of a model this worker has loaded, else the largest unit left."""
    for unit in queue:
        if unit.group in seat.groups:
            queue.remove(unit)
            return unit
    return queue.popleft()


def _save(data_dir: Path, images_dir: Path, rows: list[dict], images: dict[str, bytes], report) -> None:
    """A unit's images on disk first, then its rows (the writer thread runs this)."""
    for row in rows:
        if row.get("image_path") in images:
            row["image_sha256"] = write_png(images[row["image_path"]], images_dir, row["image_path"])
    store.append(data_dir, "generations", rows)
    for r in rows:
        key = r["status"] if r["status"] in ("ok", "failed") else "other"
        setattr(report, key, getattr(report, key) + 1)


def _dispatch(cluster: Cluster, units: list[Unit], suite, specs, report, save, progress, task, max_retries, on_result):
    """Keep every worker busy until every unit is made (or given up on)."""
    ray = cluster.ray
    queue = deque(units)
    inflight: dict[object, tuple[Unit, Seat]] = {}
    idle = [s for s in cluster.seats if s.started]
    done = 0
    while queue or inflight:
        raise_if_stopped()
        idle += cluster.poll()  # workers that started late (placed when room appeared) join now
        while idle and queue:
            seat = idle.pop(0)
            unit = _pick(queue, seat)
            seat.since = time.perf_counter()
            ref = seat.actor.make.remote(unit.cells, specs[unit.cells[0].model], suite.batch_size, report.run_id)
            inflight[ref] = (unit, seat)
        if not inflight:  # every worker is still starting, or being replaced
            idle += cluster.wait_started()
            continue
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
        for ref in ready:
            unit, seat = inflight.pop(ref)
            try:
                rows, images = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # a bug, not a death: the cells fail, the sweep goes on
                if isinstance(e.cause, WeightsError):  # that node lacks weights: every unit there would fail
                    log.error("Ray worker %s on %s cannot load %s", seat.name, seat.host, unit.cells[0].model)
                    raise e.cause from None
                log.error("%d cells failed in %s: %s", len(unit.cells), seat.name, first_line(e.cause or e))
                save(sweep.failed_rows(report.run_id, unit.cells, None, e.cause or e), {})
                idle.append(seat)
                if progress:
                    progress.advance(task, len(unit.cells))
                continue
            except ray.exceptions.RayError as e:  # the worker died, or its node with the result
                unit.tries += 1
                cluster.replace(seat)  # the new worker joins when it has started
                if unit.tries <= max_retries:
                    log.warning(
                        "worker lost with %d cells in hand (%s); handing them to another",
                        len(unit.cells),
                        type(e).__name__,
                    )
                    queue.appendleft(unit)
                else:
                    log.error("%d cells failed: %d workers died making them", len(unit.cells), unit.tries)
                    save(sweep.failed_rows(report.run_id, unit.cells, None, e), {})
                    if progress:
                        progress.advance(task, len(unit.cells))
                continue
            seat.groups.add(unit.group)
            seat.images += len(unit.cells)
            seat.busy_s += time.perf_counter() - seat.since
            save(rows, images)
            done += 1
            idle.append(seat)
            if progress:
                progress.advance(task, len(unit.cells))
                progress.update(task, description="ray " + ", ".join(s.rate() for s in cluster.seats))
            if on_result:
                on_result(done, cluster, inflight)


def run(
    suite,
    data_dir: Path,
    images_dir: Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    retry_failed: bool = True,
    score: bool = True,
    progress=None,
    unit_cells: int | None = None,
    max_retries: int = 2,
    keep_models: int = 2,
    on_result=None,
    update_lock: bool = False,
) -> sweep.SweepReport:
    """The suite's cells not yet done, made by a Ray cluster's workers; returns the report.

    `on_result(units_done, cluster, inflight)` is called after each unit is saved (tests use it
    to kill a worker mid-run)."""
    report = sweep.SweepReport(run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + "ray-" + _token())
    started = datetime.now(UTC)
    writable_dir(data_dir)
    writable_dir(images_dir)
    cluster = Cluster(address, workers, keep_models, gpus_wanted=suite.runtime.device == "cuda")
    try:
        ray = cluster.ray
        specs = {key: suite.model_spec(key) for key in suite.models}
        first = cluster.first().actor
        # the runs row says where the images were made: the first worker's machine (a cluster of
        # mixed GPUs is not told apart), not the driver's, which may have no GPU at all
        machine = _get(ray, first.machine.remote())
        plan = make_plan(suite, data_dir, retry_failed, runtimes=_get(ray, first.runtimes.remote(suite, specs)))
        report.planned, report.skipped_done, report.notes = (
            len(plan.cells),
            len(plan.cells) - len(plan.todo),
            plan.notes,
        )
        for note in plan.notes:
            log.info("note: %s", note)
        for warning in plan.warnings:
            log.warning("%s", warning)
        if plan.todo:
            models = list(dict.fromkeys(c.model for c in plan.todo))
            schedulers = {m: sorted({c.scheduler for c in plan.todo if c.model == m} - {None}) for m in models}
            metrics = suite.metrics if score else []
            _get(ray, first.preflight.remote([plan.specs[m] for m in models], schedulers, metrics))
            # the first worker's weights, as the preflight checks them: another node's are not
            found, absent = _get(ray, first.observe_weights.remote([plan.specs[m] for m in models], metrics))
            report.weights_lock_sha256 = weights_lock.enforce(data_dir, found, absent, update=update_lock)
        task = progress.add_task(f"ray: {cluster.count} workers", total=len(plan.todo)) if progress else None
        units = units_of(plan.todo, unit_cells or 4 * suite.batch_size)
        try:
            with BatchWriter() as writer:

                def save(rows, images):
                    writer.submit(lambda: _save(data_dir, images_dir, rows, images, report))

                _dispatch(cluster, units, suite, plan.specs, report, save, progress, task, max_retries, on_result)
            ids = {c.cell_id for c in plan.cells}
            if score:
                report.scored = score_on(cluster, data_dir, images_dir, suite.metrics, ids, progress)
            parity.record(data_dir, images_dir, ids)
            if score:  # set metrics (FID, KID) read whole sets: here, on the driver
                report.scored += sweep.score_sets(suite, data_dir, images_dir, ids, report.run_id, progress)
        except KeyboardInterrupt:
            report.interrupted = True
            raise
        finally:
            sweep.record_run(
                data_dir, report, suite.name, started, shard.WHOLE, f"ray:{report.run_id}", cluster.count, machine
            )
            if not report.interrupted:
                for table in ("generations", "scores", "set_scores"):
                    store.compact_tiers(data_dir, table)
    finally:
        cluster.close()
    return report


def _get(ray, ref):
    """ray.get, with an expected failure on the worker (weights missing, no GPU there) raised
    as itself, so the CLI prints its one line and exit code."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, BenchError):
            raise e.cause from None
        raise


def _token() -> str:
    import uuid

    return uuid.uuid4().hex[:6]


def score(data_dir: Path, images_dir: Path, metrics: list[str], rescore, address, workers, progress=None) -> int:
    """`bench score --ray`: what is pending for each metric (everything, with rescore)."""
    cluster = Cluster(address, workers)
    try:
        return score_on(cluster, data_dir, images_dir, metrics, progress=progress, rescore=rescore)
    finally:
        cluster.close()


def score_on(
    cluster: Cluster,
    data_dir: Path,
    images_dir: Path,
    metrics: list[str],
    cell_ids=None,
    progress=None,
    rescore: bool = False,
    chunk: int = 64,
) -> int:
    """Score what is pending with the cluster's workers, `chunk` images per call: the driver
    reads each image's bytes and sends them with its prompt, and each worker loads a metric's
    scorer once. Returns the number of scores written."""
    ray = cluster.ray
    cluster.first()  # a worker to score with, and a line saying why if none starts
    generations = store.read(data_dir, "generations")
    scores = store.read(data_dir, "scores")
    written = 0
    for metric in [m for m in metrics if m not in SET_METRICS]:  # set metrics: bench.set_scoring
        todo = scoring.pending(generations, scores, metric, rescore, cell_ids)
        if todo.empty:
            continue
        task = progress.add_task(f"scoring {metric} on {cluster.count} workers", total=len(todo)) if progress else None
        parts = deque((todo.iloc[i : i + chunk], 0) for i in range(0, len(todo), chunk))
        inflight: dict[object, tuple] = {}
        idle = [s for s in cluster.seats if s.started]
        while parts or inflight:
            raise_if_stopped()
            idle += cluster.poll()
            while idle and parts:
                part, tries = parts.popleft()
                seat = idle.pop(0)
                pngs = [_read(images_dir, p) for p in part["image_path"]]
                inflight[seat.actor.score.remote(metric, list(part["prompt"]), pngs)] = (part, tries, seat)
            if not inflight:
                idle += cluster.poll(timeout_s=1.0)
                continue
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
            for ref in ready:
                part, tries, seat = inflight.pop(ref)
                try:
                    values = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
                    if tries >= 2:
                        raise
                    cluster.replace(seat)
                    parts.appendleft((part, tries + 1))
                    continue
                idle.append(seat)
                rows = scoring.score_rows(metric, part, *values)
                store.append(data_dir, "scores", rows)
                written += len(rows)
                if progress:
                    progress.advance(task, len(part))
    return written


def _read(images_dir: Path, relpath: str) -> bytes:
    try:
        return safe_join(images_dir, relpath).read_bytes()
    except (OSError, ValueError):
        return b""  # scored as unreadable (None), like a missing file in `bench score`
