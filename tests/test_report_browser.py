"""The built site in a real browser: headless Debian Chromium driven by Playwright.

The site is served from 127.0.0.1 by http.server in a thread. Playwright never downloads a
browser here: it launches /usr/bin/chromium (Debian's package, installed by .ci/run).
Screenshots go to $BENCH_SCREENSHOTS_DIR, else to a pytest temporary folder.
"""

from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from report_fixtures import HOSTILE_ID, copy_site_sources, mkdocs_build, write_dataset

from bench.files import write_bytes
from bench.report.synthetic import png_bytes

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
GAN, CHANGED_PROMPT = "biggan-deep-256", "abandoned-park"  # every image of this cell is changed after the run
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    root = copy_site_sources(tmp_path_factory.mktemp("browser-site"))
    written = write_dataset(root / "data", root / "images", image_px=128)
    for i, cell in enumerate(c for c in written.cells if c["model"] == GAN and c["prompt_id"] == CHANGED_PROMPT):
        write_bytes(root / "images" / cell["image_path"], png_bytes(1000 + i, 128))  # replaced after the run
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root / "public")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(site_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("BENCH_SCREENSHOTS_DIR") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser, site_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    outside = [u for u in requests if not u.startswith(site_url) and not u.startswith(("data:", "blob:"))]
    assert not outside, f"requests left the site: {outside}"
    assert not errors, f"JavaScript errors: {errors}"


def column(table, title: str) -> list[str]:
    """The texts of a column, found by its header, in the order the rows are shown now."""
    titles = [t.strip() for t in table.locator("thead th").all_inner_texts()]
    i = titles.index(title)
    return [t.strip() for t in table.locator(f"tbody tr td:nth-child({i + 1})").all_inner_texts()]


def test_clicking_a_numeric_header_sorts_the_rows_numerically(page, site_url, shots):
    page.goto(site_url)
    table = page.locator(".bench-table table").first
    table.locator("thead th").first.wait_for()
    page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)
    rows_before = sorted(zip(column(table, "Model"), column(table, "p50 s")))

    header = table.locator("thead th", has_text="p50 s").first
    header.click()
    values = [float(v) for v in column(table, "p50 s")]
    assert values == sorted(values)
    as_text = sorted(column(table, "p50 s"))
    assert [float(v) for v in as_text] != values  # the fixture has 10+ s and 2 s latencies
    assert header.get_attribute("aria-sort") == "ascending"
    assert sorted(zip(column(table, "Model"), column(table, "p50 s"))) == rows_before  # whole rows moved

    header.click()
    values = [float(v) for v in column(table, "p50 s")]
    assert values == sorted(values, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"

    clip = table.locator("thead th", has_text="CLIP best").first
    clip.click()  # quality columns sort best first on the first click
    best = [float(v) for v in column(table, "CLIP best")]
    assert best == sorted(best, reverse=True) and clip.get_attribute("aria-sort") == "descending"


def test_a_gallery_image_opens_the_lightbox_with_the_full_image(page, site_url, shots):
    page.goto(site_url + "prompts/futuristic-city/")
    sd15 = page.locator(".bench-grid tbody tr", has=page.locator("th", has_text="sd15"))
    first = sd15.locator("a.bench-lightbox").first
    first.locator("img").wait_for()
    page.screenshot(path=str(shots / "prompt-page.png"), full_page=True)
    full = first.evaluate("a => a.href")  # absolute, as the lightbox resolves it
    slides_expected = first.evaluate("a => JSON.parse(a.dataset.slides).length")
    assert full.endswith(".png") and slides_expected > 1

    first.locator("img").click()
    shown = page.locator(".glightbox-container .gslide.current .gslide-image img")
    shown.wait_for(state="visible")
    page.wait_for_function(
        "() => { const i = document.querySelector('.gslide.current .gslide-image img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    assert shown.evaluate("i => i.src") == full  # the full image, not the WebP thumbnail
    caption = page.locator(".gslide.current .gslide-desc").inner_text()
    for word in ["Backend:", "seed", "steps", "guidance", "CLIP", "latency"]:
        assert word in caption
    assert page.locator(".glightbox-container .gslide").count() == slides_expected
    page.wait_for_timeout(400)  # let the zoom-in effect finish before the picture
    page.screenshot(path=str(shots / "lightbox.png"))


def test_a_changed_image_is_flagged_in_the_grid_and_in_the_lightbox(page, site_url, shots):
    page.goto(site_url + f"prompts/{CHANGED_PROMPT}/")
    cell = page.locator(".bench-grid td.bench-flagged")
    flag = cell.locator(".bench-flag").first
    flag.wait_for(state="visible")
    assert (
        cell.count() == 1
        and GAN in page.locator(".bench-grid tr", has=page.locator("td.bench-flagged")).locator("th").inner_text()
    )
    assert cell.locator(".bench-flag").all_inner_texts() == [
        "⚠ changed since its run: sha256 differs from the one recorded",
        "⚠ 2 other images of this cell flagged: open it to see",  # the cell's other seeds, in the lightbox
    ]
    assert flag.evaluate("e => getComputedStyle(e).color") == "rgb(198, 40, 40)"  # red, not the grey of captions
    assert cell.locator("img").evaluate("i => i.complete && i.naturalWidth > 0")  # the new thumbnail shows
    cell.screenshot(path=str(shots / "flagged-cell.png"))
    cell.locator("img").click()
    caption = page.locator(".gslide.current .gslide-desc")
    caption.wait_for(state="visible")
    text = caption.inner_text()
    assert text.startswith("⚠ Image biggan-deep-256/") and "changed since its run" in text
    page.wait_for_timeout(400)  # let the zoom-in effect finish before the picture
    page.screenshot(path=str(shots / "flagged-lightbox.png"))


def test_a_hostile_prompt_shows_as_text_and_runs_nothing(page, site_url):
    page.goto(site_url + f"prompts/{HOSTILE_ID}/")
    quote = page.locator("blockquote.bench-prompt").inner_text()
    assert "<script>window.__pwned = 1</script>" in quote and "{{ config.site_name }}" in quote
    page.locator(".bench-grid a.bench-lightbox img").first.click()
    page.locator(".gslide.current .gslide-desc").wait_for(state="visible")
    assert page.evaluate("() => window.__pwned") is None
    page.keyboard.press("Escape")
    # Material's search shows matches with innerHTML too: the index must hold escaped text.
    page.locator("input.md-search__input").click()
    page.keyboard.type("hostile")
    page.locator(".md-search-result__item").first.wait_for()
    assert "<script>window.__pwned" in page.locator(".md-search-result").inner_text()
    assert page.evaluate("() => window.__pwned") is None
    page.keyboard.press("Escape")
    # A 1,200-character word must wrap, not widen the page.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
