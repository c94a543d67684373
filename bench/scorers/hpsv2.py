"""HPS v2.1 (Wu et al. 2023): open_clip's ViT-H-14 with the HPS v2.1 weights; the score is the
cosine between the image and prompt embeddings (papers print it x100).

As HPSv2's `img_score.py`: open_clip's tokenizer (77 tokens), the checkpoint's `state_dict` loaded
strictly, and its `preprocess_val`, which is HPSv2's open_clip fork's `image_transform(224,
is_train=False, resize_longest_max=True)` (tgxs002/HPSv2, hpsv2/src/open_clip/transform.py), in
its order: `ToTensor()` first, then `ResizeMaxSize` on the float tensor (the LONGEST side to 224,
torchvision's bicubic with its default antialiasing, black padding centred to a square), then
CLIP's mean and std. Not open_clip's usual short-side resize and centre crop, which differ once an
image is not square; and not the same resize on the uint8 PIL image either (pixels differ by
0.004 on average, cosines by up to 5e-5 with random weights). A transform with a tensor step in
the middle runs whole in the worker threads (bench.scorers.batching.Pixels).

The reference itself moves about ten times more than that between torchvision versions:
torchvision 0.17 made antialiasing the default when resizing a tensor (before, tensors were
resized without it), and HPSv2's code does not say which it wants. So each score records the
torchvision version it was made with. Its starting weights (laion2B-s32B-b79K) are all
overwritten by the checkpoint, so they are not read here; the checkpoint is a pickle, loaded only
when its sha256 is the one pinned in bench.metrics.
"""

from __future__ import annotations

import logging

from bench.scorers.batching import describe, load_pickle, package_versions, weight_files
from bench.scorers.clip import ClipScorer
from bench.tiny import register_tiny_clip


class ResizeMaxSize:
    """HPSv2's fork's `ResizeMaxSize(side_px, fill=0)` on a CHW float tensor: the longest side to
    `side_px` (sides rounded, bicubic), then padding of `fill` split evenly (the odd pixel
    right and bottom). Where the longest side is already `side_px` the reference does nothing,
    which leaves a non-square image non-square (and the model fails on it); here it is padded."""

    def __init__(self, side_px: int, fill: float = 0):
        self.side_px, self.fill = side_px, fill

    def __call__(self, pixels):
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        height, width = pixels.shape[1:]
        scale = self.side_px / float(max(height, width))
        if scale != 1.0:
            height, width = (round(d * scale) for d in (height, width))
            # antialias left to torchvision's default, as the reference leaves it
            pixels = F.resize(pixels, [height, width], InterpolationMode.BICUBIC)
        pad_h, pad_w = self.side_px - height, self.side_px - width
        if pad_h or pad_w:
            pixels = F.pad(pixels, [pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2], fill=self.fill)
        return pixels


def reference_transform(side_px: int):
    """HPSv2's `preprocess_val` for RGB images: ToTensor, ResizeMaxSize, CLIP's mean and std."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    from torchvision.transforms import Compose, Normalize, ToTensor

    return Compose([ToTensor(), ResizeMaxSize(side_px, fill=0), Normalize(OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)])


class HpsScorer(ClipScorer):
    """ClipScorer's pipeline (workers, per-prompt text cache, cosine) on the HPS v2.1 model."""

    thread_prefix = "hpsv2-preprocess"

    def __init__(self, arch: str, weights, device: str = "auto", batch_size: int = 32, workers: int | None = None):
        import open_clip

        (checkpoint,) = weights
        path = weight_files(checkpoint)[checkpoint.files[0]]
        state, digest = load_pickle(path, checkpoint.sha256, checkpoint.tiny)
        if checkpoint.tiny:
            register_tiny_clip()  # makes the tiny architecture's config known to open_clip
        logging.disable(logging.WARNING)  # open_clip's "initialized randomly": the checkpoint follows
        try:
            model = open_clip.create_model(arch, pretrained=None)
        finally:
            logging.disable(logging.NOTSET)
        model.load_state_dict(state["state_dict"])
        side_px = model.visual.image_size
        side_px = side_px[0] if isinstance(side_px, (tuple, list)) else side_px  # square: (224, 224)
        preprocess = reference_transform(side_px)
        super().__init__(arch, None, device, batch_size, model=model, preprocess=preprocess, workers=workers)
        self.version = (
            f"{package_versions('open_clip_torch', 'torchvision', 'torch')}; {describe(checkpoint, path, digest)}"
        )
