"""Shards: the launcher's environment, and a split of the plan that is exact and balanced."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import plan, shard
from bench.cli import main
from bench.config import BACKENDS, Suite
from bench.errors import ConfigError
from bench.models import FAMILIES, MODELS
from bench.runtime import Runtime
from bench.schedulers import SCHEDULERS

CPU = Runtime("cpu", "float32", "cpu")
RUNTIMES = {(b, f): CPU for b in BACKENDS for f in FAMILIES}


def test_shard_text_and_its_errors():
    assert shard.parse("2/8") == shard.Shard(2, 8) and str(shard.parse(" 0 / 1 ")) == "0/1"
    for bad in ["8/8", "-1/4", "1/0", "1", "a/b", ""]:
        with pytest.raises(ConfigError, match="shard"):
            shard.parse(bad)


def test_the_launchers_environment_names_the_shard():
    assert shard.from_env({}) == shard.WHOLE
    torchrun = shard.from_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3"})
    assert (torchrun.index, torchrun.count) == (3, 8)
    # a Slurm array --array=1-4 (SLURM_ARRAY_TASK_MIN=1): task 1 is shard 0
    slurm = shard.from_env({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"})
    assert (slurm.index, slurm.count) == (3, 4)
    with pytest.raises(ConfigError, match="out of range"):
        shard.from_env({"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "4"})
    with pytest.raises(ConfigError, match="RANK"):
        shard.from_env({"RANK": "x", "WORLD_SIZE": "2"})
    # --array=0-14:2: ids 0, 2, ... 14 are shards 0 to 7
    stepped = {"SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2"}
    assert [shard.from_env(stepped | {"SLURM_ARRAY_TASK_ID": str(i)}).index for i in range(0, 16, 2)] == list(range(8))
    with pytest.raises(ConfigError, match="not on the array's steps .* --shard K/N"):
        shard.from_env(stepped | {"SLURM_ARRAY_TASK_ID": "3"})
    assert shard.launch_id({"TORCHELASTIC_RUN_ID": "abc"}) == "torchelastic_run_id:abc"
    assert shard.launch_id({}) is None
    # multi-node torchrun's default run id is "none" in every launch: not an id
    assert shard.launch_id({"TORCHELASTIC_RUN_ID": "none"}) is None
    assert shard.launch_id({"TORCHELASTIC_RUN_ID": "none", "SLURM_ARRAY_JOB_ID": "7"}) == "slurm_array_job_id:7"


def test_local_rank_picks_one_gpu_before_cuda_starts():
    env = {"LOCAL_RANK": "2"}
    assert shard.pick_gpu(env) == "2" and env["CUDA_VISIBLE_DEVICES"] == "2"
    env = {"LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "4,5,6"}
    assert shard.pick_gpu(env) == "5" and env["CUDA_VISIBLE_DEVICES"] == "5"
    env = {"LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "7"}  # Slurm gave this task its GPU already
    assert shard.pick_gpu(env) is None and env["CUDA_VISIBLE_DEVICES"] == "7"
    assert shard.pick_gpu({}) is None


TINY = [m for m in MODELS if MODELS[m].tiny]
suites = st.builds(
    lambda models, schedulers, prompts, seeds, steps: Suite(
        name="prop",
        models=models,
        schedulers=schedulers,
        backends=["pytorch", "onnxruntime"],
        seeds=seeds,
        steps=steps,
        prompts=[{"id": f"p{i}", "text": f"prompt {i}"} for i in range(prompts)],
    ),
    st.lists(st.sampled_from(TINY), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(sorted(SCHEDULERS)), min_size=1, max_size=4, unique=True),
    st.integers(1, 12),
    st.lists(st.integers(0, 99), min_size=1, max_size=4, unique=True),
    st.sampled_from([None, 1, 7, 30]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(suites, st.integers(1, 9))
def test_the_shards_of_a_plan_are_disjoint_cover_it_and_are_balanced(suite, count):
    specs = {key: suite.model_spec(key) for key in suite.models}
    cells, _ = plan.cells_for(suite, specs, RUNTIMES)
    count = min(count, len(cells))  # more shards than cells is refused (test_cli_robustness)
    parts = [shard.select(cells, shard.Shard(k, count)) for k in range(count)]
    ids = [c.cell_id for part in parts for c in part]
    assert sorted(ids) == sorted(c.cell_id for c in cells) and len(set(ids)) == len(ids)
    for part in parts:  # each shard keeps the plan's order: model loads stay grouped
        order = {c.cell_id: i for i, c in enumerate(cells)}
        assert [order[c.cell_id] for c in part] == sorted(order[c.cell_id] for c in part)
    # LPT's bound: no shard is over the mean by more than the largest piece it was given
    pieces = shard._pieces(cells, count)
    cost = lambda cs: sum(shard.cell_cost(c) for c in cs)  # noqa: E731
    loads = [cost(p) + shard.LOAD_COST * len({c.group for c in p}) for p in parts]
    biggest = max(cost(p) + shard.LOAD_COST for p in pieces)
    mean = sum(cost(p) + shard.LOAD_COST for p in pieces) / count
    assert max(loads) <= mean + biggest + 1e-6
    # a group worth less than one shard's share is made by one shard only (one model load)
    share = (cost(cells) + shard.LOAD_COST * len({c.group for c in cells})) / count
    for group in {c.group for c in cells}:
        members = [c for c in cells if c.group == group]
        if cost(members) + shard.LOAD_COST <= share:
            assert sum(any(c.group == group for c in part) for part in parts) == 1
    # every process computes the same split
    again = [shard.select(list(cells), shard.Shard(k, count)) for k in range(count)]
    assert [[c.cell_id for c in p] for p in again] == [[c.cell_id for c in p] for p in parts]


def test_a_dry_run_of_a_shard_prints_that_shards_cells(tmp_path, capsys):
    args = ["run", "--suite", "tiny", "--backends", "pytorch", "--dry-run", "--data-dir", str(tmp_path / "d")]
    totals = []
    for k in range(3):
        assert main([*args, "--shard", f"{k}/3", "--format", "csv"]) == 0
        out, err = capsys.readouterr()
        assert f"shard {k}/3 (from --shard)" in err
        totals.append(sum(int(r["cells"]) for r in csv.DictReader(io.StringIO(out))))
    assert main([*args, "--format", "csv"]) == 0
    whole = sum(int(r["cells"]) for r in csv.DictReader(io.StringIO(capsys.readouterr()[0])))
    assert sum(totals) == whole and all(totals)


def test_ray_takes_no_shard(tmp_path, capsys):
    assert main(["run", "--suite", "tiny", "--ray", "--shard", "0/2", "--data-dir", str(tmp_path)]) == 2
    assert "takes no shard" in capsys.readouterr().err
