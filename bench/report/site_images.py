"""The image files the galleries show: found, checked against what their run recorded, thumbnailed.

Each file is hashed as it is on disk now (hashcache) and compared with the `image_sha256` its
run recorded, so an image replaced or damaged after the run is flagged on its page and in the
build log instead of passing for the run's output; one that does not decode gets a
placeholder. The plugin logs these like missing files, at the `missing_images` level.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from bench.report import hashcache, thumbs
from bench.report.data import image_file
from bench.report.sections.prompts import SiteImage

CHANGED = "changed since its run: sha256 differs from the one recorded"
UNDECODABLE = "cannot be decoded as an image"
OVERSIZED = f"over {thumbs.MAX_PIXELS:,} pixels: not decoded (Pillow's decompression-bomb limit)"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class SiteImages:
    """What the build publishes of images/ and the thumbnail cache, and what it must report."""

    site: dict[str, SiteImage | None]  # image_path as in the table -> where it shows (None: missing)
    links: dict[str, Path] = field(default_factory=dict)  # site path -> the file to link there
    files: int = 0  # image files found
    hashed: int = 0  # of them, read to hash (the others were unchanged since the last build)
    made: int = 0  # thumbnails made (the others were cached)
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    undecodable: list[str] = field(default_factory=list)
    oversized: list[str] = field(default_factory=list)  # refused undecoded: logged as warnings always


def collect(
    shown: Iterable[tuple[str, object]],
    images_dir: Path,
    table_dir: Path,
    thumbs_dir: Path,
    px: int,
    base_url: str | None = None,
) -> SiteImages:
    """`shown`: (image_path, recorded image_sha256) of the rows the pages show. With `base_url`
    the full-size files are not published: their address is base_url + their path under images/."""
    where: dict[str, Path | None] = {}  # image_path -> its file, None if missing
    recorded: dict[str, set[str]] = {}  # image_path -> every sha256 the rows recorded for it
    for rel, sha in shown:
        if rel not in where:
            path = image_file(images_dir, rel, table_dir)
            where[rel] = path if path is not None and path.is_file() else None
        # Rows from before the sweep recorded hashes have none: nothing to compare with.
        if isinstance(sha, str) and _SHA256.fullmatch(sha):
            recorded.setdefault(rel, set()).add(sha)
    found = sorted({path for path in where.values() if path is not None})
    content, hashed = hashcache.sha256_of(found, thumbs_dir) if found else ({}, 0)
    thumbnails, bad, made = thumbs.ensure_thumbnails(content, thumbs_dir, px) if found else ({}, {}, 0)

    out = SiteImages({}, files=len(found), hashed=hashed, made=made)
    images_root = images_dir.resolve()
    for rel, path in where.items():
        if path is None:
            out.site[rel] = None
            out.missing.append(rel)
            continue
        flags = []
        # Any row whose hash differs: that row's image is not what its run made.
        if recorded.get(rel, {content[path]}) != {content[path]}:
            flags.append(CHANGED)
            out.changed.append(rel)
        if path in bad:
            oversized = isinstance(bad[path], thumbs.OversizedImage)
            flags.append(OVERSIZED if oversized else UNDECODABLE)
            (out.oversized if oversized else out.undecodable).append(rel)
            out.site[rel] = SiteImage(None, None, "; ".join(flags))  # garbage is not published
            continue
        rel_path = path.relative_to(images_root).as_posix()
        full = "images/" + rel_path if base_url is None else base_url + quote(rel_path)
        thumb = "thumbs/" + thumbnails[path].name
        if base_url is None:
            out.links[full] = path
        out.links[thumb] = thumbnails[path]  # identical images share one thumbnail
        out.site[rel] = SiteImage(full, thumb, "; ".join(flags))
    for names in (out.missing, out.changed, out.undecodable, out.oversized):
        names.sort()
    return out


def problems(found: SiteImages, images_dir: Path) -> list[str]:
    """One log line per kind of problem, with a few examples of each."""

    def examples(names: list[str]) -> str:
        return ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")

    lines = []
    if found.missing:
        lines.append(
            f"missing image: {len(found.missing)} image file(s) under {images_dir} not found, placeholders shown: {examples(found.missing)}"
        )
    if found.changed:
        lines.append(
            f"changed image: {len(found.changed)} image file(s) under {images_dir} changed since their run (sha256 differs from the one recorded), flagged on the site: {examples(found.changed)}"
        )
    if found.undecodable:
        lines.append(
            f"undecodable image: {len(found.undecodable)} image file(s) under {images_dir} cannot be decoded, placeholders shown and flagged: {examples(found.undecodable)}"
        )
    return lines


def refused(found: SiteImages, images_dir: Path) -> list[str]:
    """The log line of the images refused undecoded for their size: a warning whatever the
    `missing_images` level, since such a file is an attack on the build or a mistake, no sweep's."""
    if not found.oversized:
        return []
    names = ", ".join(found.oversized[:3]) + (" ..." if len(found.oversized) > 3 else "")
    return [
        f"oversized image: {len(found.oversized)} image file(s) under {images_dir} are {OVERSIZED}, placeholders shown and flagged: {names}"
    ]
