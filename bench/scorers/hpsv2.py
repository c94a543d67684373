"""HPS v2.1 (Wu et al. 2023): open_clip's ViT-H-14 with the HPS v2.1 weights; the score is the
cosine between the image and prompt embeddings (papers print it x100).

As HPSv2's `img_score.py`: its `preprocess_val` (HPSv2's open_clip fork with
`light_augmentation=True`: the LONGEST side to 224 bicubic, padded to a square with black, CLIP's
mean and std; not open_clip's usual short-side resize and centre crop, which differ once an image
is not square), open_clip's tokenizer (77 tokens), the checkpoint's `state_dict` loaded strictly.
Its starting weights (laion2B-s32B-b79K) are all overwritten by the checkpoint, so they are not
read here. The pickle must be sha256-pinned in bench.metrics before it is loaded; the real one's
pin is still missing there, so real HPS scoring refuses to start until someone adds it.
"""

from __future__ import annotations

import logging

from bench.scorers.batching import describe, load_pickle, package_versions, weight_files
from bench.scorers.clip import ClipScorer
from bench.tiny import register_tiny_clip


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
        preprocess = open_clip.image_transform(
            model.visual.image_size, is_train=False, resize_mode="longest", fill_color=0
        )
        super().__init__(arch, None, device, batch_size, model=model, preprocess=preprocess, workers=workers)
        self.version = f"{package_versions('open_clip_torch', 'torch')}; {describe(checkpoint, path, digest)}"
