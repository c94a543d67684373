"""The CLIP-IQA formula on a transformers CLIP (the `clip_iqa_vit_b_16` variant): torchmetrics'
route for the HF models it names, which is not the published CLIP-IQA (bench.scorers.clip_iqa is:
RN50 on the whole image). The processor resizes the short side to 224 px and centre-crops, so the
score reads the middle of the image only; kept to compare with scores made that way before.

torchmetrics' own functions do the work (`_clip_iqa_format_prompts`, the anchor vectors, the
compute step) with the HF CLIP loaded through the HF cache. One difference, on purpose:
torchmetrics divides images by `data_range` and hands them to the HF processor, which rescales by
1/255 again (pixels near 0, every image scored alike); here the processor gets 0..255 pixels with
data_range 1, so it rescales once, as CLIP was trained.
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


class HfClipIqaScorer(BatchedScorer):
    thread_prefix = "clip-iqa-hf-preprocess"

    def __init__(self, weights, prompts=("quality",), device: str = "auto", batch_size: int = 32,
                 workers: int | None = None):  # fmt: skip
        import torch
        from torchmetrics.functional.multimodal.clip_iqa import _clip_iqa_format_prompts, _clip_iqa_get_anchor_vectors
        from transformers import CLIPModel, CLIPProcessor

        (clip,) = weights
        files = weight_files(clip)
        path = files[clip.files[0]]
        self.device = resolve_device(device)
        self.model = CLIPModel.from_pretrained(path.parent, use_safetensors=True).to(self.device).eval()
        self.processor = CLIPProcessor.from_pretrained(path.parent, use_fast=False)
        prompts_list, self.prompt_names = _clip_iqa_format_prompts(tuple(prompts))
        if len(self.prompt_names) != 1:
            raise ValueError(f"prompts: one pair gives one value per image; got {self.prompt_names}")
        with torch.inference_mode():
            self.anchors = _clip_iqa_get_anchor_vectors(
                clip.hub_id, self.model, self.processor, prompts_list, self.device
            )
        self.batch_size, self.workers = batch_size, workers or default_workers()
        self.version = f"{package_versions('torchmetrics', 'transformers', 'torch')}; {describe(clip, path)}"

    def _prepare_image(self, image):
        """Worker thread: `_clip_iqa_update`'s processor call, for one image of 0..255 pixels."""
        import numpy as np
        import torch

        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()
        return self.processor(images=[pixels], return_tensors="pt")["pixel_values"][0]

    def _batch_values(self, prepared: list, prompts: list[str]):
        import torch
        from torchmetrics.functional.multimodal.clip_iqa import _clip_iqa_compute

        features = self.model.get_image_features(torch.stack(prepared).to(self.device))
        features = features / features.norm(p=2, dim=-1, keepdim=True)
        return _clip_iqa_compute(features, self.anchors, self.prompt_names).reshape(-1)
