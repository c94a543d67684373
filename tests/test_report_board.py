"""The site's main leaderboard (bench.report.board): image sets, ranks with ties, agreement."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.report import board, stats


def gen(cell: str, **overrides) -> dict:
    row = {
        "run_id": "r1", "cell_id": cell, "prompt_id": "p", "prompt": "a prompt", "model": "sd15", "family": "sd",
        "backend": "pytorch", "provider": "cuda", "scheduler": "ddim", "seed": 0, "status": "ok", "steps": 30,
        "width": 512, "height": 512, "dtype": "float16", "image_path": f"{cell}.png", "latency_s": 1.0,
        "peak_mem_mb": 1000.0, "warm": True, "created_at": pd.Timestamp("2026-11-25", tz="UTC"),
    }  # fmt: skip
    row.update(overrides)
    return row


def score(cell: str, metric: str, value: float) -> dict:
    return {"cell_id": cell, "metric": metric, "value": value, "truncated_tokens": 0}


RUNS = pd.DataFrame([{"run_id": "r1", "suite": "seed", "gpu_name": "NVIDIA H100", "cpu": "x"}])


def test_twins_give_one_quality_row_and_speed_per_backend():
    rows, scores = [], []
    for seed in range(3):
        for backend, latency in (("pytorch", 2.0), ("onnxruntime", 1.0)):
            cell = f"{backend}-{seed}"
            rows.append(gen(cell, backend=backend, seed=seed, latency_s=latency))
            # The ORT twin scores a little lower: quality must come from eager PyTorch only.
            scores.append(score(cell, "clip_vit_b_32", 0.30 + 0.01 * seed - (0.1 if backend == "onnxruntime" else 0)))
    frame = stats.normalise(pd.DataFrame(rows))
    sets = board.image_sets(frame, pd.DataFrame(scores), RUNS, "clip_vit_b_32")
    (row,) = sets.to_dict("records")
    assert row["quality_backend"] == "pytorch" and row["clip_vit_b_32__n"] == 3
    assert row["clip_vit_b_32__mean"] == pytest.approx(0.31)
    assert (row["p50__pytorch"], row["p50__onnxruntime"]) == (2.0, 1.0)
    assert row["measured_on"] == "NVIDIA H100 · 2026-11-25"
    assert (
        row["command"]
        == "bench run --suite seed --models sd15 --schedulers ddim --backends onnxruntime,pytorch --seeds 0-2"
    )
    assert row["backends"] == "pytorch onnxruntime" and row["size"] == "512×512"


def test_ranks_tie_rows_whose_intervals_overlap():
    mean = pd.Series([0.9, 0.85, 0.5, float("nan")])
    lo = pd.Series([0.8, 0.80, 0.45, float("nan")])
    hi = pd.Series([1.0, 0.90, 0.55, float("nan")])
    ranks = board.tie_ranks(mean, lo, hi, higher_is_better=True)
    assert ranks.tolist()[:3] == [1, 1, 3] and pd.isna(ranks[3])
    assert board.tie_ranks(mean, lo, hi, higher_is_better=False).tolist()[:3] == [2, 2, 1]


def test_every_quality_metric_is_found_and_parity_is_not():
    scores = pd.DataFrame(
        [score("a", "psnr_db_vs_pytorch", 40.0), score("a", "clip_vit_l_14", 0.3), score("a", "clip_vit_b_32", 0.3)]
    )
    assert board.quality_metrics(scores) == ["clip_vit_b_32", "clip_vit_l_14"]


def test_agreement_is_spearman_over_image_sets_with_the_images_behind_it():
    rows, scores = [], []
    for k, sched in enumerate(["a", "b", "c", "d"]):
        for seed in range(2):
            cell = f"{sched}{seed}"
            rows.append(gen(cell, scheduler=sched, seed=seed))
            scores += [score(cell, "clip_vit_b_32", 0.1 * k), score(cell, "clip_vit_l_14", -0.1 * k)]
    frame = stats.normalise(pd.DataFrame(rows))
    (pair,) = board.agreement(frame, pd.DataFrame(scores), ["clip_vit_b_32", "clip_vit_l_14"]).to_dict("records")
    assert pair["rho"] == pytest.approx(-1.0) and (pair["sets"], pair["images"]) == (4, 8)


def test_the_breakdown_by_category_needs_categories():
    rows = [gen("a", prompt_id="p1", category="Animals"), gen("b", prompt_id="p2", category=None)]
    frame = stats.normalise(pd.DataFrame(rows))
    scores = pd.DataFrame([score("a", "clip_vit_b_32", 0.3), score("b", "clip_vit_b_32", 0.2)])
    wide = board.by_category(frame, scores, "clip_vit_b_32")
    assert list(wide.columns) == ["model", "scheduler", "Animals"] and wide["Animals"].tolist() == [0.3]
    assert board.by_category(frame.drop(columns="category"), scores, "clip_vit_b_32").empty


def test_the_nsfw_rate_stands_beside_the_mean_and_is_no_quality_metric():
    """One of four images flagged: a 25% rate over the same images as the mean, every image in
    both; the flag and its margin are never among the metrics a reader can rank by."""
    rows, scores = [], []
    for seed in range(4):
        cell = f"c{seed}"
        rows.append(gen(cell, seed=seed))
        flagged = seed == 2
        scores += [
            score(cell, "clip_vit_b_32", 0.30),
            score(cell, "nsfw", 1.0 if flagged else 0.0),
            score(cell, "nsfw_score", 0.004 if flagged else -0.02),
        ]
    # the ORT twins (flagged alike) count once, as for the means
    rows += [gen(f"o{s}", seed=s, backend="onnxruntime") for s in range(4)]
    scores += [score(f"o{s}", "nsfw", 1.0) for s in range(4)]
    frame, scores = stats.normalise(pd.DataFrame(rows)), pd.DataFrame(scores)
    assert board.quality_metrics(scores) == ["clip_vit_b_32"]
    (row,) = board.image_sets(frame, scores, RUNS, "clip_vit_b_32").to_dict("records")
    assert row["nsfw__rate"] == pytest.approx(0.25) and row["nsfw__n"] == 4 == row["clip_vit_b_32__n"]
    assert "nsfw__rank" not in row and "nsfw_score__mean" not in row
    assert board.flagged_cells(scores) == {"c2", "o0", "o1", "o2", "o3"}
    assert board.flagged_cells(scores[scores["metric"] != "nsfw"]) == set()


def test_ranks_come_from_paired_tests_not_from_overlapping_intervals():
    """Two schedulers on the same 30 prompts: ddim is 0.004 better on every prompt, under a
    prompt effect 25x larger. Their marginal intervals overlap (once a tie), the paired test
    tells them apart; a third set equal to ddim ties with it."""
    import numpy as np

    rng = np.random.default_rng(0)
    effect = rng.normal(0.3, 0.1, 30)
    rows, scores = [], []
    for sched, shift in (("ddim", 0.004), ("euler", 0.0), ("dpmpp-2m", 0.004)):
        for p, base in enumerate(effect):
            cell = f"{sched}-{p}"
            rows.append(gen(cell, scheduler=sched, prompt_id=f"p{p}"))
            scores.append(score(cell, "clip_vit_b_32", base + shift + rng.normal(0, 0.0005)))
    frame = stats.normalise(pd.DataFrame(rows))
    sets = board.image_sets(frame, pd.DataFrame(scores), RUNS, "clip_vit_b_32").set_index("scheduler")
    assert sets.loc["euler", "clip_vit_b_32__lo"] < sets.loc["ddim", "clip_vit_b_32__hi"]  # intervals overlap
    ranks = sets["clip_vit_b_32__rank"].to_dict()
    assert ranks == {"ddim": 1, "dpmpp-2m": 1, "euler": 3}


def test_sets_of_another_prompt_set_are_left_unranked_not_every_set():
    """A data dir holding two suites (the seed prompts beside MLPerf's captions): the sets that
    share prompts are ranked among themselves; the one sharing none gets no rank."""
    import numpy as np

    rng = np.random.default_rng(1)
    rows, scores = [], []
    for sched, shift, prompts in (("ddim", 0.05, "p"), ("euler", 0.0, "p"), ("lms", 0.0, "q")):
        for i in range(12):
            cell = f"{sched}-{i}"
            rows.append(gen(cell, scheduler=sched, prompt_id=f"{prompts}{i}"))
            scores.append(score(cell, "clip_vit_b_32", 0.3 + shift + rng.normal(0, 0.001)))
    frame = stats.normalise(pd.DataFrame(rows))
    ranks = board.image_sets(frame, pd.DataFrame(scores), RUNS, "clip_vit_b_32").set_index("scheduler")
    ranks = ranks["clip_vit_b_32__rank"]
    assert (ranks["ddim"], ranks["euler"]) == (1, 2) and pd.isna(ranks["lms"])


def test_the_fastest_backend_brings_its_p50_speed_up_parity_and_memory():
    rows, scores = [], []
    for seed in range(3):
        for backend, latency, peak in (("pytorch", 2.0, 900.0), ("onnxruntime", 0.5, 1200.0)):
            cell = f"{backend}-{seed}"
            rows.append(gen(cell, backend=backend, seed=seed, latency_s=latency, peak_mem_mb=peak))
            scores.append(score(cell, "clip_vit_b_32", 0.3))
            if backend == "onnxruntime":
                scores.append(score(cell, "psnr_db_vs_pytorch", 40.0 + seed))
    frame = stats.normalise(pd.DataFrame(rows))
    (row,) = board.image_sets(frame, pd.DataFrame(scores), RUNS, "clip_vit_b_32").to_dict("records")
    assert row["fastest"] == "onnxruntime" and row["fastest__p50"] == 0.5 and row["fastest__peak"] == 1200.0
    assert row["fastest__speedup"] == pytest.approx(4.0)  # eager's 2 s over its 0.5 s
    assert row["fastest__psnr"] == 40.0  # the worst of its twins


def test_head_to_head_gives_a_known_paired_difference_and_win_rate():
    """b is a + 0.05 on every (prompt, seed) pair, under a prompt effect far larger: the paired
    difference is exactly -0.05 with a tight interval, and b wins every prompt."""
    rows, scores = [], []
    for p in range(8):
        for seed in range(2):
            base = 0.2 + 0.03 * (p % 4)  # the prompt effect both share
            for sched, shift in (("ddim", 0.0), ("euler", 0.05)):
                cell = f"{sched}-{p}-{seed}"
                rows.append(gen(cell, scheduler=sched, prompt_id=f"p{p}", seed=seed))
                scores.append(score(cell, "clip_vit_b_32", base + shift + 0.001 * seed))
    frame = stats.normalise(pd.DataFrame(rows))
    pairs = board.head_to_head(frame, pd.DataFrame(scores))["clip_vit_b_32"]
    mean, lo, hi, p, win, prompts = pairs["sd15--ddim~sd15--euler"]
    assert mean == pytest.approx(-0.05) and lo == pytest.approx(-0.05) and hi == pytest.approx(-0.05)
    assert p < 0.05 and win == 0.0 and prompts == 8
    images = board.h2h_images(frame, pd.DataFrame(scores), "clip_vit_b_32")
    assert images["sd15--ddim"]["p3"] == "ddim-3-0.png"  # the first seed's picture, per prompt


def test_a_row_fits_the_memory_budgets_its_least_hungry_backend_peaked_within():
    rows = []
    for model, peaks in (("sd15", (9000.0, 7000.0)), ("sdxl", (20000.0, 13000.0)), ("big", (30000.0, 26000.0))):
        for seed in range(2):
            for backend, peak in zip(("pytorch", "onnxruntime"), peaks):
                rows.append(gen(f"{model}-{backend}-{seed}", model=model, backend=backend, seed=seed,
                                peak_mem_mb=peak, hub_id=f"stabilityai/{model}"))  # fmt: skip
    frame = stats.normalise(pd.DataFrame(rows))
    scores = pd.DataFrame([score(r["cell_id"], "clip_vit_b_32", 0.3) for r in rows])
    sets = board.image_sets(frame, scores, RUNS, "clip_vit_b_32").set_index("model")
    assert sets["fits_gb"].to_dict() == {"sd15": "8 12 24", "sdxl": "24", "big": ""}  # 8 GB: 8192 MB
    assert set(sets["organisation"]) == {"stabilityai"}
    assert sets.loc["sd15", "licence"] == "creativeml-openrail-m"  # the registry's, by the model's key
