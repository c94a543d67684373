"""PyTorch backend: diffusers pipelines for the sd and sdxl families."""

from __future__ import annotations

import time

from bench.backends.base import Backend, CallResult, LoadInfo, Request
from bench.backends.diffusion import PIPELINES, SchedulerSwap, run_pipeline, without_safety_checker
from bench.errors import DeviceUnavailable
from bench.runtime import Runtime
from bench.weights.hub import source as weights_source


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device: 'cuda' was asked for, but torch sees no CUDA device; use auto or cpu")
    return device


class DiffusersBackend(Backend):
    @classmethod
    def resolve(cls, asked: Runtime) -> Runtime:
        device = resolve_device(asked.device)
        # fp16 on CPU is slow and poorly supported; auto means what users of each device expect.
        dtype = ("float16" if device == "cuda" else "float32") if asked.dtype == "auto" else asked.dtype
        # PyTorch has no provider to choose: it runs on its device.
        return Runtime(device=device, dtype=dtype, provider=device, fallback=asked.fallback, options=asked.options)

    def load(self) -> LoadInfo:
        import diffusers
        import torch

        spec, device = self.spec, self.runtime.device
        dtype = getattr(torch, self.runtime.dtype)
        started = time.perf_counter()
        source = weights_source(spec.hub_id, spec.tiny)
        common = {"torch_dtype": dtype, "revision": None if spec.tiny else spec.revision}
        kwargs = dict(common, use_safetensors=True)
        if spec.vae:
            # The VAE is its own repo: the base model's revision does not apply to it.
            kwargs["vae"] = diffusers.AutoencoderKL.from_pretrained(
                spec.vae, torch_dtype=dtype, revision=spec.vae_revision
            )
        if spec.upcast_attention and dtype == torch.float16:
            # SD 2.x overflows in fp16 attention without this (black images).
            kwargs["unet"] = diffusers.UNet2DConditionModel.from_pretrained(
                source, subfolder="unet", upcast_attention=True, **common
            )
        pipeline_class = getattr(diffusers, PIPELINES[spec.family])
        # No pipeline's own checker decides what is kept: the nsfw metric flags every image.
        kwargs |= without_safety_checker(pipeline_class)
        pipe = pipeline_class.from_pretrained(source, **kwargs)
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
        self.pipe = pipe.to(device)
        options = self._apply_options(pipe)
        self.swap = SchedulerSwap(pipe)
        if device == "cuda":
            torch.cuda.synchronize()
        return LoadInfo(
            load_s=time.perf_counter() - started, dtype=self.runtime.dtype, provider=device, options=options
        )

    def _apply_options(self, pipe) -> dict:
        """The suite's memory layout and attention options, applied; returns what was applied."""
        import torch

        applied = {}
        if self.runtime.option("channels_last"):
            # NHWC suits the convolutions of tensor cores; the weights change layout, not values.
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)
            applied["channels_last"] = True
        if self.runtime.option("fused_qkv"):
            if self.spec.lora:
                # fuse_qkv_projections concatenates the base weights of to_q/k/v: a LoRA still held
                # as an adapter on them would be dropped (tiny-sdxl: 30 dB from eager), so it is
                # merged into them first, at the scale set_adapters gave it.
                pipe.fuse_lora(lora_scale=1.0)
                pipe.unload_lora_weights()
                applied["lora_fused"] = True
            pipe.fuse_qkv_projections()  # one matmul for Q, K and V in self-attention
            applied["fused_qkv"] = True
        return applied

    def set_scheduler(self, name: str | None) -> None:
        self.swap(name)

    def generate(self, request: Request) -> CallResult:
        import torch

        with torch.inference_mode():
            return run_pipeline(self.pipe, request, self.runtime.device)


def pipeline_for_export(spec, device: str, dtype: str):
    """The pipeline this backend builds, on `device` in `dtype`, with its LoRA fused (ONNX graphs
    have no adapters): what the ONNX Runtime backend traces, so both backends hold the same
    weights, VAE, upcasting and LoRA scale."""
    backend = DiffusersBackend(spec, Runtime(device=device, dtype=dtype, provider=device))
    backend.load()
    pipe = backend.pipe
    if spec.lora:
        # set_adapters already holds the LoRA's scale, so fusing at 1.0 keeps it as is.
        pipe.fuse_lora(lora_scale=1.0)
        pipe.unload_lora_weights()
    return pipe
