"""Tiny random-weight twins of the quality scorers (PickScore, HPS v2.1, ImageReward, LAION
aesthetic, CLIP-IQA), saved in each published checkpoint's own layout and file names, so the
scorers load them through the very code that loads the real weights (key mapping included).

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
    """A transformers CLIPModel + CLIPProcessor (the real CLIP tokenizer), as PickScore and the
    HF CLIPs CLIP-IQA uses are published; sizes tiny, preprocessing CLIP's (bicubic, centre crop)."""
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


def _build_clip_iqa(out: Path, scratch: Path) -> None:
    _build_hf_clip(out, scratch, seed=12)


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


BUILDERS.update(
    {
        "tiny-pickscore": _build_pickscore,
        "tiny-hpsv2": _build_hpsv2,
        "tiny-imagereward": _build_imagereward,
        "tiny-aesthetic": _build_aesthetic,
        "tiny-clip-iqa": _build_clip_iqa,
    }
)
