"""CLIP scoring speed: the project's scorer against a bare batched encode of the same images.

Both sides score N square images of P px with one model (ViT-B/32 with random weights, or the
tiny CLIP with --tiny), in batches of the same size, on whatever device is present:

- scorer: `ClipScorer.score(images, prompts)` on decoded PIL images ("in memory"), and
  `ClipScorer.stream(paths, prompts, load=...)` on PNG files ("from PNGs", as `bench score` reads
  them). It also encodes the prompts (--prompts distinct ones, shared round robin).
- bare: per batch, `np.stack` of the images' uint8 pixels, one copy to the device, resize to the
  model's size there (`F.interpolate`, bicubic, antialias: on uint8 channels-last pixels on a
  CPU, torch's fastest path there, on float ones on a GPU; the images are square, so no crop),
  /255, normalise, `model.encode_image`; no text, no overlap between batches. From PNGs, each
  batch is first decoded by a thread pool with as many threads as the scorer has workers.

Runs alternate between the sides after one warm-up pass each, and the median of the repeats is
reported.

Then every quality family (PickScore, HPS v2.1, ImageReward, LAION aesthetic, CLIP-IQA and its
ViT-B/16 variant): its scorer's `stream` over the PNGs, as `bench score` runs it, in images/s;
first the tiny twins, then
(unless --skip-full-size) each family's full-size architecture with random weights, one at a
time, memory freed between; a family whose model would not fit comfortably in the memory
available now (MemAvailable) is skipped and the line says so. --baseline FILE also times the `ClipScorer` defined in FILE, e.g. the committed one
(`git show HEAD:bench/scorers/clip.py > /tmp/old_clip.py`); a scorer without `stream` gets the
PNGs decoded in the main thread first, as `bench score` used to. Prints figures; asserts nothing
about speed.

    python scripts/bench_scoring.py [--images 256|32] [--size 512] [--batch-size 32] [--prompts 16]
                                    [--repeats 3] [--workers N] [--tiny] [--baseline FILE]
                                    [--family-images 16] [--skip-full-size]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import logging
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


def make_images(n: int, size_px: int) -> list:
    """Smooth random pictures with a little noise: PNGs about the size generated ones are."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = []
    for _ in range(n):
        coarse = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).resize((size_px, size_px))
        pixels = np.asarray(coarse, dtype=np.int16) + rng.integers(-6, 7, (size_px, size_px, 3))
        images.append(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)))
    return images


def open_rgb(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


@dataclass
class Setup:
    model: object
    preprocess: object
    tokenizer: object
    arch: str
    device: str
    batch_size: int
    workers: int
    size_px: int  # the model's input side
    mean: tuple
    std: tuple
    pool: ThreadPoolExecutor  # the bare side's PNG decoders


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare(setup: Setup, items: list, from_files: bool) -> None:
    """The bare side; `items` are PIL images, or PNG paths that the pool decodes batch by batch."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    mean = torch.tensor(setup.mean, device=setup.device).view(1, 3, 1, 1)
    std = torch.tensor(setup.std, device=setup.device).view(1, 3, 1, 1)
    side = (setup.size_px, setup.size_px)
    with torch.inference_mode():
        for start in range(0, len(items), setup.batch_size):
            batch = items[start : start + setup.batch_size]
            if from_files:
                batch = list(setup.pool.map(open_rgb, batch))
            pixels = torch.from_numpy(np.stack([np.asarray(im) for im in batch])).to(setup.device)
            pixels = pixels.permute(0, 3, 1, 2)
            if setup.device == "cpu":  # torch's vectorised uint8 path: ~17x the float one on a CPU
                pixels = F.interpolate(pixels, size=side, mode="bicubic", antialias=True).float()
            else:
                pixels = F.interpolate(pixels.float(), size=side, mode="bicubic", antialias=True)
            setup.model.encode_image((pixels / 255 - mean) / std)
    sync(setup.device)


def scorer_pass(setup: Setup, scorer_class, items: list, prompts: list[str], from_files: bool) -> None:
    """One scoring pass with a fresh scorer (so a fresh text cache), as `bench score` makes one."""
    inject = {"model": setup.model, "preprocess": setup.preprocess, "tokenizer": setup.tokenizer}
    if "workers" in inspect.signature(scorer_class).parameters:
        inject["workers"] = setup.workers
    scorer = scorer_class(setup.arch, "random", device=setup.device, batch_size=setup.batch_size, **inject)
    if not from_files:
        scorer.score(items, prompts)
    elif hasattr(scorer, "stream"):
        list(scorer.stream(items, prompts, load=open_rgb))
    else:  # the committed scorer: `bench score` decoded each chunk in the main thread first
        scorer.score([open_rgb(p) for p in items], prompts)
    sync(setup.device)


def run_side(setup: Setup, scorer_class, items: list, prompts: list[str], from_files: bool) -> None:
    """The bare side when `scorer_class` is None, else a pass of that scorer."""
    if scorer_class is None:
        bare(setup, items, from_files)
    else:
        scorer_pass(setup, scorer_class, items, prompts, from_files)


def load_scorer_class(path: str):
    spec = importlib.util.spec_from_file_location("baseline_clip", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ClipScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=None, help="images per pass (256 on a GPU, 32 on a CPU)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--prompts", type=int, default=16, help="distinct prompts, shared round robin")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=None, help="scorer worker threads (default: one per core, <= 16)"
    )
    parser.add_argument("--tiny", action="store_true", help="the tiny random-weight CLIP instead of ViT-B/32")
    parser.add_argument(
        "--baseline", default=None, help="also time the ClipScorer in this file (the committed one, say)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--family-images", type=int, default=None, help="images per quality-family pass (16 on a CPU)")
    parser.add_argument("--skip-full-size", action="store_true", help="time the quality families' tiny twins only")
    args, _ = parser.parse_known_args()  # `nox -s benchmark` passes every script the same arguments
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import open_clip
    import torch

    from bench.console import quiet_libraries
    from bench.scorers.clip import ClipScorer, default_workers

    quiet_libraries()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    arch, pretrained = "ViT-B-32", None
    if args.tiny:
        from bench.tiny import register_tiny_clip

        arch, pretrained = "tiny-clip", str(register_tiny_clip())
    # ViT-B/32 encodes a few images/s on a small CPU: fewer images keep the run to minutes there.
    args.images = args.images or (256 if device.startswith("cuda") else 32)
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained)
    normalize = preprocess.transforms[-1]
    size = model.visual.image_size
    workers = args.workers or default_workers()
    sides = {"bare encode": None, "scorer": ClipScorer}
    if args.baseline:
        sides["baseline scorer"] = load_scorer_class(args.baseline)
    images = make_images(args.images, args.size)
    prompts = [f"prompt {i % args.prompts}: a lighthouse on a rocky coast at dusk" for i in range(args.images)]
    rates: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        setup = Setup(
            model=model.to(device).eval(),
            preprocess=preprocess,
            tokenizer=open_clip.get_tokenizer(arch),
            arch=arch,
            device=device,
            batch_size=args.batch_size,
            workers=workers,
            size_px=size[0] if isinstance(size, tuple) else size,
            mean=normalize.mean,
            std=normalize.std,
            pool=pool,
        )
        paths = [Path(tmp) / f"{i}.png" for i in range(len(images))]
        for im, path in zip(images, paths):
            im.save(path)
        png_kb = sum(p.stat().st_size for p in paths) / len(paths) / 1024
        for source, items in (("in memory", images), ("from PNGs", paths)):
            warm = args.batch_size * 2
            for cls in sides.values():  # warm-up: kernels, allocator, thread start
                run_side(setup, cls, items[:warm], prompts[:warm], source == "from PNGs")
            for _ in range(args.repeats):
                for name, cls in sides.items():
                    started = time.perf_counter()
                    run_side(setup, cls, items, prompts, source == "from PNGs")
                    rates.setdefault((source, name), []).append(len(items) / (time.perf_counter() - started))

    where = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {os.cpu_count()} cores"
    print(
        f"CLIP {arch} (random weights), {args.images} images of {args.size} px (PNG {png_kb:.0f} KB), "
        f"{args.prompts} prompts, batch {args.batch_size}, {workers} workers, {where}, torch {torch.__version__}, "
        f"{args.repeats} alternating repeats, median"
    )
    for source in ("in memory", "from PNGs"):
        base = statistics.median(rates[(source, "bare encode")])
        for name in sides:
            runs = rates[(source, name)]
            ratio = "" if name == "bare encode" else f"  {statistics.median(runs) / base:6.1%} of bare"
            print(
                f"  {source:9}  {name:15}: {statistics.median(runs):8.1f} images/s{ratio}"
                f"  (runs: {', '.join(f'{x:.1f}' for x in runs)})"
            )
    print("  target: scorer >= 60% of bare")
    families(args, device, workers)


# Full-size architectures of the quality families, random weights: (GB of fp32 weights, model).
FULL_SIZE = {
    "pickscore_tiny": (3.9, "CLIP ViT-H/14 (transformers)"),
    "hpsv2_tiny": (3.9, "CLIP ViT-H/14 (open_clip)"),
    "imagereward_tiny": (1.8, "BLIP ViT-L/16 + BERT-base"),
    "laion_aesthetic_tiny": (1.7, "CLIP ViT-L/14 (open_clip) + MLP"),
    "clip_iqa_tiny": (0.4, "CLIP RN50 (piq), at the images' own size"),
    "clip_iqa_vit_b_16_tiny": (0.6, "CLIP ViT-B/16 (transformers)"),
}


def mem_available_gb() -> float:
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("MemAvailable")) / 1e6


def to_full_size(metric: str, scorer) -> None:
    """Swap the tiny twin's model (and its preprocess) for the family's full-size architecture with
    random weights; the scorer's own stream, batching and text caches stay as they are."""
    import open_clip
    import torch
    from transformers import CLIPConfig, CLIPModel

    from bench.scorers import batching, hpsv2, imagereward
    from bench.tiny_scorers import mlp_head

    def hf_clip(text: dict, vision: dict, projection_dim: int):
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)
        ip = scorer.processor.image_processor
        ip.size, ip.crop_size = {"shortest_edge": 224}, {"height": 224, "width": 224}
        return CLIPModel(config).to(scorer.device).eval()

    if metric == "pickscore_tiny":  # laion/CLIP-ViT-H-14-laion2B-s32B-b79K's config
        text = dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24)
        vision = dict(
            hidden_size=1280, intermediate_size=5120, num_attention_heads=16, num_hidden_layers=32, patch_size=14
        )
        scorer.model = hf_clip(text, vision, 1024)
    elif metric == "clip_iqa_tiny":  # OpenAI's RN50, as piq's build_model makes it from RN50.pt
        from piq.feature_extractors.clip import CLIP
        from torchmetrics.functional.multimodal.clip_iqa import _clip_iqa_get_anchor_vectors

        scorer.model = CLIP(embed_dim=1024, image_resolution=224, vision_layers=(3, 4, 6, 3), vision_width=64,
                            vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=512,
                            transformer_heads=8, transformer_layers=12).to(scorer.device).eval()  # fmt: skip
        with torch.inference_mode():
            scorer.anchors = _clip_iqa_get_anchor_vectors(
                "clip_iqa", scorer.model, scorer.processor, ["Good photo.", "Bad photo."], scorer.device
            )
    elif metric == "clip_iqa_vit_b_16_tiny":  # openai/clip-vit-base-patch16
        text = dict(hidden_size=512, intermediate_size=2048, num_attention_heads=8, num_hidden_layers=12)
        vision = dict(
            hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12, patch_size=16
        )
        scorer.model = hf_clip(text, vision, 512)
        from torchmetrics.functional.multimodal.clip_iqa import _clip_iqa_get_anchor_vectors

        with torch.inference_mode():
            scorer.anchors = _clip_iqa_get_anchor_vectors(
                "hf", scorer.model, scorer.processor, ["Good photo.", "Bad photo."], scorer.device
            )
    elif metric == "imagereward_tiny":  # THUDM/ImageReward's med_config.json, vit="large"
        med = dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                   max_position_embeddings=512, layer_norm_eps=1e-12, hidden_act="gelu", pad_token_id=0)  # fmt: skip
        scorer.model = imagereward.build_model(med, 224, 1024, 24, 16).to(scorer.device)
        scorer._pixels = batching.Pixels(imagereward.reference_transform(224), scorer.device)
    else:  # open_clip: HPS v2.1's ViT-H-14, the aesthetic's ViT-L-14
        arch = "ViT-H-14" if metric == "hpsv2_tiny" else "ViT-L-14"
        logging.disable(logging.WARNING)  # open_clip's "initialized randomly": random is the point here
        try:
            scorer.model = open_clip.create_model(arch).to(scorer.device).eval()
        finally:
            logging.disable(logging.NOTSET)
        # HPS's own transform (a tensor resize, run whole in the workers), open_clip's for the aesthetic
        transform = (
            hpsv2.reference_transform(224) if metric == "hpsv2_tiny" else open_clip.image_transform(224, is_train=False)
        )
        scorer._pixels = batching.Pixels(transform, scorer.device)
        if metric == "laion_aesthetic_tiny":
            scorer.head = mlp_head(768).to(scorer.device).eval()


def families(args, device: str, workers: int) -> None:
    """Images/s of each quality family's scorer, from PNGs, tiny twins then full size."""
    import gc

    from bench.scoring import make_scorer

    n = args.family_images or (64 if device.startswith("cuda") else 16)
    images = make_images(n, args.size)
    prompts = [f"prompt {i % args.prompts}: a lighthouse on a rocky coast at dusk" for i in range(n)]
    batch = min(args.batch_size, 8)
    sizes = ["tiny"] + ([] if args.skip_full_size else ["full"])
    # A full-size ViT-H scores about 0.1 image/s on a 2-core CPU: one batch per pass there.
    n_full = n if device.startswith("cuda") else min(n, batch)
    print(
        f"\nquality families: {n} PNGs ({n_full} at full size) of {args.size} px, batch {batch}, "
        f"{workers} workers, median of {args.repeats}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{i}.png" for i in range(n)]
        for im, path in zip(images, paths):
            im.save(path)
        for size in sizes:
            for metric, (gb, arch) in FULL_SIZE.items():
                label = f"{metric.removesuffix('_tiny'):16} {size:4}"
                if size == "full" and mem_available_gb() < 3 * gb + 2:  # weights + activations + headroom
                    print(
                        f"  {label}: skipped, {arch} ({gb} GB fp32) would not fit comfortably in {mem_available_gb():.1f} GB available"
                    )
                    continue
                scorer = make_scorer(metric, device=device, batch_size=batch, workers=workers)
                if size == "full":
                    to_full_size(metric, scorer)
                list(scorer.stream(paths[:batch], prompts[:batch], load=open_rgb))  # warm-up
                rates, count = [], n if size == "tiny" else n_full
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    list(scorer.stream(paths[:count], prompts[:count], load=open_rgb))
                    sync(device)
                    rates.append(count / (time.perf_counter() - started))
                what = arch if size == "full" else "tiny twin"
                print(
                    f"  {label}: {statistics.median(rates):8.2f} images/s  ({what}; runs: {', '.join(f'{x:.2f}' for x in rates)})"
                )
                del scorer
                gc.collect()


if __name__ == "__main__":
    main()
