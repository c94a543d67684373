"""`bench fetch`: get every weight a suite needs onto this machine, so that a GPU machine without
internet can run the sweep with HF_HUB_OFFLINE=1.

Hub weights go to the Hugging Face cache, exactly where `from_pretrained` looks for them; BigGAN's
package weights, and metric weights on no hub (CLIP-IQA's RN50), go to the bench cache by URL
(bench.weights.pickles). A dry run downloads nothing and
says where its file list comes from, since what can be known depends on the network:

- hub: the hub's file list for the revision now, with sizes (reads model_index.json, a few KB);
- cache: model_index.json from the local HF cache; sizes of the files already cached;
- expected: neither is reachable, so the files the loader is expected to read, sizes unknown.

The default branch is fetched when no revision is pinned (so that HF_HUB_OFFLINE=1 finds it as
`main`); the commit it resolved to is printed with a suite snippet that pins it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import WeightsError, first_line
from bench.metrics import METRICS, OPEN_CLIP_REVISIONS, Weights
from bench.models import GAN_CONFIG_FILE, GAN_WEIGHTS_FILE, ModelSpec
from bench.prompts import FETCHED
from bench.weights import hub
from bench.weights.pickles import pinned_digest, source_kind, url_file, url_folder, url_path, weights_folder

# Per pipeline component: the files diffusers reads with use_safetensors=True and no variant.
MODEL_FILES = {
    "diffusers": ("config.json", "diffusion_pytorch_model.safetensors"),
    "transformers": ("config.json", "model.safetensors"),
}
OTHER_FILES = {
    "scheduler": ("scheduler_config.json",),
    "tokenizer": ("merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"),
    "feature_extractor": ("preprocessor_config.json",),
}
# Components a family's pipeline has when its model_index.json is out of reach.
FAMILY_COMPONENTS = {
    "sd": ("feature_extractor", "scheduler", "text_encoder", "tokenizer", "unet", "vae"),
    "sdxl": ("scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet", "vae"),
}


@dataclass
class RemoteFile:
    path: str
    size_bytes: int | None  # None: not known here
    cached: bool = False


@dataclass
class Item:
    """One download: a set of files from one hub repo (or BigGAN's URL), for some models."""

    kind: str  # pipeline, vae, lora, gan, clip, metric (a quality scorer's own weights)
    source: str  # hub repo id, or the URL template of BigGAN's package weights
    revision: str | None
    models: list[str]
    files: list[RemoteFile] = field(default_factory=list)
    listed_from: str = "expected"  # hub, cache, expected (see the module docstring)
    commit: str | None = None
    licence: str = ""
    gated: bool = False
    note: str = ""
    spec: ModelSpec | None = None  # gan: the spec that says where and what to verify
    weight_name: str | None = None  # lora: the one file
    wanted: tuple[str, ...] = ()  # metric: the files its scorer reads
    sha256: str | None = None  # metric: the pinned hash of wanted[0] when it is a pickle
    pickled: bool = False
    weights: Weights | None = None  # metric: its registry entry

    @property
    def is_url(self) -> bool:
        """Fetched by a plain URL, not from a hub repo: BigGAN's package weights, or a metric's
        weight that is on no hub (its first URL is the item's source)."""
        if self.kind == "metric":
            return bool(self.weights and self.weights.urls)
        return self.kind == "gan" and self.source == self.spec.weights_url


def component_kind(name: str) -> str:
    base = name.rstrip("_0123456789")  # text_encoder_2 -> text_encoder
    if base in ("unet", "vae"):
        return "diffusers"
    if base in ("text_encoder", "safety_checker"):
        return "transformers"
    return base


def is_weights_file(name: str) -> bool:
    """What diffusers loads with use_safetensors=True and no variant: `<name>.safetensors` (not
    `<name>.fp16.safetensors`) or a sharded model's index."""
    base = name.rsplit("/", 1)[-1]
    return (base.endswith(".safetensors") and base.count(".") == 1) or base.endswith(".safetensors.index.json")


def pipeline_files(components: list[str], names: set[str] | None) -> list[str]:
    """The files a pipeline loads: model_index.json, then per component its configs and weights
    (safetensors, no fp16/ema variant), or the whole folder for tokenizers and the like.
    With `names` (the repo's real file list) real files are picked; without, expected names."""
    files = ["model_index.json"]
    for comp in components:
        kind = component_kind(comp)
        if names is None:
            files += [f"{comp}/{f}" for f in MODEL_FILES.get(kind) or OTHER_FILES.get(kind, ())]
        elif kind in MODEL_FILES:
            files += sorted(
                n for n in names if n.startswith(comp + "/") and (n.endswith("/config.json") or is_weights_file(n))
            )
        else:
            files += sorted(n for n in names if n.startswith(comp + "/"))
    return files


# Components a model_index.json may name that the backends never load: a pipeline's own safety
# checker (bench.backends.diffusion.without_safety_checker; the nsfw metric flags images instead).
NEVER_LOADED = ("safety_checker",)


def pipeline_components(model_index: dict) -> list[str]:
    """The components of a model_index.json that the backends load (a [null, null] entry is none)."""
    return sorted(
        k
        for k, v in model_index.items()
        if not k.startswith("_") and isinstance(v, list) and v[0] is not None and k not in NEVER_LOADED
    )


def _cached(repo: str, filename: str, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo, filename, revision=revision)
    return Path(path) if isinstance(path, str) else None


def _commit_of(cached: Path) -> str:
    parts = cached.parts
    return parts[parts.index("snapshots") + 1]


def _hub_listing(item: Item) -> dict[str, int | None] | None:
    """{file: size} from the hub for the item's revision (None offline or on any hub error)."""
    if hub.offline():
        return None
    if not hub.hub_reachable():
        item.note = "hub unreachable"
        return None
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(item.source, revision=item.revision, files_metadata=True)
    except Exception as e:  # noqa: BLE001 - removed, gated, no network: say so, list what we expect
        item.note = f"hub: {type(e).__name__}: {first_line(e)[:120]}"
        return None
    item.commit, item.listed_from = info.sha, "hub"
    item.gated = item.gated or bool(info.gated)
    return {s.rfilename: s.size for s in info.siblings or []}


def _fill(item: Item, wanted: list[str], listing: dict[str, int | None] | None) -> None:
    """Sizes from the hub listing, else from the cache; marks what is cached already."""
    for name in wanted:
        cached = _cached(item.source, name, item.revision)
        size = listing.get(name) if listing else None
        if cached is not None:
            size = size if size is not None else cached.stat().st_size
            item.commit = item.commit or _commit_of(cached)
        item.files.append(RemoteFile(name, size, cached is not None))


def _list_pipeline(item: Item, family: str) -> None:
    import json

    listing = _hub_listing(item)
    index_path = _cached(item.source, "model_index.json", item.revision)
    if listing is not None and "model_index.json" in listing and index_path is None:
        from huggingface_hub import hf_hub_download

        try:  # the listing of a gated repo is public, its files are not
            index_path = Path(hf_hub_download(item.source, "model_index.json", revision=item.revision))
        except Exception as e:  # noqa: BLE001 - gated, network: the components are then assumed
            item.note = f"model_index.json: {type(e).__name__}: {first_line(e)[:120]}"
    if index_path is not None:
        components = pipeline_components(json.loads(index_path.read_text(encoding="utf-8")))
        item.listed_from = "hub" if listing is not None else "cache"
    else:
        components = list(FAMILY_COMPONENTS[family])
        item.note = (item.note + "; " if item.note else "") + "model_index.json out of reach: components assumed"
    _fill(item, pipeline_files(components, set(listing) if listing is not None else None), listing)


def slots(item: Item) -> list[list[str]]:
    """The files an item other than a pipeline is read from: per file, the names it may have, in
    the loader's order of preference. (A pipeline's come from its model_index.json.)"""
    if item.kind == "vae":
        return [["config.json"], ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"]]
    if item.kind == "lora":
        return [[item.weight_name]]
    if item.kind == "clip":
        return [list(hub.OPEN_CLIP_FILES)]
    if item.kind == "metric":
        return [[name] for name in item.wanted]
    return [[GAN_CONFIG_FILE], [GAN_WEIGHTS_FILE]]  # gan: pytorch-pretrained-biggan's layout


def _list_files(item: Item, candidates: list[list[str]]) -> None:
    """Files of a plain repo: for each slot, the first candidate the hub (or cache) has."""
    listing = _hub_listing(item)
    wanted = []
    for options in candidates:
        present = [
            n
            for n in options
            if (listing is not None and n in listing) or _cached(item.source, n, item.revision) is not None
        ]
        wanted.append((present or options)[0])
    if listing is None and any(_cached(item.source, n, item.revision) for n in wanted):
        item.listed_from = "cache"
    _fill(item, wanted, listing)


def _list_gan_url(item: Item) -> None:
    folder = url_folder(item.spec)
    for name in (GAN_CONFIG_FILE, GAN_WEIGHTS_FILE):
        path, size = folder / name, None
        if path.is_file():
            size = path.stat().st_size
        elif not hub.offline():
            size = _content_length(item.spec.weights_url.format(name=name))
        item.files.append(RemoteFile(name, size, path.is_file()))
    item.listed_from = "cache" if all(f.cached for f in item.files) else "expected"
    if item.spec.weights_sha256:
        item.note = f"sha256 pinned: {item.spec.weights_sha256[:16]}... (checked before loading)"
    else:
        item.note = "no sha256 pinned: fetch prints the hash to pin (weights_sha256)"


def _list_metric_url(item: Item) -> None:
    """A metric's weight on no hub: the copy in the bench cache, else its first URL's size."""
    path = url_path(item.weights)
    size = path.stat().st_size if path.is_file() else None if hub.offline() else _content_length(item.source)
    item.files.append(RemoteFile(path.name, size, path.is_file()))
    item.listed_from = "cache" if path.is_file() else "expected"


def _content_length(url: str) -> int | None:
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as r:
            return int(r.headers["Content-Length"])
    except Exception:  # noqa: BLE001 - a size is nice to have, not needed
        return None


def wanted(specs: list[ModelSpec], metrics: list[str], *, local_folders: bool = False) -> tuple[list[Item], list[str]]:
    """The items these models and metrics' CLIPs need, not yet listed (nothing read from a hub).
    `local_folders`: a model's local folder is an item too (the weights lock checks those; there
    is nothing to fetch)."""
    items: dict[tuple, Item] = {}
    notes: list[str] = []

    def add(item: Item) -> None:
        key = (item.kind, item.source, item.revision, item.weight_name)
        if key in items:
            items[key].models += [m for m in item.models if m not in items[key].models]
        else:
            items[key] = item

    def add_clip(metric: str, user: str) -> None:
        options = METRICS[metric].options
        if options.get("pretrained") in (None, "tiny"):  # no open_clip tag (or the tiny CLIP)
            return
        import open_clip

        cfg = open_clip.get_pretrained_cfg(options["arch"], options["pretrained"])
        repo = cfg.get("hf_hub", "").rstrip("/")
        if not repo:
            notes.append(f"{metric}: open_clip fetches it from {cfg.get('url')} on first use (not the HF cache)")
            return
        add(Item("clip", repo, OPEN_CLIP_REVISIONS.get(repo), [user], licence="see the CLIP model card"))

    for spec in specs:
        if spec.tiny:
            notes.append(f"{spec.key}: tiny, built locally; nothing to fetch")
            continue
        common = {"models": [spec.key], "licence": spec.licence, "gated": spec.gated}
        if spec.family == "gan":
            try:
                kind = source_kind(spec)
            except WeightsError as e:
                notes.append(f"{spec.key}: {e}")
                continue
            if kind == "folder" and local_folders:
                add(Item("gan", spec.hub_id, None, spec=spec, **common))
            elif kind == "folder":
                notes.append(f"{spec.key}: local folder {spec.hub_id}; nothing to fetch")
            elif kind == "url":
                add(Item("gan", spec.weights_url, None, spec=spec, **common))
            else:
                add(Item("gan", spec.hub_id, spec.revision, spec=spec, **common))
            add_clip(spec.class_clip, f"{spec.key} (class map)")
            continue
        if Path(spec.hub_id).expanduser().is_dir() and local_folders:
            add(Item("pipeline", spec.hub_id, None, spec=spec, **common))  # a folder has no revision
        elif Path(spec.hub_id).expanduser().is_dir():
            notes.append(f"{spec.key}: local folder {spec.hub_id}; nothing to fetch")
        else:
            add(Item("pipeline", spec.hub_id, spec.revision, spec=spec, **common))
        if spec.vae:
            add(Item("vae", spec.vae, spec.vae_revision, [spec.key], licence="see the VAE's model card"))
        if spec.lora:
            add(
                Item(
                    "lora",
                    spec.lora.hub_id,
                    spec.lora.revision,
                    [spec.key],
                    licence="see the LoRA's model card",
                    weight_name=spec.lora.weight_name,
                )
            )
    for metric in metrics:
        add_clip(metric, f"metric {metric}")
        for w in METRICS[metric].weights:  # a quality scorer's own repos (PickScore, HPS, ...)
            if w.tiny:
                notes.append(f"{metric}: tiny, built locally; nothing to fetch")
                continue
            add(Item("metric", w.urls[0] if w.urls else w.hub_id, w.revision, [f"metric {metric}"], licence=w.licence,
                     wanted=w.files, sha256=w.sha256, pickled=w.pickled, weights=w))  # fmt: skip
    return list(items.values()), notes


def plan(specs: list[ModelSpec], metrics: list[str]) -> tuple[list[Item], list[str]]:
    """What fetching these models and metrics' CLIPs takes, listed (nothing big downloaded)."""
    items, notes = wanted(specs, metrics)
    for item in items:
        if item.kind == "pipeline":
            _list_pipeline(item, item.spec.family)
        elif item.kind in ("vae", "lora", "clip"):
            _list_files(item, slots(item))
        elif item.kind == "metric":
            _list_metric_url(item) if item.is_url else _list_files(item, slots(item))
            if item.weights.git_blob:
                item.note = f"git blob pinned: {item.weights.git_blob} (`git hash-object`, checked once fetched)"
            if item.pickled:
                item.note = (
                    f"sha256 pinned: {item.sha256[:16]}... (checked before loading)"
                    if item.sha256
                    else "pickle, no sha256 pinned: fetch prints the hash to pin (bench/metrics.py)"
                )
            if item.is_url and len(item.weights.urls) > 1:
                item.note += f"; if that URL fails: {', '.join(item.weights.urls[1:])}"
        elif item.is_url:
            _list_gan_url(item)
        else:
            _list_files(item, slots(item))
    return items, notes


def download(item: Item) -> str:
    """Fetch one item; returns what was resolved (commit or sha256). Raises on failure."""
    if item.kind == "gan":
        _, digest = weights_folder(item.spec)  # downloads, then verifies the pin (or raises with the hash)
        return f"sha256 {digest}"
    if item.kind == "pipeline":
        from diffusers import DiffusionPipeline

        # diffusers' own choice of files (what from_pretrained will read), into the HF cache.
        folder = DiffusionPipeline.download(item.source, revision=item.revision, use_safetensors=True)
        return f"commit {Path(folder).name}"
    if item.kind == "clip":
        from huggingface_hub import hf_hub_download

        for name in hub.OPEN_CLIP_FILES:  # open_clip's own order of preference
            try:
                path = hf_hub_download(item.source, name, revision=item.revision)
                return f"commit {_commit_of(Path(path))}"
            except Exception as e:  # noqa: BLE001 - try the next format
                error = e
        raise error
    if item.is_url:  # a metric's weight on no hub: its URLs in turn, until one serves the pinned file
        if item.weights.git_blob:  # url_file kept it only with the pinned blob id
            return f"git blob {pinned_digest(item.weights, url_file(item.weights))[0]}"
        return _verified(url_file(item.weights), item.sha256)
    from huggingface_hub import snapshot_download

    folder = snapshot_download(item.source, revision=item.revision, allow_patterns=[f.path for f in item.files])
    # allow_patterns only filters the repo's files: a name it does not have is skipped in silence
    if absent := [f.path for f in item.files if not (Path(folder) / f.path).is_file()]:
        raise WeightsError(
            f"{', '.join(absent)} not in {item.source} at commit {Path(folder).name}: the repo changed, or "
            "the file name in bench/models.py or bench/metrics.py is wrong"
        )
    if item.kind == "metric" and item.pickled:
        return f"commit {Path(folder).name}, {_verified(Path(folder) / item.wanted[0], item.sha256)}"
    return f"commit {Path(folder).name}"


def _verified(path: Path, pinned: str | None) -> str:
    """'sha256 <digest>' of a fetched pickle that matches its pin; raises with the digest otherwise
    (the file stays in the cache: it is never unpickled unpinned)."""
    from bench.files import sha256_file

    digest = sha256_file(path)
    if pinned is None:
        raise WeightsError(f"{path.name} fetched, but its sha256 {digest} is not pinned: check its origin, then pin it")
    if digest != pinned:
        raise WeightsError(f"sha256 mismatch for {path.name}: pinned {pinned}, fetched {digest}")
    return f"sha256 {digest}"


def prompts_line(name: str) -> str:
    """What fetching a prompt set that is fetched like weights (bench.prompts.FETCHED) takes."""
    hub = FETCHED[name]
    pin = f"revision {hub.revision}" if hub.revision else "unpinned: the default branch, as the hpsv2 package reads it"
    files = ", ".join(f"{hub.folder}/{f}" for f in hub.files)
    return f"prompts {name}: {hub.repo} (dataset; {pin}): {files}; licence: {hub.licence}"


def download_prompts(name: str) -> str:
    """Fetch a prompt set's JSON files into the HF cache, where bench.prompts reads them; returns
    the commit they came from."""
    from huggingface_hub import hf_hub_download

    hub = FETCHED[name]
    paths = [
        hf_hub_download(hub.repo, f, subfolder=hub.folder, repo_type="dataset", revision=hub.revision)
        for f in hub.files
    ]
    return f"commit {_commit_of(Path(paths[0]))}"


def pin_snippet(fetched: list[tuple[Item, str]]) -> str:
    """TOML that pins the commits a default-branch fetch resolved to, for a suite file."""
    lines = []
    for item, resolved in fetched:
        if item.kind == "pipeline" and item.revision is None and resolved.startswith("commit "):
            for model in item.models:
                lines += [f"[model_overrides.{model}]", f'revision = "{resolved.split()[1]}"', ""]
    return "\n".join(lines).strip()
