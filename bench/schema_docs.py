"""What each column of the published tables means, and its unit: the downloads page's column
dictionary. One entry per column of every table in bench.schema.TABLES (a test fails on a column
without one). A meaning is a string, or (meaning, unit) where the name's suffix does not say the
unit; `unit` reads it from the suffix (latency_s: s). Plain data: the site build imports it.
"""

from __future__ import annotations

# Name suffix -> unit, for the columns that carry their unit in their name (STYLE: units in names).
SUFFIX_UNITS = {"_s": "s", "_ms": "ms", "_mb": "MB", "_j": "J", "_w": "W", "_db": "dB", "_gb": "GB", "_px": "px"}

_RUN_ID = "the sweep that wrote the row (a key of the runs table)"
_CELL_ID = "stable hash of everything that defines the image, prompt text included (bench.plan.cell_id)"
_CREATED = "when the row was written (UTC)"
# The generation settings, the same columns in generations and set_scores.
_SETTINGS = {
    "steps": ("denoising steps", "steps"),
    "guidance_scale": ("classifier-free guidance scale", "factor"),
    "width": ("image width", "px"),
    "height": ("image height", "px"),
}
_SCORER = (
    "what computed the value: package versions and weights (repo@commit, a pickle's sha256, or tiny); "
    "null for older rows and for the sweep's parity metrics"
)

COLUMNS: dict[str, dict[str, str | tuple[str, str]]] = {
    "generations": {
        "run_id": _RUN_ID,
        "cell_id": _CELL_ID,
        "prompt_id": "the prompt's id in its prompt set",
        "prompt": "the prompt text given to the model",
        "negative_prompt": "the negative prompt, if any",
        "category": "the prompt's category in its prompt set (PartiPrompts: 12); null without one",
        "challenge": "the prompt's challenge aspect in its prompt set (PartiPrompts: 11); null without one",
        "model": "the model's key in the registry (bench list)",
        "family": "sd, sdxl or gan",
        "hub_id": "the Hugging Face Hub repository of its weights",
        "revision": "the pinned commit of those weights",
        "lora": "hub id of a LoRA loaded on top, if any",
        "lora_scale": ("the LoRA's weight", "factor"),
        "vae": "hub id of a replacement VAE, if any",
        "vae_revision": "the replacement VAE's pinned commit",
        "backend": "pytorch, pytorch-compile or onnxruntime",
        "provider": "what really ran: cuda, cpu, tensorrt (ONNX Runtime falls back silently)",
        "dtype": "the weights' dtype: float16, float32, bfloat16",
        "scheduler": "the diffusers scheduler (a bench.schedulers key); null for the gan family",
        **_SETTINGS,
        "seed": "the generator's seed: one image per prompt and seed",
        "latents_sha256": "sha256 of the fixed initial latents file (.npy) it started from; null: the seed's noise",
        "latent_index": "which latent of that file; null: the seed's noise",
        "status": "ok, failed or nan (nsfw: older runs only)",
        "error": "the first line of the error of a failed image",
        "image_path": "the image file, relative to images/",
        "image_sha256": "sha256 of the image file as written",
        "load_s": "model load for this model and backend, once per sweep (ONNX Runtime: session creation)",
        "export_s": "ONNX export and graph optimization; 0 when the caches were hit",
        "backend_options": "what the backend ran with beyond device and dtype, as sorted JSON",
        "compile_s": "torch.compile (or engine build) for this call's shapes; never in the latency",
        "batch_size": ("images made by the call that made this one", "images"),
        "latency_s": "wall time of that call divided by batch_size: seconds per image",
        "denoise_s": "time in the denoising loop, per image",
        "step_ms_p50": ("median per-step time of that call", "ms"),
        "peak_mem_mb": "peak memory: CUDA allocated on a GPU, the process's resident memory on a CPU",
        "energy_j": "GPU energy of the call per image (NVML counter); null without one",
        "power_w_mean": ("mean GPU power over the call", "W"),
        "mem_scope": "what peak_mem_mb measured: cuda_allocated or process_rss",
        "warm": "false for the first call after a load, which the speed figures leave out",
        "class_label": "gan family: the ImageNet class(es) chosen for the prompt",
        "class_similarity": ("gan family: CLIP similarity of that choice", "cosine"),
        "created_at": _CREATED,
    },
    "scores": {
        "cell_id": _CELL_ID + " (a key of the generations table)",
        "metric": "the metric's name (bench.metrics; the methodology page defines each)",
        "value": ("the metric's value for the image (CLIP: raw cosine in [-1, 1])", "metric's own"),
        "truncated_tokens": (
            "prompt tokens the text encoder could not see; null: the metric reads no prompt",
            "tokens",
        ),
        "scorer_version": _SCORER,
        "created_at": _CREATED,
    },
    "set_scores": {
        "set_key": "hash of the image set's model, backend, scheduler and settings (bench.set_scoring)",
        "model": "the model's key in the registry",
        "backend": "the backend whose images form the set",
        "scheduler": "the diffusers scheduler; null for the gan family",
        **_SETTINGS,
        "latents_sha256": "sha256 of the fixed initial latents file; null: the seeds' noise",
        "metric": "the set metric's name: fid, kid",
        "value": ("the metric's value over the set (lower is better for FID and KID)", "metric's own"),
        "value_std": ("KID: spread over its random subsets; null for FID", "metric's own"),
        "n_images": ("the set's images the value was computed on", "images"),
        "protocol_images": ("the published protocol's image count (MLPerf: 5,000); null: none", "images"),
        "indicative": "true when n_images < protocol_images: not comparable with the published figure",
        "reference_sha256": "sha256 of the reference statistics file",
        "scorer_version": _SCORER,
        "run_id": "the sweep that scored it; null for bench score",
        "created_at": _CREATED,
    },
    "runs": {
        "run_id": "the sweep's id",
        "suite": "the suite it ran (a bench/suites TOML name, or a path)",
        "started_at": "when the sweep started (UTC)",
        "finished_at": "when it finished (UTC); null while running or after a crash",
        "command": "the command line that ran it",
        "git_commit": "the benchmark's commit",
        "python": "Python version",
        "platform": "operating system and architecture",
        "torch": "PyTorch version",
        "diffusers": "diffusers version",
        "transformers": "transformers version",
        "optimum": "optimum version",
        "onnxruntime": "ONNX Runtime version",
        "open_clip": "open_clip version",
        "gpu_name": "the GPU, as the driver names it; null on a CPU",
        "gpu_driver": "the NVIDIA driver version",
        "cuda": "the CUDA version PyTorch was built with",
        "cpu": "the CPU model",
        "cpu_count": ("logical CPUs", "CPUs"),
        "ram_gb": "the machine's memory",
        "images_ok": ("images this run made (a cell made again counts again)", "images"),
        "images_failed": ("images that failed", "images"),
        "shard": "K/N for one shard of a split sweep; null when whole",
        "launch_id": "what the shards of one launch share: the site adds their counts up as one run",
        "workers": ("processes that made this run's images", "processes"),
        "weights_lock_sha256": "sha256 of data/weights-lock.json once the run's weights matched it; null: no lock",
    },
}


def meaning(table: str, column: str) -> str:
    """The column's meaning; "" when it has none (the test of this module says which)."""
    entry = COLUMNS.get(table, {}).get(column, "")
    return entry[0] if isinstance(entry, tuple) else entry


def unit(table: str, column: str) -> str:
    """The column's unit: given with its meaning, else read from its name's suffix; "" for none."""
    entry = COLUMNS.get(table, {}).get(column, "")
    if isinstance(entry, tuple):
        return entry[1]
    return next((u for suffix, u in SUFFIX_UNITS.items() if column.endswith(suffix)), "")
