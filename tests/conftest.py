"""Shared test setup: one tiny-model cache per test session, offline hub, quiet libraries."""

from __future__ import annotations

import os
import shutil
import tempfile

# Set before anything imports huggingface_hub: nothing in the tests may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models are built once per session into a fresh cache (subprocesses inherit it) that goes
# when the session ends, unless the caller points BENCH_CACHE at a cache it keeps.
_OWN_CACHE = None if "BENCH_CACHE" in os.environ else tempfile.mkdtemp(prefix="bench-cache-")
if _OWN_CACHE:
    os.environ["BENCH_CACHE"] = _OWN_CACHE


def pytest_unconfigure(config):
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
