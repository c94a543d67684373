"""Where caches live: tiny models, ONNX exports, thumbnails. Never committed."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """$BENCH_CACHE, else ~/.cache/bench; sub-folders are created on demand."""
    root = Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "bench")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
