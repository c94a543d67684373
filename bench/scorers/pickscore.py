"""PickScore v1 (Kirstain et al. 2023): a CLIP ViT-H/14 fine-tuned on Pick-a-Pic preferences.

As the model card's reference code: transformers' CLIPModel from yuvalkirstain/PickScore_v1 and
the CLIPProcessor of laion/CLIP-ViT-H-14-laion2B-s32B-b79K (resize the short side to 224 bicubic,
centre crop, CLIP's mean and std; text truncated to 77 tokens); the score is
`logit_scale.exp() * cosine(image, text)`, about 100 x cosine.
"""

from __future__ import annotations

from bench.scorers.batching import (
    BatchedScorer,
    default_workers,
    describe,
    package_versions,
    resolve_device,
    weight_files,
)

CONTEXT_TOKENS = 77


def pick_score(image_embeds, text_embeds, logit_scale):
    """PickScore of paired rows: exp(logit_scale) x cosine. Higher is better; only differences
    between images of one prompt are meaningful."""
    image_embeds = image_embeds / image_embeds.norm(dim=-1, keepdim=True)
    text_embeds = text_embeds / text_embeds.norm(dim=-1, keepdim=True)
    return logit_scale.exp() * (image_embeds * text_embeds).sum(dim=-1)


class PickScorer(BatchedScorer):
    """Loads PickScore once; images are prepared by the processor in worker threads, and each
    prompt is encoded once per pass, alone (as the reference encodes one prompt at a time)."""

    thread_prefix = "pickscore-preprocess"

    def __init__(self, weights, device: str = "auto", batch_size: int = 16, workers: int | None = None):
        from transformers import CLIPModel, CLIPProcessor

        model_weights, processor_weights = weights
        model_files, processor_files = weight_files(model_weights), weight_files(processor_weights)
        model_path = model_files[model_weights.files[0]]
        processor_path = processor_files[processor_weights.files[0]]
        self.device = resolve_device(device)
        self.model = CLIPModel.from_pretrained(model_path.parent, use_safetensors=True).to(self.device).eval()
        self.processor = CLIPProcessor.from_pretrained(processor_path.parent, use_fast=False)
        self.batch_size, self.workers = batch_size, workers or default_workers()
        weights_used = dict.fromkeys([describe(model_weights, model_path), describe(processor_weights, processor_path)])
        self.version = "; ".join([package_versions("transformers", "torch"), *weights_used])
        self._text_embeds: dict[str, object] = {}
        self._truncated: dict[str, int] = {}

    def truncated_tokens(self, prompt: str) -> int:
        if prompt not in self._truncated:
            ids = self.processor.tokenizer(prompt, verbose=False)["input_ids"]  # with start and end tokens
            self._truncated[prompt] = max(0, len(ids) - CONTEXT_TOKENS)
        return self._truncated[prompt]

    def _prepare_image(self, image):
        return self.processor.image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    def _batch_values(self, prepared: list, prompts: list[str]):
        import torch

        for prompt in dict.fromkeys(p for p in prompts if p not in self._text_embeds):
            text = self.processor(
                text=prompt, padding=True, truncation=True, max_length=CONTEXT_TOKENS, return_tensors="pt"
            )
            self._text_embeds[prompt] = self.model.get_text_features(**text.to(self.device))[0]
        image_embeds = self.model.get_image_features(pixel_values=torch.stack(prepared).to(self.device))
        text_embeds = torch.stack([self._text_embeds[p] for p in prompts])
        return pick_score(image_embeds.float(), text_embeds.float(), self.model.logit_scale.float())
