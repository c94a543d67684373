"""The quality scorers (PickScore, HPS v2.1, ImageReward, LAION aesthetic, CLIP-IQA and its
ViT-B/16 variant) against independent routes to the same numbers, on their tiny random twins, and
`bench score` rescoring old images with every family."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pytest
import torch
from PIL import Image
from test_fetch import cache_repo, hf_cache  # noqa: F401 - hf_cache is a fixture: an HF cache of the test's own

from bench import scoring, store
from bench.cli import main
from bench.errors import WeightsError
from bench.metrics import METRICS, Weights
from bench.scorers.batching import load_pickle, weight_files

FAMILIES = [
    "pickscore_tiny",
    "hpsv2_tiny",
    "imagereward_tiny",
    "laion_aesthetic_tiny",
    "clip_iqa_tiny",
    "clip_iqa_vit_b_16_tiny",
]
PROMPTS = ["a cat", "a dog on a skateboard", "a red cube", "a cat", "a castle at night"]
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


@pytest.fixture(scope="module")
def scorers():
    """One scorer per family, loaded once; batches of 3 so five images make two batches."""
    return {m: scoring.make_scorer(m, device="cpu", batch_size=3, workers=2) for m in FAMILIES}


def images(n: int = 5, seed: int = 0) -> list[Image.Image]:
    """Smooth pictures of several sizes and both orientations (a resize and a crop both matter)."""
    rng = np.random.default_rng(seed)
    sizes = [(80, 96), (120, 70), (64, 64), (50, 150), (97, 81)]
    return [
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((w, h), Image.BILINEAR)
        for h, w in (sizes * n)[:n]
    ]


def sized(sizes_px: list[tuple[int, int]], seed: int = 1) -> list[Image.Image]:
    """Smooth pictures of these (height, width) sizes."""
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((w, h), Image.BILINEAR)
        for h, w in sizes_px
    ]


def clip_pixels(image: Image.Image, side_px: int) -> torch.Tensor:
    """CLIP's eval preprocess written out with PIL: short side to `side_px` (bicubic), centre
    crop, /255, CLIP's mean and std. The references' transforms all come down to this."""
    w, h = image.size
    scale = side_px / min(w, h)
    size = (side_px, int(h * scale)) if w <= h else (int(w * scale), side_px)
    image = image.convert("RGB").resize(size, Image.BICUBIC)
    left, top = int(round((size[0] - side_px) / 2.0)), int(round((size[1] - side_px) / 2.0))
    pixels = np.asarray(image.crop((left, top, left + side_px, top + side_px)), dtype=np.float64) / 255
    return torch.from_numpy(((pixels - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1).astype(np.float32))


def hps_pixels(image: Image.Image, side_px: int) -> torch.Tensor:
    """HPSv2's preprocess_val (tgxs002/HPSv2, hpsv2/src/open_clip/transform.py with
    resize_longest_max): ToTensor, then ResizeMaxSize on the tensor (longest side to `side_px`,
    bicubic, centred black padding), then CLIP's mean and std."""
    from torchvision.transforms import functional as F

    pixels = F.to_tensor(image.convert("RGB"))
    height, width = pixels.shape[1:]
    scale = side_px / float(max(height, width))
    if scale != 1.0:
        new = tuple(round(d * scale) for d in (height, width))
        pixels = F.resize(pixels, new, F.InterpolationMode.BICUBIC)
        pad_h, pad_w = side_px - new[0], side_px - new[1]
        pixels = F.pad(pixels, [pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2], fill=0)
    return F.normalize(pixels, CLIP_MEAN.tolist(), CLIP_STD.tolist())


def mlp_by_hand(state: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    """The reference MLP head (Linear layers 0, 2, 4, 6, 7; Dropouts off) as plain matmuls."""
    for i in (0, 2, 4, 6, 7):
        x = x @ state[f"{prefix}{i}.weight"].T + state[f"{prefix}{i}.bias"]
    return x[:, 0]


# --- each family against an independent route --------------------------------------------------


def test_pickscore_is_the_models_own_logits_on_hand_made_pixels(scorers):
    scorer, pics = scorers["pickscore_tiny"], images()
    ours = scorer.score(pics, PROMPTS)
    side = scorer.model.config.vision_config.image_size
    pixels = torch.stack([clip_pixels(p, side) for p in pics])
    with torch.no_grad():
        expected = []
        for i, prompt in enumerate(PROMPTS):  # the model card's route: one prompt, its logits
            text = scorer.processor.tokenizer(prompt, return_tensors="pt")
            out = scorer.model(input_ids=text.input_ids, pixel_values=pixels[i : i + 1])
            expected.append(out.logits_per_image[0, 0].item())
    assert ours == pytest.approx(expected, abs=2e-3)  # PIL's bicubic against the processor's: ~1e-5 pixels


def test_hpsv2_is_the_reference_transform_and_forward_on_the_raw_checkpoint(scorers):
    """HPSv2's img_score.py written out: its preprocess_val (hps_pixels: ToTensor first, the resize
    on the float tensor), the model built by open_clip and loaded from checkpoint["state_dict"],
    one image and prompt at a time."""
    import open_clip

    scorer = scorers["hpsv2_tiny"]
    pics = sized([(64, 64), (64, 96), (96, 64), (81, 97)])  # as is, then padded both ways, odd padding
    prompts = PROMPTS[:4]
    ours = scorer.score(pics, prompts)
    (w,) = METRICS["hpsv2_tiny"].weights
    checkpoint = torch.load(weight_files(w)[w.files[0]], map_location="cpu", weights_only=True)
    model = open_clip.create_model("tiny-clip")
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    tokenizer = open_clip.get_tokenizer("tiny-clip")
    side = model.visual.image_size[0]  # a (64, 64) tuple
    with torch.no_grad():
        expected = []
        for pic, prompt in zip(pics, prompts):
            image_features, text_features, _ = model(hps_pixels(pic, side).unsqueeze(0), tokenizer([prompt]))
            expected.append(torch.diagonal(image_features @ text_features.T).item())
    assert ours == pytest.approx(expected, abs=1e-6)
    # The pixels themselves are the reference's, made whole in the workers (a tensor step in the
    # middle does not split into PIL work and a lookup table).
    assert scorer._pixels.pil_steps is None
    assert torch.equal(scorer.pixels(pics), torch.stack([hps_pixels(p, side) for p in pics]))
    # The uint8 PIL image resized first (open_clip's own "longest" transform) is another picture.
    pil_first = open_clip.image_transform(side, is_train=False, resize_mode="longest", fill_color=0)
    assert (scorer.pixels(pics[1:2])[0] - pil_first(pics[1])).abs().mean() > 1e-3


def test_imagereward_is_a_hand_computed_blip_forward(scorers):
    from bench.scorers.imagereward import REWARD_MEAN, REWARD_STD

    scorer, pics = scorers["imagereward_tiny"], images()
    ours = scorer.score(pics, PROMPTS)
    (w, _), state = METRICS["imagereward_tiny"].weights, None
    state = torch.load(weight_files(w)["ImageReward.pt"], map_location="cpu", weights_only=True)
    model = scorer.model
    with torch.no_grad():
        expected = []
        for pic, prompt in zip(pics, PROMPTS):  # ImageReward.score: one image, one prompt
            pixels = clip_pixels(pic, 32).unsqueeze(0)
            embeds = blip_vit_by_hand(state, "blip.visual_encoder.", pixels, heads=2)
            assert torch.allclose(embeds, model.visual_encoder.forward_features(pixels), atol=1e-4)
            text = scorer.tokenizer(prompt, padding="max_length", truncation=True, max_length=35, return_tensors="pt")
            out = model.text_encoder(text.input_ids, attention_mask=text.attention_mask, encoder_hidden_states=embeds,
                                     encoder_attention_mask=torch.ones(embeds.shape[:-1], dtype=torch.long))  # fmt: skip
            cls = out.last_hidden_state[:, 0, :]
            expected.append(((mlp_by_hand(state, "mlp.layers.", cls) - REWARD_MEAN) / REWARD_STD).item())
    assert ours == pytest.approx(expected, abs=1e-3)


def blip_vit_by_hand(state: dict, p: str, pixels: torch.Tensor, heads: int) -> torch.Tensor:
    """BLIP's VisionTransformer.forward from the checkpoint's tensors, without timm."""
    import torch.nn.functional as F

    x = F.conv2d(pixels, state[p + "patch_embed.proj.weight"], state[p + "patch_embed.proj.bias"], stride=16)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([state[p + "cls_token"].expand(len(x), -1, -1), x], dim=1) + state[p + "pos_embed"]
    width = x.shape[-1]

    def ln(y, name):
        return F.layer_norm(y, (width,), state[name + ".weight"], state[name + ".bias"], eps=1e-6)

    i = 0
    while f"{p}blocks.{i}.norm1.weight" in state:
        b = f"{p}blocks.{i}."
        qkv = ln(x, b + "norm1") @ state[b + "attn.qkv.weight"].T + state[b + "attn.qkv.bias"]
        q, k, v = qkv.reshape(len(x), -1, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * (width // heads) ** -0.5).softmax(-1)
        y = (attn @ v).transpose(1, 2).reshape(len(x), -1, width)
        x = x + y @ state[b + "attn.proj.weight"].T + state[b + "attn.proj.bias"]
        h = F.gelu(ln(x, b + "norm2") @ state[b + "mlp.fc1.weight"].T + state[b + "mlp.fc1.bias"])
        x = x + h @ state[b + "mlp.fc2.weight"].T + state[b + "mlp.fc2.bias"]
        i += 1
    return ln(x, p + "norm")


def test_imagereward_reads_the_prompt_both_ways(scorers):
    """BLIP's text encoder runs bidirectionally (med.py's multimodal mode): the [CLS] output, which
    the reward reads, changes with the last word; a causal mask would hide every later token."""
    scorer = scorers["imagereward_tiny"]
    pic = images(1)
    assert scorer.score(pic, ["a red cat"]) != pytest.approx(scorer.score(pic, ["a red dog"]), abs=1e-7)


def test_laion_aesthetic_is_the_reference_inference_by_hand(scorers):
    scorer, pics = scorers["laion_aesthetic_tiny"], images()
    ours = scorer.score(pics, PROMPTS)
    (w,) = METRICS["laion_aesthetic_tiny"].weights
    state = torch.load(weight_files(w)[w.files[0]], map_location="cpu", weights_only=True)
    with torch.no_grad():
        features = scorer.model.encode_image(torch.stack([clip_pixels(p, 64) for p in pics])).numpy()
    # simple_inference.py's normalized(): L2 along the last axis, zero norms left alone
    l2 = np.atleast_1d(np.linalg.norm(features, 2, -1))
    l2[l2 == 0] = 1
    expected = mlp_by_hand(state, "layers.", torch.from_numpy(features / l2[:, None]).float())
    assert ours == pytest.approx(expected.tolist(), abs=1e-3)
    assert scorer.score(pics[:2], ["a cat", "a dog"]) == scorer.score(pics[:2], ["x", "y"])  # no prompt read


def test_clip_iqa_is_torchmetrics_default_route_on_the_same_random_weights(scorers, monkeypatch):
    """torchmetrics' own `clip_image_quality_assessment(model_name_or_path="clip_iqa")`, with only
    its downloads pointed at the twin's files: piq's `load()` reads the twin's RN50.pt, and the
    processor it asks transformers for comes from the twin's folder. Its loading, preprocessing
    (whole image, /data_range, CLIP's mean and std) and compute run, not ours."""
    import piq.feature_extractors.clip as piq_clip
    import transformers
    from torchmetrics.functional.multimodal import clip_image_quality_assessment

    scorer = scorers["clip_iqa_tiny"]
    rn50, tokenizer = METRICS["clip_iqa_tiny"].weights
    rn50_path = weight_files(rn50)["RN50.pt"]
    processor_folder = weight_files(tokenizer)[tokenizer.files[0]].parent
    urls, repos = [], []
    monkeypatch.setattr(piq_clip, "_download", lambda url, root: urls.append(url) or str(rn50_path))
    from_pretrained = transformers.CLIPProcessor.from_pretrained
    monkeypatch.setattr(
        transformers.CLIPProcessor,
        "from_pretrained",
        staticmethod(lambda repo, **kw: repos.append(repo) or from_pretrained(processor_folder, **kw)),
    )
    sizes = [(64, 64), (64, 96), (64, 64), (96, 64), (96, 64)]
    pics = sized(sizes)
    ours = scorer.score(pics, PROMPTS)  # batches of 3: sizes mixed within a batch
    theirs = {}
    for size in dict.fromkeys(sizes):  # torchmetrics takes one NCHW tensor: one call per size
        at = [i for i, s in enumerate(sizes) if s == size]
        pixels = torch.stack([torch.from_numpy(np.array(pics[i])).permute(2, 0, 1).float() for i in at])
        values = clip_image_quality_assessment(pixels, model_name_or_path="clip_iqa", data_range=255.0)
        theirs.update(zip(at, values.reshape(-1).tolist()))
    assert ours == pytest.approx([theirs[i] for i in range(len(pics))], abs=1e-6)
    # torchmetrics asked for the very files our entry fetches
    assert urls and urls[0] in METRICS["clip_iqa"].weights[0].urls
    assert set(repos) == {METRICS["clip_iqa"].weights[1].hub_id}
    # and the twin's values are spread out, so agreement to 1e-6 says something
    assert 0.05 < min(ours) and max(ours) < 0.95 and np.std(ours) > 0.01
    # With the positional embedding on (the usual CLIP forward), the values move by far more.
    from torchmetrics.functional.multimodal.clip_iqa import _clip_iqa_compute

    with torch.no_grad():
        x = torch.from_numpy(np.array(pics[1])).permute(2, 0, 1).float()[None] / 255
        x = (x - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1).float()) / torch.tensor(CLIP_STD).view(1, 3, 1, 1).float()
        features = torch.nn.functional.normalize(scorer.model.encode_image(x, pos_embedding=True).float(), dim=-1)
        with_positions = _clip_iqa_compute(features, scorer.anchors, ["quality"]).item()
    assert abs(with_positions - ours[1]) > 1e-4


def test_clip_iqa_loads_rn50_only_when_its_hash_is_the_pinned_one(tmp_path, monkeypatch):
    """The real route: RN50.pt fetched by URL into the bench cache, checked against its pin
    before torch.jit.load reads it (a TorchScript archive runs code of its own)."""
    import hashlib
    from dataclasses import replace

    from bench.scorers.clip_iqa import ClipIqaScorer

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    rn50, tokenizer = METRICS["clip_iqa_tiny"].weights
    twin = weight_files(rn50)["RN50.pt"]
    digest = hashlib.sha256(twin.read_bytes()).hexdigest()
    pinned = replace(METRICS["clip_iqa"].weights[0], sha256=digest, urls=(twin.as_uri(),))
    scorer = ClipIqaScorer((pinned, tokenizer), device="cpu")
    assert f"openai-clip-rn50 RN50.pt sha256 {digest[:16]}" in scorer.version and "piq 0.8" in scorer.version
    assert scorer.score(sized([(64, 64)]), ["x"]) == pytest.approx(
        ClipIqaScorer((rn50, tokenizer), device="cpu").score(sized([(64, 64)]), ["x"]), abs=1e-7
    )
    with pytest.raises(WeightsError, match=f"not pinned; sha256 of .* is {digest}"):
        ClipIqaScorer((replace(pinned, sha256=None), tokenizer), device="cpu")


def test_clip_iqa_vit_b_16_variant_is_torchmetrics_metric_and_the_formula_by_hand(scorers):
    from torchmetrics.multimodal import CLIPImageQualityAssessment

    scorer, pics = scorers["clip_iqa_vit_b_16_tiny"], images()
    ours = scorer.score(pics, PROMPTS)
    metric = CLIPImageQualityAssessment(model_name_or_path=lambda: (scorer.model, scorer.processor), data_range=1.0)
    as_torchmetrics = [
        metric(torch.from_numpy(np.array(p)).permute(2, 0, 1).float()[None]).item() for p in pics
    ]  # one at a time: the images differ in size
    assert ours == pytest.approx(as_torchmetrics, abs=1e-5)
    # The formula: softmax over 100 x cosine with "Good photo." and "Bad photo.", on PIL pixels.
    with torch.no_grad():
        text = scorer.processor.tokenizer(["Good photo.", "Bad photo."], padding=True, return_tensors="pt")
        anchors = torch.nn.functional.normalize(scorer.model.get_text_features(**text), dim=-1)
        side = scorer.model.config.vision_config.image_size
        feats = scorer.model.get_image_features(torch.stack([clip_pixels(p, side) for p in pics]))
        expected = (100 * torch.nn.functional.normalize(feats, dim=-1) @ anchors.T).softmax(-1)[:, 0]
    assert ours == pytest.approx(expected.tolist(), abs=2e-3)
    assert all(0 <= v <= 1 for v in ours)


def test_torchmetrics_data_range_route_would_rescale_twice(scorers):
    """Why the ViT-B/16 variant hands the processor 0..255 pixels: images divided by data_range
    reach the HF processor in 0..1, and it divides by 255 again, so every picture looks almost the
    same."""
    processor, pic = scorers["clip_iqa_vit_b_16_tiny"].processor, images(1)[0]
    pixels = torch.from_numpy(np.array(pic)).permute(2, 0, 1).float()
    twice = processor(images=[pixels / 255.0], return_tensors="pt")["pixel_values"]
    once = processor(images=[pixels], return_tensors="pt")["pixel_values"]
    assert twice.std() < 0.2 < once.std()


# --- what every family shares ---------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["pickscore_tiny", "hpsv2_tiny", "imagereward_tiny"])
def test_prompt_pairing_matters(scorers, metric):
    pics = images(2)
    swapped = scorers[metric].score(pics, ["a dog", "a cat"])
    assert scorers[metric].score(pics, ["a cat", "a dog"]) != pytest.approx(swapped, abs=1e-7)


@pytest.mark.parametrize("metric", FAMILIES)
def test_stream_skips_unloadable_images_and_batches_do_not_change_values(scorers, metric):
    scorer, pics = scorers[metric], images(7, seed=3)
    prompts = (PROMPTS * 2)[:7]
    values = list(scorer.stream(list(range(7)), prompts, load=lambda i: None if i in (1, 5) else pics[i]))
    assert [i for i, v in enumerate(values) if v is None] == [1, 5]
    one_by_one = [scorer.score([pics[i]], [prompts[i]])[0] for i in (0, 2, 3, 4, 6)]
    assert [values[i] for i in (0, 2, 3, 4, 6)] == pytest.approx(one_by_one, abs=1e-4)
    assert not [t for t in threading.enumerate() if t.name.startswith(scorer.thread_prefix)]


def test_truncated_tokens_follow_each_text_encoders_context(scorers):
    long = " ".join(["cat"] * 100)
    assert scorers["pickscore_tiny"].truncated_tokens(long) == 100 + 2 - 77
    assert scorers["hpsv2_tiny"].truncated_tokens(long) == 100 + 2 - 77
    assert scorers["imagereward_tiny"].truncated_tokens(long) == 100 + 2 - 35  # [CLS] cat x 100 [SEP]
    assert scorers["imagereward_tiny"].truncated_tokens("a cat") == 0
    assert scorers["laion_aesthetic_tiny"].truncated_tokens(long) is None  # reads no prompt
    assert scorers["clip_iqa_tiny"].truncated_tokens(long) is None
    assert scorers["clip_iqa_vit_b_16_tiny"].truncated_tokens(long) is None


# --- weights: the real loading route, and the pickle pin ------------------------------------------


def test_hpsv2_loads_a_pinned_checkpoint_from_the_hf_cache_and_records_it(hf_cache, monkeypatch):  # noqa: F811
    import hashlib

    from bench.scorers.hpsv2 import HpsScorer

    (tiny,) = METRICS["hpsv2_tiny"].weights
    data = weight_files(tiny)[tiny.files[0]].read_bytes()
    cache_repo(hf_cache, "xswu/HPSv2", {"HPS_v2.1_compressed.pt": data})
    pinned = Weights("xswu/HPSv2", ("HPS_v2.1_compressed.pt",), sha256=hashlib.sha256(data).hexdigest())
    scorer = HpsScorer("tiny-clip", (pinned,), device="cpu")
    assert f"xswu/HPSv2@{'c' * 12} sha256 {pinned.sha256[:16]}" in scorer.version
    assert "open_clip_torch 3." in scorer.version and "torchvision 0." in scorer.version
    with pytest.raises(WeightsError, match="not pinned"):
        HpsScorer("tiny-clip", (Weights("xswu/HPSv2", ("HPS_v2.1_compressed.pt",)),), device="cpu")


def test_a_pickle_is_unpickled_only_when_its_hash_is_the_pinned_one(tmp_path):
    path = tmp_path / "head.pth"
    torch.save({"w": torch.ones(2)}, path)
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(WeightsError, match=digest):
        load_pickle(path, None, tiny=False)
    with pytest.raises(WeightsError, match="mismatch"):
        load_pickle(path, "0" * 64, tiny=False)
    state, recorded = load_pickle(path, digest, tiny=False)
    assert torch.equal(state["w"], torch.ones(2)) and recorded == f"sha256 {digest[:16]}"


def test_real_entries_say_what_the_site_needs():
    for name in ["pickscore", "hpsv2", "imagereward", "laion_aesthetic", "clip_iqa", "clip_iqa_vit_b_16"]:
        info = METRICS[name]
        assert info.weights and all(w.hub_id and w.files and w.licence for w in info.weights)
        assert info.higher_is_better and info.unit and info.note
        assert all(w.sha256 or not w.pickled for w in info.weights) or name in ("hpsv2", "imagereward")
    for name in ["pickscore", "hpsv2"]:
        assert "same prompt" in METRICS[name].note


# --- end to end: `bench score` rescores old images with every family ---------------------------------


def test_bench_score_rescores_old_images_with_every_family(tmp_path, capsys):
    data, images_dir = tmp_path / "data", tmp_path / "images"
    rows = []
    for i, (pic, prompt) in enumerate(zip(images(4), PROMPTS)):
        rel = f"tiny/pytorch/c{i}.png"
        (images_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        pic.save(images_dir / rel)
        rows.append({"run_id": "r", "cell_id": f"c{i}", "prompt": prompt, "status": "ok", "image_path": rel,
                     "created_at": datetime.now(UTC)})  # fmt: skip
    store.append(data, "generations", rows)
    before = store.read(data, "generations")
    dirs = ["--data-dir", str(data), "--images-dir", str(images_dir)]
    assert main(["score", "--metrics", ",".join(FAMILIES), *dirs]) == 0
    scores = store.read(data, "scores")
    assert sorted(scores["metric"].unique()) == sorted(FAMILIES)
    assert len(scores) == 4 * len(FAMILIES) and scores["value"].notna().all()
    assert scores["scorer_version"].str.contains("tiny random weights").all()
    assert store.read(data, "generations").equals(before)  # nothing regenerated
    again = len(scores)
    assert main(["score", "--metrics", "hpsv2_tiny", *dirs]) == 0  # all done: nothing to add
    assert len(store.read(data, "scores")) == again
