"""One NSFW rule for every model: the safety checker as a metric (bench.scorers.nsfw) against
diffusers' own checker on the same tiny weights, its special-care rule by hand, and scoring that
writes the flag and its margin together for every image."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_fetch import SD_INDEX, cache_repo, hf_cache  # noqa: F401 - hf_cache is a fixture: an HF cache of the test's own

from bench import scoring, store
from bench.metrics import METRICS, written
from bench.scorers.batching import weight_files
from bench.scorers.nsfw import concept_scores
from bench.tiny_scorers import tiny_sd_pictures


@pytest.fixture(scope="module")
def scorer():
    return scoring.make_scorer("nsfw_tiny", device="cpu", batch_size=3, workers=2)


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    """Tiny SD's pictures of six seeds (the tiny checker's thresholds fall between seeds 0 and 1)
    and smooth pictures of several sizes and both orientations."""
    rng = np.random.default_rng(0)
    sizes = [(80, 96), (120, 70), (64, 64), (50, 150)]
    smooth = [
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((w, h), Image.BILINEAR)
        for h, w in sizes
    ]
    return tiny_sd_pictures(tuple(range(6))) + smooth


def test_flags_are_diffusers_own_checker_decisions_on_the_same_weights(scorer, pictures):
    """The independent route: diffusers' StableDiffusionSafetyChecker.forward, loaded from the
    same files and fed the same processor's pixels, as the SD pipeline's run_safety_checker does."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    ours = scorer.score(pictures, [""] * len(pictures))
    (w,) = METRICS["nsfw_tiny"].weights
    folder = weight_files(w)["config.json"].parent
    checker = StableDiffusionSafetyChecker.from_pretrained(folder, use_safetensors=True).eval()
    clip_input = CLIPImageProcessor.from_pretrained(folder)(pictures, return_tensors="pt").pixel_values
    blank = [np.ones((4, 4, 3)) for _ in pictures]
    blanked, has_nsfw_concepts = checker(clip_input=clip_input, images=blank)

    flags = [flag == 1.0 for flag, _ in ours]
    assert flags == has_nsfw_concepts
    assert 0 < sum(flags) < len(flags)  # both outcomes ran
    assert [margin > 0 for _, margin in ours] == flags  # the margin is above 0 exactly where it flags
    assert [not b.any() for b in blanked] == flags  # what a pipeline would have blanked, we only flag
    assert all(v in (0.0, 1.0) for v, _ in ours)


def test_the_tiny_checker_flags_one_tiny_suite_seed_and_not_the_other(scorer):
    seed0, seed1 = scorer.score(tiny_sd_pictures((0, 1)), ["", ""])
    assert {seed0[0], seed1[0]} == {0.0, 1.0}


def test_a_special_care_match_lowers_every_later_bar_by_a_hundredth():
    """The checker's rule by hand: a concept 0.005 below its threshold is flagged once a special-care
    concept scored above 0 (then +0.01), and scores are rounded to 3 decimals before `> 0`."""
    thresholds = torch.tensor([0.2, 0.3])
    special_thresholds = torch.tensor([0.5, 0.5])
    cos = torch.tensor([[0.195, 0.1], [0.195, 0.1], [0.2004, 0.1]])
    special = torch.tensor([[0.49, 0.49], [0.51, 0.49], [0.0, 0.0]])
    flagged, margin = concept_scores(cos, thresholds, special, special_thresholds)
    assert flagged.tolist() == [False, True, False]  # 0.0004 above rounds to 0.0: not flagged
    assert margin.tolist() == pytest.approx([-0.005, 0.005, 0.0], abs=1e-6)


def test_batches_do_not_change_flags_and_unreadable_images_get_none(scorer, pictures):
    values = list(scorer.stream(list(range(len(pictures))), [""] * len(pictures),
                                load=lambda i: None if i == 2 else pictures[i]))  # fmt: skip
    assert values[2] is None
    batched = [v for i, v in enumerate(values) if i != 2]
    one_by_one = [scorer.score([pictures[i]], [""])[0] for i in range(len(pictures)) if i != 2]
    assert [flag for flag, _ in batched] == [flag for flag, _ in one_by_one]
    assert [m for _, m in batched] == pytest.approx([m for _, m in one_by_one], abs=1e-6)
    assert scorer.truncated_tokens("any prompt") is None  # reads the image only


def test_the_entries_say_what_the_site_and_fetch_need():
    flag, margin = METRICS["nsfw"], METRICS["nsfw_score"]
    assert flag.kind == margin.kind == "safety" and not flag.higher_is_better
    assert flag.companions == ("nsfw_score",) and margin.scorer is None
    (w,) = flag.weights
    assert w.hub_id == "CompVis/stable-diffusion-safety-checker" and not w.pickled and w.licence
    assert set(w.files) == {"config.json", "model.safetensors", "preprocessor_config.json"}
    assert written(["clip_tiny", "nsfw_tiny"]) == ["clip_tiny", "nsfw_tiny", "nsfw_score_tiny"]


def test_scoring_writes_the_flag_and_its_margin_for_every_ok_image_in_one_pass(tmp_path, pictures, monkeypatch):
    data, images_dir = tmp_path / "data", tmp_path / "images"
    rows = []
    for i, pic in enumerate(pictures[:4]):
        rel = f"tiny/pytorch/c{i}.png"
        (images_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        pic.save(images_dir / rel)
        rows.append({"run_id": "r", "cell_id": f"c{i}", "prompt": "a cat", "status": "ok", "image_path": rel,
                     "created_at": datetime.now(UTC)})  # fmt: skip
    # an older run's row blanked by a pipeline's own checker: no picture, nothing to score
    rows.append({"run_id": "r", "cell_id": "old", "prompt": "a cat", "status": "nsfw", "image_path": None,
                 "created_at": datetime.now(UTC)})  # fmt: skip
    store.append(data, "generations", rows)
    loads = []
    real = scoring.make_scorer
    monkeypatch.setattr(scoring, "make_scorer", lambda m, **kw: loads.append(m) or real(m, **kw))

    assert scoring.score(data, images_dir, ["nsfw_tiny"]) == 8
    scores = store.read(data, "scores")
    wide = scores.pivot(index="cell_id", columns="metric", values="value")
    assert loads == ["nsfw_tiny"]  # one model load for both metrics
    assert sorted(wide.index) == ["c0", "c1", "c2", "c3"] and wide.notna().all().all()
    assert ((wide["nsfw_tiny"] == 1.0) == (wide["nsfw_score_tiny"] > 0)).all()
    assert scores["truncated_tokens"].isna().all()
    assert scoring.score(data, images_dir, ["nsfw_tiny"]) == 0  # done: the flag says so for both


def test_a_legacy_nsfw_row_is_not_pending():
    generations = pd.DataFrame({"cell_id": list("abc"), "status": ["ok", "nsfw", "nan"]})
    scores = pd.DataFrame({"cell_id": [], "metric": []})
    assert scoring.pending(generations, scores, "nsfw").cell_id.tolist() == ["a"]


@pytest.mark.parametrize("name", ["seed", "tiny", "parti", "parti-200"])
def test_every_shipped_suite_flags_every_image(name):
    from bench.config import load_suite
    from bench.metrics import NSFW_FLAGS

    assert [m for m in load_suite(name).metrics if m in NSFW_FLAGS] == ["nsfw_tiny" if name == "tiny" else "nsfw"]


def test_fetch_and_the_preflight_never_ask_for_a_pipelines_own_safety_checker(hf_cache):  # noqa: F811
    """The backends never load it, so a cache without it is whole, and fetch does not list it."""
    import json

    from bench.models import MODELS
    from bench.weights import fetch
    from bench.weights.check import missing

    spec = MODELS["sd15"]
    files = {"model_index.json": json.dumps(SD_INDEX).encode(), "tokenizer/vocab.json": b"{}"}
    for part, weights in [("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"),
                          ("text_encoder", "model")]:  # fmt: skip
        files |= {f"{part}/config.json": b"{}", f"{part}/{weights}.safetensors": b"x"}
    assert SD_INDEX["safety_checker"][0] is not None  # the model_index lists one ...
    cache_repo(hf_cache, spec.hub_id, files, commit=spec.revision or "c" * 40)  # ... the cache has none
    assert missing([spec]) == []
    items, _ = fetch.plan([spec], [])
    (item,) = [i for i in items if i.kind == "pipeline"]
    names = [f.path for f in item.files]
    assert "unet/diffusion_pytorch_model.safetensors" in names
    assert not any(n.startswith("safety_checker/") for n in names)
    assert "safety_checker" not in fetch.FAMILY_COMPONENTS["sd"]  # nor when model_index.json is out of reach
