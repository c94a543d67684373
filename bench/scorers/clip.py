"""CLIP score with open_clip: a pure formula plus a scorer that keeps the model busy.

The scorer loads one model once, prepares images in worker threads while the model encodes the
batch before, and encodes each prompt once however many images share it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from bench.tiny import register_tiny_clip

# Batches being prepared ahead of the one being encoded: enough to keep every worker busy
# through a batch, few enough that memory stays a few batches of small uint8 pictures.
PREFETCH_BATCHES = 2
# Worker threads at most. Decoding and resizing are PIL work that releases the GIL, so threads
# scale with cores with no start-up or pickling: on a 16-core H200 host, 16 threads prepared 692
# PNGs/s where 16 DataLoader processes managed 520, their first batch after 0.7 s. The cap keeps
# a many-core host from starting dozens of threads to feed one model.
MAX_WORKERS = 16


def clip_cosine(image_features, text_features):
    """CLIP score as raw cosine similarity between paired image and text embeddings.

    Range [-1, 1], higher is better; the seed study reports this raw value, torchmetrics,
    HEIM and MLPerf report max(100 * cosine, 0). Rows of the two inputs are paired.
    """
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    return (image_features * text_features).sum(dim=-1)


def split_preprocess(preprocess):
    """(PIL steps, level table) of a `Compose([...PIL steps, ToTensor, Normalize])`, else None.

    open_clip's eval transform has that shape. Splitting it lets the workers do only PIL work
    (which releases the GIL) and hand back uint8 pixels. The tensor tail maps each uint8 level of
    each channel to one float, so it is applied once to the 3 x 256 levels here, by the transform's
    own ToTensor and Normalize, and a lookup in that table gives bit-identical pixels on any
    device (a CUDA division by a scalar multiplies by its reciprocal: 1-ulp differences).
    """
    import numpy as np
    from PIL import Image
    from torchvision.transforms import Compose, Normalize, ToTensor

    steps = getattr(preprocess, "transforms", None)
    if not isinstance(preprocess, Compose) or not steps or len(steps) < 2:
        return None
    *pil_steps, to_tensor, normalize = steps
    if not isinstance(to_tensor, ToTensor) or not isinstance(normalize, Normalize):
        return None
    if any(isinstance(s, (ToTensor, Normalize)) for s in pil_steps):
        return None
    levels = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2))  # 1 x 256, RGB
    return Compose(pil_steps), normalize(to_tensor(levels)).reshape(3 * 256)


def default_workers() -> int:
    """One worker per core this process may use, capped at MAX_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


class ClipScorer:
    """Loads one open_clip model once and scores (image, prompt) pairs in batches.

    `model`, `preprocess` and `tokenizer` can be injected (tests pass a tiny model). Text
    embeddings and truncated-token counts are kept per prompt for the scorer's life, which is one
    scoring pass (`bench.scoring` makes one scorer per metric per pass).
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
        workers: int | None = None,
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
        self.workers = workers or default_workers()
        split = split_preprocess(preprocess)
        self._pil_steps = split[0] if split else None
        if split:
            self._levels = split[1].to(self.device)
            # channel c's level v sits at 256 * c + v of the table
            self._level_offsets = torch.arange(0, 3 * 256, 256, device=self.device).view(1, 3, 1, 1)
        self._text_features: dict[str, object] = {}  # prompt -> embedding on the device
        self._truncated: dict[str, int] = {}  # prompt -> tokens beyond the context

    def truncated_tokens(self, prompt: str) -> int:
        """Prompt tokens beyond CLIP's context (start and end tokens take two places)."""
        if prompt not in self._truncated:
            context = getattr(self.tokenizer, "context_length", 77)
            self._truncated[prompt] = max(0, len(self.tokenizer.encode(prompt)) + 2 - context)
        return self._truncated[prompt]

    def score(self, images, prompts: list[str]) -> list[float]:
        """Raw cosine of each image (PIL) with its own prompt."""
        return list(self.stream(images, prompts))

    def stream(self, items: Sequence, prompts: Sequence[str], load: Callable | None = None) -> Iterator[float | None]:
        """Raw cosine of each item with its own prompt, in order, as the batches finish.

        Items are PIL images, or anything `load` turns into one in a worker thread (a path, say);
        where `load` returns None (a missing or corrupt file) the value is None and the others
        are still scored. Workers run up to PREFETCH_BATCHES batches ahead, also while the caller
        handles values already given, so close the iterator (or exhaust it) to stop them.
        """
        if len(items) != len(prompts):
            raise ValueError(f"{len(items)} images but {len(prompts)} prompts: each image needs its own")
        starts = range(0, len(items), self.batch_size)
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="clip-preprocess")

        def submit(start: int) -> list:
            return [pool.submit(self._prepare, item, load) for item in items[start : start + self.batch_size]]

        ahead = deque(submit(s) for s in starts[:PREFETCH_BATCHES])
        queued = None  # the batch the device may still be working on
        try:
            for n, start in enumerate(starts):
                prepared = [f.result() for f in ahead.popleft()]
                if n + PREFETCH_BATCHES < len(starts):
                    ahead.append(submit(starts[n + PREFETCH_BATCHES]))
                batch = self._encode(prepared, prompts[start : start + self.batch_size])
                if queued is not None:
                    yield from _values(*queued)
                queued = batch
            if queued is not None:
                yield from _values(*queued)
        finally:
            for futures in ahead:
                for f in futures:
                    f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def pixels(self, images) -> object:
        """The batch of pixels the model sees for these PIL images, made as `stream` makes it."""
        return self._pixels([self._prepare(im, None) for im in images])

    def _prepare(self, item, load):
        """Worker thread: the item as uint8 HWC pixels after the PIL steps (or fully preprocessed)."""
        import numpy as np

        image = load(item) if load is not None else item
        if image is None:
            return None
        if image.mode != "RGB":
            image = image.convert("RGB")
        if self._pil_steps is None:  # a preprocess we cannot split runs whole, here
            return self.preprocess(image)
        return np.asarray(self._pil_steps(image))

    def _pixels(self, prepared: list):
        import numpy as np
        import torch

        if self._pil_steps is None:
            return torch.stack(prepared).to(self.device)
        pixels = torch.from_numpy(np.stack(prepared))
        if torch.device(self.device).type == "cuda":
            pixels = pixels.pin_memory()  # so the copy below overlaps the device's work
        pixels = pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2).contiguous()
        return self._levels.take(pixels.to(torch.int64) + self._level_offsets)

    def _encode(self, prepared: list, prompts: Sequence[str]):
        """Queue one batch on the device: (cosines, an event set once they are on the host or
        None, kept positions, batch size)."""
        import torch

        kept = [i for i, p in enumerate(prepared) if p is not None]
        if not kept:
            return None, None, kept, len(prepared)
        with torch.inference_mode():
            pixels = self._pixels([prepared[i] for i in kept])
            text_features = self._text([prompts[i] for i in kept])
            image_features = self.model.encode_image(pixels)
            cosines = clip_cosine(image_features.float(), text_features.float())
            done = None
            if cosines.is_cuda:
                # Copied back behind this batch alone, so waiting for it does not also wait for
                # the next batch, queued meanwhile: the device stays busy while the host prepares.
                cosines = cosines.to("cpu", non_blocking=True)
                done = torch.cuda.Event()
                done.record()
        return cosines, done, kept, len(prepared)

    def _text(self, prompts: list[str]):
        """Text embeddings of these prompts, encoding only the ones not seen before in this pass."""
        import torch

        new = list(dict.fromkeys(p for p in prompts if p not in self._text_features))
        if new:
            features = self.model.encode_text(self.tokenizer(new).to(self.device))
            self._text_features.update(zip(new, features))
        return torch.stack([self._text_features[p] for p in prompts])


def _values(cosines, done, kept: list[int], size: int) -> list[float | None]:
    """One batch's values in order, None where the image could not be loaded."""
    if done is not None:
        done.synchronize()
    values: list[float | None] = [None] * size
    for i, v in zip(kept, cosines.tolist() if cosines is not None else []):
        values[i] = v
    return values
