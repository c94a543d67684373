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


def test_hps_means_per_style_stand_beside_the_published_v2_1_table():
    from bench.report.sections.methodology import read_anchors

    anchors = read_anchors()
    # the shipped anchors carry each style's published mean (the HPSv2 README's v2.1 table)
    dreamlike = published.published_styles(
        anchors.loc[anchors["model"].eq("dreamlike-photoreal-2") & anchors["metric"].eq("hpsv2"), "prompts"].iloc[0]
    )
    assert dreamlike == {"anime": 30.87, "concept-art": 29.75, "paintings": 29.46, "photo": 28.85}
    rows = [
        {"cell_id": f"{style}{i}", "model": "dreamlike-photoreal-2", "backend": "pytorch", "status": "ok", "category": style}
        for style in ("anime", "photo") for i in range(2)
    ] + [{"cell_id": "x", "model": "dreamlike-photoreal-2", "backend": "pytorch", "status": "ok", "category": "people"}]  # fmt: skip
    generations = pd.DataFrame(rows)
    values = {"anime0": 0.31, "anime1": 0.32, "photo0": 0.28, "photo1": 0.28, "x": 0.99}
    scores = pd.DataFrame([{"cell_id": c, "metric": "hpsv2", "value": v} for c, v in values.items()])
    got = {r["style"]: r for r in published.hps_rows(generations, scores, anchors)}
    assert set(got) == {"anime", "photo"}  # a category that is no HPS style is left out
    assert got["anime"]["ours"] == 31.5 and got["anime"]["published"] == 30.87
    assert abs(got["anime"]["diff"] - 0.63) < 1e-9 and got["anime"]["status"] == "indicative"
    assert got["photo"]["half"] == 0.0 and got["photo"]["n"] == 2
    html = published.published_page(generations, scores, pd.DataFrame(), anchors)
    assert "HPS v2.1 benchmark, per style" in html and "30.87" in html
    assert "bench fetch --suite hpdv2" in published.published_page(
        generations, scores.iloc[0:0], pd.DataFrame(), anchors
    )


def test_a_backend_whose_full_set_is_outside_the_bounds_is_marked_invalid_on_the_speed_page():
    from bench.report.sections import speed

    outside = published.mlperf_rows(*frames([0.3160], 23.96, 5000))
    within = published.mlperf_rows(*frames([0.3175], 23.5, 5000))
    comparison = pd.DataFrame(
        [
            {"model": "sdxl", "scheduler": "euler", "backend": b, "latency_p50_s": 1.0}
            for b in ("pytorch", "onnxruntime")
        ]
    )
    bad = speed.with_mlperf(comparison, [{**outside[0], "backend": "onnxruntime"}, *within])
    assert bad["mlperf"].iloc[1].startswith(speed.INVALID) and "FID 23.960 (outside)" in bad["mlperf"].iloc[1]
    assert not bad["mlperf"].iloc[0].startswith("invalid") and "valid (within" in bad["mlperf"].iloc[0]
    html = speed.speed_table(bad)
    cell = '">invalid (outside MLPerf&#x27;s bounds)'  # a cell's text, not the rule below the table
    assert html.count(cell) == 1 and "counts only if its images stay within" in html
    good = speed.speed_table(speed.with_mlperf(comparison, within))
    assert cell not in good and good.count('">valid (within') == 1  # eager's set; the other backend has none
    # no set with an FID: the table stays as it was, without the column or its rule
    assert "MLPerf bounds" not in speed.speed_table(speed.with_mlperf(comparison, []))


def test_an_indicative_or_demo_set_is_labelled_as_such_not_given_a_verdict():
    from bench.report.sections import speed

    (indicative,) = published.mlperf_rows(*frames([0.3160], 23.96, 100))
    (demo,) = published.mlperf_rows(*frames([0.1], 300.0, 4, clip="clip_tiny", fid="fid_tiny"))
    assert speed.mlperf_label(indicative).startswith("indicative, no verdict: CLIP ×100 31.600")
    assert speed.mlperf_label(demo).startswith("demo (tiny random weights); indicative, no verdict")
    assert "invalid" not in speed.mlperf_label(indicative) + speed.mlperf_label(demo)
    assert "outside" not in speed.mlperf_label(indicative) + speed.mlperf_label(demo)


def timed(latencies_by_batch):
    """Warm ok images of SET, made at each batch size with each call's per-image latency_s."""
    rows = [
        {**SET, "cell_id": f"b{batch}-{i}", "status": "ok", "warm": True, "batch_size": batch, "latency_s": s,
         "run_id": "r1"}
        for batch, latencies in latencies_by_batch.items() for i, s in enumerate(latencies)
    ]  # fmt: skip
    # a cold call, never timed: it would make batch 1 the fastest
    rows.append({**SET, "cell_id": "cold", "status": "ok", "warm": False, "batch_size": 1, "latency_s": 0.01})
    return pd.DataFrame(rows)


def test_images_per_second_is_the_best_batch_sizes_median():
    # per image 1/latency_s: batch 1 -> 2.0, 2.5, 1.0 (median 2.0); batch 4 -> 4.0, 5.0 (median 4.5)
    images = timed({1: [0.5, 0.4, 1.0], 4: [0.25, 0.2]})
    assert published.images_per_s(images) == (4.5, 4)
    assert published.images_per_s(images.drop(columns="latency_s")) == (None, None)
    runs = pd.DataFrame([{"run_id": "r1", "gpu_name": "NVIDIA H100 80GB HBM3"}])
    set_scores = pd.DataFrame([{**SET, "metric": "fid", "value": 23.5, "n_images": 5}])
    (row,) = published.mlperf_rows(images, pd.DataFrame(columns=["cell_id", "metric", "value"]), set_scores, runs)
    assert (row["images_per_s"], row["best_batch"], row["gpu"]) == (4.5, 4, "NVIDIA H100 80GB HBM3")


def test_the_shipped_published_results_are_empty_and_the_page_says_none_is_recorded():
    import io

    results = published.read_mlperf_results()
    assert list(results.columns) == published.RESULT_COLUMNS and results.empty  # never an invented figure
    images = timed({2: [0.5]})
    runs = pd.DataFrame([{"run_id": "r1", "gpu_name": "NVIDIA H100 80GB HBM3"}])
    set_scores = pd.DataFrame([{**SET, "metric": "fid", "value": 23.5, "n_images": 1}])
    html = published.published_page(images, pd.DataFrame(columns=["cell_id", "metric", "value"]), set_scores, runs=runs)
    assert "no published result recorded for NVIDIA H100 80GB HBM3" in html and "2.000" in html
    # a sourced row for the same GPU is listed; a row without its source is refused
    header = ",".join(published.RESULT_COLUMNS) + "\n"
    sourced = io.BytesIO(
        (header + "nvidia h100 80gb hbm3,Offline,12.5,Someone,v9.9,https://example.org/r <1>\n").encode()
    )
    got = published.published_page(
        images, pd.DataFrame(columns=["cell_id", "metric", "value"]), set_scores,
        runs=runs, results=published.read_mlperf_results(sourced),
    )  # fmt: skip
    assert "12.50 samples/s, Offline, Someone, v9.9 (https://example.org/r &lt;1&gt;)" in got
    unsourced = io.BytesIO((header + "NVIDIA H100 80GB HBM3,Offline,12.5,Someone,v9.9,\n").encode())
    try:
        published.read_mlperf_results(unsourced)
    except ValueError as e:
        assert "source_url" in str(e)
    else:
        raise AssertionError("a result without its source was read")
