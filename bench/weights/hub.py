"""Hub weights: a hub id (+ revision) resolved through the Hugging Face cache, a local folder, or
the folder of a tiny model built by bench.tiny.

With HF_HUB_OFFLINE=1 nothing is fetched; without it, a machine that cannot reach the hub is
found out with one quick connect instead of huggingface_hub's retries for every file.
"""

from __future__ import annotations

import json
import os
import socket
from functools import lru_cache
from pathlib import Path

from bench.errors import NotCached
from bench.metrics import OPEN_CLIP_REVISIONS
from bench.models import ModelSpec
from bench.tiny import tiny_path

# open_clip's own order of preference for a pretrained tag's file on the hub.
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def source(hub_id: str, tiny: bool) -> str:
    """A hub id, a local folder, or the folder of a tiny model (built on first use)."""
    return str(tiny_path(hub_id)) if tiny else hub_id


def offline() -> bool:
    """HF_HUB_OFFLINE, or TRANSFORMERS_OFFLINE, which huggingface_hub also reads as offline."""
    return any(
        os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """One quick TCP connect to the hub, so that a machine without internet is known in
    seconds rather than after huggingface_hub's retries for every file. Behind a proxy a direct
    connect says nothing (requests goes through the proxy): the hub is then taken as reachable."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if any(os.environ.get(v) for v in PROXY_VARS):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def hub_file(hub_id: str, filename: str, revision: str | None, tiny: bool = False) -> Path:
    """One file of a model: from a local folder, else the HF cache, else the hub (unless offline)."""
    folder = Path(source(hub_id, tiny))
    if folder.is_dir():
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        return path
    from huggingface_hub import hf_hub_download

    try:  # the cache first: no network call when the file is already here
        return Path(hf_hub_download(hub_id, filename, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, whatever the reason: try the hub below
        if offline():
            raise NotCached(f"{filename} is not in the HF cache and HF_HUB_OFFLINE=1") from None
        if not hub_reachable():
            raise NotCached(f"{filename} is not in the HF cache and the hub is unreachable") from None
    return Path(hf_hub_download(hub_id, filename, revision=revision, etag_timeout=10))


def model_index(spec: ModelSpec) -> dict:
    return json.loads(hub_file(spec.hub_id, "model_index.json", spec.revision, spec.tiny).read_text())


def scheduler_class_name(spec: ModelSpec) -> str:
    """The scheduler class the model ships with (from model_index.json, no weights loaded)."""
    return model_index(spec)["scheduler"][1]


def open_clip_repo(options: dict) -> str:
    """The hub repo of an open_clip pretrained tag ("" when open_clip fetches it by URL)."""
    import open_clip

    return open_clip.get_pretrained_cfg(options["arch"], options["pretrained"]).get("hf_hub", "").rstrip("/")


def open_clip_checkpoint(arch: str, pretrained: str) -> tuple[Path, str | None] | None:
    """(the file of an open_clip tag at its pinned commit, that commit), in open_clip's own order
    of preference (safetensors first); None when the tag has no hub repo (open_clip fetches it by
    URL itself). Raises the last file's error when none can be had."""
    repo = open_clip_repo({"arch": arch, "pretrained": pretrained})
    if not repo:
        return None
    revision = OPEN_CLIP_REVISIONS.get(repo)
    for filename in OPEN_CLIP_FILES:
        try:
            return hub_file(repo, filename, revision), revision
        except Exception as e:  # noqa: BLE001 - try the next format; the last error is raised
            error = e
    raise error
