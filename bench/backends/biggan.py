"""BigGAN-deep through pytorch-pretrained-biggan: a prompt becomes an ImageNet class, a seed the noise.

The generator has no scheduler and no denoising loop: one forward pass maps (truncated noise,
class vector, truncation) to an image. The prompt is mapped to a class with a CLIP text encoder
(bench.classmap); the class(es) and their similarity go into `generations`. Images are CLIP
scored like any other.

Weights are `config.json` + `pytorch_model.bin` (a pickle) in one folder, from one of:
a package model name (`biggan-deep-256`, downloaded from `weights_url` into the bench cache), a
Hugging Face repo (`owner/name`, through the HF cache), or a local folder. The pickle's sha256 is
checked against `weights_sha256` before it is unpickled, wherever it comes from; an unpinned
file is refused unless the suite opts out with `trust_unpinned_weights`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from pathlib import Path

from bench.backends.base import Backend, CallResult, Generated, LoadInfo, Request
from bench.models import ModelSpec

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "pytorch_model.bin"
IMAGENET_CLASSES = 1000
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_hashes: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256: hash a file once
log = logging.getLogger(__name__)


class WeightsError(RuntimeError):
    """BigGAN weights that cannot be had, or cannot be trusted."""


# --- weights ----------------------------------------------------------------------------------


def source_kind(spec: ModelSpec) -> str:
    """tiny, folder, hub or url: where this spec's weights come from."""
    if spec.tiny:
        return "tiny"
    if Path(spec.hub_id).expanduser().is_dir() or spec.hub_id.startswith(("/", ".", "~")):
        return "folder"
    if "/" in spec.hub_id:
        return "hub"
    if spec.weights_url and _PACKAGE_NAME.match(spec.hub_id):
        return "url"
    raise WeightsError(
        f"hub_id {spec.hub_id!r} is not a folder, not a hub repo (owner/name), and not a model name with a weights_url"
    )


def sha256_file(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def verify(spec: ModelSpec, weights: Path) -> str:
    """The pickle's sha256, if it may be unpickled; raises otherwise. Never loads the file."""
    digest = sha256_file(weights)
    if spec.weights_sha256:
        if digest != spec.weights_sha256:
            raise WeightsError(
                f"sha256 mismatch: pinned {spec.weights_sha256}, file has {digest}\n"
                f"{weights} is not the file pinned (another upload, or tampered with) and was not "
                f"loaded. Check its origin before pinning its hash in [model_overrides.{spec.key}]."
            )
    elif spec.trust_unpinned_weights:
        log.warning(
            "%s: loading unpinned pickle weights %s (sha256 %s): trust_unpinned_weights is set",
            spec.key,
            weights,
            digest,
        )
    else:
        raise WeightsError(
            f"pickle weights not pinned; sha256 is {digest}: set weights_sha256 to it (or "
            f"trust_unpinned_weights = true) in [model_overrides.{spec.key}]\n"
            f"The file {weights} was not loaded: pickles can run code, so only a pinned one is."
        )
    return digest


def _download(url: str, dest: Path) -> None:
    """url -> dest, whole or not at all (a temporary name, then a rename)."""
    import shutil
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def url_folder(spec: ModelSpec) -> Path:
    """Where a package model's files live in the bench cache; the URL is part of the name, so a
    mirror never reuses another source's files."""
    from bench.paths import cache_dir

    tag = hashlib.sha256(spec.weights_url.encode()).hexdigest()[:8]
    return cache_dir("weights", f"{spec.hub_id}-{tag}")


def _url_weights(spec: ModelSpec) -> Path:
    from bench.weights import offline

    folder = url_folder(spec)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        path = folder / name
        if path.is_file():
            continue
        url = spec.weights_url.format(name=name)
        if offline():
            raise WeightsError(
                f"{path} not downloaded and HF_HUB_OFFLINE is set; run `bench fetch` where {url} can be reached"
            )
        try:
            _download(url, path)
        except OSError as e:  # URLError and timeouts included
            raise WeightsError(
                f"could not download {url}: {e}; run `bench fetch` where it can be "
                "reached, or point hub_id at a folder or hub repo"
            ) from e
    return folder


def weights_folder(spec: ModelSpec) -> tuple[Path, str | None]:
    """(folder with config.json + pytorch_model.bin, sha256 of the pickle), downloading what is
    missing unless offline; the pickle is verified (tiny models are our own build: not hashed)."""
    kind = source_kind(spec)
    if kind == "tiny":
        from bench.tiny import tiny_path

        return tiny_path(spec.hub_id), None
    if kind == "folder":
        folder = Path(spec.hub_id).expanduser()
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (folder / name).is_file():
                raise WeightsError(f"{folder / name} does not exist")
    elif kind == "hub":
        from bench.weights import hub_file

        hub_file(spec.hub_id, CONFIG_NAME, spec.revision)
        folder = hub_file(spec.hub_id, WEIGHTS_NAME, spec.revision).parent
    else:
        folder = _url_weights(spec)
    try:
        return folder, verify(spec, folder / WEIGHTS_NAME)
    except WeightsError:
        if kind == "url" and spec.weights_sha256:
            (folder / WEIGHTS_NAME).unlink()  # a wrong download in our own cache: fetch anew
        raise


def check_weights(spec: ModelSpec) -> None:
    """Raise with a clear message unless this spec's weights are here (or fetched now) and pinned."""
    weights_folder(spec)


def load_generator(folder: Path):
    """BigGAN from a folder, with the package's classes; unlike its `from_pretrained`, a file that
    lacks tensors of the config is an error, not a silently random layer."""
    import torch
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    model = BigGAN(BigGANConfig.from_json_file(str(folder / CONFIG_NAME)))
    # weights_only: tensors and containers only, never arbitrary objects (defence in depth).
    state = torch.load(folder / WEIGHTS_NAME, map_location="cpu", weights_only=True)
    missing = model.load_state_dict(state, strict=False).missing_keys
    if missing:
        raise WeightsError(
            f"{folder / WEIGHTS_NAME} lacks {len(missing)} tensors of its config "
            f"(first: {missing[0]}); weights and config.json do not belong together"
        )
    return model.eval()


# --- the tiny model ---------------------------------------------------------------------------

# 64 px in four up-sampling blocks; channels are multiples of channel_width, and a block that
# changes them must halve them (the residual keeps the first half). 1000 classes as the real one.
# Changing this recipe: bump bench.tiny.RECIPE_VERSION, or stale caches are reused.
TINY_CONFIG = {
    "output_dim": 64,
    "z_dim": 32,
    "class_embed_dim": 32,
    "channel_width": 8,
    "num_classes": IMAGENET_CLASSES,
    "layers": [(False, 16, 16), (True, 16, 8), (True, 8, 4), (True, 4, 2), (True, 2, 1)],
    "attention_layer_position": 3,
    "eps": 1e-4,
    "n_stats": 51,
}


def build_tiny_biggan(out: Path, _scratch: Path) -> None:
    """A random BigGAN saved exactly as the real ones are (config.json + pytorch_model.bin).

    Two fixes keep it finite: the final batch norm's weight and bias are created uninitialised
    (`torch.Tensor(n)`), so they are set to ones and zeros; and spectral norm's u/v vectors start
    random, which blows activations up to ~1e23 in eval mode, so a few forward passes in training
    mode run its power iteration first (nothing else in BigGAN differs between the two modes).
    """
    import torch
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    torch.manual_seed(0)
    config = BigGANConfig(**TINY_CONFIG)
    model = BigGAN(config)
    torch.nn.init.ones_(model.generator.bn.weight)
    torch.nn.init.zeros_(model.generator.bn.bias)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(4, config.z_dim, generator=generator) * 0.4
    classes = torch.eye(IMAGENET_CLASSES)[:4]
    model.train()
    with torch.no_grad():
        for _ in range(10):
            model(noise, classes, 0.4)
    model.eval()
    with torch.no_grad():
        if not torch.isfinite(model(noise, classes, 0.4)).all():
            raise RuntimeError("tiny BigGAN still outputs non-finite values")
    (out / CONFIG_NAME).write_text(config.to_json_string(), encoding="utf-8")
    torch.save(model.state_dict(), out / WEIGHTS_NAME)


# --- generation -------------------------------------------------------------------------------


def truncated_noise(seeds: tuple[int, ...], dim_z: int, truncation: float):
    """(n, dim_z) float32: per seed, pytorch-pretrained-biggan's own
    `truncated_noise_sample(truncation=t, seed=seed)` (scipy truncnorm on [-2, 2] from
    numpy's RandomState(seed), times t), so a seed here is a seed there, and an image never
    depends on the other seeds of its batch."""
    import numpy as np
    from pytorch_pretrained_biggan import truncated_noise_sample

    for seed in seeds:
        if not 0 <= seed < 2**32:
            raise ValueError(
                f"seed {seed}: BigGAN's noise comes from numpy's RandomState, which takes seeds in 0..2**32-1"
            )
    return np.concatenate([truncated_noise_sample(1, dim_z, truncation, seed=int(s)) for s in seeds])


def class_vectors(indices: tuple[int, ...], weights: tuple[float, ...], n: int):
    """(n, 1000): the one-hot class (or the weighted mixture) the generator is conditioned on."""
    import numpy as np

    vector = np.zeros((n, IMAGENET_CLASSES), dtype=np.float32)
    vector[:, list(indices)] = weights
    return vector


class BigGANBackend(Backend):
    name = "pytorch"

    def load(self) -> LoadInfo:
        import torch

        from bench.backends.pytorch import resolve
        from bench.classmap import ClassMap

        spec = self.spec
        self.device, dtype_name = resolve(self.suite)
        if self.suite.dtype == "auto":
            # The weights were converted and published in float32, and nobody vouches for the
            # generator in half precision: "auto" keeps it in float32 on every device.
            dtype_name = "float32"
        self.dtype = getattr(torch, dtype_name)
        started = time.perf_counter()
        folder, digest = weights_folder(spec)
        model = load_generator(folder)
        size = model.config.output_dim
        if (spec.width, spec.height) != (size, size):
            raise WeightsError(
                f"{spec.key}: the weights make {size}x{size} images, the registry says {spec.width}x{spec.height}"
            )
        self.model = model.to(self.device, self.dtype)
        self.classmap = ClassMap(spec.class_clip, spec.class_templates, device=self.device)
        if self.device == "cuda":
            torch.cuda.synchronize()
        return LoadInfo(
            load_s=time.perf_counter() - started,
            device=self.device,
            dtype=dtype_name,
            provider=self.device,
            # What identifies pickle weights is their hash; it goes where a hub revision goes.
            revision=f"sha256:{digest}" if digest else None,
        )

    def generate(self, request: Request) -> CallResult:
        import numpy as np
        import torch
        from PIL import Image

        from bench.backends.diffusion import to_uint8
        from bench.timing import StepClock, peak_memory_mb, reset_peak_memory

        spec, n = self.spec, len(request.seeds)
        clock = StepClock(self.device)
        reset_peak_memory(self.device)
        # Timed from the prompt on, as a diffusion call is timed from its text encoding on.
        with clock, torch.inference_mode():
            choice = self.classmap.choose(request.prompt, spec.class_top_k)
            noise = truncated_noise(request.seeds, self.model.config.z_dim, spec.truncation)
            classes = class_vectors(choice.indices, choice.weights, n)
            out = self.model(
                torch.from_numpy(noise).to(self.device, self.dtype),
                torch.from_numpy(classes).to(self.device, self.dtype),
                spec.truncation,
            )
            arrays = out.float().cpu().numpy()
        peak_mb, scope = peak_memory_mb(self.device)
        extra = {"class_label": choice.label, "class_similarity": choice.similarity}
        images = []
        for array in arrays:
            if not np.isfinite(array).all():
                images.append(Generated(None, "nan", dict(extra)))
            else:
                # tanh output in [-1, 1] -> [0, 1] -> uint8 with the rounding diffusers uses.
                pixels = to_uint8(array.transpose(1, 2, 0) / 2 + 0.5)
                images.append(Generated(Image.fromarray(pixels), "ok", dict(extra)))
        return CallResult(images=images, latency_s=clock.wall_s / n, peak_mem_mb=peak_mb, mem_scope=scope)

    def close(self) -> None:
        import gc

        import torch

        self.model = self.classmap = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
