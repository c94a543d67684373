"""CLIP score with open_clip: a pure formula plus a scorer that keeps the model busy.

The scorer loads one model once, prepares images in worker threads while the model encodes the
batch before (bench.scorers.batching), and encodes each prompt once however many images share it.
"""

from __future__ import annotations

from bench.clip_factory import create_clip
from bench.scorers.batching import (  # noqa: F401 - re-exported: the CLIP scorer's public names
    MAX_WORKERS,
    PREFETCH_BATCHES,
    BatchedScorer,
    Pixels,
    default_workers,
    package_versions,
    resolve_device,
    split_preprocess,
)
from bench.tiny import register_tiny_clip
from bench.weights.hub import open_clip_checkpoint


def clip_cosine(image_features, text_features):
    """CLIP score as raw cosine similarity between paired image and text embeddings.

    Range [-1, 1], higher is better; the seed study reports this raw value, MLPerf 100 *
    cosine (no clamp: tests/test_clip_mlperf.py), torchmetrics and HEIM max(100 * cosine, 0).
    Rows of the two inputs are paired.
    """
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    return (image_features * text_features).sum(dim=-1)


class ClipScorer(BatchedScorer):
    """Loads one open_clip model once and scores (image, prompt) pairs in batches.

    `model`, `preprocess` and `tokenizer` can be injected (tests pass a tiny model; HPS passes
    its fine-tuned CLIP). Text embeddings and truncated-token counts are kept per prompt for the
    scorer's life, which is one scoring pass (`bench.scoring` makes one scorer per metric per pass).
    """

    thread_prefix = "clip-preprocess"

    def __init__(
        self,
        arch: str,
        pretrained: str | None,
        device: str = "auto",
        batch_size: int = 32,
        model=None,
        preprocess=None,
        tokenizer=None,
        workers: int | None = None,
    ):
        import open_clip

        self.device = resolve_device(device)
        weights = "tiny random weights" if pretrained == "tiny" else f"{arch}/{pretrained}"
        if model is None:
            checkpoint = None
            if pretrained == "tiny":
                pretrained = str(register_tiny_clip())
            elif pretrained and (pinned := open_clip_checkpoint(arch, pretrained)):
                # Real tags ("openai") resolve through the HF cache at their pinned commit;
                # HF_HUB_OFFLINE=1 keeps it local.
                checkpoint, revision = pinned
                weights += f"@{revision or 'main'}"
            model, preprocess = create_clip(arch, pretrained, transforms=True, checkpoint=checkpoint)
        self.version = f"{package_versions('open_clip_torch', 'torch')}; {weights}"
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer or open_clip.get_tokenizer(arch)
        self.batch_size = batch_size
        self.workers = workers or default_workers()
        self._pixels = Pixels(preprocess, self.device)
        self._text_features: dict[str, object] = {}  # prompt -> embedding on the device
        self._truncated: dict[str, int] = {}  # prompt -> tokens beyond the context

    @property
    def _pil_steps(self):
        return self._pixels.pil_steps

    def truncated_tokens(self, prompt: str) -> int:
        """Prompt tokens beyond CLIP's context (start and end tokens take two places)."""
        if prompt not in self._truncated:
            context = getattr(self.tokenizer, "context_length", 77)
            self._truncated[prompt] = max(0, len(self.tokenizer.encode(prompt)) + 2 - context)
        return self._truncated[prompt]

    def pixels(self, images) -> object:
        """The batch of pixels the model sees for these PIL images, made as `stream` makes it."""
        return self._pixels.batch([self._prepare(im, None) for im in images])

    def _prepare_image(self, image):
        return self._pixels.prepare(image)

    def _batch_values(self, prepared: list, prompts: list[str]):
        image_features = self.model.encode_image(self._pixels.batch(prepared))
        return clip_cosine(image_features.float(), self._text(prompts).float())

    def _text(self, prompts: list[str]):
        """Text embeddings of these prompts, encoding only the ones not seen before in this pass."""
        import torch

        new = list(dict.fromkeys(p for p in prompts if p not in self._text_features))
        if new:
            features = self.model.encode_text(self.tokenizer(new).to(self.device))
            self._text_features.update(zip(new, features))
        return torch.stack([self._text_features[p] for p in prompts])
