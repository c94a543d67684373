"""BigGAN-deep through pytorch-pretrained-biggan: a prompt becomes an ImageNet class, a seed the noise.

The generator has no scheduler and no denoising loop: one forward pass maps (truncated noise,
class vector, truncation) to an image. The prompt is mapped to a class with a CLIP text encoder
(bench.classmap); the class(es) and their similarity go into `generations`. Images are CLIP
scored like any other. Its weights are a pickle, found and hash-checked by bench.weights.pickles.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.backends.base import Backend, CallResult, Generated, LoadInfo, Request
from bench.backends.pytorch import resolve_device
from bench.classmap import ClassMap
from bench.errors import WeightsError
from bench.models import GAN_CONFIG_FILE, GAN_WEIGHTS_FILE, IMAGENET_CLASSES
from bench.runtime import Runtime
from bench.timing import StepClock, peak_memory_mb, reset_peak_memory
from bench.weights.pickles import weights_folder


def load_generator(folder: Path):
    """BigGAN from a folder, with the package's classes; unlike its `from_pretrained`, a file that
    lacks tensors of the config is an error, not a silently random layer."""
    import torch
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    model = BigGAN(BigGANConfig.from_json_file(str(folder / GAN_CONFIG_FILE)))
    # weights_only: tensors and containers only, never arbitrary objects (defence in depth).
    state = torch.load(folder / GAN_WEIGHTS_FILE, map_location="cpu", weights_only=True)
    missing = model.load_state_dict(state, strict=False).missing_keys
    if missing:
        raise WeightsError(
            f"{folder / GAN_WEIGHTS_FILE} lacks {len(missing)} tensors of its config "
            f"(first: {missing[0]}); weights and config.json do not belong together"
        )
    return model.eval()


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
    @classmethod
    def resolve(cls, asked: Runtime) -> Runtime:
        device = resolve_device(asked.device)
        # The weights were converted and published in float32, and nobody vouches for the
        # generator in half precision: "auto" keeps it in float32 on every device.
        dtype = "float32" if asked.dtype == "auto" else asked.dtype
        return Runtime(device=device, dtype=dtype, provider=device, fallback=asked.fallback)

    def load(self) -> LoadInfo:
        import torch

        spec, device = self.spec, self.runtime.device
        started = time.perf_counter()
        folder, digest = weights_folder(spec)
        model = load_generator(folder)
        size = model.config.output_dim
        if (spec.width, spec.height) != (size, size):
            raise WeightsError(
                f"{spec.key}: the weights make {size}x{size} images, the registry says {spec.width}x{spec.height}"
            )
        self.dtype = getattr(torch, self.runtime.dtype)
        self.model = model.to(device, self.dtype)
        self.classmap = ClassMap(spec.class_clip, spec.class_templates, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        return LoadInfo(
            load_s=time.perf_counter() - started,
            dtype=self.runtime.dtype,
            provider=device,
            # What identifies pickle weights is their hash; it goes where a hub revision goes.
            revision=f"sha256:{digest}" if digest else None,
        )

    def generate(self, request: Request) -> CallResult:
        import torch

        spec, device, n = self.spec, self.runtime.device, len(request.seeds)
        clock = StepClock(device)
        reset_peak_memory(device)
        # Timed from the prompt on, as a diffusion call is timed from its text encoding on.
        with clock, torch.inference_mode():
            choice = self.classmap.choose(request.prompt, spec.class_top_k)
            noise = truncated_noise(request.seeds, self.model.config.z_dim, spec.truncation)
            classes = class_vectors(choice.indices, choice.weights, n)
            out = self.model(
                torch.from_numpy(noise).to(device, self.dtype),
                torch.from_numpy(classes).to(device, self.dtype),
                spec.truncation,
            )
            arrays = out.float().cpu().numpy()
        peak_mb, scope = peak_memory_mb(device)
        extra = {"class_label": choice.label, "class_similarity": choice.similarity}
        # tanh output in [-1, 1] -> [0, 1], channels last.
        images = [Generated.from_array(array.transpose(1, 2, 0) / 2 + 0.5, extra) for array in arrays]
        energy_j, power_w = clock.energy(n)
        return CallResult(
            images=images,
            latency_s=clock.wall_s / n,
            peak_mem_mb=peak_mb,
            mem_scope=scope,
            energy_j=energy_j,
            power_w_mean=power_w,
        )
