"""The site build over a careless or hostile data/ and images/, and bad plugin options.

What a build may publish (only the parts the store reads, never a link out of data/), what it
refuses to decode (an image past Pillow's bomb limit), and that every such case ends in a line
that names the path or the option, never in a traceback. Stored XSS is tested in a browser
(test_report_browser.py); the escaping of each page in test_report_render.py.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zlib
from pathlib import Path

import pytest
from report_fixtures import copy_site_sources, mkdocs_build, page, set_plugin_option, write_dataset

from bench import store
from bench.report import names, thumbs
from bench.report.plugin import ReportPlugin

PASSWD = Path("/etc/passwd")
BOMB_PX = (14000, 12700)  # 177.8 megapixels: past Pillow's limit, short of twice it (where Pillow itself refuses)


def png_of(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG of width x height: a few KB on disk, however many pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\0" * (1 + (width + 7) // 8)) * height  # each row: filter 0, then zeros
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")


# --- one build over every hazard at once -----------------------------------------------------


@pytest.fixture(scope="module")
def careless(tmp_path_factory):
    """A (non-strict) build whose data/ holds links out of it, names the store never reads, a
    FIFO and folders named as parts, whose runs table is a link to a folder outside data/, and
    whose images/ holds a symlink loop and a decompression bomb in place of two images."""
    root = copy_site_sources(tmp_path_factory.mktemp("careless"))
    written = write_dataset(
        root / "data", root / "images", prompts={"cube": "A cube.", "ball": "A ball."},
        models={"sd15": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3)}, seeds=1, faults=False,
    )  # fmt: skip
    parts = {t: [p.name for p in (root / "data" / t).glob("*.parquet")] for t in ("generations", "scores")}
    gens = root / "data" / "generations"
    (gens / "_notes.parquet").symlink_to(PASSWD)  # the store never reads `_` names
    (gens / "notes.parquet").symlink_to(PASSWD)
    (gens / "alias.parquet").symlink_to(gens / parts["generations"][0])  # a link, even to a part
    os.mkfifo(gens / "_fifo.parquet")
    os.mkfifo(gens / "fifo.parquet")
    (gens / "_x.parquet").mkdir()
    (gens / "y.parquet").mkdir()
    outside = root / "elsewhere"
    outside.mkdir()
    (root / "data" / "runs").rename(outside / "runs")
    (root / "data" / "runs").symlink_to(outside / "runs", target_is_directory=True)
    loop, bomb = (root / "images" / c["image_path"] for c in written.cells)
    loop.unlink()
    loop.symlink_to(loop.name)  # itself
    bomb.write_bytes(png_of(*BOMB_PX))
    proc = mkdocs_build(root, timeout_s=180)  # a FIFO opened for reading would hang it
    return root, parts, proc, [c["image_path"] for c in written.cells]


def test_a_careless_data_dir_builds_with_warnings_and_no_traceback(careless):
    _, _, proc, _ = careless
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_downloads_publish_only_the_parts_the_store_reads(careless):
    root, parts, proc, _ = careless
    published = root / "public" / "downloads" / "data"
    assert {t: sorted(p.name for p in (published / t).iterdir()) for t in parts} == {
        t: sorted(v) for t, v in parts.items()
    }
    assert not (published / "runs").exists()  # its folder is a link out of data/: named, not published
    assert re.search(
        rf"WARNING\s+-\s+bench: {re.escape(str(root / 'data' / 'runs'))}/\S+\.parquet is outside", proc.stderr
    )
    html = page(root, "downloads/index.html")
    assert "notes" not in html and "fifo" not in html and "_x" not in html and "alias" not in html
    assert all(name in html for names_ in parts.values() for name in names_)


def test_the_site_holds_regular_files_only_and_nothing_from_outside(careless):
    """What `tar --dereference` (the Pages upload) would follow: no link, FIFO or folder in
    place of a file, and no byte of /etc/passwd."""
    root, _, _, _ = careless
    secret = PASSWD.read_bytes()[:64]
    for folder, dirs, files in os.walk(root / "public"):
        for name in dirs + files:
            mode = os.lstat(Path(folder) / name).st_mode
            assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), Path(folder) / name
        for name in files:
            assert secret not in (Path(folder) / name).read_bytes(), Path(folder) / name


def test_an_image_symlink_loop_is_shown_missing_and_named(careless):
    root, _, proc, (loop, _) = careless
    assert re.search(
        rf"bench: missing image: 1 image file\(s\) under \S+ not found, placeholders shown: {re.escape(loop)}",
        proc.stderr,
    )
    assert "image missing" in page(root, "prompts/cube/index.html")


def test_an_image_past_the_pixel_limit_is_refused_undecoded_with_one_warning(careless):
    root, _, proc, (_, bomb) = careless
    warned = [line for line in proc.stderr.splitlines() if "WARNING" in line and "oversized image" in line]
    assert len(warned) == 1 and bomb in warned[0] and f"over {thumbs.MAX_PIXELS:,} pixels" in warned[0]
    assert "DecompressionBombWarning" not in proc.stderr  # Pillow's own, on stderr: not as well
    html = page(root, "prompts/ball/index.html")
    assert "image unreadable" in html and "decompression-bomb limit" in html  # a placeholder, flagged


def test_an_image_past_the_pixel_limit_is_never_decoded(tmp_path, monkeypatch):
    src = tmp_path / "bomb.png"
    src.write_bytes(png_of(*BOMB_PX))
    from PIL import Image

    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(thumbs.OversizedImage, match="177800000 pixels|14000 x 12700"):
        thumbs.make_thumbnail(src, tmp_path / "t.webp", 64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's check switched off: ours still holds
    with pytest.raises(thumbs.OversizedImage, match="14000 x 12700 pixels"):
        thumbs.make_thumbnail(src, tmp_path / "t.webp", 64)


def test_part_files_are_the_regular_files_named_as_parts(tmp_path):
    store.append(tmp_path, "scores", [{"cell_id": "a", "metric": "m", "value": 1.0}])
    folder = tmp_path / "scores"
    (part,) = folder.glob("*.parquet")
    (folder / "_hidden.parquet").write_bytes(b"x")
    (folder / "link.parquet").symlink_to(part)
    os.mkfifo(folder / "pipe.parquet")
    (folder / "dir.parquet").mkdir()
    assert store.part_files(tmp_path, "scores") == [part]
    assert store.part_files(tmp_path, "runs") == []  # no table yet


# --- plugin options that would break every link, or write into a file --------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("HTTPS://h.org/images/", "starting with lowercase https:// or http://"),
        ("Http://h.org/images/", "starting with lowercase https:// or http://"),
        (" https://h.org/images/", "without spaces or control characters"),
        ("https://h.org/images/ ", "without spaces or control characters"),
        ("https://h.org/im\tages/", "without spaces or control characters"),
        ("https://h.org/im\nages/", "without spaces or control characters"),
    ],
)
def test_images_base_url_is_refused_unless_the_pages_take_it_as_an_address(value, says):
    """The pages tell an address from a site path by its lowercase prefix, as written; urlsplit
    lowercases the scheme and strips spaces, so its verdict alone let these through."""
    errors, _ = ReportPlugin().load_config({"images_base_url": value})
    assert [name for name, _ in errors] == ["images_base_url"]
    assert f"expected an http(s) address {says}, got {value!r}" in str(errors[0][1])


@pytest.mark.parametrize("option", ["charts_dir", "thumbs_dir"])
def test_a_cache_option_naming_a_file_stops_the_build_with_one_line(tmp_path, option):
    root = copy_site_sources(tmp_path)
    set_plugin_option(root, option, "mkdocs.yml")
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"bench-report: {option}: {root / 'mkdocs.yml'} is a file, not a folder" in proc.stderr


# --- page names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [
        ["index", "p-1bc04b5291c2"],  # "index" is hashed to p-1bc04b5291c2
        ["Cat", "cat"],  # one name on a case-insensitive file system
        ["a b", "a_b"],  # an older model page rule gave both a_b
        ["x" * 81, "x" * 80 + "y"],
    ],
)
def test_page_names_are_injective(keys):
    assert len({names.slug(k).casefold() for k in keys}) == len(keys)
    assert names.pages(keys, "prompt id") == {k: names.slug(k) for k in keys}


def test_two_keys_that_share_a_page_name_stop_the_build_naming_both(monkeypatch):
    from mkdocs.exceptions import PluginError

    monkeypatch.setattr(names, "slug", lambda key: "p-000000000000")  # a 48-bit hash collision
    with pytest.raises(PluginError, match=r"'first' and 'second' would share the page name 'p-000000000000'"):
        names.pages(["first", "second"], "prompt id")


@pytest.mark.parametrize("key", ["index", "p-1bc04b5291c2", "../x", "<b>", "", "A", "a" * 81, "é"])
def test_page_names_are_plain_lowercase_slugs(key):
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,79}", names.slug(key))
