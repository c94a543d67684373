"""LAION aesthetic predictor v2 ("improved aesthetic predictor"): an MLP on the L2-normalised
CLIP ViT-L/14 (OpenAI) image embedding, trained on 1..10 ratings (SAC, LAION-Logos, AVA).

As its `simple_inference.py`: CLIP's own preprocess (resize the short side to 224 bicubic, centre
crop, CLIP's mean and std; open_clip's "openai" tag is the same weights and transform), the
embedding normalised, the MLP's output unclamped. It reads no prompt.
"""

from __future__ import annotations

from bench.scorers.batching import describe, load_pickle, weight_files
from bench.scorers.clip import ClipScorer


class AestheticScorer(ClipScorer):
    thread_prefix = "aesthetic-preprocess"

    def __init__(
        self,
        arch: str,
        pretrained: str,
        weights,
        device: str = "auto",
        batch_size: int = 32,
        workers: int | None = None,
    ):
        import torch.nn as nn

        from bench.tiny_scorers import mlp_head

        (head_weights,) = weights
        path = weight_files(head_weights)[head_weights.files[0]]
        state, digest = load_pickle(path, head_weights.sha256, head_weights.tiny)
        super().__init__(arch, pretrained, device, batch_size, workers=workers)
        head = nn.Module()
        head.layers = mlp_head(state["layers.0.weight"].shape[1])
        head.load_state_dict(state)
        self.head = head.layers.to(self.device).eval()
        self.version += f"; {describe(head_weights, path, digest)}"

    def truncated_tokens(self, prompt: str) -> None:
        return None  # the prompt is not read

    def _batch_values(self, prepared: list, prompts: list[str]):
        features = self.model.encode_image(self._pixels.batch(prepared)).float()
        features = features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # the reference's zero-norm guard
        return self.head(features)[:, 0]
