"""The Published tables page: each image set against MLPerf's SDXL bounds, checked as MLPerf's
result checker checks them, indicative below 5,000 images, and a demo for the tiny twins."""

from __future__ import annotations

import pandas as pd

from bench.report.sections import published

SET = {"model": "sdxl", "backend": "pytorch", "scheduler": "euler", "steps": 20, "guidance_scale": 8.0,
       "width": 1024, "height": 1024}  # fmt: skip


def frames(clip_cosines, fid_value, n_images, clip="clip_vit_b_32", fid="fid"):
    generations = pd.DataFrame([{**SET, "cell_id": f"c{i}", "status": "ok"} for i in range(len(clip_cosines))])
    # an image of another set, whose CLIP must not enter this set's mean
    generations.loc[len(generations)] = {**SET, "steps": 30, "cell_id": "other", "status": "ok"}
    scores = pd.DataFrame(
        [{"cell_id": f"c{i}", "metric": clip, "value": v} for i, v in enumerate(clip_cosines)]
        + [{"cell_id": "other", "metric": clip, "value": 0.9}]
    )
    set_scores = pd.DataFrame([{**SET, "metric": fid, "value": fid_value, "n_images": n_images}])
    return generations, scores, set_scores


def test_a_full_set_within_both_bounds_is_valid_and_clip_is_shown_x100():
    (row,) = published.mlperf_rows(*frames([0.3170, 0.3180], 23.5, 5000))
    assert row["clip_x100"] == 31.75  # the mean of 31.70 and 31.80; the other set's 0.9 left out
    assert (row["clip_verdict"], row["fid_verdict"], row["status"]) == ("within", "within", "full protocol")


def test_outside_either_bound_is_said_and_a_sample_is_indicative():
    (row,) = published.mlperf_rows(*frames([0.3160], 23.96, 100))
    assert (row["clip_verdict"], row["fid_verdict"], row["status"]) == ("outside", "outside", "indicative")
    # the bounds themselves are within, as MLPerf's checker takes them
    assert published.verdict(published.FID_BOUNDS[0], published.FID_BOUNDS) == "within"


def test_the_tiny_twins_are_a_demo_and_the_page_names_the_bounds():
    g, s, ss = frames([0.1], 300.0, 4, clip="clip_tiny", fid="fid_tiny")
    (row,) = published.mlperf_rows(g, s, ss)
    assert row["status"] == "demo (tiny random weights); indicative" and row["fid_verdict"] == "outside"
    html = published.published_page(g, s, ss)
    assert "31.68632 ≤ CLIP ×100 ≤ 31.81332" in html and "23.01086 ≤ FID ≤ 23.95008" in html and "demo" in html
    empty = published.published_page(g, s, ss.iloc[0:0])
    assert "No image set has an FID yet" in empty
