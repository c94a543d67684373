"""The report's aggregation (bench.report.stats) on small hand-made frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench import store
from bench.report import board, stats


def gen_rows(**overrides) -> dict:
    row = {
        "cell_id": "c0", "prompt_id": "p", "prompt": "a prompt", "model": "sd15", "family": "sd",
        "backend": "pytorch", "provider": "cuda", "scheduler": "ddim", "seed": 0, "status": "ok",
        "image_path": "x.png", "load_s": 5.0, "export_s": None, "latency_s": 1.0, "step_ms_p50": 30.0,
        "peak_mem_mb": 1000.0, "warm": True, "created_at": pd.Timestamp("2026-11-25", tz="UTC"),
    }  # fmt: skip
    row.update(overrides)
    return row


def frame_of(rows: list[dict], clips: list[float | None]) -> pd.DataFrame:
    gens = pd.DataFrame(rows)
    scores = pd.DataFrame(
        [
            {"cell_id": r["cell_id"], "metric": "clip_vit_b_32", "value": c, "truncated_tokens": 0}
            for r, c in zip(rows, clips)
            if c is not None
        ],
        columns=["cell_id", "metric", "value", "truncated_tokens"],
    )
    return stats.with_scores(gens, scores, "clip_vit_b_32")


def test_t975_matches_the_tables_and_the_normal_limit():
    assert stats.t975(1) == pytest.approx(12.706, abs=1e-3)
    assert stats.t975(10) == pytest.approx(2.228, abs=1e-3)
    assert stats.t975(30) == pytest.approx(2.042, abs=1e-3)
    assert stats.t975(60) == pytest.approx(2.000, abs=1e-3)  # printed tables: 2.000
    assert stats.t975(120) == pytest.approx(1.980, abs=1e-3)
    assert stats.t975(10**6) == pytest.approx(1.95996, abs=1e-4)
    assert math.isnan(stats.t975(0))


def test_t975_agrees_with_scipy_where_available():
    scipy_stats = pytest.importorskip("scipy.stats")
    for dof in [1, 2, 3, 5, 9, 17, 29, 30, 31, 45, 80, 250, 5000]:
        assert stats.t975(dof) == pytest.approx(scipy_stats.t.ppf(0.975, dof), abs=2e-4), dof


def test_mean_ci95_by_hand():
    mean, lo, hi = stats.mean_ci95([1.0, 2.0, 3.0, 4.0])
    half = 3.1824 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3) * s / sqrt(4)
    assert (mean, lo, hi) == pytest.approx((2.5, 2.5 - half, 2.5 + half))
    assert stats.mean_ci95([0.3])[0] == 0.3 and math.isnan(stats.mean_ci95([0.3])[1])
    assert all(math.isnan(v) for v in stats.mean_ci95([]))


def test_summarize_counts_failures_and_uses_only_warm_ok_rows_for_speed():
    rows = [
        gen_rows(cell_id="a", seed=0, latency_s=50.0, warm=False),  # cold: quality yes, speed no
        gen_rows(cell_id="b", seed=1, latency_s=1.0),
        gen_rows(cell_id="c", seed=2, latency_s=3.0),
        gen_rows(cell_id="d", seed=3, status="failed", image_path=None, latency_s=None),
        gen_rows(cell_id="e", seed=4, status="nsfw", latency_s=99.0),
    ]
    board = stats.summarize(frame_of(rows, [0.30, 0.32, 0.34, None, 0.9]))
    r = board.iloc[0]
    assert (r["n_images"], r["n_failed"], r["clip_n"], r["n_timed"]) == (3, 2, 3, 2)
    assert r["clip_mean"] == pytest.approx(0.32)  # the nsfw image's score is not counted
    assert r["clip_best"] == pytest.approx(0.34)
    _, lo, hi = stats.mean_ci95([0.30, 0.32, 0.34])
    assert (r["clip_lo"], r["clip_hi"]) == pytest.approx((lo, hi))
    assert r["latency_p50_s"] == pytest.approx(2.0)
    assert r["latency_p90_s"] == pytest.approx(2.8)  # linear interpolation: 1 + 0.9 * (3 - 1)
    assert r["images_per_s"] == pytest.approx(0.5)  # 2 images in 4 s


def test_null_scheduler_groups_as_its_own_row():
    rows = [gen_rows(cell_id="g", model="biggan-deep-256", family="gan", scheduler=None), gen_rows(cell_id="s")]
    board = stats.leaderboard(frame_of(rows, [0.2, 0.3]))
    assert sorted(board["scheduler"]) == ["", "ddim"]
    assert list(board["model"]) == ["sd15", "biggan-deep-256"]  # best mean CLIP first


def test_pareto_front():
    cost = [1.0, 2.0, 3.0, 2.0, 0.5, np.nan, 3.0]
    quality = [0.30, 0.35, 0.34, 0.20, 0.10, 0.99, 0.40]
    # 0.5/0.10 (cheapest), 1/0.30, 2/0.35, 3/0.40 are on the front; 3/0.34 and 2/0.20 are beaten;
    # the row with no latency is never on it.
    assert stats.pareto_front(cost, quality).tolist() == [True, True, False, False, True, False, True]
    assert stats.pareto_front([], []).tolist() == []


COMPILE_OPTIONS = '{"channels_last": true, "mode": "max-autotune-no-cudagraphs"}'
ORT_OPTIONS = '{"graph": "optimized", "io_binding": true}'


def three_backends() -> tuple[pd.DataFrame, pd.DataFrame]:
    """sd15 x ddim on eager PyTorch (2 s), torch.compile (1 s) and ONNX Runtime (4 s), two warm
    images each after a cold one; eager and compile with energy readings, ORT without (a CPU);
    sd21 on eager PyTorch alone. With parity scores for the compile and ORT images."""

    def rows(backend: str, latency: float, **extra) -> list[dict]:
        return [
            gen_rows(cell_id=f"{backend}{seed}", backend=backend, seed=seed, latency_s=latency, warm=seed > 0, **extra)
            for seed in range(3)
        ]

    gens = [
        *rows("pytorch", 2.0, energy_j=400.0, provider="cuda"),
        *rows("pytorch-compile", 1.0, energy_j=200.0, backend_options=COMPILE_OPTIONS, provider="cuda"),
        *rows("onnxruntime", 4.0, export_s=20.0, backend_options=ORT_OPTIONS, provider="cpu"),
        gen_rows(cell_id="solo", model="sd21", latency_s=5.0),
    ]
    gens[0]["energy_j"] = 9999.0  # the cold call: never in the median
    gens[3]["compile_s"], gens[4]["compile_s"] = 30.0, 50.0  # the calls that compiled a new shape
    gens[5]["energy_j"] = 300.0  # compile's warm readings: 200 and 300
    frame = frame_of(gens, [0.3] * len(gens))
    scores = pd.DataFrame(
        [
            {"cell_id": cell, "metric": metric, "value": value}
            for cell, psnr, diff in [
                ("pytorch-compile0", 48.0, 0.001),
                ("pytorch-compile1", 46.0, 0.004),
                ("onnxruntime1", 40.0, 0.02),
                ("onnxruntime2", 35.0, 0.05),
            ]
            for metric, value in [("psnr_db_vs_pytorch", psnr), ("max_abs_diff_vs_pytorch", diff)]
        ]
    )
    return frame, scores


def test_backend_comparison_has_one_row_per_backend_with_eager_as_the_reference():
    frame, scores = three_backends()
    out = stats.backend_comparison(stats.leaderboard(frame), scores, frame)
    assert out["backend"].tolist() == ["pytorch", "pytorch-compile", "onnxruntime"]  # sd21 ran on eager only
    assert set(out["model"]) == {"sd15"}
    eager, compiled, ort = (r for _, r in out.iterrows())
    assert eager["speedup"] == 1.0  # the reference: 1.00x
    assert compiled["speedup"] == pytest.approx(2.0) and ort["speedup"] == pytest.approx(0.5)  # eager p50 / p50
    assert (compiled["psnr_db_min"], compiled["max_abs_diff_max"]) == (46.0, 0.004)  # each backend's own worst
    assert (ort["psnr_db_min"], ort["max_abs_diff_max"]) == (35.0, 0.05)
    assert math.isnan(eager["psnr_db_min"]) and math.isnan(eager["max_abs_diff_max"])  # no parity with itself
    assert (compiled["one_off_s"], compiled["one_off_kind"]) == (40.0, "compile")  # median of 30 and 50
    assert (ort["one_off_s"], ort["one_off_kind"]) == (20.0, "export")
    assert math.isnan(eager["one_off_s"]) and eager["one_off_kind"] == ""
    assert (eager["provider"], ort["provider"]) == ("cuda", "cpu")
    assert compiled["options"] == "max-autotune-no-cudagraphs, channels_last"
    assert ort["options"] == "graph optimized, IO binding" and eager["options"] == ""


def test_backend_comparison_energy_is_a_median_over_warm_images_and_missing_stays_missing():
    frame, scores = three_backends()
    out = stats.backend_comparison(stats.leaderboard(frame), scores, frame).set_index("backend")
    assert out.loc["pytorch", "energy_j"] == 400.0  # the cold call's 9999 J is left out
    assert out.loc["pytorch-compile", "energy_j"] == pytest.approx(250.0)  # median of 200 and 300
    assert out.loc["pytorch", "images_per_kwh"] == pytest.approx(3.6e6 / 400.0)
    assert out.loc["pytorch-compile", "images_per_kwh"] == pytest.approx(3.6e6 / 250.0)
    # No reading (a CPU run) is NaN, which the page prints as a dash: never 0 J, never infinitely many images.
    assert math.isnan(out.loc["onnxruntime", "energy_j"]) and math.isnan(out.loc["onnxruntime", "images_per_kwh"])


def test_backend_comparison_without_the_new_columns_or_another_backend():
    rows = [gen_rows(cell_id="a"), gen_rows(cell_id="b", backend="onnxruntime", export_s=3.0)]
    frame = frame_of(rows, [0.3, 0.3])  # a frame from before backend_options, compile_s and energy_j
    out = stats.backend_comparison(
        stats.leaderboard(frame), pd.DataFrame(columns=["cell_id", "metric", "value"]), frame
    )
    assert out["backend"].tolist() == ["pytorch", "onnxruntime"]
    assert out["energy_j"].isna().all() and out["psnr_db_min"].isna().all() and out["options"].tolist() == ["", ""]
    alone = frame_of([gen_rows(cell_id="a")], [0.3])
    assert stats.backend_comparison(
        stats.leaderboard(alone), pd.DataFrame(columns=["cell_id", "metric", "value"]), alone
    ).empty


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ('{"channels_last": true, "mode": "max-autotune-no-cudagraphs"}', "max-autotune-no-cudagraphs, channels_last"),
        ('{"graph": "optimized", "io_binding": true}', "graph optimized, IO binding"),
        ('{"graph": "plain", "io_binding": false}', ""),  # the defaults say nothing
        ('{"graph": "plain", "io_binding": {"text_encoder": false, "unet": true}}', "IO binding (unet)"),
        ('{"channels_last": true, "fused_qkv": true}', "channels_last, fused QKV"),
        ('{"fused_qkv": true, "lora_fused": true}', "fused QKV, LoRA merged"),
        ('{"threads": 4}', "threads 4"),
        (None, ""),
        ("<b>not json</b>", "<b>not json</b>"),  # data, shown as it is (and escaped by the table)
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_options_text(raw, text):
    assert stats.options_text(raw) == text


def test_best_image_is_highest_clip_then_lowest_seed():
    rows = [
        gen_rows(cell_id="a", seed=2, image_path="a.png"),
        gen_rows(cell_id="b", seed=1, image_path="b.png"),
        gen_rows(cell_id="c", seed=0, image_path="c.png"),
        gen_rows(cell_id="d", seed=3, image_path="d.png", status="failed"),
    ]
    best = stats.best_images(frame_of(rows, [0.35, 0.35, 0.30, 0.99]))
    assert best["image_path"].tolist() == ["b.png"]


def test_seed_comparison_matches_prompt_model_and_scheduler():
    reference = pd.DataFrame(
        {
            "prompt_id": ["p", "p"],
            "model": ["sd15", "dalle3-xl"],
            "scheduler": ["ddim", None],
            "clip_raw_cosine": [0.40, 0.38],
        }
    )
    rows = [gen_rows(cell_id="a"), gen_rows(cell_id="b", seed=1), gen_rows(cell_id="o", backend="onnxruntime")]
    out = stats.seed_comparison(reference, frame_of(rows, [0.30, 0.34, 0.99]))
    sd15 = out[out["model"] == "sd15"].iloc[0]
    assert (sd15["ours_mean"], sd15["ours_best"], sd15["ours_n"]) == pytest.approx((0.32, 0.34, 2))
    # t(1 df) x sd / sqrt(2): two images give a wide interval, and the table says so
    assert sd15["ours_half_width"] == pytest.approx(12.706 * np.std([0.30, 0.34], ddof=1) / np.sqrt(2), abs=1e-3)
    assert out[out["model"] == "dalle3-xl"].iloc[0]["ours_n"] == 0


def test_a_seed_row_without_a_scheduler_is_set_against_the_cards_scheduler_where_it_ran():
    reference = pd.DataFrame(
        {"prompt_id": ["p"], "model": ["dalle3-xl"], "scheduler": [None], "clip_raw_cosine": [0.38]}
    )
    rows = [
        gen_rows(cell_id="a", model="dalle3-xl", scheduler="euler-a"),  # the author's scheduler
        gen_rows(cell_id="b", model="dalle3-xl", scheduler="euler-a", seed=1),
        gen_rows(cell_id="c", model="dalle3-xl", scheduler="ddim", seed=2),
    ]
    (row,) = stats.seed_comparison(reference, frame_of(rows, [0.30, 0.34, 0.99])).to_dict("records")
    assert (row["ours_scheduler"], row["ours_best"], row["ours_n"]) == ("euler-a", 0.34, 2)
    (row,) = stats.seed_comparison(reference, frame_of(rows[2:], [0.99])).to_dict("records")
    assert (row["ours_scheduler"], row["ours_best"], row["ours_n"]) == ("all", 0.99, 1)  # no euler-a: every one


def test_empty_frames_do_not_crash(tmp_path):
    empty = stats.with_scores(store.read(tmp_path, "generations"), store.read(tmp_path, "scores"), "clip_vit_b_32")
    assert stats.leaderboard(empty).empty
    assert board.prompt_image_sets(empty) == {}
    assert stats.prompt_summary(empty, {}).empty


def test_each_prompt_board_has_one_row_per_image_set_quality_from_eager_and_speed_per_backend():
    """Twins on two backends make one row: quality from eager PyTorch's images only (the ORT
    scores here are deliberately different, so using them would show), p50 per backend, counts
    over both."""
    rows, values = [], []
    for p in "ab":
        for m in ["sd15", "sd21"]:
            for backend, shift in [("pytorch", 0.0), ("onnxruntime", 0.5)]:
                for s in range(3):
                    rows.append(
                        gen_rows(
                            cell_id=f"{p}{m}{backend}{s}",
                            prompt_id=p,
                            model=m,
                            seed=s,
                            backend=backend,
                            latency_s=(1.0 if backend == "pytorch" else 0.5) + s,
                            warm=s > 0,
                        )  # fmt: skip
                    )
                    values.append(0.2 + (0.1 if m == "sd21" else 0.0) + 0.01 * s + shift)
    frame = frame_of(rows, values)
    boards = board.prompt_image_sets(frame)
    assert list(boards) == ["a", "b"]
    a = boards["a"].set_index("model")
    assert list(a.index) == ["sd21", "sd15"]  # best mean first
    assert a.loc["sd15", "clip__mean"] == pytest.approx(0.21) and a.loc["sd21", "clip__mean"] == pytest.approx(0.31)
    assert (a["quality_backend"] == "pytorch").all() and (a["n_images"] == 6).all()
    assert a.loc["sd15", "p50__pytorch"] == pytest.approx(2.5) and a.loc["sd15", "p50__onnxruntime"] == pytest.approx(
        2.0
    )
    assert a["clip__rank"].tolist() == [1.0, 2.0]  # 0.1 apart with intervals of about 0.025
    assert a.loc["sd21", "pareto"] and not a.loc["sd15", "pareto"]  # same speed, better quality
    summary = stats.prompt_summary(frame, boards)
    assert summary["n_images"].tolist() == [12, 12] and summary["best_row"].tolist() == [("sd21", "ddim")] * 2


def test_eager_rows_have_no_one_off_cost_although_the_loader_records_export_s_0():
    """The sweep writes export_s = 0 for every backend's rows (no export); only ONNX Runtime's
    export is a one-off cost."""
    frame, scores = three_backends()
    frame.loc[frame["backend"].ne("onnxruntime"), "export_s"] = 0.0
    frame.loc[frame["backend"].eq("pytorch-compile"), "compile_s"] = np.nan
    out = stats.backend_comparison(stats.leaderboard(frame), scores, frame).set_index("backend")
    assert math.isnan(out.loc["pytorch", "one_off_s"]) and out.loc["pytorch", "one_off_kind"] == ""
    assert math.isnan(out.loc["pytorch-compile", "one_off_s"])
    assert out.loc["onnxruntime", "one_off_kind"] == "export"


def test_a_tensorrt_engine_build_is_named_as_such_not_as_a_compile():
    frame, scores = three_backends()
    frame.loc[frame["cell_id"].eq("onnxruntime1"), "compile_s"] = 240.0  # TensorRT built its engines
    out = stats.backend_comparison(stats.leaderboard(frame), scores, frame).set_index("backend")
    assert out.loc["onnxruntime", "one_off_kind"] == "engine build" and out.loc["onnxruntime", "one_off_s"] == 240.0
    assert out.loc["pytorch-compile", "one_off_kind"] == "compile"


def test_backend_comparison_gives_each_rows_size_and_its_latency_per_megapixel():
    frame, scores = three_backends()
    frame["width"], frame["height"] = 768, 768
    frame.loc[frame["backend"].eq("onnxruntime"), ["width", "height"]] = [512, 512]
    frame.loc[frame["backend"].eq("onnxruntime") & frame["seed"].eq(2), ["width", "height"]] = [640, 896]
    out = stats.backend_comparison(stats.leaderboard(frame), scores, frame).set_index("backend")
    assert out.loc["pytorch", "size"] == "768×768"
    assert out.loc["pytorch", "latency_p50_s_per_mp"] == pytest.approx(out.loc["pytorch", "latency_p50_s"] / 0.589824)
    # a row of two sizes says both, and no per-megapixel figure that would mix them
    assert out.loc["onnxruntime", "size"] == "512×512, 640×896"
    assert math.isnan(out.loc["onnxruntime", "latency_p50_s_per_mp"])
