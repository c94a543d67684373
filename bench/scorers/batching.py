"""What every scorer shares: images prepared in worker threads a few batches ahead of the model,
values in order with None for images that could not be loaded, pixels made exactly as each
reference transform makes them, and pickled weights loaded only when their sha256 is pinned.

A scorer family subclasses `BatchedScorer` and writes two things: how one image is prepared (in a
worker: PIL work, which releases the GIL) and how one batch becomes one value per image (on the
main thread, on the device).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bench.errors import WeightsError
from bench.files import sha256_file

# Batches being prepared ahead of the one being encoded: enough to keep every worker busy
# through a batch, few enough that memory stays a few batches of small uint8 pictures.
PREFETCH_BATCHES = 2
# Worker threads at most. Decoding and resizing are PIL work that releases the GIL, so threads
# scale with cores with no start-up or pickling: on a 16-core H200 host, 16 threads prepared 692
# PNGs/s where 16 DataLoader processes managed 520, their first batch after 0.7 s. The cap keeps
# a many-core host from starting dozens of threads to feed one model.
MAX_WORKERS = 16


def default_workers() -> int:
    """One worker per core this process may use, capped at MAX_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def resolve_device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def split_preprocess(preprocess):
    """(PIL steps, level table) of a `Compose([...PIL steps, ToTensor, Normalize])`, else None.

    open_clip's eval transform has that shape (so does ImageReward's; HPS's resizes the float
    tensor after ToTensor, so it does not split and runs whole in the worker). Splitting it lets
    the workers do only PIL work (which releases the GIL) and hand back uint8 pixels. The tensor
    tail maps each uint8 level of each channel to one float, so it is applied once to the 3 x 256
    levels here, by the transform's own ToTensor and Normalize, and a lookup in that table gives
    bit-identical pixels on any device (a CUDA division by a scalar multiplies by its reciprocal:
    1-ulp differences).
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


class Pixels:
    """A reference transform (PIL image -> CHW float tensor) cut into a worker half and a device
    half. A torchvision `Compose([...PIL steps, ToTensor, Normalize])` is split (see
    split_preprocess); any other callable (a transformers image processor, say) runs whole in the
    worker and its tensors are stacked."""

    def __init__(self, preprocess, device: str):
        import torch

        self.preprocess, self.device = preprocess, device
        split = split_preprocess(preprocess)
        self.pil_steps = split[0] if split else None
        if split:
            self.levels = split[1].to(device)
            # channel c's level v sits at 256 * c + v of the table
            self.level_offsets = torch.arange(0, 3 * 256, 256, device=device).view(1, 3, 1, 1)

    def prepare(self, image):
        """Worker thread: uint8 HWC pixels after the PIL steps (or the whole transform's tensor)."""
        import numpy as np

        if self.pil_steps is None:
            return self.preprocess(image)
        return np.asarray(self.pil_steps(image))

    def batch(self, prepared: list):
        """The prepared images as one NCHW float batch on the device."""
        import numpy as np
        import torch

        if self.pil_steps is None:
            return torch.stack(prepared).to(self.device)
        pixels = torch.from_numpy(np.stack(prepared))
        if torch.device(self.device).type == "cuda":
            pixels = pixels.pin_memory()  # so the copy below overlaps the device's work
        pixels = pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2).contiguous()
        return self.levels.take(pixels.to(torch.int64) + self.level_offsets)


class BatchedScorer:
    """Scores (image, prompt) pairs in batches, images prepared ahead in worker threads.

    Subclasses set `self.device`, `self.batch_size`, `self.workers`, `self.version` (what to
    record with each score: packages and weights) and implement `_prepare_image` (worker thread)
    and `_batch_values` (one 1-D tensor per batch, on the device).
    """

    thread_prefix = "scorer-preprocess"
    device = "cpu"
    batch_size = 32
    workers = 1
    version = ""

    def truncated_tokens(self, prompt: str) -> int | None:
        """Prompt tokens the text encoder cannot see; None for metrics that read no prompt."""
        return None

    def score(self, images, prompts: list[str]) -> list[float]:
        """The value of each image (PIL) with its own prompt."""
        return list(self.stream(images, prompts))

    def stream(self, items: Sequence, prompts: Sequence[str], load: Callable | None = None) -> Iterator[float | None]:
        """The value of each item with its own prompt, in order, as the batches finish.

        Items are PIL images, or anything `load` turns into one in a worker thread (a path, say);
        where `load` returns None (a missing or corrupt file) the value is None and the others
        are still scored. Workers run up to PREFETCH_BATCHES batches ahead, also while the caller
        handles values already given, so close the iterator (or exhaust it) to stop them.
        """
        if len(items) != len(prompts):
            raise ValueError(f"{len(items)} images but {len(prompts)} prompts: each image needs its own")
        starts = range(0, len(items), self.batch_size)
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.thread_prefix)

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

    def _prepare(self, item, load):
        """Worker thread: the item loaded, made RGB, and prepared; None where it cannot be loaded."""
        image = load(item) if load is not None else item
        if image is None:
            return None
        if image.mode != "RGB":
            image = image.convert("RGB")
        return self._prepare_image(image)

    def _prepare_image(self, image):
        raise NotImplementedError

    def _batch_values(self, prepared: list, prompts: list[str]):
        raise NotImplementedError

    def _encode(self, prepared: list, prompts: Sequence[str]):
        """Queue one batch on the device: (values, an event set once they are on the host or
        None, kept positions, batch size)."""
        import torch

        kept = [i for i, p in enumerate(prepared) if p is not None]
        if not kept:
            return None, None, kept, len(prepared)
        with torch.inference_mode():
            values = self._batch_values([prepared[i] for i in kept], [prompts[i] for i in kept]).float()
            done = None
            if values.is_cuda:
                # Copied back behind this batch alone, so waiting for it does not also wait for
                # the next batch, queued meanwhile: the device stays busy while the host prepares.
                values = values.to("cpu", non_blocking=True)
                done = torch.cuda.Event()
                done.record()
        return values, done, kept, len(prepared)


def _values(values, done, kept: list[int], size: int) -> list[float | None]:
    """One batch's values in order, None where the image could not be loaded."""
    if done is not None:
        done.synchronize()
    out: list[float | None] = [None] * size
    for i, v in zip(kept, values.tolist() if values is not None else []):
        out[i] = v
    return out


def package_versions(*names: str) -> str:
    """'open_clip_torch 3.3.0, torch 2.14.1': what a score was computed with."""

    def one(name: str) -> str:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            return f"{name} ?"

    return ", ".join(one(n) for n in names)


def check_pin(path: Path, sha256: str | None) -> str:
    """What to record ('sha256 <first 16 hex>') of a pickle whose sha256 is the one pinned in the
    metric's entry; raises, naming the file's hash, otherwise. Reads the file, never loads it."""
    digest = sha256_file(path)
    if sha256 is None:
        raise WeightsError(
            f"pickle weights not pinned; sha256 of {path} is {digest}: check its origin, then pin it "
            "as the metric's sha256 in bench/metrics.py. The file was not loaded: pickles can run code."
        )
    if digest != sha256:
        raise WeightsError(f"sha256 mismatch: pinned {sha256}, file has {digest}\n{path} was not loaded.")
    return f"sha256 {digest[:16]}"


def load_pickle(path: Path, sha256: str | None, tiny: bool) -> tuple[dict, str]:
    """(state dict, what to record) of a pickled checkpoint, unpickled only when its sha256 is the
    one pinned in the metric's entry (tiny twins are our own build: not pinned, not refused). The
    load itself also uses torch's `weights_only` unpickler (defence in depth)."""
    import torch

    recorded = "tiny random weights" if tiny else check_pin(path, sha256)
    return torch.load(path, map_location="cpu", weights_only=True), recorded


def commit_of(path: Path) -> str:
    """The hub commit a cached file came from ('local' for a file outside the HF cache)."""
    parts = Path(path).parts
    return parts[parts.index("snapshots") + 1][:12] if "snapshots" in parts else "local"


def weight_files(weights) -> dict[str, Path]:
    """{file: local path} of one `bench.metrics.Weights`: the HF cache (revision pinned or the
    default branch; fetched unless HF_HUB_OFFLINE), the bench cache for a file fetched by URL, or
    a tiny twin's folder, built on first use."""
    import bench.tiny_scorers  # noqa: F401 - registers the tiny twins' builders with bench.tiny
    from bench.weights.hub import hub_file
    from bench.weights.pickles import url_file

    if weights.urls and not weights.tiny:
        return {weights.files[0]: url_file(weights)}
    return {name: hub_file(weights.hub_id, name, weights.revision, weights.tiny) for name in weights.files}


def describe(weights, path: Path, digest: str = "") -> str:
    """What a score records of one weight: repo@commit, or the name and file of one fetched by
    URL (+ the pickle's pinned hash), or tiny."""
    if weights.tiny:
        return f"{weights.hub_id} (tiny random weights)"
    if weights.urls:  # no commit: the pinned hash names the file
        return f"{weights.hub_id} {weights.files[0]}" + (f" {digest}" if digest else "")
    return f"{weights.hub_id}@{commit_of(path)}" + (f" {digest}" if digest else "")
