"""ONNX Runtime backend: optimum's ORT pipelines for the sd and sdxl families.

The model is exported once per export key (bench.backends.export) from the very pipeline the PyTorch
backend builds (same weights, VAE, upcasting, LoRA at the same scale, fused), then loaded with
the requested execution provider. ONNX Runtime falls back to the CPU without an error when a
GPU provider cannot load, so after loading we read the providers every session really uses:
that is what LoadInfo.provider records, and a requested provider that is missing is an error
(or, with provider_fallback = "warn", a warning). With the suite's
[backend_options.onnxruntime] optimize = true, the pipeline loads ONNX Runtime's own optimized
graphs instead (bench.backends.ort_optimize); each row records which graph ran, and whether
optimum bound inputs and outputs to device buffers (IO binding).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib import metadata, util
from pathlib import Path

from bench.backends import export, ort_optimize
from bench.backends.base import Backend, CallResult, LoadInfo, Request, once_per_shape
from bench.backends.diffusion import PIPELINES, SchedulerSwap, run_pipeline
from bench.backends.pytorch import pipeline_for_export
from bench.errors import ConfigError, DeviceUnavailable, InstallError
from bench.files import cache_dir
from bench.runtime import Runtime

log = logging.getLogger(__name__)
EXECUTION_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    # Nodes TensorRT cannot take go to CUDA, then CPU.
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}
SHORT_NAMES = {providers[0]: name for name, providers in EXECUTION_PROVIDERS.items()}
# Every ORT session a diffusion pipeline may hold; the ones a model lacks are None.
SESSION_PARTS = (
    "unet",
    "transformer",
    "text_encoder",
    "text_encoder_2",
    "text_encoder_3",
    "vae_encoder",
    "vae_decoder",
)
# Both distributions write the same `onnxruntime/` package, so with two installed the last one
# wins and removing either breaks the other.
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")
INSTALL_HINT = "install exactly one: pip install '.[onnxruntime]' (CPU) or pip install '.[onnxruntime-gpu]' (GPU)"
# onnxruntime-gpu's TensorRT provider links libnvinfer.so.10 (TensorRT 10, CUDA 13 build); 10.16 is
# TensorRT 10's last release, and TensorRT keeps its ABI within a major version.
TENSORRT_LIBS = "tensorrt-cu13-libs==10.16.1.11"


def tensorrt_hint() -> str:
    """The one-line fix for a TensorRT provider that did not load: its libraries, where to find them.
    The folder is where pip puts them: beside the onnxruntime this process imports (not the
    interpreter's own site-packages, which a PYTHONPATH install or a venv may not use), or where
    an installed tensorrt_libs already is."""
    spec = util.find_spec("tensorrt_libs") or util.find_spec("onnxruntime")
    site = Path(spec.origin).parent.parent if spec and spec.origin else Path(".")
    folder = site / "tensorrt_libs"
    return f"for TensorRT 10: pip install '{TENSORRT_LIBS}', then run with LD_LIBRARY_PATH={folder}"


def installed_distributions() -> list[str]:
    found = []
    for dist in ORT_DISTRIBUTIONS:
        try:
            metadata.version(dist)
            found.append(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def check_install() -> None:
    found = installed_distributions()
    if len(found) > 1:
        raise InstallError(
            f"onnxruntime backend: both {' and '.join(found)} are installed; they overwrite each other's "
            f"files. Uninstall both (pip uninstall -y {' '.join(found)}), then {INSTALL_HINT}"
        )
    if not found or util.find_spec("onnxruntime") is None:
        raise InstallError(f"onnxruntime backend: ONNX Runtime is not installed; {INSTALL_HINT}")
    if util.find_spec("optimum.onnxruntime") is None:
        raise InstallError(
            f"onnxruntime backend: optimum's ONNX Runtime pipelines (optimum-onnx) are not installed; {INSTALL_HINT}"
        )


def unavailable_reason(provider: str) -> str | None:
    """Why `provider` cannot run here before anything loads, or None when it may."""
    if provider == "cpu":
        return None
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if EXECUTION_PROVIDERS[provider][0] not in available:
        return (
            f"this ONNX Runtime build ({', '.join(installed_distributions())} {onnxruntime.__version__}) "
            f"has no {EXECUTION_PROVIDERS[provider][0]} (it has {', '.join(available)}); "
            f"for a GPU: pip uninstall -y onnxruntime && pip install '.[onnxruntime-gpu]'"
        )
    import torch

    # The fp16 export runs on CUDA in torch, and ORT's CUDA provider needs the same device.
    if not torch.cuda.is_available():
        return "no CUDA device is visible (torch.cuda.is_available() is False)"
    return None


def resolve_dtype(dtype: str, device: str, fallback: bool = False) -> str:
    """fp16 on CUDA, fp32 on the CPU; a CPU fallback (warned about) downgrades fp16 too."""
    if dtype == "auto" or (fallback and dtype == "float16"):
        return "float16" if device == "cuda" else "float32"
    if dtype == "bfloat16":
        raise ConfigError(
            "dtype: 'bfloat16' is not supported by the onnxruntime backend "
            "(ONNX Runtime lacks most bf16 kernels); allowed: auto, float32, float16"
        )
    if dtype == "float16" and device == "cpu":
        raise ConfigError(
            "dtype: 'float16' with the onnxruntime backend is for the cuda and tensorrt providers (on the CPU, "
            "ONNX Runtime casts around the fp16 kernels it lacks: a slow path no one races); use auto or float32"
        )
    return dtype


def session_options():
    """ORT logs warnings of its own for every session (e.g. "32 Memcpy nodes are added to the
    graph"): errors only, unless bench's log is at DEBUG (bench --debug). A provider that fails
    to load is logged by ORT's default logger, which this leaves at warning."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 2 if log.isEnabledFor(logging.DEBUG) else 3  # 2 warning, 3 error
    return options


@contextmanager
def own_input_buffer(unet, guided: bool) -> Iterator[None]:
    """optimum's ORT UNet, when it binds IO (its default on CUDA), writes its output into its
    input's buffer (modeling_diffusion.py: known_output_buffers = {"out_sample": sample}). With
    classifier-free guidance that input is a fresh concatenation; without it (guidance <= 1) it is
    the latents themselves, which the scheduler's step still reads: ddim, dpmpp, unipc, pndm, deis
    and ddpm then made 13 dB images. So there the UNet gets a copy (one latent per step)."""
    if guided or not getattr(unet, "use_io_binding", False):
        yield
        return
    forward = unet.forward
    unet.forward = lambda sample, *args, **kwargs: forward(sample.clone(), *args, **kwargs)
    try:
        yield
    finally:
        del unet.forward  # the class's own again


def io_binding(pipe) -> bool | dict[str, bool]:
    """Whether optimum binds the sessions' inputs and outputs to device buffers, as the loaded
    pipeline really does it (optimum turns it on for CUDA sessions unless told otherwise); per
    session when they differ."""
    used = {name: part.use_io_binding for name in SESSION_PARTS if (part := getattr(pipe, name, None)) is not None}
    return next(iter(used.values())) if len(set(used.values())) == 1 else used


def active_providers(pipe) -> dict[str, str]:
    """Each ORT session of the pipeline -> the provider it really runs on (its first one)."""
    sessions = {name: getattr(pipe, name, None) for name in SESSION_PARTS}
    return {name: part.session.get_providers()[0] for name, part in sessions.items() if part is not None}


def check_providers(requested: str, active: dict[str, str], fallback: str) -> str:
    """The provider that ran (e.g. "cpu"), after holding the sessions to what was requested."""
    wanted = EXECUTION_PROVIDERS[requested][0]
    ran = sorted({SHORT_NAMES.get(p, p) for p in active.values()})
    if any(p != wanted for p in active.values()):
        where = ", ".join(f"{part}={SHORT_NAMES.get(p, p)}" for part, p in active.items())
        message = (
            f"provider {requested!r} was requested but ONNX Runtime did not load it ({where}); "
            "its log above says why (often a CUDA or cuDNN library it cannot find)"
        )
        if requested == "tensorrt":
            message += f"; {tensorrt_hint()}"
        if fallback == "error":
            raise DeviceUnavailable(message + '; set provider_fallback = "warn" to go on with what loaded')
        log.warning("%s; going on with what loaded", message)
    return "+".join(ran)


class OrtBackend(Backend):
    @classmethod
    def resolve(cls, asked: Runtime) -> Runtime:
        """Raises InstallError for a missing or doubled install, before anything loads. A provider
        that cannot run here fails at load, unless fallback is "warn": then these cells are CPU
        cells, so they are never mistaken for GPU results."""
        check_install()
        if asked.provider != "auto":
            requested = asked.provider
        elif asked.device != "auto":
            requested = asked.device
        else:
            requested = "cuda" if unavailable_reason("cuda") is None else "cpu"
        reason = unavailable_reason(requested)
        if requested == "tensorrt" and asked.option("optimize", False):
            raise ConfigError(
                "backend_options.onnxruntime.optimize: ONNX Runtime's optimized graphs are made of "
                "CUDA and CPU kernels; the tensorrt provider builds its engines from the plain graph"
            )
        provider = "cpu" if reason and asked.fallback == "warn" else requested
        device = "cpu" if provider == "cpu" else "cuda"
        # replace() keeps the suite's backend options (Runtime.options) with the rest.
        return replace(
            asked,
            device=device,
            dtype=resolve_dtype(asked.dtype, device, fallback=provider != requested),
            provider=provider,
            requested=asked.provider,
            unavailable=None if reason is None else f"provider {requested!r} cannot run here: {reason}",
        )

    def load(self) -> LoadInfo:
        import optimum.onnxruntime

        spec, runtime = self.spec, self.runtime
        # 1. the provider: one that cannot run fails these cells, unless the fallback is "warn"
        if runtime.unavailable and runtime.fallback == "error":
            raise DeviceUnavailable(f'{runtime.unavailable}; set provider_fallback = "warn" to run on the CPU anyway')
        if runtime.unavailable:
            log.warning("%s [onnxruntime]: %s; running on the CPU in %s", spec.key, runtime.unavailable, runtime.dtype)
        self.device, dtype = runtime.device, runtime.dtype

        # 2. the graphs: the export (cached, else traced from the PyTorch backend's own pipeline),
        # or ORT's optimized copy of it
        optimize = bool(runtime.option("optimize", False))
        path, prepare_s = self.graphs()
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()  # the traced PyTorch pipeline is gone; give ORT its memory

        # 3. the ORT sessions, then what they really run on
        started = time.perf_counter()
        options = [{} for _ in EXECUTION_PROVIDERS[runtime.provider]]
        if runtime.provider == "tensorrt":
            import onnxruntime

            # Engines take minutes to build; they depend on the ORT/TensorRT build, not the key.
            engines = cache_dir("onnx-trt", f"{path.name}-ort{onnxruntime.__version__}")
            log.info("%s [onnxruntime]: TensorRT engines are cached in %s", spec.key, engines)
            options[0] = {
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(engines),
                "trt_fp16_enable": dtype == "float16",
            }
        # No safety checker: optimum loads one only when handed it, and the nsfw metric flags
        # every image instead (bench.scorers.nsfw).
        pipe = getattr(optimum.onnxruntime, "ORT" + PIPELINES[spec.family]).from_pretrained(
            path,
            export=False,
            providers=EXECUTION_PROVIDERS[runtime.provider],
            provider_options=options,
            session_options=session_options(),
            local_files_only=True,
        )
        ran = check_providers(runtime.provider, active_providers(pipe), runtime.fallback)
        if ran == "cpu":
            self.device = "cpu"  # fell back (warned): clocks and memory follow where it runs
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self.swap = SchedulerSwap(pipe)
        # TensorRT builds its engines at the first call of each input shape (see generate)
        self.engine_shapes: set[tuple] | None = set() if "tensorrt" in ran.split("+") else None
        recorded = {"io_binding": io_binding(pipe), "graph": "optimized" if optimize else "plain"}
        if self.engine_shapes is not None:
            recorded["trt_engine_cache"] = True  # under $BENCH_CACHE/onnx-trt
        return LoadInfo(
            load_s=time.perf_counter() - started, dtype=dtype, provider=ran, export_s=prepare_s, options=recorded
        )

    def graphs(self, trace_on: str | None = None) -> tuple[Path, float]:
        """The folder of ONNX graphs this backend loads, and the seconds spent making them (0 when
        cached): the export, or ORT's optimized copy of it.

        `trace_on`: the device that traces a missing export, by default the one this backend runs
        on. An export's key leaves the device out (an fp32 graph traced on the CPU is the graph
        traced on CUDA), so a CPU can make the optimized graphs of a CUDA run ahead of it:
        scripts/bench_gpu.py --prepare.
        """
        device = trace_on or self.runtime.device
        if not self.runtime.option("optimize", False):
            return self._export(self.runtime.dtype, device)
        # The optimizer fuses fp32 graphs, then converts them to fp16 itself (its fusions do not
        # match fp16 graphs), so its source is the fp32 export even for fp16 cells. The CPU
        # provider gets no fp16 (ORT's CPU kernels are fp32) and no CUDA-only operators.
        dtype, float16 = self.runtime.dtype, self.runtime.dtype == "float16"
        path, export_s = self._export("float32", device)
        # Where the PyTorch pipeline decodes an fp16 VAE in fp32, the VAE stays fp32 (as in the
        # fp16 export: bench.backends.export.vae_dtype).
        fp32_parts = ("vae_encoder", "vae_decoder") if export.vae_dtype(self.spec, dtype) != dtype else ()
        made = ort_optimize.ensure(path, cuda=self.runtime.provider == "cuda", float16=float16, fp32_parts=fp32_parts)
        return made.path, export_s + made.optimize_s

    def _export(self, dtype: str, device: str) -> tuple[Path, float]:
        spec = self.spec
        made = export.ensure(spec, dtype, device, lambda: pipeline_for_export(spec, device, dtype))
        return made.path, made.export_s

    def set_scheduler(self, name: str | None) -> None:
        self.swap(name)

    def generate(self, request: Request) -> CallResult:
        if self.engine_shapes is None:
            return self._generate(request)
        # TensorRT builds an engine per input shape at its first call (minutes for SD), and less
        # when its engine cache has it: untimed, into compile_s. The shapes: images per call,
        # size, and classifier-free guidance (which doubles the UNet's batch).
        shape = (len(request.seeds), request.width, request.height, request.guidance_scale > 1)
        if shape not in self.engine_shapes:
            log.info("%s [onnxruntime]: TensorRT engines for %s images of %sx%s", self.spec.key, *shape[:3])
        return once_per_shape(self.engine_shapes, shape, self._generate, request)

    def _generate(self, request: Request) -> CallResult:
        import torch

        with torch.inference_mode(), own_input_buffer(self.pipe.unet, guided=request.guidance_scale > 1):
            result = run_pipeline(self.pipe, request, self.device)
        if self.device == "cuda":
            # ORT's CUDA arena is invisible to torch's allocator stats; the device's used memory
            # after the call is the arena's high-water mark (it does not shrink).
            free, total = torch.cuda.mem_get_info()
            result.peak_mem_mb, result.mem_scope = (total - free) / 2**20, "cuda_device_used"
        return result
