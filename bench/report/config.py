"""Options of the `bench-report` MkDocs plugin (set under `plugins:` in mkdocs.yml).

Paths are relative to the folder that holds mkdocs.yml.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mkdocs.config import base
from mkdocs.config import config_options as c

from bench.metrics import of_kind


class _Pixels(c.Type):
    """A thumbnail size in pixels, within what a page can sensibly show."""

    def __init__(self, default: int) -> None:
        super().__init__(int, default=default)

    def run_validation(self, value: object) -> int:
        value = super().run_validation(value)
        if not 32 <= value <= 2048:
            raise c.ValidationError(f"expected a size in pixels from 32 to 2048, got {value}")
        return value


class _BaseUrl(c.Type):
    """An http(s) address that ends with "/", exactly as the pages take it: they tell an
    address on another host from a site path by its lowercase "https://" or "http://" prefix
    (bench.report.html.url, bench.js), while urlsplit lowercases the scheme and strips spaces,
    tabs and newlines, so its verdict alone would pass addresses that every link then breaks."""

    def __init__(self) -> None:
        super().__init__(str)

    def run_validation(self, value: object) -> str:
        value = super().run_validation(value)
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            raise c.ValidationError(f"expected an http(s) address without spaces or control characters, got {value!r}")
        if not value.startswith(("https://", "http://")):
            raise c.ValidationError(
                f"expected an http(s) address starting with lowercase https:// or http://, got {value!r}"
            )
        parts = urlsplit(value)
        # A host, and nothing after the path: image paths are appended to it as they are.
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise c.ValidationError(f"expected an http(s) address with a host, got {value!r}")
        if not value.endswith("/"):
            raise c.ValidationError(f"expected an http(s) address ending with '/', got {value!r}")
        return value


class ReportConfig(base.Config):
    enabled = c.Type(bool, default=True)
    # Sweep outputs: Parquet tables (data/) and the images they point to (images/).
    data_dir = c.Type(str, default="data")
    images_dir = c.Type(str, default="images")
    # The CLIP metric to rank by. If the data hold no score for it (the tiny demo scores with
    # clip_tiny), the site shows the first CLIP metric that has scores and says so on the page.
    metric = c.Choice(of_kind("clip"), default="clip_vit_b_32")
    # "raw": cosine similarity as the seed study printed it; "x100": the torchmetrics/HEIM/MLPerf scale.
    clip_scale = c.Choice(("raw", "x100"), default="raw")
    thumb_px = _Pixels(default=256)
    # Thumbnails are named by the image file's sha256, so a rebuild reuses them; the folder also
    # holds each file's hash by its stat, so an unchanged file is not read again (git-ignored via .cache/).
    thumbs_dir = c.Type(str, default=".cache/thumbs")
    # Charts are cached under the hash of their data, so a rebuild of unchanged data draws none.
    charts_dir = c.Type(str, default=".cache/charts")
    # The seed study's published CLIP table; default: the copy shipped in bench/data/.
    seed_reference = c.Optional(c.Type(str))
    # An "ok" row whose image file is missing gets a placeholder and a log line at this level;
    # so does one whose file no longer has the sha256 its run recorded (flagged on the page) or
    # does not decode. "warn" makes `mkdocs build --strict` fail on it; "info" lets a partial
    # images/ publish.
    missing_images = c.Choice(("warn", "info"), default="warn")
    # Where full-size images are served from when they are not copied into the site (a site of
    # 20,000 PNGs outgrows GitHub Pages' 1 GB): e.g. a Hugging Face dataset's resolve/main/images/
    # URL or any static host holding a copy of images/. Thumbnails (WebP) stay in the site.
    images_base_url = c.Optional(_BaseUrl())
    # `mkdocs serve` rebuilds once data/ and images/ have been quiet this long: a sweep writes a
    # batch every few seconds, and a page that reloads after each one cannot be read.
    serve_settle_s = c.Type((int, float), default=10)
