"""Shared test setup: one tiny-model cache per test session, offline hub, quiet libraries."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports huggingface_hub: nothing in the tests may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models are built once per session into a fresh cache (subprocesses inherit it), unless
# the caller points BENCH_CACHE at a cache it keeps.
os.environ.setdefault("BENCH_CACHE", tempfile.mkdtemp(prefix="bench-cache-"))
