"""Pickled weights (BigGAN's `pytorch_model.bin`), loaded only when their sha256 is pinned, and
metric weights that are on no hub (OpenAI's RN50 for CLIP-IQA), fetched by URL the same way.

BigGAN's weights are `config.json` + `pytorch_model.bin` in one folder, from one of: a package model
name (`biggan-deep-256`, downloaded from `weights_url` into the bench cache), a Hugging Face repo
(`owner/name`, through the HF cache), or a local folder. The pickle's sha256 is checked against
`weights_sha256` before it is unpickled, wherever it comes from; an unpinned file is refused
unless the suite opts out with `trust_unpinned_weights`. The load itself also uses torch's
`weights_only` unpickler (defence in depth).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from pathlib import Path

from bench.errors import StorageError, WeightsError, first_line
from bench.files import atomic_write, cache_dir, sha256_file
from bench.metrics import Weights
from bench.models import GAN_CONFIG_FILE, GAN_WEIGHTS_FILE, ModelSpec
from bench.weights.digest import git_blob_id
from bench.weights.hub import hub_file, offline, source

_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
log = logging.getLogger(__name__)


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


def url_folder(spec: ModelSpec) -> Path:
    """Where a package model's files live in the bench cache; the URL is part of the name, so a
    mirror never reuses another source's files."""
    tag = hashlib.sha256(spec.weights_url.encode()).hexdigest()[:8]
    return cache_dir("weights", f"{spec.hub_id}-{tag}")


def _download(url: str, dest: Path) -> None:
    """The file at `url`, whole or not at all: Python's HTTP client returns a body cut short of its
    Content-Length without an error, and that must not be kept (or hashed for pinning)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response, atomic_write(dest) as f:
        shutil.copyfileobj(response, f, 1 << 20)
        expected = response.headers.get("Content-Length")
        if expected is not None and f.tell() != int(expected):  # not an OSError: atomic_write keeps nothing
            raise WeightsError(
                f"the download of {url} stopped at {f.tell():,} of {int(expected):,} bytes: run `bench fetch` again"
            )


def _fetch(url: str, path: Path, elsewhere: str = "") -> None:
    """`path` downloaded from `url` (_download), unless offline; a WeightsError that says where to
    run `bench fetch` (and `elsewhere`, another way to get the file) when it cannot be."""
    if offline():
        raise WeightsError(
            f"{path} not downloaded and HF_HUB_OFFLINE is set; run `bench fetch` where {url} can be reached"
        )
    try:
        _download(url, path)
    except StorageError:
        raise  # a full disk or a read-only cache: not the network's fault
    except OSError as e:  # URLError and timeouts included
        raise WeightsError(
            f"could not download {url}: {e}; run `bench fetch` where it can be reached{elsewhere}"
        ) from e


def _url_weights(spec: ModelSpec) -> Path:
    folder = url_folder(spec)
    for name in (GAN_CONFIG_FILE, GAN_WEIGHTS_FILE):
        path = folder / name
        if not path.is_file():
            _fetch(spec.weights_url.format(name=name), path, ", or point hub_id at a folder or hub repo")
    return folder


def url_path(weights: Weights) -> Path:
    """Where a metric's weight fetched by URL (bench.metrics.Weights.urls) lives in the bench
    cache: named by its pin, so a new pin never reuses the old file."""
    pin = weights.sha256 or weights.git_blob or "unpinned"
    return cache_dir("weights", f"{weights.hub_id}-{pin[:16]}") / weights.files[0]


def pinned_digest(weights: Weights, path: Path) -> tuple[str, bool]:
    """(the file's digest of the kind its pin names, whether it matches the pin); an unpinned file
    gives its sha256 and True (the scorer refuses an unpinned pickle, naming that hash)."""
    if weights.git_blob:
        digest = git_blob_id(path)
        return digest, digest == weights.git_blob
    digest = sha256_file(path)
    return digest, weights.sha256 in (None, digest)


def url_file(weights: Weights) -> Path:
    """A metric's weight file fetched by URL: the copy in the bench cache, else the first of its
    URLs (mirrors, in order) that serves the pinned file. A file with another hash is not kept;
    an unpinned one is, so that the scorer refuses it naming the hash to pin. Never loads it."""
    path = url_path(weights)
    if path.is_file():
        if pinned_digest(weights, path)[1]:
            return path
        path.unlink()  # damaged, or put there by hand: not the pinned file, so fetched anew
    if offline():
        raise WeightsError(
            f"{path.name} not in the bench cache and HF_HUB_OFFLINE is set; run `bench fetch` where "
            f"{weights.urls[0]} can be reached"
        )
    failures = []
    for url in weights.urls:
        try:
            _fetch(url, path)
        except WeightsError as e:
            failures.append(first_line(e))
            continue
        digest, ok = pinned_digest(weights, path)
        if ok:
            return path
        path.unlink()
        kind = "git blob" if weights.git_blob else "sha256"
        failures.append(
            f"{url} served a file with {kind} {digest}, not the pinned {weights.git_blob or weights.sha256}"
        )
    raise WeightsError(f"{weights.files[0]} not fetched: " + "; ".join(failures))


def weights_folder(spec: ModelSpec) -> tuple[Path, str | None]:
    """(folder with config.json + pytorch_model.bin, sha256 of the pickle), downloading what is
    missing unless offline; the pickle is verified (tiny models are our own build: not hashed)."""
    kind = source_kind(spec)
    if kind == "tiny":
        return Path(source(spec.hub_id, tiny=True)), None
    if kind == "folder":
        folder = Path(spec.hub_id).expanduser()
        for name in (GAN_CONFIG_FILE, GAN_WEIGHTS_FILE):
            if not (folder / name).is_file():
                raise WeightsError(f"{folder / name} does not exist")
    elif kind == "hub":
        hub_file(spec.hub_id, GAN_CONFIG_FILE, spec.revision)
        folder = hub_file(spec.hub_id, GAN_WEIGHTS_FILE, spec.revision).parent
    else:
        folder = _url_weights(spec)
    try:
        return folder, verify(spec, folder / GAN_WEIGHTS_FILE)
    except WeightsError:
        if kind == "url" and spec.weights_sha256:
            (folder / GAN_WEIGHTS_FILE).unlink()  # a wrong download in our own cache: fetch anew
        raise
