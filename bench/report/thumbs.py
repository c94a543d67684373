"""WebP thumbnails for the galleries, cached by the image's content sha256 so a rebuild makes none.

The key is the hash of the file as it is now (hashcache), not the one the sweep recorded: an
image replaced after its run gets a thumbnail of what replaced it. A file Pillow cannot decode
gets none and is reported, rather than stopping the build. Thumbnails are written under a
temporary name and renamed, so a killed build leaves no half thumbnail behind.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.files import atomic_write

# Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS, about 89.5 megapixels): past it
# Pillow only warns, up to twice as far, and a 177-megapixel PNG of 0.7 MB took 1.5 GB per
# decoding thread. An image this large is no sweep's output: it is refused, not decoded.
MAX_PIXELS = 89_478_485


class UndecodableImage(ValueError):
    """The file is not an image Pillow can read (garbage, truncated, too big to open)."""


class OversizedImage(UndecodableImage):
    """The image is larger than MAX_PIXELS: refused before it is decoded."""


def thumb_name(sha256: str, px: int) -> str:
    return f"{sha256}-{px}.webp"


def make_thumbnail(src: Path, dst: Path, px: int) -> None:
    """Shrink `src` to fit in px x px (aspect kept) and write it to `dst` as WebP."""
    # Pillow is a site dependency: import it only when there is work.
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Between its limit and twice it Pillow only warns (on stderr, once): an error here.
            # The check below is the guard: two threads' filters may race, leaving "error" set.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(src)  # the header only
        with im:
            if im.width * im.height > MAX_PIXELS:
                raise OversizedImage(f"{src}: {im.width} x {im.height} pixels, over {MAX_PIXELS:,}: not decoded")
            im.draft("RGB", (px, px))  # JPEG decodes at a reduced size directly; others ignore it
            # Bicubic after Pillow's integer pre-reduction: close to Lanczos at this size, and faster.
            im.thumbnail((px, px), Image.Resampling.BICUBIC)
            small = (
                im.convert("RGBA" if "A" in im.getbands() else "RGB") if im.mode not in ("RGB", "RGBA") else im.copy()
            )
    except OversizedImage:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise OversizedImage(f"{src}: over {MAX_PIXELS:,} pixels: not decoded ({exc})") from exc
    except Exception as exc:
        # The bytes are untrusted and Pillow's plugins fail in many ways (OSError, SyntaxError,
        # ValueError): any failure to decode means "not an image".
        # Writing is outside this block, so a full disk still stops the build.
        raise UndecodableImage(f"{src} cannot be decoded: {exc}") from exc
    with atomic_write(dst) as out:
        small.save(out, "WEBP", quality=80, method=2)  # method 2: a third of the default's encode time


def _try_thumbnail(src: Path, dst: Path, px: int) -> UndecodableImage | None:
    """None when the thumbnail was made, else why the image cannot be decoded."""
    try:
        make_thumbnail(src, dst, px)
    except UndecodableImage as exc:
        return exc
    return None


def ensure_thumbnails(
    images: dict[Path, str], cache_dir: Path, px: int
) -> tuple[dict[Path, Path], dict[Path, UndecodableImage], int]:
    """For image files with their content sha256: the thumbnail of each file that decodes, why
    each other file does not (OversizedImage: too large to try), and how many thumbnails were made."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    out: dict[Path, Path] = {}
    todo: dict[Path, Path] = {}  # thumbnail to make -> one file with that content
    for src, sha in images.items():
        dst = cache_dir / thumb_name(sha, px)
        out[src] = dst
        if not dst.exists():
            todo.setdefault(dst, src)
    # Pillow releases the GIL in its decoders and resampling, so threads share the cores.
    # An undecodable file gets no thumbnail, so the next build tries it again: cheap, as
    # garbage fails at the header.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        failed = dict(zip(todo, pool.map(lambda job: _try_thumbnail(job[1], job[0], px), todo.items())))
    bad = {dst: why for dst, why in failed.items() if why is not None}
    thumbs = {src: dst for src, dst in out.items() if dst not in bad}
    undecodable = {src: bad[dst] for src, dst in out.items() if dst in bad}
    return thumbs, undecodable, len(todo) - len(bad)
