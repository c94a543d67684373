"""The data contract: the Parquet tables under data/ and their columns (units in the names).

One row per generated image in `generations`, one per image and metric in `scores`, one per
image set and set metric in `set_scores`, one per sweep in `runs`. Columns are only ever added, never removed, renamed or retyped: a part written
before a column existed reads it as nulls, and one written by a newer version (every column
known here, and more) reads without the columns this version lacks. Writers only ever add
files, so this module is the one place that says what a column means.
Light on purpose: the site build imports it, and it must not pull in torch.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

GENERATIONS = pa.schema(
    [
        ("run_id", pa.string()),
        # Stable hash of everything that defines the image (see bench.plan.cell_id).
        ("cell_id", pa.string()),
        ("prompt_id", pa.string()),
        ("prompt", pa.string()),
        ("negative_prompt", pa.string()),
        # The prompt's labels in its prompt set (PartiPrompts: 12 categories, 11 challenge
        # aspects); null for prompts written inline in a suite without them.
        ("category", pa.string()),
        ("challenge", pa.string()),
        ("model", pa.string()),
        ("family", pa.string()),  # sd, sdxl, gan
        ("hub_id", pa.string()),
        ("revision", pa.string()),
        ("lora", pa.string()),
        ("lora_scale", pa.float64()),
        ("vae", pa.string()),  # hub id of a replacement VAE, if any
        ("vae_revision", pa.string()),  # its commit, when pinned
        ("backend", pa.string()),  # pytorch, onnxruntime
        ("provider", pa.string()),  # what really ran: cuda, cpu, tensorrt
        ("dtype", pa.string()),
        ("scheduler", pa.string()),  # null for the gan family
        ("steps", pa.int64()),
        ("guidance_scale", pa.float64()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("seed", pa.int64()),
        # Fixed initial latents (bench.latents): the .npy file's sha256 and which latent of it
        # the image started from; null where the seed's noise was the start.
        ("latents_sha256", pa.string()),
        ("latent_index", pa.int64()),
        ("status", pa.string()),  # ok, failed, nan (nsfw: older runs only, see STATUSES)
        ("error", pa.string()),
        ("image_path", pa.string()),  # relative to images/
        ("image_sha256", pa.string()),
        ("load_s", pa.float64()),  # model load for this model x backend, once per sweep
        ("export_s", pa.float64()),  # ONNX export (+ ORT graph optimizer); 0 when the caches were hit
        # What the backend ran with beyond device and dtype, as sorted JSON: torch.compile's mode,
        # channels_last, fused QKV projections; ONNX Runtime's IO binding and graph optimizer.
        ("backend_options", pa.string()),
        ("compile_s", pa.float64()),  # torch.compile (or engine build) for this call's shapes; never timed
        ("batch_size", pa.int64()),  # images made by the call that made this one
        ("latency_s", pa.float64()),  # wall time of that call, divided by batch_size
        ("denoise_s", pa.float64()),  # time in the denoising loop, per image
        ("step_ms_p50", pa.float64()),  # median per-step time of that call
        ("peak_mem_mb", pa.float64()),  # CUDA: peak allocated; CPU: process peak RSS
        ("energy_j", pa.float64()),  # GPU energy of the call per image (NVML counter); null without one
        ("power_w_mean", pa.float64()),  # mean GPU power over the call
        ("mem_scope", pa.string()),  # cuda_allocated or process_rss
        ("warm", pa.bool_()),  # false for the first call after a load: not in speed stats
        ("class_label", pa.string()),  # gan family: ImageNet class(es) chosen for the prompt
        ("class_similarity", pa.float64()),  # gan family: CLIP similarity of that choice
        ("created_at", TIMESTAMP),
    ]
)

SCORES = pa.schema(
    [
        ("cell_id", pa.string()),
        ("metric", pa.string()),  # e.g. clip_vit_b_32, psnr_db_vs_pytorch
        ("value", pa.float64()),  # CLIP: raw cosine in [-1, 1]
        ("truncated_tokens", pa.int64()),  # prompt tokens the text encoder could not see; null: reads no prompt
        # What computed the value: package versions and weights (repo@commit, a pickle's sha256, or
        # "tiny"); null for rows written before it was recorded and for the sweep's parity metrics.
        ("scorer_version", pa.string()),
        ("created_at", TIMESTAMP),
    ]
)

# One row per image set and set metric (FID, KID: bench.set_scoring). A set is every `ok` image
# of one model, backend, scheduler and settings (set_key hashes them, bench.set_scoring.SET_FIELDS)
# among the cells scored: a sweep's own, or the whole data dir for `bench score`. A set scored
# again (more images, another reference) supersedes its row.
SET_SCORES = pa.schema(
    [
        ("set_key", pa.string()),
        ("model", pa.string()),
        ("backend", pa.string()),
        ("scheduler", pa.string()),
        ("steps", pa.int64()),
        ("guidance_scale", pa.float64()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("latents_sha256", pa.string()),
        ("metric", pa.string()),  # e.g. fid, kid
        ("value", pa.float64()),
        ("value_std", pa.float64()),  # KID: spread over its random subsets; null for FID
        ("n_images", pa.int64()),  # the set's images the value was computed on
        # The published protocol's image count (a suite's protocol_images; MLPerf: 5,000); null: none
        ("protocol_images", pa.int64()),
        ("indicative", pa.bool_()),  # n_images < protocol_images: not comparable with the published figure
        ("reference_sha256", pa.string()),  # the reference statistics file's sha256
        ("scorer_version", pa.string()),
        ("run_id", pa.string()),  # the sweep that scored it; null for `bench score`
        ("created_at", TIMESTAMP),
    ]
)

RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("suite", pa.string()),
        ("started_at", TIMESTAMP),
        ("finished_at", TIMESTAMP),
        ("command", pa.string()),
        ("git_commit", pa.string()),
        ("python", pa.string()),
        ("platform", pa.string()),
        ("torch", pa.string()),
        ("diffusers", pa.string()),
        ("transformers", pa.string()),
        ("optimum", pa.string()),
        ("onnxruntime", pa.string()),
        ("open_clip", pa.string()),
        ("gpu_name", pa.string()),
        ("gpu_driver", pa.string()),
        ("cuda", pa.string()),
        ("cpu", pa.string()),
        ("cpu_count", pa.int64()),
        ("ram_gb", pa.float64()),
        ("images_ok", pa.int64()),  # images this run made (a cell made again counts again)
        ("images_failed", pa.int64()),
        # "K/N" for one shard of a split sweep (--shard, torchrun, a Slurm array); null when whole.
        ("shard", pa.string()),
        # What the shards of one launch share (torchrun's run id, the Slurm array job id,
        # BENCH_LAUNCH_ID, the Ray driver's run id): the site adds their counts up as one run.
        ("launch_id", pa.string()),
        ("workers", pa.int64()),  # processes that made this run's images (Ray workers; else 1)
        # sha256 of data/weights-lock.json's bytes once the run's weights matched it (see
        # bench.weights.lock); null when the run checked no weights against a lock.
        ("weights_lock_sha256", pa.string()),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "generations": GENERATIONS,
    "scores": SCORES,
    "set_scores": SET_SCORES,
    "runs": RUNS,
}

# One row per key is read: a rerun of a failed cell, or a rescore, supersedes. A key's versions
# are ordered by PREFER first (a success is never hidden by a failure), then by the order their
# parts were appended in (the store's part sequence, bench.store; never a clock), then by
# ORDER_BY (the writer's clock: only between parts appended at once, or named before the store
# had sequences); the last wins.
KEYS: dict[str, list[str]] = {
    "generations": ["cell_id"],
    "scores": ["cell_id", "metric"],
    "set_scores": ["set_key", "metric"],
    "runs": ["run_id"],
}
ORDER_BY: dict[str, str] = {
    "generations": "created_at",
    "scores": "created_at",
    "set_scores": "created_at",
    "runs": "started_at",
}
PREFER: dict[str, tuple[str, str]] = {"generations": ("status", "ok")}  # (column, value) that wins

# "nsfw" (an image a pipeline's own safety checker blanked) is written no more: every image is
# kept and the nsfw metric flags it. Published data of older runs may hold it, so it still reads.
STATUSES = ("ok", "failed", "nan", "nsfw")
