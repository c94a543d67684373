"""Metric registry: metadata here (light), implementations in bench.scorers (heavy imports).

The site sorts and colours by `higher_is_better` and names the backbone from here, and every
caller that needs to know what a metric is asks its `kind`, so a new metric is one entry below
plus, for a new family, one scorer module in bench/scorers/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# clip: open_clip image-text cosine, scored by `bench score` (options: arch, pretrained);
# preference: a reward model trained on human choices between images of one prompt (PickScore,
# HPS v2.1, ImageReward); aesthetic: a prompt-free rating of the image (LAION aesthetic v2);
# iqa: no-reference image quality (CLIP-IQA);
# parity: an image of another backend (ONNX Runtime, torch.compile) against its eager PyTorch
# twin, computed by the sweep itself;
# safety: a classifier's NSFW flag (and its margin): a property of the image, never a quality,
# so it is never ranked (the site shows each model's NSFW rate beside its quality);
# set: one value per image set (a model, scheduler, backend and settings, over all its prompts),
# not per image: FID and KID against a reference set's statistics (bench.set_scoring), kept in
# their own table (set_scores).
KINDS = ("clip", "preference", "aesthetic", "iqa", "parity", "safety", "set")

# What the relative metrics' pages say: their numbers rank images of one prompt.
PER_PROMPT_NOTE = (
    "Relative: {name} was trained to rank images of the same prompt, and its level shifts from "
    "prompt to prompt, so compare models within a prompt (or over one shared prompt set), never "
    "scores of different prompts."
)


# What transformers' CLIPProcessor.from_pretrained reads (slow tokenizer: vocab + merges).
HF_CLIP_PROCESSOR_FILES = (
    "preprocessor_config.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
)


# What diffusers' StableDiffusionSafetyChecker.from_pretrained (a transformers PreTrainedModel:
# config.json, model.safetensors with use_safetensors=True) and CLIPImageProcessor read.
NSFW_CHECKER_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")


# Commits of the hub repos open_clip reads its pretrained tags from (its pretrained config's
# `hf_hub`), as public code pins them (research notes of 2026-12-07): open_clip itself always
# reads the default branch, so the scorers resolve the pinned file and hand open_clip its path.
OPEN_CLIP_REVISIONS = {
    "timm/vit_base_patch32_clip_224.openai": "a6f597a30f7b82c51704746581f9a4e41421e878",
    "timm/vit_large_patch14_clip_224.openai": "18d0535469bb561bf468d76c1d73aa35156c922b",
    "timm/resnet50_clip.openai": "ec3d92cf63a5f9d591f0d611b736895966c73076",
}


CLIP_B16_REVISION = "57c216476eefef5ab752ec549e440a49ae4ae5f3"


@dataclass(frozen=True)
class Weights:
    """Files of one hub repo a scorer reads, through the HF cache (bench.weights.hub); or one file
    that is on no hub, downloaded from `urls` into the bench cache (bench.weights.pickles)."""

    hub_id: str  # a hub repo, a tiny twin's name (bench.tiny_scorers) when tiny, or with `urls` a name
    files: tuple[str, ...]
    revision: str | None = None  # None: the default branch (`bench fetch` prints the commit)
    # sha256 of files[0] when it is a pickle (.pt, .pth): checked before it is unpickled; None
    # refuses to load it and names the hash to pin.
    sha256: str | None = None
    licence: str = ""
    tiny: bool = False
    # Where files[0] is downloaded from when it is on no hub, tried in order (mirrors): the first
    # that serves the file with the pinned sha256 is kept. Empty: `hub_id` is a hub repo.
    urls: tuple[str, ...] = ()
    # The git blob id of files[0] (sha1 of b"blob <size>\0" + its bytes, `git hash-object`): the
    # pin of a file a git repository publishes, where that id is what its provenance records;
    # checked like sha256 (bench.weights.digest.git_blob_id).
    git_blob: str | None = None

    def __post_init__(self):
        if self.urls and len(self.files) != 1:
            raise ValueError(f"files: a weight fetched by URL is one file; got {self.files}")

    @property
    def pickled(self) -> bool:
        return self.files[0].endswith((".pt", ".pth", ".bin")) and not self.tiny

    @property
    def pin(self) -> str | None:
        """What files[0] is pinned by, as `bench fetch` prints it; None: unpinned."""
        if self.sha256:
            return f"sha256 {self.sha256}"
        return f"git blob {self.git_blob}" if self.git_blob else None


@dataclass(frozen=True)
class MetricInfo:
    name: str
    title: str  # what the site prints
    kind: str  # one of KINDS
    higher_is_better: bool
    unit: str  # "cosine", "dB", "0..1 pixel"
    # Dotted path ("module:name", pkgutil.resolve_name) of the scorer class; None for metrics the
    # sweep computes itself (parity) and for another metric's companions.
    scorer: str | None = None
    options: dict = field(default_factory=dict)
    # Hub weights the scorer reads besides open_clip's own pretrained tags (`options`), the
    # first the metric's own; `bench fetch` and the weights preflight go through this list.
    weights: tuple[Weights, ...] = ()
    value_range: tuple[float | None, float | None] = (None, None)  # None: unbounded that side
    note: str = ""  # what the site says beside the metric (how to read it)
    # Further values the scorer gives per image in the same pass, each a metric of its own (an
    # entry without a scorer): one model load and one append write them all (bench.scoring).
    companions: tuple[str, ...] = ()


def nsfw_pair(flag: str, weights: Weights) -> tuple[MetricInfo, MetricInfo]:
    """The safety checker's two metrics, written together by one pass of bench.scorers.nsfw
    (exactly as diffusers' StableDiffusionSafetyChecker decides): the flag, and its margin
    (`nsfw` -> `nsfw_score`; `nsfw_tiny` -> `nsfw_score_tiny`)."""
    margin = flag.replace("nsfw", "nsfw_score", 1)
    tiny = " tiny (random weights, tests only)" if weights.tiny else ""
    return (
        MetricInfo(
            flag,
            f"NSFW flag (SD safety checker){tiny}",
            "safety",
            False,
            "flag",
            "bench.scorers.nsfw:NsfwScorer",
            weights=(weights,),
            value_range=(0.0, 1.0),
            note="1 where the Stable Diffusion safety checker flags the image, else 0, so its mean is the "
            "NSFW rate. Every image is scored and kept, whatever its flag.",
            companions=(margin,),
        ),
        MetricInfo(
            margin,
            f"NSFW margin (SD safety checker){tiny}",
            "safety",
            False,
            "margin",
            # Unbounded but by the checker's thresholds: a cosine (-1..1) minus a threshold.
            note=f"Written with {flag}: the checker's largest concept score (cosine to the concept minus "
            "its threshold, +0.01 once a special-care concept matched, rounded to 3 decimals as the "
            "checker rounds); above 0 exactly where the image is flagged.",
        ),
    )


# pytorch-fid's FID Inception weights (its release `fid_weights`), which MLPerf's tools/fid
# downloads. The 6726825d in the name is the sha256 prefix torch.hub checks; the whole hash is
# the one public code pins for this 95,628,359-byte file (not re-hashed here).
FID_INCEPTION = Weights(
    "pytorch-fid-inception",
    ("pt_inception-2015-12-05-6726825d.pth",),
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    licence="Apache-2.0 (pytorch-fid); weights converted from TensorFlow's FID Inception",
    urls=(
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    ),
)
# MLPerf's FID reference statistics of the 5,000 COCO 2014 images (mu and sigma only: no
# features, so no KID against them), pinned by the git blob id its provenance gives
# (bench/data/mlperf-sdxl/README.md), at the commit the captions were copied from.
MLPERF_COCO_STATS = Weights(
    "mlperf-coco-val2014-stats",
    ("val2014.npz",),
    licence="Apache-2.0 (mlcommons/inference); statistics of COCO images (CC BY 4.0)",
    urls=(
        "https://raw.githubusercontent.com/mlcommons/inference/b66003e10e2db4b8c36a448b0545ec90fcc6e9e9/"
        "text_to_image/tools/val2014.npz",
    ),
    git_blob="806479d0693a33110526b6689aa26baddd995c7b",
)
# Reference statistics that hold mu and sigma only (no features): no KID against them.
REFERENCE_WITHOUT_FEATURES = frozenset({MLPERF_COCO_STATS.hub_id})
# Tiny twins (bench.tiny_scorers): pytorch-fid's architecture with random weights, and statistics
# (with features) of a few tiny SD pictures, read at its 192-dim block (a test's FID in
# milliseconds: pool3's 2048 x 2048 matrix square root takes a minute on a shared CPU).
TINY_FID_INCEPTION = Weights("tiny-fid-inception", ("pt_inception-2015-12-05-6726825d.pth",), tiny=True)
TINY_FID_STATS = Weights("tiny-fid-inception", ("reference-192.npz",), tiny=True)
# Images the published protocol scores a set on: fewer, and a set metric is "indicative"
# (a suite's `protocol_images` says; MLPerf's SDXL: 5,000).
SET_METRIC_NOTE = (
    "One value per image set (a model, scheduler, backend and settings, over all its prompts), "
    "against the reference statistics; lower is better. FID and KID are biased by the number of "
    "images: compare sets of equal size only, and read a set smaller than the protocol's as indicative."
)


def set_pair(suffix: str, inception: Weights, stats: Weights, dims: int = 2048) -> tuple[MetricInfo, MetricInfo]:
    """FID and KID (`fid`, `kid` + suffix) on one FID Inception (features of its `dims` block;
    2048: pool3) and one reference statistics file: both from the same features of a set's
    images, computed in one pass."""
    tiny = " tiny (random weights, tests only)" if inception.tiny else ""
    return (
        MetricInfo(
            f"fid{suffix}",
            f"FID (pytorch-fid){tiny}",
            "set",
            False,
            "FID",
            "bench.scorers.fid:SetScorer",
            {"statistic": "fid", "dims": dims},
            weights=(inception, stats),
            value_range=(0.0, None),
            note=SET_METRIC_NOTE,
        ),
        MetricInfo(
            f"kid{suffix}",
            f"KID (polynomial kernel){tiny}",
            "set",
            False,
            "MMD^2",
            "bench.scorers.fid:SetScorer",
            {"statistic": "kid", "dims": dims},
            weights=(inception, stats),
            note=SET_METRIC_NOTE + " KID needs the reference set's features, not only mu and sigma.",
        ),
    )


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo(
            "clip_vit_b_32",
            "CLIP ViT-B/32 (OpenAI)",
            "clip",
            True,
            "cosine",
            "bench.scorers.clip:ClipScorer",
            {"arch": "ViT-B-32", "pretrained": "openai"},
        ),
        MetricInfo(
            "clip_vit_l_14",
            "CLIP ViT-L/14 (OpenAI)",
            "clip",
            True,
            "cosine",
            "bench.scorers.clip:ClipScorer",
            {"arch": "ViT-L-14", "pretrained": "openai"},
        ),
        # The tiny suite's CLIP: random weights, same code path, numbers mean nothing.
        MetricInfo(
            "clip_tiny",
            "CLIP tiny (random weights, tests only)",
            "clip",
            True,
            "cosine",
            "bench.scorers.clip:ClipScorer",
            {"arch": "tiny-clip", "pretrained": "tiny"},
        ),
        MetricInfo(
            "pickscore",
            "PickScore v1",
            "preference",
            True,
            "logit (100 x cosine)",
            "bench.scorers.pickscore:PickScorer",
            weights=(
                Weights(
                    "yuvalkirstain/PickScore_v1",
                    ("config.json", "model.safetensors"),
                    revision="a4e4367c6dfa7288a00c550414478f865b875800",
                    licence="MIT (PickScore's code repo; the model card names none)",
                ),
                Weights(
                    "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",  # the processor PickScore's code loads
                    HF_CLIP_PROCESSOR_FILES,
                    revision="1c2b8495b28150b8a4922ee1c8edee224c284c0c",
                    licence="MIT",
                ),
            ),
            value_range=(-100.0, 100.0),
            note=PER_PROMPT_NOTE.format(name="PickScore"),
        ),
        MetricInfo(
            "hpsv2",
            "HPS v2.1",
            "preference",
            True,
            "cosine",
            "bench.scorers.hpsv2:HpsScorer",
            {"arch": "ViT-H-14"},
            weights=(
                Weights(
                    "xswu/HPSv2",
                    ("HPS_v2.1_compressed.pt",),
                    revision="697403c78157020a1ae59d23f111aa58ced35b0a",
                    # 1,972,490,005 bytes; the HPSv2 Space's HPS_v2_1.pt carries the v2.0 hash instead
                    sha256="c57a38fb4a2f7e7c15bf00da2ea377cdf165448b4dd1052a484c215a998c9837",
                    licence="Apache-2.0",
                ),
            ),
            value_range=(-1.0, 1.0),
            note=PER_PROMPT_NOTE.format(name="HPS v2.1")
            + " Papers print it x100 (HPSv2's v2.1 table: Dreamlike Photoreal 2.0 at 29.73, Openjourney at 27.48;"
            " its v2.0 table, 27.86 and 27.45 for those two, scores another checkpoint and does not compare).",
        ),
        MetricInfo(
            "imagereward",
            "ImageReward v1.0",
            "preference",
            True,
            "z-score",
            "bench.scorers.imagereward:ImageRewardScorer",
            {"image_size": 224, "vision_width": 1024, "vision_depth": 24, "vision_heads": 16},
            weights=(
                Weights(
                    "zai-org/ImageReward",  # THUDM/ImageReward, renamed: the hub redirects the old id
                    ("ImageReward.pt", "med_config.json"),
                    revision="5736be03b2652728fb87788c9797b0570450ab72",
                    sha256="d71dc8d4912bc633c06ab8ef1ef6a81e8199d4369f14b47b29baf1d19de561f6",  # 1,786,880,927 bytes
                    licence="Apache-2.0",
                ),
                Weights(
                    "google-bert/bert-base-uncased",
                    ("vocab.txt",),
                    revision="86b5e0934494bd15c9632b12f734a8a67f723594",
                    licence="Apache-2.0",
                ),
            ),
            note="Standardised over ImageReward's own training set (mean 0, sd 1 there); unbounded.",
        ),
        MetricInfo(
            "laion_aesthetic",
            "LAION aesthetic v2",
            "aesthetic",
            True,
            "rating 1..10",
            "bench.scorers.aesthetic:AestheticScorer",
            {"arch": "ViT-L-14", "pretrained": "openai"},
            weights=(
                Weights(
                    "camenduru/improved-aesthetic-predictor",  # a mirror of the GitHub original
                    ("sac+logos+ava1-l14-linearMSE.pth",),
                    # No public record of its commit was found, so the repo is unpinned; the file
                    # is, by the sha256 public code pins (not re-hashed here), checked before loading.
                    sha256="21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0",
                    licence="Apache-2.0",
                ),
            ),
            note="Reads the image only, not the prompt; a linear-MSE head trained on 1..10 ratings, unclamped.",
        ),
        MetricInfo(
            "clip_iqa",
            "CLIP-IQA (RN50, full image; torchmetrics' default)",
            "iqa",
            True,
            "probability",
            "bench.scorers.clip_iqa:ClipIqaScorer",
            {"prompts": ("quality",)},
            # torchmetrics' default model_name_or_path="clip_iqa", the paper's: OpenAI's RN50 as piq
            # ships it (a TorchScript archive piq downloads from its own release, OpenAI's URL as the
            # fallback; OpenAI's URL names the file's sha256), and the tokenizer torchmetrics loads.
            weights=(
                Weights(
                    "openai-clip-rn50",
                    ("RN50.pt",),
                    sha256="afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
                    licence="MIT (OpenAI CLIP)",
                    urls=(
                        "https://github.com/photosynthesis-team/piq/releases/download/v0.7.1/RN50.pt",
                        "https://openaipublic.azureedge.net/clip/models/"
                        "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
                    ),
                ),
                Weights(
                    "openai/clip-vit-base-patch16",
                    HF_CLIP_PROCESSOR_FILES,
                    revision=CLIP_B16_REVISION,
                    licence="MIT (OpenAI CLIP's code repo; the model card names none)",
                ),
            ),
            value_range=(0.0, 1.0),
            note="P(image is a good photo rather than a bad one), from the prompt pair "
            "'Good photo.' / 'Bad photo.'; reads the image only, whole and at its own size (OpenAI's "
            "RN50 with its positional embedding off, as the paper and torchmetrics' default run it).",
        ),
        # The CLIP-IQA formula on another CLIP, kept for comparison with scores made before: not
        # the published metric (another backbone, and CLIP's 224 px centre crop of the image).
        MetricInfo(
            "clip_iqa_vit_b_16",
            "CLIP-IQA variant (ViT-B/16, centre crop; not the published one)",
            "iqa",
            True,
            "probability",
            "bench.scorers.clip_iqa_hf:HfClipIqaScorer",
            {"prompts": ("quality",)},
            weights=(
                Weights(
                    "openai/clip-vit-base-patch16",
                    ("config.json", "model.safetensors", *HF_CLIP_PROCESSOR_FILES),
                    revision=CLIP_B16_REVISION,
                    licence="MIT (OpenAI CLIP's code repo; the model card names none)",
                ),
            ),
            value_range=(0.0, 1.0),
            note="Not comparable with published CLIP-IQA figures: the CLIP-IQA formula on CLIP ViT-B/16, "
            "which sees a 224 px centre crop of the image.",
        ),
        # Tiny random-weight twins (bench.tiny_scorers): same code paths, numbers mean nothing.
        *[
            MetricInfo(
                f"{name}_tiny",
                f"{title} tiny (random weights, tests only)",
                kind,
                True,
                unit,
                scorer,
                options,
                weights=tuple(Weights(f"tiny-{twin}", files, tiny=True) for twin, files in twins),
            )
            for name, title, kind, unit, scorer, options, twins in [
                (
                    "pickscore",
                    "PickScore",
                    "preference",
                    "logit (100 x cosine)",
                    "bench.scorers.pickscore:PickScorer",
                    {},
                    [("pickscore", ("config.json", "model.safetensors")), ("pickscore", ("preprocessor_config.json",))],
                ),
                (
                    "hpsv2",
                    "HPS v2.1",
                    "preference",
                    "cosine",
                    "bench.scorers.hpsv2:HpsScorer",
                    {"arch": "tiny-clip"},
                    [("hpsv2", ("HPS_v2.1_compressed.pt",))],
                ),
                (
                    "imagereward",
                    "ImageReward",
                    "preference",
                    "z-score",
                    "bench.scorers.imagereward:ImageRewardScorer",
                    {"image_size": 32, "vision_width": 32, "vision_depth": 2, "vision_heads": 2},
                    [("imagereward", ("ImageReward.pt", "med_config.json")), ("imagereward", ("vocab.txt",))],
                ),
                (
                    "laion_aesthetic",
                    "LAION aesthetic",
                    "aesthetic",
                    "rating 1..10",
                    "bench.scorers.aesthetic:AestheticScorer",
                    {"arch": "tiny-clip", "pretrained": "tiny"},
                    [("aesthetic", ("sac+logos+ava1-l14-linearMSE.pth",))],
                ),
                (
                    "clip_iqa",
                    "CLIP-IQA",
                    "iqa",
                    "probability",
                    "bench.scorers.clip_iqa:ClipIqaScorer",
                    {"prompts": ("quality",)},
                    [("clip-iqa-rn50", ("RN50.pt",)), ("clip-iqa-rn50", HF_CLIP_PROCESSOR_FILES)],
                ),
                (
                    "clip_iqa_vit_b_16",
                    "CLIP-IQA variant (ViT-B/16)",
                    "iqa",
                    "probability",
                    "bench.scorers.clip_iqa_hf:HfClipIqaScorer",
                    {"prompts": ("quality",)},
                    [("clip-iqa-vit-b-16", ("config.json", "model.safetensors"))],
                ),
            ]
        ],
        # One NSFW rule for every model: no pipeline's own safety checker blanks or drops an image
        # (bench.backends.diffusion); CompVis' checker flags every image of every model instead.
        *nsfw_pair(
            "nsfw",
            Weights(
                "CompVis/stable-diffusion-safety-checker",
                NSFW_CHECKER_FILES,
                # the commit whose tree holds model.safetensors (fp16), what loads with use_safetensors
                revision="1664e306d2258485321cbbd8083074c9474d4e41",
                licence="not stated (its model card: 'More information needed'); a fine-tune of OpenAI's CLIP ViT-L/14",
            ),
        ),
        *nsfw_pair("nsfw_tiny", Weights("tiny-nsfw", NSFW_CHECKER_FILES, tiny=True)),
        # Set metrics: FID and KID of an image set against reference statistics, on pytorch-fid's
        # FID Inception (bench.fid); weights[0] the network, weights[1] the reference statistics.
        *set_pair("", FID_INCEPTION, MLPERF_COCO_STATS),
        *set_pair("_tiny", TINY_FID_INCEPTION, TINY_FID_STATS, dims=192),
        # Parity between another backend's image and its eager PyTorch twin (same cell but backend).
        MetricInfo("psnr_db_vs_pytorch", "PSNR vs eager PyTorch", "parity", True, "dB"),
        MetricInfo("max_abs_diff_vs_pytorch", "max |Δ| vs eager PyTorch", "parity", False, "0..1 pixel"),
    ]
}


def of_kind(kind: str) -> list[str]:
    """Names of the metrics of one kind, in registry order."""
    return [name for name, info in METRICS.items() if info.kind == kind]


# Metrics `bench score` can compute: the ones with a scorer; per image, or per image set.
SCORABLE = [name for name, info in METRICS.items() if info.scorer]
SET_METRICS = of_kind("set")
PER_IMAGE = [name for name in SCORABLE if name not in SET_METRICS]
# Per-image NSFW flags (1.0 flagged): the site's NSFW rate and its blurred thumbnails.
NSFW_FLAGS = [name for name, info in METRICS.items() if info.kind == "safety" and info.unit == "flag"]


def written(metrics: list[str]) -> list[str]:
    """Every metric that scoring `metrics` writes: each one, then its companions."""
    return list(dict.fromkeys(name for m in metrics for name in (m, *METRICS[m].companions)))
