"""`bench summary` names the winner from paired tests: known differences on the same prompts and seeds."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import numpy as np
import pytest

from bench import store
from bench.cli import main
from bench.report.paired import rank_sets


def write_sets(
    data_dir, shifts: dict[tuple[str, str], float], prompts: int = 40, seeds: int = 2, prefix: str = "p"
) -> None:
    """Image sets on the same (prompt, seed) pairs: a large prompt effect they share, plus each
    set's shift; a little noise of each image's own. Eager PyTorch with an ORT twin for sd15/ddim."""
    rng = np.random.default_rng(7)
    effect = rng.normal(0.3, 0.05, (prompts, seeds))
    gens, scores = [], []
    now = datetime.now(UTC)
    for (model, scheduler), shift in shifts.items():
        backends = ["pytorch", "onnxruntime"] if (model, scheduler) == ("sd15", "ddim") else ["pytorch"]
        for backend in backends:
            for p in range(prompts):
                for s in range(seeds):
                    cell = f"{model}-{scheduler}-{backend}-{prefix}{p}-{s}"
                    gens.append(
                        {
                            "run_id": "r", "cell_id": cell, "prompt_id": f"{prefix}{p}", "prompt": "x", "model": model,
                            "family": "sd", "backend": backend, "scheduler": scheduler, "steps": 30,
                            "guidance_scale": 7.5, "width": 512, "height": 512, "seed": s, "status": "ok",
                            "latency_s": 1.0 if backend == "pytorch" else 0.5, "warm": True, "created_at": now,
                        }
                    )  # fmt: skip
                    value = effect[p, s] + shift + rng.normal(0, 0.002) + (9.0 if backend == "onnxruntime" else 0)
                    scores.append({"cell_id": cell, "metric": "clip_vit_b_32", "value": value, "created_at": now})
    store.append(data_dir, "generations", gens)
    store.append(data_dir, "scores", scores)


def test_summary_names_the_winner_by_its_paired_margin_and_fits_80_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    # sd21/euler is 0.01 better than sd15/ddim on every pair (5 of its standard errors);
    # sd15/euler is sd15/ddim again: they tie
    write_sets(tmp_path, {("sd15", "ddim"): 0.0, ("sd21", "euler"): 0.01, ("sd15", "euler"): 0.0})
    assert main(["summary", "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert all(len(line) <= 80 for line in out.splitlines() + err.splitlines())
    lines = [line.split() for line in out.splitlines() if line.strip().startswith(("1", "=", "2", "3"))]
    assert lines[0][:2] == ["1", "sd21/euler"] and {tuple(line[:2]) for line in lines[1:]} == {
        ("=2", "sd15/ddim"),
        ("=2", "sd15/euler"),
    }
    winner = " ".join(err.split())
    assert winner.startswith("winner: sd21/euler, by +0.0100") and "significant (Holm p" in winner
    assert "not significant" not in winner and "over sd15/" in winner
    # the quality is the eager images' (the ORT twins' scores, 9 higher, are not counted) and
    # each backend has its speed column
    assert "p50 s pytorch" in out and "p50 s onnxruntime" in out and "0.500" in out


def test_a_second_suites_prompts_leave_the_ranking_of_the_first_and_are_named(tmp_path, capsys):
    """The demo's data dir: the tiny suite's sets beside an MLPerf twin on other prompts. Before,
    no (prompt, seed) was shared by every set and the summary said there were no results."""
    write_sets(tmp_path, {("sd15", "ddim"): 0.0, ("sd21", "euler"): 0.01})
    write_sets(tmp_path, {("sdxl", "euler"): 0.0}, prompts=5, prefix="coco")
    assert main(["summary", "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "sd21/euler" in out and "sd15/ddim" in out and "sdxl/euler" not in out
    err = " ".join(err.split())
    assert err.startswith("winner: sd21/euler") and "sharing no prompt and seed with the sets above: sdxl/euler" in err


def test_summary_vs_compares_two_sets_and_a_tie_is_called_one(tmp_path, capsys):
    write_sets(tmp_path, {("sd15", "ddim"): 0.0, ("sd15", "euler"): 0.0})
    assert main(["summary", "--data-dir", str(tmp_path), "--vs", "sd15/ddim", "sd15/euler"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "sd15/ddim minus sd15/euler: " in err and "not significant" in err and "40 prompts" in err
    assert main(["summary", "--data-dir", str(tmp_path)]) == 0
    assert "not significant" in " ".join(capsys.readouterr().err.split())
    assert main(["summary", "--data-dir", str(tmp_path), "--vs", "sd15/ddim", "nope"]) == 2
    assert "no image set 'nope'" in capsys.readouterr().err


def test_summary_as_csv_keeps_stdout_csv_and_takes_any_quality_metric(tmp_path, capsys):
    write_sets(tmp_path, {("sd15", "ddim"): 0.0, ("sd21", "euler"): 0.01})
    assert main(["summary", "--data-dir", str(tmp_path), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["set"] for r in rows] == ["sd21/euler", "sd15/ddim"] and rows[0]["rank_text"] == "1"
    assert main(["summary", "--data-dir", str(tmp_path), "--metric", "hpsv2"]) == 1  # a metric not scored yet
    assert main(["summary", "--data-dir", str(tmp_path), "--metric", "nsfw"]) == 2  # not a quality


def test_rank_sets_gives_ties_the_same_rank_and_lower_is_better_reverses_the_order():
    rng = np.random.default_rng(3)
    rows = []
    for p in range(30):
        base = rng.normal(0, 1)
        for name, shift in (("a", 0.0), ("b", 0.0), ("c", 0.5)):
            rows.append({"set": name, "prompt_id": f"p{p}", "seed": 0, "value": base + shift + rng.normal(0, 0.01)})
    import pandas as pd

    values = pd.DataFrame(rows)
    table = rank_sets(values).table
    assert table["set"].tolist()[0] == "c" and table["rank"].tolist() == [1, 2, 2]
    assert table["tie"].tolist() == [False, True, True]
    low = rank_sets(values, higher_is_better=False).table
    assert low["set"].tolist()[-1] == "c" and low["rank"].tolist() == [1, 1, 3]


@pytest.mark.parametrize("prompts", [2, 40])
def test_rank_sets_resamples_images_when_the_prompts_are_too_few(prompts):
    import pandas as pd

    values = pd.DataFrame(
        [{"set": s, "prompt_id": f"p{p}", "seed": k, "value": p + k * 0.1 + (0.5 if s == "a" else 0)}
         for s in "ab" for p in range(prompts) for k in range(3)]
    )  # fmt: skip
    ranking = rank_sets(values)
    assert ranking.by == ("pair" if prompts < 5 else "prompt") and ranking.n_pairs == 3 * prompts
