"""Set metrics (FID, KID): one row per image set in their own table, scored again only when the set
changed, against the metric's pinned statistics or a suite's own file made by `bench fid-stats`;
and the MLPerf suite's dry runs name the network and statistics with their pins."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from bench import fid, set_scoring, store
from bench.cli import main
from bench.config import Suite, load_suite
from bench.errors import ConfigError, WeightsError
from bench.files import sha256_file
from bench.metrics import METRICS, Weights
from bench.weights import digest, pickles

PROMPTS = [{"id": "cube", "text": "a red cube"}]


def pictures(folder, count: int, seed: int, side: int = 64) -> list:
    """Seeded smooth pictures saved as PNG in `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        small = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
        paths.append(folder / f"{seed}-{i}.png")
        Image.fromarray(small).resize((side, side), Image.BILINEAR).save(paths[-1])
    return paths


def generation(images_dir, path, model="tiny-sd", steps=2, cell=None) -> dict:
    """A generations row of an `ok` image already on disk (what a sweep writes, less timings)."""
    return {
        "run_id": "r",
        "cell_id": cell or path.stem,
        "prompt_id": path.stem,
        "prompt": "a red cube",
        "model": model,
        "backend": "pytorch",
        "dtype": "float32",
        "scheduler": "euler",
        "steps": steps,
        "guidance_scale": 7.5,
        "width": 64,
        "height": 64,
        "seed": 0,
        "status": "ok",
        "image_path": str(path.relative_to(images_dir)),
        "created_at": datetime.now(UTC),
    }


@pytest.fixture
def two_sets(tmp_path):
    """A data dir with two image sets of tiny-sd (2 and 3 steps), 3 and 4 images."""
    images, data = tmp_path / "images", tmp_path / "data"
    rows = [generation(images, p, steps=2) for p in pictures(images / "a", 3, seed=1)]
    rows += [generation(images, p, steps=3) for p in pictures(images / "b", 4, seed=2)]
    store.append(data, "generations", rows)
    return data, images


@pytest.mark.slow
def test_each_set_gets_one_row_per_metric_and_only_a_changed_set_is_scored_again(two_sets, tmp_path):
    data, images = two_sets
    metrics = ["fid_tiny", "kid_tiny", "clip_tiny"]  # a per-image metric here is not a set's
    assert set_scoring.score_sets(data, images, metrics, protocol_images=4) == 4
    rows = store.read(data, "set_scores")
    by_steps = rows.set_index(["steps", "metric"])
    assert by_steps.loc[(2, "fid_tiny"), "n_images"] == 3 and by_steps.loc[(3, "kid_tiny"), "n_images"] == 4
    # fewer than the protocol's 4 images: indicative; 4: not
    assert bool(by_steps.loc[(2, "fid_tiny"), "indicative"]) and not by_steps.loc[(3, "fid_tiny"), "indicative"]
    assert rows["set_key"].nunique() == 2 and (rows["value"] > 0).all()
    assert rows.query("metric == 'kid_tiny'")["value_std"].notna().all()
    assert set_scoring.score_sets(data, images, metrics) == 0  # nothing changed
    # one more image in the 2-step set: that set alone is scored again, and its new row wins
    more = pictures(images / "a", 4, seed=1)[3:]
    store.append(data, "generations", [generation(images, p, steps=2) for p in more])
    assert set_scoring.score_sets(data, images, metrics) == 2
    again = store.read(data, "set_scores").set_index(["steps", "metric"])
    assert len(again) == 4 and again.loc[(2, "fid_tiny"), "n_images"] == 4
    assert again.loc[(3, "fid_tiny"), "created_at"] == by_steps.loc[(3, "fid_tiny"), "created_at"]


@pytest.mark.slow
def test_fid_stats_of_a_folder_are_pytorch_fids_statistics_and_a_suite_scores_against_them(two_sets, tmp_path, capsys):
    from pytorch_fid.fid_score import calculate_activation_statistics

    from bench.scorers.fid import load_network

    data, images = two_sets
    folder = tmp_path / "reference"
    files = pictures(folder, 5, seed=9)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "stats.npz"
    assert main(["fid-stats", str(folder), "--out", str(out), "--metric", "fid_tiny"]) == 0
    assert "statistics of 5 images" in capsys.readouterr().err
    ours = fid.load_reference(out)
    # the independent route: pytorch-fid's own statistics of the same files on the same network
    model, _, _ = load_network(METRICS["fid_tiny"].weights[0], 192, "cpu")
    mu, sigma = calculate_activation_statistics([str(f) for f in files], model, batch_size=2, dims=192, num_workers=0)
    np.testing.assert_allclose(ours.mu, mu, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.sigma, sigma, rtol=1e-4, atol=1e-7)
    assert ours.features.shape == (5, 192)

    # a suite names the file; its rows record its hash, and a set of those very images is at ~0
    suite = Suite(
        name="t", models=["tiny-sd"], prompts=PROMPTS, metrics=["fid_tiny", "kid_tiny"], fid_reference=str(out)
    )
    same = tmp_path / "same-images"
    shutil.copytree(folder, same / "ref")
    store.append(
        data, "generations", [generation(same, p, model="tiny-sdxl-base") for p in sorted((same / "ref").glob("*.png"))]
    )
    set_scoring.score_sets(data, same, suite.metrics, cell_ids={f.stem for f in files}, reference=suite.fid_reference)
    rows = store.read(data, "set_scores").set_index("metric")
    assert set(rows["reference_sha256"]) == {sha256_file(out)}
    assert rows.loc["fid_tiny", "value"] == pytest.approx(0.0, abs=1e-3)
    assert rows.loc["fid_tiny", "n_images"] == 5


def test_a_suites_reference_file_is_checked_when_the_suite_loads(tmp_path):
    ref = fid.make_reference(np.random.default_rng(0).normal(size=(4, 192)))
    with_features, without = tmp_path / "with.npz", tmp_path / "without.npz"
    fid.save_reference(with_features, ref)
    fid.save_reference(without, fid.Reference(ref.mu, ref.sigma))
    base = dict(name="t", models=["tiny-sd"], prompts=PROMPTS)
    assert Suite(**base, metrics=["fid_tiny", "kid_tiny"], fid_reference=str(with_features)).fid_reference
    with pytest.raises(ConfigError, match="holds mu and sigma only"):
        Suite(**base, metrics=["kid_tiny"], fid_reference=str(without))
    with pytest.raises(ConfigError, match="fid_reference: no set metric"):
        Suite(**base, metrics=["clip_tiny"], fid_reference=str(with_features))
    with pytest.raises(ConfigError, match="no such file"):
        Suite(**base, metrics=["fid_tiny"], fid_reference=str(tmp_path / "gone.npz"))
    # MLPerf's val2014.npz has no features: KID against it is refused before anything runs
    with pytest.raises(ConfigError, match="'kid' needs the reference images' features"):
        Suite(**base, metrics=["fid", "kid"])
    # in a suite file, the path is relative to the file
    (tmp_path / "s.toml").write_text(
        'models = ["tiny-sd"]\nmetrics = ["fid_tiny"]\nfid_reference = "with.npz"\n'
        '[[prompts]]\nid = "cube"\ntext = "a red cube"\n'
    )
    assert load_suite(str(tmp_path / "s.toml")).fid_reference == str(tmp_path / "with.npz")


def test_a_git_blob_id_is_what_git_hash_object_says(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello\n\0binary" * 1000)
    if shutil.which("git"):
        expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout
        assert digest.git_blob_id(path) == expected.strip()
    # and the empty blob every git knows
    (tmp_path / "empty").write_bytes(b"")
    assert digest.git_blob_id(tmp_path / "empty") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_a_file_pinned_by_git_blob_is_kept_only_with_that_id(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    content = b"mu and sigma"
    blob = "b" * 40
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    weights = Weights("stats", ("x.npz",), urls=("https://example.invalid/x.npz",), git_blob=digest.git_blob_id(path))
    cached = pickles.url_path(weights)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(content)
    assert pickles.url_file(weights) == cached  # offline, from the cache: its blob id matches
    other = Weights("stats", ("x.npz",), urls=weights.urls, git_blob=blob)
    pickles.url_path(other).parent.mkdir(parents=True, exist_ok=True)
    pickles.url_path(other).write_bytes(content)
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE"):
        pickles.url_file(other)  # not the pinned file: dropped, and offline nothing replaces it
    assert not pickles.url_path(other).exists()


def test_the_mlperf_dry_runs_name_the_inception_weights_and_val2014_with_their_pins(tmp_path, capsys):
    assert main(["fetch", "--suite", "mlperf-sdxl", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "stabilityai/stable-diffusion-xl-base-1.0 @ " in out
    assert "timm/vit_base_patch32_clip_224.openai @ a6f597a30f7b82c51704746581f9a4e41421e878" in out
    assert "pt_inception-2015-12-05-6726825d.pth" in out and "sha256 pinned: 6726825d0af5f729" in out
    assert "val2014.npz" in out and "git blob pinned: 806479d0693a33110526b6689aa26baddd995c7b" in out
    assert "total: 4 downloads" in out

    assert main(["run", "--suite", "mlperf-sdxl", "--dry-run", "--data-dir", str(tmp_path)]) == 4  # offline
    out, err = capsys.readouterr()
    err = " ".join(err.split())
    assert "suite mlperf-sdxl: 5000 cells, 5000 to do" in err
    assert "latents: mlperf-sdxl" in err and "one latent for every prompt" in err
    assert (
        "set metric fid: once per image set, on pytorch-fid-inception pt_inception-2015-12-05-6726825d.pth (sha256 6726825d0af5"
        in err
    )
    assert "against mlperf-coco-val2014-stats val2014.npz (git blob 806479d0693a33110526b6689aa26baddd995c7b)" in err
    assert "fewer than 5,000 images per set are marked indicative" in err
    assert "weights missing for 1 model(s): sdxl; and 2 metric(s): clip_vit_b_32, fid" in err
