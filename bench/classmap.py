"""A text prompt becomes an ImageNet class, for class-conditional models (BigGAN).

The prompt and the 1000 ImageNet class names (as open_clip ships them, each put into prompt
templates and averaged, the way CLIP's zero-shot classifier is built) are embedded with a CLIP
text encoder; the class closest by cosine wins. With top-k > 1 the k closest classes are mixed,
weighted by a softmax of their similarities at CLIP's own logit scale. The class embeddings cost
1000 x templates text encodings, so they are cached on disk per CLIP model and template set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from bench.clip_factory import create_clip, trained_with_quick_gelu
from bench.files import atomic_write, cache_dir
from bench.metrics import METRICS
from bench.tiny import register_tiny_clip
from bench.weights.hub import open_clip_checkpoint

ENCODE_BATCH = 256  # texts per text-encoder call


def template_texts(name: str) -> list[str]:
    """The templates of a set (bench.models.TEMPLATE_SETS) as format strings with one "{}"."""
    from open_clip.zero_shot_metadata import (
        OPENAI_IMAGENET_TEMPLATES,
        SIMPLE_IMAGENET_TEMPLATES,
    )

    sets = {
        "openai": OPENAI_IMAGENET_TEMPLATES,
        "simple": SIMPLE_IMAGENET_TEMPLATES,
        "photo": (lambda c: f"a photo of a {c}.",),
    }
    return [template("{}") for template in sets[name]]


def class_names() -> list[str]:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


@dataclass(frozen=True)
class ClassChoice:
    """The classes a prompt became: ImageNet indices, mixing weights (sum 1), cosines."""

    indices: tuple[int, ...]
    weights: tuple[float, ...]
    similarities: tuple[float, ...]
    names: tuple[str, ...]

    @property
    def label(self) -> str:
        """What `generations.class_label` holds; the index disambiguates repeated names
        (ImageNet has two "missile" and two "sunglasses" classes)."""
        parts = [f"{name} (#{i})" for name, i in zip(self.names, self.indices)]
        if len(parts) == 1:
            return parts[0]
        return " + ".join(f"{part} x{w:.2f}" for part, w in zip(parts, self.weights))

    @property
    def similarity(self) -> float:
        """Cosine of prompt and class; for a mixture, weighted by the mixing weights."""
        return float(sum(w * s for w, s in zip(self.weights, self.similarities)))


class ClassMap:
    """Maps prompts to ImageNet classes with one CLIP text encoder, loaded once.

    `model` and `tokenizer` can be injected (tests); otherwise the CLIP of metric `clip`
    (bench.metrics) is loaded the way the scorer loads it.
    """

    def __init__(
        self,
        clip: str = "clip_vit_b_32",
        templates: str | list[str] = "openai",
        device: str = "cpu",
        model=None,
        tokenizer=None,
    ):
        import open_clip

        options = METRICS[clip].options
        arch, pretrained = options["arch"], options["pretrained"]
        if pretrained == "tiny":
            pretrained = str(register_tiny_clip())
        if model is None:
            pinned = open_clip_checkpoint(arch, pretrained) if options["pretrained"] != "tiny" else None
            model = create_clip(arch, pretrained, checkpoint=pinned[0] if pinned else None)
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer or open_clip.get_tokenizer(arch)
        self.device = device
        self.templates = template_texts(templates) if isinstance(templates, str) else list(templates)
        self.names = class_names()
        self.logit_scale = float(self.model.logit_scale.detach().exp())
        self.classes = self._class_embeddings(_cache_key(arch, pretrained, self.names, self.templates))

    def _encode(self, texts: list[str]):
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), ENCODE_BATCH):
                tokens = self.tokenizer(texts[i : i + ENCODE_BATCH]).to(self.device)
                out.append(self.model.encode_text(tokens).float())
        features = torch.cat(out)
        return features / features.norm(dim=-1, keepdim=True)

    def _class_embeddings(self, key: str):
        """(1000, dim) unit vectors: per class, the normalised mean of its template embeddings."""
        import numpy as np
        import torch

        path = cache_dir("classmap") / f"{key}.npy"
        if path.is_file():
            return torch.from_numpy(np.load(path, allow_pickle=False)).to(self.device)
        n = len(self.templates)
        texts = [t.format(name) for name in self.names for t in self.templates]
        mean = self._encode(texts).reshape(len(self.names), n, -1).mean(dim=1)
        classes = mean / mean.norm(dim=-1, keepdim=True)
        with atomic_write(path) as f:
            np.save(f, classes.cpu().numpy(), allow_pickle=False)
        return classes

    def similarities(self, prompt: str):
        """Cosine of the prompt with each of the 1000 classes."""
        return (self.classes @ self._encode([prompt])[0]).cpu()

    def choose(self, prompt: str, top_k: int = 1) -> ClassChoice:
        import torch

        sims = self.similarities(prompt)
        # A stable sort: on a tie (repeated names) the lower index wins, every time.
        order = torch.sort(sims, descending=True, stable=True).indices[:top_k]
        best = sims[order]
        weights = torch.softmax(best * self.logit_scale, dim=0)
        return ClassChoice(
            indices=tuple(int(i) for i in order),
            weights=tuple(float(w) for w in weights),
            similarities=tuple(float(s) for s in best),
            names=tuple(self.names[int(i)] for i in order),
        )


def _cache_key(arch: str, pretrained: str, names: list[str], templates: list[str]) -> str:
    """Names the class embeddings of one CLIP and one template set. A weights file is named by
    its size and time as well, so a rebuilt tiny CLIP does not reuse stale embeddings. "quick_gelu"
    keeps out embeddings cached before bench.clip_factory built OpenAI's CLIP with its activation."""
    weights = pretrained
    if Path(pretrained).is_file():
        stat = Path(pretrained).stat()
        weights = f"{Path(pretrained).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    blob = json.dumps(
        [arch, weights, names, templates, "quick_gelu" if trained_with_quick_gelu(arch, pretrained) else ""]
    )
    return f"{arch}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
