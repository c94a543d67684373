"""CLIP score with open_clip: a pure formula plus a thin scorer that only caches the model."""

from __future__ import annotations

from bench.tiny import register_tiny_clip


def clip_cosine(image_features, text_features):
    """CLIP score as raw cosine similarity between paired image and text embeddings.

    Range [-1, 1], higher is better; the seed study reports this raw value, torchmetrics,
    HEIM and MLPerf report max(100 * cosine, 0). Rows of the two inputs are paired.
    """
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    return (image_features * text_features).sum(dim=-1)


class ClipScorer:
    """Loads one open_clip model once and scores (image, prompt) pairs in batches.

    `model`, `preprocess` and `tokenizer` can be injected (tests pass a tiny model).
    """

    def __init__(
        self,
        arch: str,
        pretrained: str,
        device: str = "auto",
        batch_size: int = 32,
        model=None,
        preprocess=None,
        tokenizer=None,
    ):
        import open_clip
        import torch

        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if model is None:
            if pretrained == "tiny":
                pretrained = str(register_tiny_clip())
            # Real tags ("openai") resolve through the HF cache; HF_HUB_OFFLINE=1 keeps it local.
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained)
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer or open_clip.get_tokenizer(arch)
        self.batch_size = batch_size

    def truncated_tokens(self, prompt: str) -> int:
        """Prompt tokens beyond CLIP's context (start and end tokens take two places)."""
        context = getattr(self.tokenizer, "context_length", 77)
        return max(0, len(self.tokenizer.encode(prompt)) + 2 - context)

    def score(self, images, prompts: list[str]) -> list[float]:
        """Raw cosine of each image with its own prompt."""
        import torch

        values: list[float] = []
        for i in range(0, len(images), self.batch_size):
            pixels = torch.stack([self.preprocess(im.convert("RGB")) for im in images[i : i + self.batch_size]])
            tokens = self.tokenizer(prompts[i : i + self.batch_size])
            with torch.inference_mode():
                image_features = self.model.encode_image(pixels.to(self.device))
                text_features = self.model.encode_text(tokens.to(self.device))
            values += clip_cosine(image_features.float(), text_features.float()).tolist()
        return values
