"""CLIP score: our pipelined scorer against independent routes to the same pixels and numbers."""

from __future__ import annotations

import threading

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


# --- preprocessing: the workers' pixels are open_clip's --------------------------------------


def odd_images() -> list[Image.Image]:
    """Sizes above and below the model's, both orientations, and every mode a file may have."""
    rng = np.random.default_rng(1)
    rgb = [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for h, w in [(80, 96), (300, 200), (40, 40), (512, 512)]
    ]
    return rgb + [rgb[0].convert("RGBA"), rgb[1].convert("L"), rgb[2].convert("P"), rgb[3].convert("CMYK")]


@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_pixels_are_open_clips_preprocess_bit_for_bit(scorer, resize_mode, interpolation):
    import open_clip

    # ViT-B/32's size (224), and the other resize modes and interpolations open_clip offers.
    preprocess = open_clip.image_transform(224, is_train=False, resize_mode=resize_mode, interpolation=interpolation)
    ours = ClipScorer(
        "tiny-clip", "tiny", device="cpu", model=scorer.model, preprocess=preprocess, tokenizer=scorer.tokenizer
    )
    pics = odd_images()
    assert ours._pil_steps is not None  # the split route, not the whole-transform fallback
    # As ever, an image is made RGB first (an RGBA one resized as such would be premultiplied).
    assert torch.equal(ours.pixels(pics), torch.stack([preprocess(p.convert("RGB")) for p in pics]))


def test_the_tiny_models_own_preprocess_is_reproduced_exactly_too(scorer):
    pics = odd_images()
    assert torch.equal(scorer.pixels(pics), torch.stack([scorer.preprocess(p.convert("RGB")) for p in pics]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_pixels_are_the_same_bits_and_scores_agree_with_the_cpu(scorer):
    gpu = ClipScorer("tiny-clip", "tiny", device="cuda", batch_size=3)
    pics, prompts = odd_images(), [f"prompt {i % 3}" for i in range(8)]
    assert torch.equal(gpu.pixels(pics).cpu(), scorer.pixels(pics))
    assert gpu.score(pics, prompts) == pytest.approx(scorer.score(pics, prompts), abs=1e-6)


def test_a_preprocess_it_cannot_split_runs_whole_in_the_workers(scorer):
    whole = ClipScorer("tiny-clip", "tiny", device="cpu", batch_size=3, model=scorer.model,
                       preprocess=lambda im: scorer.preprocess(im), tokenizer=scorer.tokenizer)  # fmt: skip
    assert whole._pil_steps is None
    pics, prompts = images(5), ["a cat", "a dog", "a cat", "a boat", "a cat"]
    assert whole.score(pics, prompts) == pytest.approx(scorer.score(pics, prompts), abs=1e-6)


# --- text: each prompt once per pass -----------------------------------------------------------


@pytest.fixture
def fresh(scorer):
    """A scorer of its own (its own caches), sharing the loaded tiny model."""
    return ClipScorer("tiny-clip", "tiny", device="cpu", batch_size=3, model=scorer.model,
                      preprocess=scorer.preprocess, tokenizer=scorer.tokenizer)  # fmt: skip


def test_each_prompt_is_encoded_once_however_many_images_share_it(fresh, monkeypatch):
    encoded: list[int] = []
    encode_text = fresh.model.encode_text
    monkeypatch.setattr(fresh.model, "encode_text", lambda tokens: encoded.append(len(tokens)) or encode_text(tokens))
    prompts = ["a cat", "a dog", "a cat", "a cat", "a dog", "a boat", "a cat"]  # batches of 3: 2 new, 0 new, 1 new
    values = fresh.score(images(7), prompts)
    assert encoded == [2, 1]
    assert fresh.score(images(7), prompts) == values and encoded == [2, 1]  # a second call in the pass: none


def test_truncated_tokens_are_counted_once_per_prompt(fresh, monkeypatch):
    calls: list[str] = []
    encode = fresh.tokenizer.encode
    monkeypatch.setattr(fresh.tokenizer, "encode", lambda text: calls.append(text) or encode(text))
    long = " ".join(["cat"] * 100)
    assert [fresh.truncated_tokens(p) for p in [long, "a cat", long, long]] == [25, 0, 25, 25]
    assert calls == [long, "a cat"]


# --- the stream: loading in workers, skipping, stopping ----------------------------------------


def test_stream_gives_none_where_load_gives_none_and_scores_the_rest(scorer):
    pics, prompts = images(7), ["a cat", "a dog", "a red cube", "two boats", "a castle", "a cat", "a dog"]
    unreadable = {1, 4, 5}
    values = list(scorer.stream(list(range(7)), prompts, load=lambda i: None if i in unreadable else pics[i]))
    assert [i for i, v in enumerate(values) if v is None] == sorted(unreadable)
    kept = [i for i in range(7) if i not in unreadable]
    expected = scorer.score([pics[i] for i in kept], [prompts[i] for i in kept])
    assert [values[i] for i in kept] == pytest.approx(expected, abs=1e-6)


def workers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("clip-preprocess")]


def test_closing_a_stream_early_stops_its_workers_and_loads_only_a_few_batches_ahead(fresh):
    from bench.scorers.clip import PREFETCH_BATCHES

    loaded: list[int] = []
    pics = images(3)
    stream = fresh.stream(list(range(60)), ["a cat"] * 60, load=lambda i: loaded.append(i) or pics[i % 3])
    next(stream)
    stream.close()
    assert workers_alive() == []
    assert len(loaded) <= (PREFETCH_BATCHES + 2) * fresh.batch_size < 60


def test_an_error_in_a_worker_reaches_the_caller_and_stops_the_workers(scorer):
    def load(i):
        if i == 4:
            raise RuntimeError("disk on fire")
        return images(1)[0]

    with pytest.raises(RuntimeError, match="disk on fire"):
        list(scorer.stream(list(range(9)), ["a cat"] * 9, load=load))
    assert workers_alive() == []


def test_images_and_prompts_must_pair_up(scorer):
    with pytest.raises(ValueError, match="2 images but 3 prompts"):
        scorer.score(images(2), ["a", "b", "c"])


@pytest.mark.parametrize("metric", ["clip_vit_b_32", "clip_vit_l_14", "laion_aesthetic"])
def test_openai_weights_run_with_the_quick_gelu_they_were_trained_with(monkeypatch, metric):
    """open_clip 3.x builds `ViT-B-32` with nn.GELU even for the "openai" tag and only warns; the
    real factory runs here with just the download and the weight load faked (no hub). The model
    is built on the meta device and left there (its move to the CPU faked too): what is checked
    is which modules it has, and random values for ViT-L/14's 428M weights cost seconds."""
    import open_clip.factory
    import torch

    from bench.clip_factory import create_clip
    from bench.metrics import METRICS

    monkeypatch.setattr(open_clip.factory, "download_pretrained", lambda cfg, cache_dir=None: "/weights/openai.pt")
    monkeypatch.setattr(open_clip.factory, "load_checkpoint", lambda model, path, **kw: None)
    monkeypatch.setattr(open_clip.factory, "_set_model_device_and_precision", lambda *args, **kw: None)
    options = METRICS[metric].options
    with torch.device("meta"):
        model, preprocess = create_clip(options["arch"], options["pretrained"], transforms=True)
    assert next(model.parameters()).is_meta
    activations = {type(m).__name__ for m in model.modules() if "GELU" in type(m).__name__}
    assert activations == {"QuickGELU"}
    assert preprocess.transforms[-1].mean == open_clip.OPENAI_DATASET_MEAN  # the tag's transform too


def test_a_quick_gelu_mismatch_is_an_error_not_a_hidden_warning(monkeypatch):
    import open_clip.factory

    from bench import clip_factory

    monkeypatch.setattr(open_clip.factory, "download_pretrained", lambda cfg, cache_dir=None: "/weights/openai.pt")
    monkeypatch.setattr(open_clip.factory, "load_checkpoint", lambda model, path, **kw: None)
    monkeypatch.setattr(clip_factory, "trained_with_quick_gelu", lambda arch, pretrained: False)
    with pytest.raises(UserWarning, match="QuickGELU mismatch"):
        clip_factory.create_clip("ViT-B-32", "openai")


def test_an_openai_tag_loads_from_its_pinned_commit_as_open_clip_would_build_it(monkeypatch, tmp_path):
    """open_clip reads a tag's hub repo at its default branch; the scorer asks the HF cache for the
    pinned commit and hands open_clip the file, with the tag's QuickGELU and preprocessing kept."""
    import open_clip
    import open_clip.factory

    from bench.clip_factory import create_clip
    from bench.metrics import METRICS, OPEN_CLIP_REVISIONS
    from bench.weights import hub

    asked = []

    def hub_file(repo, filename, revision, tiny=False):
        asked.append((repo, filename, revision))
        (tmp_path / filename).touch()  # open_clip loads a path that exists (the load itself is faked)
        return tmp_path / filename

    monkeypatch.setattr(hub, "hub_file", hub_file)
    monkeypatch.setattr(open_clip.factory, "load_checkpoint", lambda model, path, **kw: asked.append(path))
    options = METRICS["clip_vit_b_32"].options  # ViT-L/14 (and the aesthetic head's CLIP) go the same way
    path, revision = hub.open_clip_checkpoint(options["arch"], options["pretrained"])
    repo = hub.open_clip_repo(options)
    assert asked == [(repo, "open_clip_model.safetensors", OPEN_CLIP_REVISIONS[repo])] and revision
    model, preprocess = create_clip(options["arch"], options["pretrained"], transforms=True, checkpoint=path)
    assert asked[-1] == str(path)  # open_clip loaded the pinned file, downloading nothing
    assert {type(m).__name__ for m in model.modules() if "GELU" in type(m).__name__} == {"QuickGELU"}
    monkeypatch.setattr(open_clip.factory, "download_pretrained", lambda cfg, cache_dir=None: "/weights/openai.pt")
    _, by_tag = create_clip(options["arch"], options["pretrained"], transforms=True)
    assert repr(preprocess) == repr(by_tag)  # the tag's own eval transform, step for step
