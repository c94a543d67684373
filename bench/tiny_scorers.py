"""Tiny random-weight twins of the quality scorers (PickScore, HPS v2.1, ImageReward, LAION
aesthetic, CLIP-IQA and its ViT-B/16 variant) and of the NSFW safety checker, saved in each
published checkpoint's own layout and file names, so the scorers load them through the very code
that loads the real weights (key mapping included).

Importing this module registers the twins in bench.tiny's builders: `tiny_path("tiny-hpsv2")`
then builds (once, into the tiny cache) and returns the folder. Builds are seeded.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.tiny import BUILDERS, TINY_CLIP_CONFIG, clip_tokenizer

# ImageReward's MLP head (and the LAION aesthetic one, which ImageReward copied): widths after
# the input, Dropouts between the first four Linear layers (indices 0, 2, 4, 6, 7 in `layers`).
MLP_WIDTHS = (1024, 128, 64, 16, 1)
TINY_SIDE_PX = 64
# A word-piece vocabulary small enough to build here: BERT's special tokens, letters, digits
# and their continuations, and a few whole words, so prompts tokenise to many pieces.
_WORDS = "a the of in on at and with by photo painting city cat dog sky light red blue".split()
_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"


def mlp_head(input_size: int):
    """The reference MLP head (Linear/Dropout sequence); its state dict keys are `layers.N.*`
    once wrapped in a module with a `layers` attribute, as both references do."""
    import torch.nn as nn

    w = MLP_WIDTHS
    return nn.Sequential(
        nn.Linear(input_size, w[0]),
        nn.Dropout(0.2),
        nn.Linear(w[0], w[1]),
        nn.Dropout(0.2),
        nn.Linear(w[1], w[2]),
        nn.Dropout(0.1),
        nn.Linear(w[2], w[3]),
        nn.Linear(w[3], w[4]),
    )


def _prefixed(prefix: str, state: dict) -> dict:
    return {prefix + k: v for k, v in state.items()}


def _build_hf_clip(out: Path, scratch: Path, seed: int) -> None:
    """A transformers CLIPModel + CLIPProcessor (the real CLIP tokenizer), as PickScore and the HF
    CLIP of the CLIP-IQA ViT-B/16 variant are published; sizes tiny, preprocessing CLIP's (bicubic,
    centre crop)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from bench.tiny import _text_config

    torch.manual_seed(seed)
    vision = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    config = CLIPConfig(
        text_config=_text_config(num_hidden_layers=2).to_dict(),
        vision_config=dict(vision, image_size=TINY_SIDE_PX, patch_size=16),
        projection_dim=32,
        logit_scale_init_value=4.6052,  # exp = 100, as trained CLIPs end up
    )
    CLIPModel(config).save_pretrained(out, safe_serialization=True)
    side = {"shortest_edge": TINY_SIDE_PX}
    crop = {"height": TINY_SIDE_PX, "width": TINY_SIDE_PX}
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size=side, crop_size=crop), tokenizer=clip_tokenizer(scratch)
    )
    processor.save_pretrained(out)


def _build_pickscore(out: Path, scratch: Path) -> None:
    _build_hf_clip(out, scratch, seed=11)


def _build_clip_iqa_vit_b_16(out: Path, scratch: Path) -> None:
    _build_hf_clip(out, scratch, seed=12)


def _build_clip_iqa_rn50(out: Path, scratch: Path) -> None:
    """OpenAI's RN50.pt as piq downloads it: a TorchScript archive of OpenAI CLIP's model with its
    ModifiedResNet image tower (piq's copy of the classes), here with 8 stem channels, one
    bottleneck per stage and a 64 px attention pool; plus the CLIP processor files torchmetrics
    reads the tokenizer from.

    Random weights would give CLIP-IQA values of 0 or 1 and images all alike, which no test can
    tell apart. So the batch norms get random scales and statistics measured on seeded pictures
    (fresh ones are identities, and the last of each bottleneck starts at zero), and the text
    tower's final layer norm is mostly bias, so "Good photo." and "Bad photo." land close
    together and 100 x their cosine difference is a logit of order 1."""
    import warnings

    import torch
    from piq.feature_extractors.clip import CLIP
    from transformers import CLIPImageProcessor, CLIPProcessor

    torch.manual_seed(17)
    model = CLIP(embed_dim=32, image_resolution=TINY_SIDE_PX, vision_layers=(1, 1, 1, 1), vision_width=8,
                 vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=64,
                 transformer_heads=1, transformer_layers=2)  # fmt: skip
    norms = [m for m in model.visual.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in norms:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.1)
            bn.momentum = None  # a plain mean over the calibration batch
        model.visual.train()
        calibration = torch.rand(16, 3, 8, 8)  # smooth pictures, in CLIP's normalised range
        model.visual((torch.nn.functional.interpolate(calibration, size=TINY_SIDE_PX, mode="bilinear") - 0.45) / 0.27)
        for bn in norms:
            bn.momentum = 0.1
        model.visual.attnpool.positional_embedding.mul_(4)  # so that switching it off shows
        model.ln_final.weight.fill_(0.02)
        model.ln_final.bias.normal_(0, 1)
    model.eval()
    tokens = torch.zeros(1, 77, dtype=torch.long)
    tokens[0, :3] = torch.tensor([49406, 320, 49407])  # start, "a", end
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation, and tracing's notes on shapes
        archive = torch.jit.trace(model, (torch.rand(1, 3, TINY_SIDE_PX, TINY_SIDE_PX), tokens), check_trace=False)
        torch.jit.save(archive, str(out / "RN50.pt"))
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=clip_tokenizer(scratch)).save_pretrained(out)


def _build_hpsv2(out: Path, _scratch: Path) -> None:
    """HPS v2.1's file layout: `{"state_dict": <open_clip CLIP state dict>}` in one pickle."""
    import open_clip
    import torch

    torch.manual_seed(13)
    model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    torch.save({"state_dict": model.state_dict()}, out / "HPS_v2.1_compressed.pt")


def _build_aesthetic(out: Path, _scratch: Path) -> None:
    """The LAION predictor's file: the MLP's state dict (`layers.N.*`), on tiny CLIP's embedding."""
    import torch

    torch.manual_seed(14)
    head = mlp_head(TINY_CLIP_CONFIG["embed_dim"])
    torch.save(_prefixed("layers.", head.state_dict()), out / "sac+logos+ava1-l14-linearMSE.pth")


def _build_imagereward(out: Path, _scratch: Path) -> None:
    """ImageReward.pt's layout: BLIP's ViT (`blip.visual_encoder.*`, timm's names), its BERT with
    cross-attention (`blip.text_encoder.*`, BLIP's med.py names), the unused ITC projections, and
    the MLP head (`mlp.layers.*`); plus med_config.json and a BERT vocab.txt of our own."""
    from functools import partial

    import torch
    import torch.nn as nn
    from timm.models.vision_transformer import VisionTransformer
    from transformers import BlipTextConfig
    from transformers.models.blip.modeling_blip_text import BlipTextModel

    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(4)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(_CHARS) + [f"##{c}" for c in _CHARS] + _WORDS
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    med = {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 32,
        "initializer_range": 0.02,
        "intermediate_size": 37,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 64,
        "model_type": "bert",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "pad_token_id": 0,
        "type_vocab_size": 2,
        "vocab_size": len(vocab) + 2,  # + [DEC] and [ENC], which BLIP's tokenizer adds
        "encoder_width": 32,
        "add_cross_attention": True,
    }
    (out / "med_config.json").write_text(json.dumps(med, indent=2), encoding="utf-8")
    torch.manual_seed(15)
    vit = VisionTransformer(img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=4,
                            qkv_bias=True, num_classes=0, global_pool="", norm_layer=partial(nn.LayerNorm, eps=1e-6))  # fmt: skip
    text = BlipTextModel(
        BlipTextConfig(
            vocab_size=med["vocab_size"],
            hidden_size=32,
            encoder_hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=64,
            is_decoder=True,  # builds the cross-attention layers
        ),
        add_pooling_layer=False,
    )
    state = _prefixed("blip.visual_encoder.", vit.state_dict()) | _prefixed("blip.text_encoder.", text.state_dict())
    state |= _prefixed("blip.vision_proj.", nn.Linear(32, 16).state_dict())
    state |= _prefixed("blip.text_proj.", nn.Linear(32, 16).state_dict())
    state |= _prefixed("mlp.layers.", mlp_head(32).state_dict())
    # BLIP's med.py saved its position ids with the weights; transformers' port does not.
    state["blip.text_encoder.embeddings.position_ids"] = torch.arange(med["max_position_embeddings"])[None]
    torch.save(state, out / "ImageReward.pt")


# The tiny suite's seeds (bench/suites/tiny.toml): the tiny checker's thresholds fall between
# the tiny SD model's pictures of these two.
TINY_SUITE_SEEDS = (0, 1)


def tiny_sd_pictures(seeds: tuple[int, ...]) -> list:
    """The tiny SD model's picture of each seed, at its registry settings (64 px, 4 steps), through
    the pipeline class the backends load. Its random UNet barely moves the starting noise, so every
    tiny-sd image of a seed stays close to this one, whatever the scheduler or prompt."""
    import torch
    from diffusers import StableDiffusionPipeline

    from bench.tiny import tiny_path

    pipe = StableDiffusionPipeline.from_pretrained(
        tiny_path("tiny-sd"), safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    return [
        pipe("a red cube", height=64, width=64, num_inference_steps=4, generator=torch.Generator("cpu").manual_seed(s)).images[0]
        for s in seeds
    ]  # fmt: skip


def _build_nsfw(out: Path, _scratch: Path) -> None:
    """The Stable Diffusion safety checker's layout (diffusers' StableDiffusionSafetyChecker on a
    tiny CLIPConfig) and the CLIPImageProcessor the SD pipeline prepares its pixels with.

    Random concept embeddings (the class starts them all at ones: every concept alike). The
    thresholds are set so that the tiny suite runs both outcomes, and the checker's +0.01
    special-care adjustment, on its own images: each special-care threshold halfway between the
    tiny SD model's pictures of seeds 0 and 1, then every concept threshold halfway between the
    two pictures' highest concept cosines (adjusted): one seed's tiny-sd images are flagged, the
    other's are not, and SDXL's and BigGAN's fall where they fall."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker, cosine_distance
    from transformers import CLIPConfig, CLIPImageProcessor

    from bench.tiny import _text_config

    torch.manual_seed(16)
    vision = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    config = CLIPConfig(
        text_config=_text_config(num_hidden_layers=2).to_dict(),  # unused by the checker; kept as shipped
        vision_config=dict(vision, image_size=TINY_SIDE_PX, patch_size=16),
        projection_dim=32,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    processor = CLIPImageProcessor(
        size={"shortest_edge": TINY_SIDE_PX}, crop_size={"height": TINY_SIDE_PX, "width": TINY_SIDE_PX}
    )
    with torch.no_grad():
        checker.concept_embeds.copy_(torch.randn(checker.concept_embeds.shape))
        checker.special_care_embeds.copy_(torch.randn(checker.special_care_embeds.shape))
        pixels = processor(images=tiny_sd_pictures(TINY_SUITE_SEEDS), return_tensors="pt")["pixel_values"]
        embeds = checker.visual_projection(checker.vision_model(pixels)[1])
        special = cosine_distance(embeds, checker.special_care_embeds)
        checker.special_care_embeds_weights.copy_(special.mean(dim=0))  # halfway: one picture above
        adjusted = (special > checker.special_care_embeds_weights).any(dim=1) * 0.01  # the checker's adjustment
        highest = cosine_distance(embeds, checker.concept_embeds).max(dim=1).values + adjusted
        checker.concept_embeds_weights.fill_(highest.mean().item())
    checker.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)


# pytorch-fid's file name for its FID Inception weights, which its tiny twin keeps.
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_REFERENCE_FILE = "reference.npz"
# The tiny set metrics' reference (fid_tiny, kid_tiny): the same pictures' features of the 192-dim
# block, so that a test's FID takes milliseconds (pool3's 2048 x 2048 square root takes a minute).
TINY_FID_DIMS = 192
FID_REFERENCE_FILE_TINY_DIMS = f"reference-{TINY_FID_DIMS}.npz"
# The tiny FID reference set: tiny SD's pictures of seeds the tiny suites do not use.
TINY_FID_REFERENCE_SEEDS = (100, 101, 102, 103, 104, 105)


def _build_fid_inception(out: Path, _scratch: Path) -> None:
    """pytorch-fid's FID Inception with random weights, saved as its .pth (a plain state dict of
    torchvision's Inception3 with pytorch-fid's patched blocks, 1008 classes, no aux logits):
    assembled from pytorch-fid's own classes as its fid_inception_v3 assembles them, and loaded
    back strictly by its InceptionV3 (bench.fid), so a wrong layout fails there. Beside
    it, reference statistics (mu, sigma, features) of a few tiny SD pictures: of pool3, and of
    the 192-dim block the tiny set metrics read."""
    import torch
    from pytorch_fid import inception as pf

    from bench import fid

    torch.manual_seed(15)
    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    torch.save(net.state_dict(), out / FID_INCEPTION_FILE)
    pictures = tiny_sd_pictures(TINY_FID_REFERENCE_SEEDS)
    for dims, name in ((fid.DIMS, FID_REFERENCE_FILE), (TINY_FID_DIMS, FID_REFERENCE_FILE_TINY_DIMS)):
        features = fid.activations(fid.load_inception(out / FID_INCEPTION_FILE, dims=dims), pictures)
        fid.save_reference(out / name, fid.make_reference(features))


BUILDERS.update(
    {
        "tiny-fid-inception": _build_fid_inception,
        "tiny-pickscore": _build_pickscore,
        "tiny-hpsv2": _build_hpsv2,
        "tiny-imagereward": _build_imagereward,
        "tiny-aesthetic": _build_aesthetic,
        "tiny-clip-iqa-vit-b-16": _build_clip_iqa_vit_b_16,
        "tiny-clip-iqa-rn50": _build_clip_iqa_rn50,
        "tiny-nsfw": _build_nsfw,
    }
)
