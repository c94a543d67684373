"""Where weights come from, and whether they can be had, checked before anything loads.

A real model is a hub id (+ revision) resolved through the Hugging Face cache; with
HF_HUB_OFFLINE=1 nothing is fetched. A tiny model is a local folder built by bench.tiny. The
check reads one small file per model (model_index.json), so a sweep without weights fails in
seconds with a list of what is missing and how to get it, not after a long stack trace.
"""

from __future__ import annotations

import json
import os
import socket
from functools import lru_cache
from pathlib import Path

from bench.models import ModelSpec

HOW_TO_GET = (
    "Get them with `bench fetch --suite <suite>` on a machine with internet (set HF_TOKEN for gated "
    "repos), then run with HF_HUB_OFFLINE=1; or point the model at a local folder with "
    '[model_overrides.<key>] hub_id = "/path/to/folder" in a suite file.'
)


def source(hub_id: str, tiny: bool) -> str:
    """A hub id, a local folder, or the folder of a tiny model (built on first use)."""
    if tiny:
        from bench.tiny import tiny_path

        return str(tiny_path(hub_id))
    return hub_id


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


@lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """One quick TCP connect to the hub, so that a machine without internet is known in
    seconds rather than after huggingface_hub's retries for every file."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


class WeightsMissing(RuntimeError):
    """Some models' or metrics' weights cannot be reached; the message lists them and how to get them."""

    def __init__(self, problems: list[str]):
        super().__init__("weights not reachable for:\n  " + "\n  ".join(problems) + "\n" + HOW_TO_GET)


# open_clip's own order of preference for a pretrained tag's file on the hub.
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class NotCached(FileNotFoundError):
    """A hub file that is not in the local cache and cannot be downloaded now."""


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


def missing(specs: list[ModelSpec]) -> list[str]:
    """One line per model whose weights cannot be reached now (empty: all reachable)."""
    problems = []
    for spec in specs:
        try:
            if spec.family == "gan":
                from bench.backends.biggan import check_weights

                check_weights(spec)
                continue
            model_index(spec)
            if spec.vae:
                hub_file(spec.vae, "config.json", None)
            if spec.lora:
                hub_file(spec.lora.hub_id, spec.lora.weight_name, spec.lora.revision, spec.tiny)
        except Exception as e:  # noqa: BLE001 - any failure to reach a file means the same to the user
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            problems.append(f"{spec.key} ({spec.hub_id}): {reason[:200]}")
    return problems


def missing_metrics(metrics: list[str]) -> list[str]:
    """One line per CLIP metric whose pretrained weights cannot be reached now."""
    from bench.metrics import METRICS

    problems = []
    for metric in metrics:
        options = METRICS[metric].options
        if METRICS[metric].scorer is None or options.get("pretrained") == "tiny":
            continue
        import open_clip

        repo = open_clip.get_pretrained_cfg(options["arch"], options["pretrained"]).get("hf_hub", "").rstrip("/")
        if not repo:
            continue  # fetched by URL into open_clip's own cache: nothing to check cheaply
        reasons = []
        for filename in OPEN_CLIP_FILES:
            try:
                hub_file(repo, filename, None)
                break
            except Exception as e:  # noqa: BLE001 - any failure to reach a file means the same to the user
                reasons.append(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        else:
            problems.append(f"{metric} ({repo}): {reasons[-1][:200]}")
    return problems


def scheduler_class_name(spec: ModelSpec) -> str:
    """The scheduler class the model ships with (from model_index.json, no weights loaded)."""
    return model_index(spec)["scheduler"][1]
