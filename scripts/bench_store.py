"""The Parquet store at scale: read and compaction times over 1,000 to 100,000 part files.

    python scripts/bench_store.py [--parts 1000,10000,100000] [--rows-per-part 4]

Parts hold realistic generations rows (all 45 columns), 4 per part as a sweep at batch 4
writes them, and 1 part in 20 reruns earlier cells (a failed row, then an ok one). They are
written straight with pyarrow into a temporary folder (not timed). For each size it prints:
- the parts as written (by a bench without rolling merges): `store.read` of every column and
  of the plan's columns (cell_id, status), and pyarrow.dataset's scan of the same parts
  (3 columns, no checks, no dedup; up to 10,000 parts), the reader it was measured against;
- `store.compact` of them all, then both reads again;
- the same parts written as a sweep writes now, with a rolling tier merge every
  store.ROLL_EVERY_PARTS parts: the time spent merging, the files left, and the plan's read.
The last line is the plan's read of the largest table (100,000 parts: 400,000 rows), whose
target is under 5 s. One run each; the machine's load is printed, since other work on it slows
every figure alike. Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from bench import store
from bench.schema import GENERATIONS

PLAN = ["cell_id", "status"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def cell(i: int, r: int) -> str:
    return hashlib.blake2b(f"{i}-{r}".encode(), digest_size=8).hexdigest()


def template(rows: int) -> pa.Table:
    """One part's rows as a sweep of SD 1.5 on a GPU records them."""
    row = dict(
        run_id="20261101T000000Z-3f2a9c1e", prompt_id="parti-00042", model="sd15", family="sd",
        prompt="A photo of a lighthouse on a rocky coast at dusk, with waves crashing, oil painting",
        hub_id="stable-diffusion-v1-5/stable-diffusion-v1-5", revision="main", backend="pytorch",
        provider="cuda", dtype="float16", scheduler="euler-a", steps=30, guidance_scale=7.5,
        width=512, height=512, image_sha256="9f" * 32, load_s=4.2, export_s=0.0,
        backend_options='{"channels_last": true}', compile_s=0.0, batch_size=rows, latency_s=0.61,
        denoise_s=0.55, step_ms_p50=18.2, peak_mem_mb=3900.0, energy_j=140.0, power_w_mean=230.0,
        mem_scope="cuda_allocated", warm=True,
    )  # fmt: skip
    return pa.Table.from_pylist(
        [dict(row, seed=s, image_path=f"sd15/p/{s}.png") for s in range(rows)], schema=GENERATIONS
    )


def write_parts(folder: Path, n: int, rows: int, every: int = 0) -> tuple[int, float]:
    """n parts named in append order; with `every`, a rolling merge after each `every` parts, as
    `store.append` runs them. Returns the rows written and the seconds spent merging."""
    folder.mkdir(parents=True)
    base, merging = template(rows), 0.0
    columns = {name: base.schema.get_field_index(name) for name in ("cell_id", "status", "created_at")}
    for i in range(n):
        # 1 part in 20 reruns the cells of a part 10 earlier, which failed there.
        rerun = i % 20 == 19
        src = i - 10 if rerun else i
        failed = (src % 20) == 9
        t = base.set_column(columns["cell_id"], "cell_id", pa.array([cell(src, r) for r in range(rows)]))
        status = "ok" if rerun or not failed else "failed"
        t = t.set_column(columns["status"], "status", pa.array([status] * rows))
        stamp = T0 + timedelta(seconds=i)
        t = t.set_column(
            columns["created_at"], "created_at", pa.array([stamp] * rows, GENERATIONS.field("created_at").type)
        )
        pq.write_table(t, folder / store._name(i + 1))  # named as `store.append` names its i+1-th part
        if every and (i + 1) % every == 0:
            started = time.perf_counter()
            store.compact_tiers(folder.parent, "generations")
            merging += time.perf_counter() - started
    return n * rows, merging


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def files(folder: Path) -> int:
    return len(store._part_names(folder))


def one_size(root: Path, n: int, rows: int) -> float:
    data = root / f"parts-{n}"
    folder = data / "generations"
    seconds, _ = timed(lambda: write_parts(folder, n, rows))
    read_s, df = timed(lambda: store.read(data, "generations"))
    plan_s, _ = timed(lambda: store.read(data, "generations", columns=PLAN))
    print(f"{n:,} parts ({n * rows:,} rows, {len(df):,} cells), written in {seconds:.0f} s (not timed below)")
    line = f"  as written     : read {read_s:6.2f} s, plan read (cell_id, status) {plan_s:6.2f} s"
    if n <= 10_000:
        paths = [str(folder / name) for name in store._part_names(folder)]
        scan_s, _ = timed(lambda: ds.dataset(paths, schema=GENERATIONS).to_table(columns=[*PLAN, "created_at"]))
        line += f"; pyarrow.dataset scan (3 columns, no checks) {scan_s:6.2f} s"
    print(line, flush=True)
    compact_s, _ = timed(lambda: store.compact(data, "generations"))
    read_s, _ = timed(lambda: store.read(data, "generations"))
    plan_s, _ = timed(lambda: store.read(data, "generations", columns=PLAN))
    print(
        f"  compact        : {compact_s:6.2f} s -> {files(folder)} file; then read {read_s:.2f} s, plan read {plan_s:.2f} s"
    )
    shutil.rmtree(data)

    data = root / f"rolling-{n}"
    _, merging = write_parts(data / "generations", n, rows, every=store.ROLL_EVERY_PARTS)
    read_s, _ = timed(lambda: store.read(data, "generations"))
    plan_rolling_s, _ = timed(lambda: store.read(data, "generations", columns=PLAN))
    print(
        f"  rolling merges : {merging:6.2f} s merging while writing (every {store.ROLL_EVERY_PARTS} parts, "
        f"tiers of {store.FANOUT}) -> {files(data / 'generations')} files; then read {read_s:.2f} s, "
        f"plan read {plan_rolling_s:.2f} s",
        flush=True,
    )
    shutil.rmtree(data)
    return plan_rolling_s, plan_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="1000,10000,100000", help="comma-separated part counts")
    parser.add_argument("--rows-per-part", type=int, default=4)
    args, _ = parser.parse_known_args()  # nox -s benchmark hands every script the same arguments
    sizes = [int(s) for s in args.parts.split(",")]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, pyarrow {pa.__version__}")
    root = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        for n in sizes:
            rolling_s, compacted_s = one_size(root, n, args.rows_per_part)
        print(
            f"plan read of the largest table ({sizes[-1] * args.rows_per_part:,} rows): {rolling_s:.2f} s as a sweep "
            f"leaves it (rolling merges), {compacted_s:.2f} s compacted (target: under 5 s); "
            f"load average now {os.getloadavg()[0]:.1f}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
