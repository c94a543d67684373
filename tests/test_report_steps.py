"""Paired comparisons and the knee of quality against steps, on synthetic scores whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.report import paired as pairing
from bench.report import steps


def pairs(n_prompts: int, seeds: int, shift: float, noise: float, rng) -> pd.DataFrame:
    """Two configurations on the same (prompt, seed) pairs: a prompt effect both share, and
    independent noise per image; a = b + shift."""
    prompt_effect = rng.normal(0, 1.0, n_prompts)  # large, and cancelled by pairing
    rows = []
    for p in range(n_prompts):
        for s in range(seeds):
            base = prompt_effect[p]
            rows.append({"prompt_id": f"p{p}", "seed": s, "a": base + shift + rng.normal(0, noise), "b": base})
    return pd.DataFrame(rows)


def test_identical_configurations_tie():
    rng = np.random.default_rng(1)
    same = pairs(40, 4, 0.0, 0.0, rng)
    result = pairing.paired(same)
    assert result.mean == 0 and result.lo <= 0 <= result.hi and not result.significant
    assert result.win_rate == 0.5 and result.by == "prompt" and result.n_pairs == 160


def test_a_shift_of_three_standard_errors_is_told_apart_and_half_of_one_is_not():
    rng = np.random.default_rng(2)
    n, noise = 50, 0.1
    standard_error = noise / np.sqrt(n)  # one seed per prompt: the difference's standard error
    far = pairing.paired(pairs(n, 1, 3 * standard_error, noise, rng))
    assert far.significant and far.lo > 0 and far.p < 0.05
    near = pairing.paired(pairs(n, 1, 0.5 * standard_error, noise, rng))
    assert not near.significant
    # the same shift, unpaired, is lost in the prompt effect (sd 1.0 against 0.04)
    loose = pairs(n, 1, 3 * standard_error, noise, rng)
    half = 1.96 * np.sqrt(loose["a"].var() / n + loose["b"].var() / n)
    assert abs(loose["a"].mean() - loose["b"].mean()) < half


def test_a_few_prompts_resample_the_pairs_and_say_so():
    result = pairing.paired(pairs(2, 4, 0.5, 0.1, np.random.default_rng(3)))
    assert result.by == "pair" and result.n_prompts == 2 and result.significant


def test_holm_adjusts_in_the_order_given():
    assert pairing.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert pairing.holm([0.5]) == [0.5] and pairing.holm([0.9, 0.6]) == [1.0, 1.0]  # 2 x 0.6, capped


def synthetic_steps(quality: dict[int, float], noise: float = 0.002, prompts: int = 30, seeds: int = 4):
    """Images of one model x scheduler at several step counts: quality(steps) plus a per-(prompt,
    seed) effect every step count shares (the same starting noise) and an image's own noise. Each
    step count gets the same own-noise values, shifted to other prompts, so that two step counts'
    mean difference is exactly their quality gap while each prompt's difference still varies."""
    rng = np.random.default_rng(4)
    shared = rng.normal(0, 0.05, (prompts, seeds))
    own = rng.normal(0, noise, (prompts, seeds))
    rows = []
    for i, (s, q) in enumerate(quality.items()):
        jitter = np.roll(own, i, axis=0)
        for p in range(prompts):
            for seed in range(seeds):
                rows.append(
                    {
                        "model": "sd15", "scheduler": "euler", "backend": "pytorch", "guidance_scale": 7.5,
                        "steps": s, "prompt_id": f"p{p}", "seed": seed, "warm": True,
                        "value": q + shared[p, seed] + jitter[p, seed], "latency_s": 0.05 * s,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_the_knee_is_the_fewest_steps_within_noise_of_the_best():
    # 30 steps are as good as 50 (only the images' own noise differs), 20 steps are 0.05 worse:
    # 20 standard errors of the paired difference
    images = synthetic_steps({10: 0.20, 20: 0.25, 30: 0.30, 50: 0.30})
    (knee,) = steps.knees(images).to_dict("records")
    assert (knee["best_steps"], knee["knee_steps"]) == (50, 30)
    assert knee["diff_lo"] <= 0 <= knee["diff_hi"]
    # sd15's card says 50 steps: the knee saves 20 steps' latency per image
    assert (knee["default_steps"], knee["saved_s"]) == (50, pytest.approx(0.05 * 20))
    assert knee["steps_run"] == "10, 20, 30, 50"


def test_a_scheduler_still_improving_has_its_knee_at_its_best_and_saves_nothing():
    images = synthetic_steps({10: 0.10, 20: 0.20, 30: 0.30})
    (knee,) = steps.knees(images).to_dict("records")
    assert knee["knee_steps"] == knee["best_steps"] == 30 and knee["saved_s"] == pytest.approx(0.0)
    # the default is the most steps run when the card's 50 were not
    assert knee["default_steps"] == 30


def test_lower_is_better_metrics_find_their_knee_too():
    images = synthetic_steps({10: 0.9, 20: 0.70, 30: 0.70})
    (knee,) = steps.knees(images, higher_is_better=False).to_dict("records")
    assert knee["knee_steps"] == 20  # as good as 30 (whichever of the two is best by a hair); 10 far worse


def test_curves_give_a_mean_and_interval_per_step_count():
    images = synthetic_steps({10: 0.2, 20: 0.3}, prompts=3, seeds=2)
    table = steps.curves(images).set_index("steps")
    assert table.loc[10, "n"] == 6 and table.loc[20, "mean"] == pytest.approx(0.3, abs=0.05)
    assert table.loc[10, "lo"] < table.loc[10, "mean"] < table.loc[10, "hi"]
    assert table.loc[20, "latency_p50_s"] == pytest.approx(1.0)


def as_frame_and_scores(images: pd.DataFrame, metric: str = "clip_vit_b_32"):
    frame = images.assign(
        cell_id=[f"c{i}" for i in range(len(images))], status="ok", family="sd", image_path="x.png"
    ).drop(columns="value")
    scores = pd.DataFrame({"cell_id": frame["cell_id"], "metric": metric, "value": images["value"].to_numpy()})
    return frame, scores


def test_the_steps_page_draws_each_model_and_lists_its_knees_and_the_frontier():
    from bench.report.sections.common import Scale
    from bench.report.sections.steps import steps_page

    images = synthetic_steps({10: 0.20, 20: 0.25, 30: 0.30, 50: 0.30}, prompts=6, seeds=2)
    hostile = images.assign(scheduler='<img src=x onerror="alert(1)">', model="sd21", value=images["value"] - 0.01)
    frame, scores = as_frame_and_scores(pd.concat([images, hostile], ignore_index=True))
    html = steps_page(frame, scores, "clip_vit_b_32", Scale("raw", "CLIP"), "../")
    assert html.count('class="bench-vega"') == 4  # per model: quality and latency against steps
    assert "Knee" in html and "The frontier" in html and "vega-embed.min.js" in html
    assert "<img src=x" not in html  # a scheduler's name is text, in the tables and in the charts' JSON
    single = frame[frame["steps"].eq(50)]
    assert "No model ran more than one step count" in steps_page(
        single, scores, "clip_vit_b_32", Scale("raw", "CLIP"), "../"
    )


@pytest.mark.slow
def test_the_steps_tiny_suite_runs_offline_and_its_site_has_a_knee_table(tmp_path):
    """Issue 25's done-when, end to end: the shipped tiny twin sweeps its steps axis offline, and
    the site built from its data opens the Steps page with a knee table per model."""
    from report_fixtures import Tables, copy_site_sources, mkdocs_build, page

    from bench import store
    from bench.cli import main
    from bench.config import load_suite

    root = copy_site_sources(tmp_path)
    argv = ["run", "--suite", "steps-tiny", "--data-dir", str(root / "data"), "--images-dir", str(root / "images")]
    assert main(argv) == 0
    suite = load_suite("steps-tiny")
    gen = store.read(root / "data", "generations")
    per_steps = len(suite.models) * len(suite.schedulers) * len(suite.prompts) * len(suite.seeds)
    assert gen.groupby("steps").size().to_dict() == {2: per_steps, 4: per_steps}
    assert (gen["status"] == "ok").all()

    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = page(root, "steps/index.html")
    knees = [t for t in Tables(html).tables if t and "Knee" in t[0]]
    assert len(knees) == len(suite.models)  # one knee table per model
    for header, *rows in knees:
        assert {dict(zip(header, r))["Scheduler"] for r in rows} == set(suite.schedulers)
        assert {dict(zip(header, r))["Steps run"] for r in rows} == {"2, 4"}
    # the leaderboard shows one setting per model x scheduler (4 steps, the most run), and says so
    board = page(root, "index.html")
    assert "Steps and guidance" in board and "tiny-sd / euler at 4 steps, guidance 7.5" in board


def test_the_board_keeps_one_setting_per_model_and_scheduler_and_says_which():
    from bench.report.data import board_view

    rows = [
        {"model": model, "scheduler": sched, "steps": steps, "guidance_scale": cfg, "prompt_id": "p", "seed": 0}
        for model, sched, steps, cfg in [
            ("sd15", "ddim", 20, 7.5), ("sd15", "ddim", 50, 7.5), ("sd15", "ddim", 80, 7.5),  # card: 50, 7.5
            ("tiny-sd", "euler", 2, 7.5), ("tiny-sd", "euler", 4, 7.5), ("tiny-sd", "euler", 4, 3.0),
            ("sd21", "euler", 30, 7.5),  # one setting: kept as it is
            ("biggan-deep-128", None, None, None),
        ]
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    kept, note = board_view(frame)
    got = {(r.model, r.scheduler): (r.steps, r.guidance_scale) for r in kept.itertuples()}
    assert len(kept) == 4 and got[("sd15", "ddim")] == (50, 7.5)  # the card's, not the most steps
    assert got[("tiny-sd", "euler")] == (4, 7.5) and got[("sd21", "euler")] == (30, 7.5)
    assert kept["model"].eq("biggan-deep-128").sum() == 1  # no scheduler, no steps: kept
    assert "sd15 / ddim at 50 steps, guidance 7.5" in note and "tiny-sd / euler at 4 steps" in note
    assert "sd21" not in note and "Steps page" in note
    # one setting everywhere: the frame comes back as it was, with no note
    same, none = board_view(frame.iloc[[0, 6, 7]])
    assert same.equals(frame.iloc[[0, 6, 7]]) and none == ""
