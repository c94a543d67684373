"""WebP thumbnails for the galleries, cached by the image's sha256 so a rebuild makes none.

The cache key is the content hash recorded by the sweep (`image_sha256`) when it looks like
one, else the hash of the file: a changed image gets a new thumbnail, an unchanged one never
costs more than a stat. Files are written under a temporary name and renamed, so a killed
build leaves no half thumbnail behind.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.files import atomic_write, sha256_file

_SHA256 = re.compile(r"[0-9a-f]{64}")


def thumb_name(sha256: str, px: int) -> str:
    return f"{sha256}-{px}.webp"


def make_thumbnail(src: Path, dst: Path, px: int) -> None:
    """Shrink `src` to fit in px x px (aspect kept) and write it to `dst` as WebP."""
    # Pillow is a site dependency: import it only when there is work.
    from PIL import Image

    try:
        with Image.open(src) as im, atomic_write(dst) as out:
            im.draft("RGB", (px, px))  # JPEG decodes at a reduced size directly; others ignore it
            # Bicubic after Pillow's integer pre-reduction: close to Lanczos at this size, and faster.
            im.thumbnail((px, px), Image.Resampling.BICUBIC)
            if im.mode not in ("RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            im.save(out, "WEBP", quality=80, method=2)  # method 2: a third of the default's encode time
    except OSError as exc:  # Pillow's UnidentifiedImageError and truncated files are OSErrors
        raise ValueError(f"cannot make a thumbnail of {src}: {exc}") from exc


def ensure_thumbnails(images: dict[Path, str | None], cache_dir: Path, px: int) -> tuple[dict[Path, Path], int]:
    """Thumbnail path for each image file (sha256 as recorded, or None); also how many were made."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    out: dict[Path, Path] = {}
    todo: list[tuple[Path, Path]] = []
    for src, sha in images.items():
        key = sha if isinstance(sha, str) and _SHA256.fullmatch(sha) else sha256_file(src)
        dst = cache_dir / thumb_name(key, px)
        out[src] = dst
        if not dst.exists():
            todo.append((src, dst))
    # Pillow releases the GIL in its decoders and resampling, so threads share the cores.
    unique = list({dst: src for src, dst in todo}.items())
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda job: make_thumbnail(job[1], job[0], px), unique))
    return out, len(unique)
