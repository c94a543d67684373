"""CLIP score: our batched scorer against an independent route to the same number."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bench.scorers.clip import ClipScorer, clip_cosine


@pytest.fixture(scope="module")
def scorer():
    return ClipScorer("tiny-clip", "tiny", device="cpu", batch_size=3)


def images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)) for _ in range(n)]


def test_score_matches_logits_per_image_diagonal(scorer):
    pics = images(5)
    prompts = ["a cat", "a dog on a skateboard", "a red cube", "two boats", "a castle at night"]
    ours = scorer.score(pics, prompts)  # in batches of 3: 3 + 2

    # Independent route: the model's own forward pass, CLIP's logits, divided by the scale.
    pixels = torch.stack([scorer.preprocess(p) for p in pics])
    with torch.no_grad():
        image_features, text_features, scale = scorer.model(pixels, scorer.tokenizer(prompts))
        logits_per_image = scale * image_features @ text_features.T
    expected = (logits_per_image.diag() / scale).tolist()
    assert ours == pytest.approx(expected, abs=1e-5)
    assert all(-1 <= v <= 1 for v in ours)


def test_pairing_matters(scorer):
    pics = images(2)
    assert scorer.score(pics, ["a cat", "a dog"]) != pytest.approx(scorer.score(pics, ["a dog", "a cat"]))


def test_clip_cosine_formula():
    a = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    b = torch.tensor([[6.0, 8.0], [0.0, 2.0]])
    assert clip_cosine(a, b).tolist() == pytest.approx([1.0, 0.0])


def test_truncated_tokens_counts_what_clip_cannot_see(scorer):
    assert scorer.truncated_tokens("a cat") == 0
    long = " ".join(["cat"] * 100)  # 100 tokens + start + end in a 77-token context
    assert scorer.truncated_tokens(long) == 100 + 2 - 77
