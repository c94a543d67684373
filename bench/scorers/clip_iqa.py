"""CLIP-IQA (Wang et al. 2023) as published, and as torchmetrics' default computes it: the
probability that CLIP finds the image closer to "Good photo." than to "Bad photo." (softmax of
100 x cosine over the pair), with OpenAI's CLIP RN50 reading the whole image at its own size.

Exactly `torchmetrics.functional.multimodal.clip_image_quality_assessment(images,
model_name_or_path="clip_iqa", data_range=255)`, with its own functions doing the work:
- the model is the one `piq.clip_iqa.clip.load()` makes: OpenAI's RN50.pt (a TorchScript archive)
  read by `torch.jit.load` and rebuilt by piq's `build_model` (conv and linear weights rounded to
  fp16, as OpenAI saved them), then float32. Loading a TorchScript archive runs code of its own,
  so the file is read only once its sha256 is the one pinned in bench.metrics;
- the anchors: `_clip_iqa_get_anchor_vectors` with the openai/clip-vit-base-patch16 tokenizer that
  torchmetrics loads (ids zero-padded to 77, the end token found by argmax, as OpenAI's CLIP);
- the images: `_clip_iqa_update` on 0..255 pixels with data_range 255: /255, CLIP's mean and std,
  `encode_image(pos_embedding=False)`. No resize and no crop: RN50's convolutions and attention
  pool take any size once the positional embedding is off, so a 1024 px image is read at 1024 px.
Images of one size are encoded together; a batch of mixed sizes is encoded one size at a time.
"""

from __future__ import annotations

from bench.scorers.batching import (
    BatchedScorer,
    check_pin,
    default_workers,
    describe,
    package_versions,
    resolve_device,
    weight_files,
)

# torchmetrics' name for the model it loads through piq (its `model_name_or_path` default): the
# anchors and the image features take the RN50 route only under this name.
TORCHMETRICS_NAME = "clip_iqa"


def load_rn50(path, weights):
    """(model, what to record) as `piq.clip_iqa.clip.load()` makes it, from a local RN50.pt: the
    pin is checked before the archive is read (tiny twins are our own build: not pinned)."""
    import warnings

    import torch
    from piq.feature_extractors.clip import build_model

    recorded = "tiny random weights" if weights.tiny else check_pin(path, weights.sha256)
    with warnings.catch_warnings():
        # torch deprecates TorchScript; OpenAI published RN50 as a TorchScript archive all the same
        warnings.simplefilter("ignore", FutureWarning)
        archive = torch.jit.load(path, map_location="cpu").eval()
    return build_model(archive.state_dict()).float().eval(), recorded


class ClipIqaScorer(BatchedScorer):
    thread_prefix = "clip-iqa-preprocess"

    def __init__(self, weights, prompts=("quality",), device: str = "auto", batch_size: int = 32,
                 workers: int | None = None):  # fmt: skip
        import torch
        from torchmetrics.functional.multimodal.clip_iqa import _clip_iqa_format_prompts, _clip_iqa_get_anchor_vectors
        from transformers import CLIPProcessor

        rn50, tokenizer = weights
        path = weight_files(rn50)[rn50.files[0]]
        tokenizer_path = weight_files(tokenizer)[tokenizer.files[0]]
        self.device = resolve_device(device)
        model, recorded = load_rn50(path, rn50)
        self.model = model.to(self.device)
        self.processor = CLIPProcessor.from_pretrained(tokenizer_path.parent, use_fast=False)
        prompts_list, self.prompt_names = _clip_iqa_format_prompts(tuple(prompts))
        if len(self.prompt_names) != 1:
            raise ValueError(f"prompts: one pair gives one value per image; got {self.prompt_names}")
        with torch.inference_mode():
            self.anchors = _clip_iqa_get_anchor_vectors(
                TORCHMETRICS_NAME, self.model, self.processor, prompts_list, self.device
            )
        self.batch_size, self.workers = batch_size, workers or default_workers()
        self.version = (
            f"{package_versions('torchmetrics', 'piq', 'torch')}; {describe(rn50, path, recorded)}; "
            f"tokenizer {describe(tokenizer, tokenizer_path)}"
        )

    def _prepare_image(self, image):
        """Worker thread: the image's 0..255 pixels as a uint8 CHW tensor, whole."""
        import numpy as np
        import torch

        return torch.from_numpy(np.array(image)).permute(2, 0, 1)

    def _batch_values(self, prepared: list, prompts: list[str]):
        import torch
        from torchmetrics.functional.multimodal.clip_iqa import _clip_iqa_compute, _clip_iqa_update

        by_size: dict[tuple, list[int]] = {}
        for i, pixels in enumerate(prepared):
            by_size.setdefault(tuple(pixels.shape), []).append(i)
        values = torch.empty(len(prepared), device=self.device)
        for positions in by_size.values():
            images = torch.stack([prepared[i] for i in positions]).to(self.device).float()
            features = _clip_iqa_update(TORCHMETRICS_NAME, images, self.model, self.processor, 255.0, self.device)
            values[positions] = _clip_iqa_compute(features, self.anchors, self.prompt_names).reshape(-1)
        return values
