"""PyTorch backend: diffusers pipelines for the sd and sdxl families."""

from __future__ import annotations

import time

from bench.backends.base import Backend, CallResult, LoadInfo, Request
from bench.backends.diffusion import SchedulerSwap, run_pipeline
from bench.weights import source as weights_source

PIPELINES = {"sd": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline"}


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA device")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    # fp16 on CPU is slow and poorly supported; auto means what users of each device expect.
    if dtype == "auto":
        return "float16" if device == "cuda" else "float32"
    return dtype


def resolve(suite) -> tuple[str, str]:
    """(device, dtype) that the suite's "auto" values mean on this machine."""
    device = resolve_device(suite.device)
    return device, resolve_dtype(suite.dtype, device)


class DiffusersBackend(Backend):
    name = "pytorch"

    def load(self) -> LoadInfo:
        import diffusers
        import torch

        spec = self.spec
        self.device, dtype_name = resolve(self.suite)
        dtype = getattr(torch, dtype_name)
        started = time.perf_counter()
        source = weights_source(spec.hub_id, spec.tiny)
        common = {"torch_dtype": dtype, "revision": None if spec.tiny else spec.revision}
        kwargs = dict(common, use_safetensors=True)
        if spec.vae:
            # The VAE is its own repo: the base model's revision does not apply to it.
            kwargs["vae"] = diffusers.AutoencoderKL.from_pretrained(spec.vae, torch_dtype=dtype)
        if spec.upcast_attention and dtype == torch.float16:
            # SD 2.x overflows in fp16 attention without this (black images).
            kwargs["unet"] = diffusers.UNet2DConditionModel.from_pretrained(
                source, subfolder="unet", upcast_attention=True, **common
            )
        pipe = getattr(diffusers, PIPELINES[spec.family]).from_pretrained(source, **kwargs)
        if spec.lora:
            lora_source = weights_source(spec.lora.hub_id, spec.tiny)
            pipe.load_lora_weights(
                lora_source,
                weight_name=spec.lora.weight_name,
                adapter_name="lora",
                revision=None if spec.tiny else spec.lora.revision,
            )
            pipe.set_adapters(["lora"], adapter_weights=[spec.lora.scale])
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self.swap = SchedulerSwap(pipe)
        if self.device == "cuda":
            torch.cuda.synchronize()
        return LoadInfo(
            load_s=time.perf_counter() - started,
            device=self.device,
            dtype=dtype_name,
            provider=self.device,
        )

    def set_scheduler(self, name: str | None) -> None:
        self.swap(name)

    def generate(self, request: Request) -> CallResult:
        import torch

        with torch.inference_mode():
            return run_pipeline(self.pipe, request, self.device)

    def close(self) -> None:
        import gc

        import torch

        self.pipe = self.swap = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
