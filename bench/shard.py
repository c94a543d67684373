"""Shards: one sweep split over N processes that share nothing but the data dir.

A shard is "K/N" (K counted from 0). Every shard plans the whole suite and takes its own part
of it, so the N launches need no coordinator: the split is a pure function of the plan's cells,
which every shard computes alike (the plan, not the cells still to do, so a shard that resumes
sees the same split as one that starts).

The split keeps each (model, backend) group whole where it can, since a shard that makes part
of a group still pays the group's model load; a group worth more than one shard's share is cut
into pieces at batch boundaries. Pieces go to shards largest first, each to the least loaded
shard (LPT), with ties broken by the pieces' keys, so the result never depends on dict order or
the machine.

Without `--shard`, the launcher's environment says which shard this is: torchrun and
`accelerate launch` set RANK / WORLD_SIZE, a Slurm job array sets SLURM_ARRAY_TASK_ID /
SLURM_ARRAY_TASK_COUNT (and SLURM_ARRAY_TASK_MIN when the array does not start at 0).
"""

from __future__ import annotations

import heapq
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bench.errors import ConfigError

# What loading a model costs, in the units of `cell_cost` (one 512 x 512 step = 1): a few
# seconds on a GPU, about 30 to 50 steps' worth. Only the balance between shards depends on it.
LOAD_COST = 40.0


class _Cell(Protocol):
    group: tuple[str, str]
    scheduler: str | None
    prompt_id: str
    steps: int
    width: int
    height: int
    cell_id: str


@dataclass(frozen=True)
class Shard:
    index: int  # K, from 0
    count: int  # N
    source: str = "--shard"  # where it came from, for the log and the runs table

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def whole(self) -> bool:
        return self.count == 1


WHOLE = Shard(0, 1, "none")


def parse(text: str) -> Shard:
    """ "K/N" with 0 <= K < N, as `--shard` takes it (an empty text too is refused: it is no
    shard, not the whole sweep)."""
    # at most 18 digits: int() of a longer run of digits is slow, or refused (4300 digits)
    m = re.fullmatch(r"\s*(\d{1,18})\s*/\s*(\d{1,18})\s*", text or "")
    if not m:
        shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:37] + "..."
        raise ConfigError(f"--shard: expected K/N (e.g. 0/4, K counted from 0), got {shown}")
    return _checked(int(m[1]), int(m[2]), "--shard")


def _checked(index: int, count: int, source: str) -> Shard:
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"{source}: shard {index} of {count} is out of range (0 <= K < N)")
    return Shard(index, count, source)


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ConfigError(f"{name}={env[name]!r} is not a whole number") from None


def from_env(env: Mapping[str, str] | None = None) -> Shard:
    """The shard the launcher's environment names (torchrun / accelerate, then Slurm), else WHOLE."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "RANK" in env:
        return _checked(_int(env, "RANK"), _int(env, "WORLD_SIZE"), "RANK/WORLD_SIZE")
    if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        # --array=1-8 starts at 1 (MIN), --array=0-14:2 steps by 2 (STEP): task ids, not shards
        first = _int(env, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else 0
        step = _int(env, "SLURM_ARRAY_TASK_STEP") if "SLURM_ARRAY_TASK_STEP" in env else 1
        offset = _int(env, "SLURM_ARRAY_TASK_ID") - first
        if step < 1 or offset % step:
            raise ConfigError(
                f"SLURM_ARRAY_TASK_ID={env['SLURM_ARRAY_TASK_ID']} is not on the array's steps "
                f"(from {first} by {step}): give the shard with --shard K/N"
            )
        return _checked(offset // step, _int(env, "SLURM_ARRAY_TASK_COUNT"), "SLURM_ARRAY_TASK_ID/COUNT")
    return WHOLE


def pick_gpu(env: dict[str, str] | None = None) -> str | None:
    """Give this process one GPU of the node when the launcher runs one process per GPU.

    torchrun sets LOCAL_RANK and leaves every GPU visible; narrowing CUDA_VISIBLE_DEVICES to the
    LOCAL_RANK-th one, before torch or ONNX Runtime start CUDA, makes "cuda" mean this process's
    own GPU for both. Slurm already narrows it per task (--gres). Returns the device chosen.
    """
    env = os.environ if env is None else env
    if "LOCAL_RANK" not in env:
        return None
    local = _int(env, "LOCAL_RANK")
    visible = env.get("CUDA_VISIBLE_DEVICES")
    devices = [d for d in visible.split(",") if d.strip()] if visible else None
    if devices is not None and len(devices) <= 1:
        return None  # the launcher gave this process its own GPU already
    chosen = devices[local % len(devices)] if devices else str(local)
    env["CUDA_VISIBLE_DEVICES"] = chosen
    return chosen


def cell_cost(cell: _Cell) -> float:
    """Work of one image relative to a 512 x 512 step: steps x pixels (a GAN cell is 1 step)."""
    return max(cell.steps, 1) * cell.width * cell.height / 512**2


def _pieces(cells: Sequence[_Cell], count: int) -> list[list[_Cell]]:
    """The plan cut into pieces: whole groups, and groups worth more than a shard's share cut
    at batch boundaries (scheduler, prompt) into about-equal pieces."""
    groups: dict[tuple[str, str], list[_Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.group, []).append(cell)
    share = (sum(cell_cost(c) for c in cells) + LOAD_COST * len(groups)) / count
    pieces = []
    for group in groups.values():
        work = sum(cell_cost(c) for c in group)
        # A group over one share is cut into pieces of at most a share each (every piece loads
        # the model again), so the LPT below can balance them; a smaller group stays whole and
        # is loaded by one shard only. Where loading alone fills a share, cutting cannot help.
        n = 1 if work + LOAD_COST <= share or share <= LOAD_COST else min(count, math.ceil(work / (share - LOAD_COST)))
        if n == 1:
            pieces.append(group)
            continue
        # Units a call makes together (same scheduler and prompt) stay in one piece.
        units: dict[tuple, list[_Cell]] = {}
        for cell in group:
            units.setdefault((cell.scheduler or "", cell.prompt_id), []).append(cell)
        target, piece, filled, made = work / n, [], 0.0, 0
        for unit in units.values():
            piece += unit
            filled += sum(cell_cost(c) for c in unit)
            if filled >= target and made < n - 1:  # the last piece takes what is left
                pieces.append(piece)
                piece, filled, made = [], 0.0, made + 1
        if piece:
            pieces.append(piece)
    return pieces


def check_count(cells: Sequence[_Cell], shard: Shard) -> None:
    """More shards than the plan has cells would leave shards with nothing to do, and the split
    would cost memory and time in proportion to N: refused before anything is sized by N."""
    if not shard.whole and shard.count > len(cells):
        raise ConfigError(
            f"{shard.source}: {shard.count} shards, but the plan has only {len(cells)} cells; "
            f"give N from 1 to {len(cells)}"
        )


def assign(cells: Sequence[_Cell], count: int) -> dict[str, int]:
    """cell_id -> shard index, for every cell of the plan (count at most the cells)."""
    if count == 1:
        return {c.cell_id: 0 for c in cells}
    pieces = _pieces(cells, count)
    # Largest first; the first cell's id breaks ties, so the order is the same everywhere.
    pieces.sort(key=lambda p: (-(sum(cell_cost(c) for c in p) + LOAD_COST), p[0].cell_id))
    # Each piece to the least loaded shard, the lowest index among equals: a heap of (load,
    # index) finds it in log N steps, where a scan of every shard per piece is pieces x N.
    loads = [(0.0, k) for k in range(count)]
    owner: dict[str, int] = {}
    for piece in pieces:
        load, k = heapq.heappop(loads)
        heapq.heappush(loads, (load + sum(cell_cost(c) for c in piece) + LOAD_COST, k))
        for cell in piece:
            owner[cell.cell_id] = k
    return owner


def select(cells: Sequence[_Cell], shard: Shard) -> list[_Cell]:
    """The cells of `cells` (the whole plan, in run order) that belong to `shard`, in run order."""
    check_count(cells, shard)
    if shard.whole:
        return list(cells)
    owner = assign(cells, shard.count)
    return [c for c in cells if owner[c.cell_id] == shard.index]


def owns(cell_id: str, part: Shard) -> bool:
    """Whether an existing image is this shard's to score: cell ids are hex hashes, so their
    leading digits split the images evenly and alike in every process."""
    return part.whole or int(cell_id[:8], 16) % part.count == part.index


def narrow(plan, part: Shard):
    """A plan (bench.plan.Plan) cut down to one shard's cells: the split is of the whole plan,
    then the cells already done are dropped, as in an unsharded plan."""
    if part.whole:
        return plan
    mine = {c.cell_id for c in select(plan.cells, part)}
    return replace(
        plan, cells=[c for c in plan.cells if c.cell_id in mine], todo=[c for c in plan.todo if c.cell_id in mine]
    )


# Ids a launcher gives all the processes it starts, most specific first.
LAUNCH_ID_VARS = ("BENCH_LAUNCH_ID", "TORCHELASTIC_RUN_ID", "SLURM_ARRAY_JOB_ID")


def launch_id(env: Mapping[str, str] | None = None) -> str | None:
    """What the shards of one launch share, so their runs rows add up as one run on the site."""
    env = os.environ if env is None else env
    # torchrun's default --rdzv-id is the word "none" (a uuid only for one node): shared by every
    # multi-node launch ever made, so it names none of them
    named = (name for name in LAUNCH_ID_VARS if env.get(name) and env[name] != "none")
    return next((f"{name.lower()}:{env[name]}" for name in named), None)
