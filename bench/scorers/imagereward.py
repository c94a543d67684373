"""ImageReward v1.0 (Xu et al. 2023): BLIP (ViT-L/16 image encoder, BERT text encoder with
cross-attention to the image) plus an MLP on the [CLS] output, standardised.

The authors' `image-reward` package pins timm 0.6 and fairscale, so it does not install beside
our pins; the model is rebuilt here from the same parts and loads the published `ImageReward.pt`:
BLIP's ViT is timm's VisionTransformer (same module names), its `med.py` BERT is transformers'
BlipTextModel (a port of it, same names), with keys mapped below. As `ImageReward.score`: the
preprocess is CLIP's (resize the short side to 224 bicubic, centre crop, CLIP's mean and std),
the prompt bert-base-uncased's tokens padded and truncated to 35, no [ENC] token, and
(reward - 0.16717362830052426) / 1.0333394966054072.
"""

from __future__ import annotations

import json

from bench.scorers.batching import (
    BatchedScorer,
    Pixels,
    default_workers,
    describe,
    load_pickle,
    package_versions,
    resolve_device,
    weight_files,
)

MAX_TOKENS = 35
REWARD_MEAN, REWARD_STD = 0.16717362830052426, 1.0333394966054072
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def reference_transform(side_px: int):
    """ImageReward's `_transform(n_px)`."""
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    return Compose([Resize(side_px, interpolation=InterpolationMode.BICUBIC), CenterCrop(side_px),
                    _convert_image_to_rgb, ToTensor(), Normalize(CLIP_MEAN, CLIP_STD)])  # fmt: skip


def _convert_image_to_rgb(image):
    return image.convert("RGB")


def blip_tokenizer(vocab_file):
    """BLIP's `init_tokenizer()`: bert-base-uncased plus [DEC] (bos) and [ENC]."""
    from transformers import BertTokenizer

    tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    return tokenizer


def build_model(med: dict, image_size: int, vision_width: int, vision_depth: int, vision_heads: int):
    """BLIP's encoders and ImageReward's head, random; `load_reference` fills them."""
    from functools import partial

    import torch.nn as nn
    from timm.models.vision_transformer import VisionTransformer
    from transformers import BlipTextConfig
    from transformers.models.blip.modeling_blip_text import BlipTextModel

    from bench.tiny_scorers import mlp_head

    model = nn.Module()
    model.visual_encoder = VisionTransformer(
        img_size=image_size, patch_size=16, embed_dim=vision_width, depth=vision_depth, num_heads=vision_heads,
        mlp_ratio=4, qkv_bias=True, num_classes=0, global_pool="", norm_layer=partial(nn.LayerNorm, eps=1e-6),
    )  # fmt: skip
    config = BlipTextConfig(
        vocab_size=med["vocab_size"],
        hidden_size=med["hidden_size"],
        encoder_hidden_size=vision_width,  # BLIP sets encoder_width to the ViT's width
        intermediate_size=med["intermediate_size"],
        num_hidden_layers=med["num_hidden_layers"],
        num_attention_heads=med["num_attention_heads"],
        max_position_embeddings=med["max_position_embeddings"],
        layer_norm_eps=med["layer_norm_eps"],
        hidden_act=med["hidden_act"],
        pad_token_id=med["pad_token_id"],
        is_decoder=True,  # builds the cross-attention layers; forward runs them bidirectionally
    )
    model.text_encoder = BlipTextModel(config, add_pooling_layer=False)
    model.mlp = nn.Module()
    model.mlp.layers = mlp_head(med["hidden_size"])
    return model.eval()


def map_keys(state: dict) -> dict:
    """ImageReward.pt's keys onto `build_model`'s: `blip.` dropped; the contrastive projections
    (unused by the reward) and med.py's saved position ids left out."""
    mapped = {}
    for key, value in state.items():
        if key.startswith(("blip.vision_proj.", "blip.text_proj.")) or key.endswith("embeddings.position_ids"):
            continue
        mapped[key.removeprefix("blip.")] = value
    return mapped


def reward(model, pixels, input_ids, attention_mask):
    """ImageReward of paired rows (z-scored over its training set; higher is better)."""
    import torch

    image_embeds = model.visual_encoder.forward_features(pixels)
    image_atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
    out = model.text_encoder(input_ids, attention_mask=attention_mask, encoder_hidden_states=image_embeds,
                             encoder_attention_mask=image_atts, return_dict=True, is_decoder=False)  # fmt: skip
    return (model.mlp.layers(out.last_hidden_state[:, 0, :].float())[:, 0] - REWARD_MEAN) / REWARD_STD


class ImageRewardScorer(BatchedScorer):
    thread_prefix = "imagereward-preprocess"

    def __init__(self, weights, image_size: int, vision_width: int, vision_depth: int, vision_heads: int,
                 device: str = "auto", batch_size: int = 16, workers: int | None = None):  # fmt: skip
        checkpoint, vocab = weights
        files, vocab_files = weight_files(checkpoint), weight_files(vocab)
        path = files[checkpoint.files[0]]
        state, digest = load_pickle(path, checkpoint.sha256, checkpoint.tiny)
        med = json.loads(files["med_config.json"].read_text(encoding="utf-8"))
        self.device = resolve_device(device)
        self.model = build_model(med, image_size, vision_width, vision_depth, vision_heads)
        self.model.load_state_dict(map_keys(state))
        self.model.to(self.device)
        self.tokenizer = blip_tokenizer(vocab_files["vocab.txt"])
        self._pixels = Pixels(reference_transform(image_size), self.device)
        self.batch_size, self.workers = batch_size, workers or default_workers()
        weights_used = dict.fromkeys([describe(checkpoint, path, digest), describe(vocab, vocab_files["vocab.txt"])])
        self.version = "; ".join([package_versions("transformers", "timm", "torch"), *weights_used])
        self._tokens: dict[str, tuple] = {}

    def truncated_tokens(self, prompt: str) -> int:
        return max(0, len(self.tokenizer(prompt, verbose=False)["input_ids"]) - MAX_TOKENS)

    def _prepare_image(self, image):
        return self._pixels.prepare(image)

    def _batch_values(self, prepared: list, prompts: list[str]):
        import torch

        for prompt in dict.fromkeys(p for p in prompts if p not in self._tokens):
            t = self.tokenizer(
                prompt, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            self._tokens[prompt] = (t.input_ids[0], t.attention_mask[0])
        input_ids = torch.stack([self._tokens[p][0] for p in prompts]).to(self.device)
        attention_mask = torch.stack([self._tokens[p][1] for p in prompts]).to(self.device)
        return reward(self.model, self._pixels.batch(prepared), input_ids, attention_mask)
