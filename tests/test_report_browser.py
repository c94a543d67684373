"""The built site in a real browser: headless Debian Chromium driven by Playwright.

The site is served from 127.0.0.1 by http.server in a thread. Playwright never downloads a
browser here: it launches /usr/bin/chromium (Debian's package, installed by .ci/run).
Screenshots, for a person to look at, are taken only when $BENCH_SCREENSHOTS_DIR names a folder.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from report_fixtures import (
    HOSTILE_ID,
    XSS_LOG,
    copy_site_sources,
    mkdocs_build,
    write_dataset,
    write_hostile_dataset,
)

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


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The browser drops connections it no longer needs (a page left mid-download): not an
        # error of the site's, and a traceback per drop would bury pytest's report.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def served(folder: Path):
    """A built site served from 127.0.0.1 in a thread; yields its address."""
    server = QuietServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


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
    with served(root / "public") as url:
        yield url


@pytest.fixture(scope="module")
def browser(site_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots():
    """shots(page or locator, name, full_page=False): a screenshot into $BENCH_SCREENSHOTS_DIR, for
    a person to look at; without that folder, none (encoding ~25 PNGs costs the suite ~18 s of CPU,
    and nothing reads them)."""
    folder = os.environ.get("BENCH_SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)

    def shoot(target, name: str, full_page: bool = False) -> None:
        if folder:
            target.screenshot(path=str(Path(folder) / name), **({"full_page": True} if full_page else {}))

    return shoot


@contextlib.contextmanager
def watched_page(browser, site: str, width: int = 1400, height: int = 1000):
    """A fresh page of `site`; yields it with the list of addresses it requested, and fails if
    any request left the site or any JavaScript error was thrown."""
    context = browser.new_context(viewport={"width": width, "height": height})
    pg = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(15_000)
    yield pg, requests
    context.close()
    outside = [u for u in requests if not u.startswith(site) and not u.startswith(("data:", "blob:"))]
    assert not outside, f"requests left the site: {outside}"
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def page(browser, site_url):
    with watched_page(browser, site_url) as (pg, _):
        yield pg


def field_of(scope, title: str) -> str:
    """The Tabulator field of the column whose header reads `title`."""
    header = scope.locator(".tabulator-col", has=scope.page.locator(".tabulator-col-title", has_text=title)).first
    return header.get_attribute("tabulator-field")


def column(scope, title: str) -> list[str]:
    """The texts of a column, found by its header, in the order the rows are shown now."""
    field = field_of(scope, title)
    cells = scope.locator(f".tabulator-row .tabulator-cell[tabulator-field='{field}']").all_inner_texts()
    return [" ".join(t.split()) for t in cells]


QUALITY = "CLIP ViT-B/32 (OpenAI) (raw cosine)"


def board(page):
    table = page.locator(".bench-tabulator").first
    table.locator(".tabulator-row").first.wait_for()
    return table


def test_clicking_a_numeric_header_sorts_the_rows_numerically(page, site_url, shots):
    page.goto(site_url)
    table = board(page)
    shots(page, "leaderboard-desktop.png")
    shots(page, "leaderboard-desktop-full.png", full_page=True)
    rows_before = sorted(zip(column(table, "Model / scheduler"), column(table, "p50 pytorch (s)")))

    header = table.locator(".tabulator-col", has_text="p50 pytorch (s)").first
    header.click()
    values = [float(v.rstrip(" ★")) for v in column(table, "p50 pytorch (s)")]
    assert values == sorted(values)
    assert header.get_attribute("aria-sort") == "ascending"
    assert sorted(zip(column(table, "Model / scheduler"), column(table, "p50 pytorch (s)"))) == rows_before

    header.click()
    values = [float(v.rstrip(" ★")) for v in column(table, "p50 pytorch (s)")]
    assert values == sorted(values, reverse=True) and max(values) > 10 > min(values)  # numbers, not text
    assert header.get_attribute("aria-sort") == "descending"


def test_missing_values_sort_last_both_ways(page, site_url):
    page.goto(site_url)
    table = board(page)
    header = table.locator(".tabulator-col", has_text="p50 onnxruntime (s)").first
    for direction in ("ascending", "descending"):
        header.click()
        assert header.get_attribute("aria-sort") == direction
        values = column(table, "p50 onnxruntime (s)")
        dashes = [v == "—" for v in values]
        assert any(dashes) and not all(dashes)
        assert dashes == sorted(dashes), f"{direction}: a dash before a number in {values}"


def test_at_390_px_the_quality_column_is_visible_and_the_first_column_stays(browser, site_url, shots):
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme=scheme)
        pg = context.new_page()
        pg.goto(site_url)
        table = board(pg)
        quality = table.locator(".tabulator-col", has_text=QUALITY).first
        box = quality.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert pg.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
        table.scroll_into_view_if_needed()
        shots(pg, f"leaderboard-phone-{scheme}.png")
        first = table.locator(".tabulator-row .tabulator-cell.tabulator-frozen").first
        x0 = first.bounding_box()["x"]
        table.locator(".tabulator-tableholder").evaluate("e => { e.scrollLeft = 400; }")
        pg.wait_for_timeout(100)
        assert abs(first.bounding_box()["x"] - x0) < 1  # frozen: it does not scroll away
        context.close()
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    pg = context.new_page()
    pg.goto(site_url)
    board(pg)
    pg.locator(".bench-vega svg").first.wait_for()  # the interactive chart, drawn for the dark palette
    shots(pg, "leaderboard-desktop-dark.png", full_page=True)
    context.close()


def test_filters_narrow_the_rows_and_survive_a_reload(page, site_url):
    page.goto(site_url)
    table = board(page)
    total = table.locator(".tabulator-row").count()
    page.select_option("form.bench-filters select[name=model]", "sd15")
    assert table.locator(".tabulator-row").count() == 2 < total
    assert "model=sd15" in page.url
    page.fill("form.bench-filters input[name=q]", "ddim")
    assert column(table, "Model / scheduler") == ["sd15 ddim · images"] and "q=ddim" in page.url
    table.locator(".tabulator-col", has_text="p50 pytorch (s)").first.click()
    page.reload()
    table = board(page)
    assert column(table, "Model / scheduler") == ["sd15 ddim · images"]
    assert page.input_value("form.bench-filters select[name=model]") == "sd15"
    assert page.input_value("form.bench-filters input[name=q]") == "ddim"
    assert table.locator(".tabulator-col", has_text="p50 pytorch (s)").first.get_attribute("aria-sort") == "ascending"
    assert page.locator(".bench-count").inner_text() == f"1 of {total} rows shown"


def test_a_row_anchor_and_the_column_picker(page, site_url):
    page.goto(site_url + "#row-sd21-base--ddim")
    table = board(page)
    target = page.locator(".tabulator-row#row-sd21-base--ddim")
    assert target.count() == 1 and "bench-target" in target.get_attribute("class")
    page.locator("details.bench-columns summary").evaluate("e => e.click()")  # under the sticky page header
    page.locator("details.bench-columns label", has_text="Family").locator("input").evaluate("e => e.click()")
    assert (
        table.locator(".tabulator-col", has_text="Family").count() == 0
        or not table.locator(".tabulator-col", has_text="Family").first.is_visible()
    )
    assert "cols=" in page.url


def test_a_chart_point_leads_to_its_row_and_the_row_to_its_images(page, site_url, shots):
    page.goto(site_url)
    board(page)
    point = page.locator(".bench-vega svg .mark-symbol path").first
    point.wait_for()
    point.click(force=True)  # a Vega mark: the click reaches the view's listener
    target = page.locator(".tabulator-row.bench-target")
    target.wait_for()
    row = page.url.split("#", 1)[1]
    assert row.startswith("row-") and target.get_attribute("id") == row
    target.locator("a.bench-images").click()
    page.wait_for_url("**/models/**#gallery-*")
    model, sched = row.removeprefix("row-").split("--")
    assert f"/models/{model}/#gallery-{sched}" in page.url
    wall = page.locator(f"[id='gallery-{sched}'] + .bench-wall img")
    assert wall.count() >= 1 and wall.first.get_attribute("alt").startswith(f"{model} / ")
    shots(page, "model-gallery-from-chart.png")


def test_a_gallery_image_opens_the_lightbox_with_the_full_image(page, site_url, shots):
    page.goto(site_url + "prompts/futuristic-city/")
    sd15 = page.locator(".bench-grid tbody tr", has=page.locator("th", has_text="sd15"))
    first = sd15.locator("a.bench-lightbox").first
    first.locator("img").wait_for()
    shots(page, "prompt-page.png", full_page=True)
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
    for word in ["Backend:", "seed", "steps", "guidance", "CLIP", "latency", "A futuristic city in the clouds"]:
        assert word in caption
    # Every metric of each image: the twins of other backends carry their parity with eager PyTorch.
    assert first.evaluate(
        "a => JSON.parse(a.dataset.slides).some(s => s.description.includes('PSNR vs eager PyTorch'))"
    )
    assert page.locator(".gslide.current .bench-counter").inner_text() == f"1 of {slides_expected}"
    assert page.locator(".gslide.current a.bench-download").get_attribute("download") is not None
    assert "A futuristic city" in shown.get_attribute("alt")
    assert page.locator(".glightbox-container .gslide").count() == slides_expected
    page.wait_for_timeout(400)  # let the zoom-in effect finish before the picture
    shots(page, "lightbox.png")


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
    shots(cell, "flagged-cell.png")
    cell.locator("img").click()
    caption = page.locator(".gslide.current .gslide-desc")
    caption.wait_for(state="visible")
    text = caption.inner_text()
    assert text.startswith("⚠ Image biggan-deep-256/") and "changed since its run" in text
    page.wait_for_timeout(400)  # let the zoom-in effect finish before the picture
    shots(page, "flagged-lightbox.png")


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


def test_the_compare_page_switches_seed_and_shows_the_twins_difference(page, site_url, shots):
    page.goto(site_url + "compare/")
    grid = page.locator(".bench-compare")
    cell = grid.locator("td[data-key='sd21-base|ddim']")
    cell.locator("img.bench-a").wait_for()
    first_src = cell.locator("img.bench-a").get_attribute("src")
    page.select_option(".bench-compare select[name=prompt]", "futuristic-city")
    page.select_option(".bench-compare select[name=seed]", "1")
    page.wait_for_function("() => location.search.includes('seed=1')")
    page.wait_for_function(
        "() => { const i = document.querySelector(\"td[data-key='sd21-base|ddim'] img.bench-a\"); return i && i.alt.includes('seed 1'); }"
    )
    assert cell.locator("img.bench-a").get_attribute("src") != first_src
    assert cell.locator(".bench-badge").inner_text().strip() not in ("", "—")
    shots(page, "compare.png", full_page=True)
    page.reload()
    cell.locator("img.bench-a").wait_for()
    page.wait_for_function("() => document.querySelector(\".bench-compare select[name=seed]\").value === '1'")
    page.select_option(".bench-compare select[name=backend]", "diff:pytorch:onnxruntime")
    top = cell.locator("img.bench-b")
    top.wait_for(state="visible")
    assert top.evaluate("i => getComputedStyle(i).mixBlendMode") == "difference"
    shots(page, "compare-difference.png", full_page=True)


def test_the_ranking_metric_switches_in_the_page_and_stays_in_the_url(page, site_url):
    page.goto(site_url)
    table = board(page)
    page.select_option("form.bench-filters select[name=metric]", "clip_vit_l_14")
    assert "metric=clip_vit_l_14" in page.url
    header = table.locator(".tabulator-col", has_text="CLIP ViT-L/14 (OpenAI) (raw cosine)").first
    assert header.get_attribute("aria-sort") == "descending"
    values = [float(v.split()[0]) for v in column(table, "CLIP ViT-L/14 (OpenAI) (raw cosine)")]
    assert values == sorted(values, reverse=True)
    page.reload()
    table = board(page)
    assert page.input_value("form.bench-filters select[name=metric]") == "clip_vit_l_14"
    ranks = table.locator(".tabulator-col", has_text="Rank")
    assert ranks.count() == 2 and [ranks.nth(i).is_visible() for i in range(2)].count(True) == 1  # one per metric


SECOND = "CLIP ViT-L/14 (OpenAI) (raw cosine)"
FASTEST = "Fastest p50 (s)"
# The chart's axis titles, as Vega drew them (text of the SVG).
AXIS_TITLES = "() => [...document.querySelectorAll('.bench-vega svg .role-axis-title text')].map(t => t.textContent)"


def _on_first_screen(pg, table, title: str, width: int) -> None:
    """The column headed `title` is shown whole within the window and within the table's own
    scroll box (not cut at its right edge), with no sideways scroll."""
    box = table.locator(".tabulator-col", has_text=title).first.bounding_box()
    holder = table.locator(".tabulator-tableholder").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (title, box)
    assert box["x"] >= holder["x"] and box["x"] + box["width"] <= holder["x"] + holder["width"], (title, box, holder)
    assert table.locator(".tabulator-tableholder").evaluate("e => e.scrollLeft") == 0


@pytest.mark.parametrize("width", [390, 1400])
def test_the_ranked_metric_and_the_fastest_p50_are_on_the_first_screen_whatever_rank_by_says(
    browser, site_url, shots, width
):
    with watched_page(browser, site_url, width, 844 if width == 390 else 900) as (pg, _):
        for metric, title in (("clip_vit_b_32", QUALITY), ("clip_vit_l_14", SECOND)):
            pg.goto(f"{site_url}?metric={metric}")
            table = board(pg)
            _on_first_screen(pg, table, title, width)
            _on_first_screen(pg, table, FASTEST, width)
            assert pg.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
            pg.wait_for_function(f"() => ({AXIS_TITLES})().includes({title!r})")  # the chart's y axis
            shots(pg, f"leaderboard-{metric}-{width}.png")
        # Switched in the page: the ranked column moves next to the name, the other goes to the picker.
        pg.select_option("form.bench-filters select[name=metric]", "clip_vit_b_32")
        table = board(pg)
        _on_first_screen(pg, table, QUALITY, width)
        _on_first_screen(pg, table, FASTEST, width)
        assert not table.locator(".tabulator-col", has_text=SECOND).first.is_visible()
        pg.wait_for_function(f"() => ({AXIS_TITLES})().includes({QUALITY!r})")
        assert "CLIP ViT-B/32" in pg.locator(".bench-rank-sentence").inner_text()


def test_a_memory_budget_keeps_the_rows_that_fit_and_stays_in_the_url(browser, site_url):
    with watched_page(browser, site_url, 390, 844) as (pg, _):
        pg.goto(site_url + "?fits=8")
        table = board(pg)
        assert (
            pg.locator("form.bench-filters details.bench-more-filters").get_attribute("open") is not None
        )  # a filter is on
        assert pg.input_value("form.bench-filters select[name=fits]") == "8"
        shown = table.locator(".tabulator-row").count()
        assert 0 < shown and pg.locator(".bench-more-filters summary").inner_text() == "Filters (1 on)"
        options = pg.locator("form.bench-filters select[name=fits] option").all_inner_texts()
        assert options == ["all", "8 GB", "12 GB", "24 GB"]
        pg.select_option("form.bench-filters select[name=fits]", "24")
        assert "fits=24" in pg.url and table.locator(".tabulator-row").count() >= shown
        pg.goto(site_url)  # no filter on a phone: folded, the table first
        board(pg)
        assert pg.locator("form.bench-filters details.bench-more-filters").get_attribute("open") is None


def test_data_as_of_and_the_changelog_of_runs_top_the_board(page, site_url):
    page.goto(site_url)
    board(page)
    log = page.locator("details.bench-changelog")
    assert log.locator("summary").inner_text().startswith("Data as of 2026-")
    log.locator("summary").click()
    assert "fixture" in log.locator("li").first.inner_text() and "images" in log.locator("li").first.inner_text()


def test_organisation_and_licence_are_in_the_column_picker(page, site_url):
    page.goto(site_url)
    table = board(page)
    page.locator("details.bench-columns summary").evaluate("e => e.click()")
    for title in ("Organisation", "Licence"):
        page.locator("details.bench-columns label", has_text=title).locator("input").evaluate("e => e.click()")
    assert set(column(table, "Organisation")) == {"org"}  # the synthetic hub ids are org/<model>
    assert "cols=" in page.url


@pytest.fixture(scope="module")
def demo_url(site_url, tmp_path_factory):
    """A site of random-weight models (the demo banner on every page), shaped as the tiny suite."""
    root = copy_site_sources(tmp_path_factory.mktemp("demo-site"))
    models = {
        "tiny-sd": ("sd", ["ddim", "euler-a", "dpmpp-2m"], ["pytorch", "pytorch-compile", "onnxruntime"], 0.2, 0.0),
        "tiny-sdxl": ("sdxl", ["ddim", "euler-a"], ["pytorch", "onnxruntime"], 0.4, 0.0),
        "tiny-biggan": ("gan", [None], ["pytorch"], 0.05, 0.0),
    }
    write_dataset(root / "data", root / "images", models=models, seeds=2, faults=False)
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with served(root / "public") as url:
        yield url


def test_on_a_phone_the_boards_first_row_is_on_the_first_screen_under_the_demo_banner(browser, demo_url, shots):
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme=scheme)
        pg = context.new_page()
        pg.goto(demo_url)
        table = board(pg)
        assert pg.locator(".bench-demo").is_visible() and "Demo data" in pg.locator(".bench-demo").inner_text()
        row = table.locator(".tabulator-row").first.bounding_box()
        assert row["y"] + row["height"] <= 844, row
        _on_first_screen(pg, table, "Fastest p50 (s)", 390)
        shots(pg, f"leaderboard-demo-phone-{scheme}.png")
        context.close()


def test_the_speed_chart_is_interactive_and_readable_on_a_phone(browser, site_url, shots):
    for scheme in ("light", "dark"):
        with watched_page(browser, site_url, 390, 844) as (pg, _):
            pg.emulate_media(color_scheme=scheme)
            pg.goto(site_url + "speed/")
            chart = pg.locator(".bench-speed-chart svg")
            chart.wait_for()
            sizes = pg.evaluate(
                "() => [...document.querySelectorAll('.bench-speed-chart svg text')]"
                ".filter(t => t.textContent.trim()).map(t => parseFloat(getComputedStyle(t).fontSize))"
            )
            assert sizes and min(sizes) >= 10, sizes
            assert pg.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
            box = chart.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
            chart.scroll_into_view_if_needed()
            pg.locator(".bench-speed-chart svg .mark-rect path").first.hover(force=True)
            tooltip = pg.locator("#vg-tooltip-element")
            tooltip.wait_for()
            assert "p50 s" in tooltip.inner_text() and "speed-up" in tooltip.inner_text()
            assert pg.locator(".bench-vega-fallback").first.is_hidden()
            shots(pg.locator(".bench-speed-chart"), f"speed-chart-phone-{scheme}.png")


def test_the_chart_follows_the_filters(page, site_url):
    page.goto(site_url)
    board(page)
    dots = page.locator(".bench-vega svg g.mark-symbol.role-mark").last.locator("path")  # the dots, drawn last
    dots.first.wait_for()
    total = dots.count()
    page.select_option("form.bench-filters select[name=model]", "sd15")
    page.wait_for_function(
        "n => { const g = [...document.querySelectorAll('.bench-vega svg g.mark-symbol.role-mark')].pop();"
        " return g && g.querySelectorAll('path').length < n; }",
        arg=total,
    )
    assert dots.count() == 2 * 3  # sd15's two schedulers on three backends


def test_the_head_to_head_view_opens_from_its_url_and_from_the_rows(page, site_url, shots):
    page.goto(site_url + "?h2h=sd15--ddim~sd21-base--ddim")
    answer = page.locator(".bench-h2h-answer")
    answer.wait_for()
    text = answer.inner_text()
    assert text.startswith("sd15 / ddim − sd21-base / ddim on CLIP ViT-B/32") and "95% interval" in text
    assert "prompts" in page.locator(".bench-h2h-result").inner_text()
    grid = page.locator(".bench-h2h-grid tbody tr")
    assert grid.count() == 3 and page.locator(".bench-h2h-grid img").count() >= 5  # one picture lost on disk
    shots(page, "head-to-head.png", full_page=True)
    # Picked from the table: a row's ⇄ is A, the next row's B; the address keeps them.
    table = board(page)
    table.locator(".tabulator-row#row-sd15--euler-a button.bench-pick").click()
    table.locator(".tabulator-row#row-dalle3-xl--euler-a button.bench-pick").click()
    page.wait_for_function(
        "() => new URLSearchParams(location.search).get('h2h') === 'sd15--euler-a~dalle3-xl--euler-a'"
    )
    page.wait_for_function(
        "() => (document.querySelector('.bench-h2h-answer') || {}).textContent?.startsWith('sd15 / euler-a')"
    )
    page.reload()
    assert page.locator(".bench-h2h-answer").inner_text().startswith("sd15 / euler-a − dalle3-xl / euler-a")


@pytest.fixture(scope="module")
def steps_site(tmp_path_factory):
    """A site whose models ran at 10 and 30 steps, scored by two metrics: a Steps page with sections."""
    import hashlib

    from bench.report import synthetic

    root = copy_site_sources(tmp_path_factory.mktemp("steps-site"))
    prompts = {f"p{i}": f"Prompt {i}: a lighthouse at dusk" for i in range(6)}
    models = {
        "sd15": ("sd", ["ddim", "euler"], ["pytorch"], 1.0, 0.30),
        "sd21-base": ("sd", ["ddim"], ["pytorch"], 2.0, 0.32),
    }
    sweep = synthetic.make_sweep(prompts, models, seeds=2)
    fewer = {}
    for row in list(sweep.generations):  # each image again at 10 steps: a little worse, twice as fast
        cell = hashlib.sha256(f"{row['cell_id']}-10".encode()).hexdigest()[: len(row["cell_id"])]
        fewer[row["cell_id"]] = cell
        sweep.generations.append(
            {**row, "cell_id": cell, "steps": 10, "latency_s": (row["latency_s"] or 0) / 2 or None}
        )
    sweep.scores += [{**s, "cell_id": fewer[s["cell_id"]], "value": s["value"] - 0.02} for s in list(sweep.scores)]
    sweep.scores += [{**s, "metric": "clip_vit_l_14", "value": s["value"] * 0.9} for s in list(sweep.scores)
                     if s["metric"] == "clip_vit_b_32"]  # fmt: skip
    synthetic.write_sweep(sweep, root / "data", root / "images")
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with served(root / "public") as url:
        yield url


def test_the_steps_page_takes_rank_by_and_the_filters_from_the_leaderboard(browser, steps_site, shots):
    with watched_page(browser, steps_site) as (pg, _):
        pg.goto(steps_site + "steps/?metric=clip_vit_l_14")
        shown = pg.locator(".bench-steps-by:visible")
        assert shown.count() == 1 and shown.get_attribute("data-metric") == "clip_vit_l_14"
        pg.wait_for_function(f"() => ({AXIS_TITLES})().includes({SECOND!r})")
        pg.select_option("form.bench-steps-filters select[name=model]", "sd15")
        assert "model=sd15" in pg.url
        assert shown.locator(".bench-steps-model:visible").count() == 1
        shots(pg, "steps-ranked-and-filtered.png", full_page=True)
        # Chosen on the leaderboard, the ranking metric and the model filter follow to the Steps page.
        pg.goto(steps_site)
        board(pg)
        pg.select_option("form.bench-filters select[name=metric]", "clip_vit_b_32")
        pg.select_option("form.bench-filters select[name=model]", "sd21-base")
        pg.goto(steps_site + "steps/")
        assert pg.input_value("form.bench-steps-filters select[name=metric]") == "clip_vit_b_32"
        assert pg.input_value("form.bench-steps-filters select[name=model]") == "sd21-base"
        pg.wait_for_function(f"() => ({AXIS_TITLES})().includes({QUALITY!r})")
        sections = pg.locator(".bench-steps-by:visible .bench-steps-model:visible")
        assert sections.count() == 1 and sections.get_attribute("data-model") == "sd21-base"


def test_the_compare_badges_follow_rank_by_and_a_wide_grid_says_there_is_more(browser, site_url, shots):
    with watched_page(browser, site_url, 390, 844) as (pg, _):
        pg.goto(site_url)
        board(pg)
        pg.select_option("form.bench-filters select[name=metric]", "clip_vit_l_14")  # kept for the next page
        pg.goto(site_url + "compare/")
        assert pg.input_value(".bench-compare select[name=metric]") == "clip_vit_l_14"
        badge = pg.locator(".bench-compare td[data-key='sd15|ddim'] .bench-badge")
        pg.wait_for_function("() => new URLSearchParams(location.search).get('metric') === 'clip_vit_l_14'")
        second = badge.inner_text()
        pg.select_option(".bench-compare select[name=metric]", "clip_vit_b_32")
        pg.wait_for_function(
            f"() => document.querySelector(\".bench-compare td[data-key='sd15|ddim'] .bench-badge\").textContent !== {second!r}"
        )
        hint = pg.locator(".bench-scroll-hint").first
        assert hint.is_visible() and "Scroll sideways" in hint.inner_text()  # 2 schedulers: wider than a phone
        shots(pg, "compare-phone.png")


MANY_PROMPTS = 301  # past bench.js's VIRTUAL_ROWS (300), and past a model page's WALL_FIRST


@pytest.fixture(scope="module")
def many_prompts_url(site_url, tmp_path_factory):
    """A site of MANY_PROMPTS prompts, one model, scheduler and seed each."""
    root = copy_site_sources(tmp_path_factory.mktemp("many-prompts"))
    prompts = {
        f"p{i:03d}": f"Prompt number {i}: a lighthouse, {'dusk' if i == 250 else 'noon'}" for i in range(MANY_PROMPTS)
    }
    models = {"sd15": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3)}
    write_dataset(root / "data", root / "images", prompts=prompts, models=models, seeds=1, faults=False)
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with served(root / "public") as url:
        yield url


@pytest.fixture
def own_page(browser, many_prompts_url):
    """A phone-sized page of the many-prompts site, and the addresses it requested."""
    with watched_page(browser, many_prompts_url, 390, 844) as (pg, requests):
        yield pg, requests


def test_a_long_prompts_index_renders_the_rows_in_view_and_still_filters(own_page, many_prompts_url):
    page, _ = own_page
    page.goto(many_prompts_url + "prompts/")
    table = board(page)
    shown = table.locator(".tabulator-row").count()
    assert 0 < shown < MANY_PROMPTS  # only the rows in view are in the DOM
    page.fill("form.bench-filters input[name=q]", "dusk")
    page.wait_for_function("document.querySelector('.bench-count').textContent.startsWith('1 of')")
    assert page.locator(".bench-count").inner_text() == f"1 of {MANY_PROMPTS} rows shown"
    assert column(table, "Prompt") == ["p250"]


def test_a_model_page_shows_its_best_images_and_loads_the_rest_on_demand(own_page, many_prompts_url):
    """More prompts than a model page shows (WALL_FIRST): "Show all" fetches the rest from the
    model's JSON on this site and adds them, each linking to its prompt's page."""
    from bench.report.sections.models import WALL_FIRST

    page, requests = own_page
    page.goto(many_prompts_url + "models/sd15/")
    wall = page.locator("[id='gallery-ddim'] + .bench-wall figure")
    assert wall.count() == WALL_FIRST
    page.get_by_role("button", name=f"Show all {MANY_PROMPTS} prompts").click()
    page.wait_for_function(f"document.querySelectorAll('.bench-wall figure').length === {MANY_PROMPTS}")
    hrefs = page.locator(".bench-wall figure a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(set(hrefs)) == MANY_PROMPTS and all(h.startswith("../../prompts/p") for h in hrefs)
    assert page.locator(".bench-more").count() == 0  # the button goes once the rest are in
    assert page.locator(".bench-wall figure img").last.get_attribute("alt").startswith("sd15 / ddim, seed 0: Prompt")
    assert many_prompts_url + "models/sd15.json" in requests


# --- stored XSS: every text field hostile, every table of every page type hovered ------------

# Hovers every header and cell of every interactive table: each dispatches the mousemove that
# Tabulator shows a tooltip on (its delay set to 0, and a macrotask per hover to let it fire),
# with every hidden column shown first. A tooltip must arrive as text: no element inside it.
HOVER_ALL = """async () => {
  // A timer (after Tabulator's), then a message: timers set from a timer's task nest, and
  // browsers hold nested ones back 4 ms each.
  const channel = new MessageChannel();
  const message = () => new Promise(resolve => { channel.port1.onmessage = resolve; channel.port2.postMessage(0); });
  const tick = () => new Promise(resolve => setTimeout(resolve, 0)).then(message);
  const out = {tables: 0, hovered: 0, tooltips: [], markup: []};
  for (const box of document.querySelectorAll(".bench-tabulator")) {
    const tab = Tabulator.findTable(box)[0];
    tab.options.tooltipDelay = 0;
    tab.getColumns().forEach(c => c.show());
    out.tables += 1;
    await tick();
    for (const el of box.querySelectorAll(".tabulator-col, .tabulator-row .tabulator-cell")) {
      const at = {bubbles: true, clientX: 10, clientY: 10};
      el.dispatchEvent(new MouseEvent("mouseover", at));
      el.dispatchEvent(new MouseEvent("mouseenter", at));
      el.dispatchEvent(new MouseEvent("mousemove", at));
      await tick();
      out.hovered += 1;
      const tip = document.querySelector(".tabulator-tooltip");
      if (tip) {
        out.tooltips.push(tip.textContent);
        if (tip.children.length) out.markup.push(tip.innerHTML.slice(0, 300));
      }
    }
  }
  return out;
}"""

# What a payload leaves behind when it is put in as HTML, whether or not it ran yet.
INJECTED = """() => [
  ...Array.from(document.querySelectorAll("[onerror], [onload]")).map(e => e.outerHTML.slice(0, 200)),
  ...Array.from(document.scripts).filter(s => s.text.includes("__xss")).map(s => s.text.slice(0, 200)),
]"""


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    """A strict build over write_hostile_dataset, served; (its address, the built folder)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    root = copy_site_sources(tmp_path_factory.mktemp("hostile-site"))
    write_hostile_dataset(root / "data", root / "images")
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with served(root / "public") as url:
        yield url, root / "public"


def _every_page(public: Path) -> list[str]:
    """Every page of the built site, as a path from its root: the leaderboard, the prompts index
    and each prompt's page, compare, the models index and each model's page, speed,
    methodology, downloads, and any page added since."""
    paths = sorted(f"{p.parent.relative_to(public).as_posix()}/".removeprefix("./") for p in public.rglob("index.html"))
    assert {"", "prompts/", "compare/", "models/", "speed/", "methodology/", "downloads/"} <= set(paths)
    assert sum(p.startswith("prompts/") for p in paths) == 4 and sum(p.startswith("models/") for p in paths) == 3
    return paths


def _draw_every_compare_grid(pg) -> int:
    """Have bench.js draw the compare grid of every prompt and backend (or difference) from the
    prompts' JSON; the grids drawn."""
    options = "s => Array.from(s.options).map(o => o.value)"
    prompts = pg.locator(".bench-compare select[name=prompt]").evaluate(options)
    backends = pg.locator(".bench-compare select[name=backend]").evaluate(options)
    drawn = "([p, b]) => { const s = new URLSearchParams(location.search); return s.get('prompt') === p && s.get('backend') === b; }"
    for prompt in prompts:
        for backend in backends:
            pg.select_option(".bench-compare select[name=prompt]", prompt)
            pg.select_option(".bench-compare select[name=backend]", backend)
            pg.wait_for_function(drawn, arg=[prompt, backend])
    return len(prompts) * len(backends)


def test_hostile_text_in_every_field_stays_text_on_every_page_and_tooltip(browser, hostile_site):
    url, public = hostile_site
    dialogs: list[str] = []
    console: list[str] = []
    tables = tooltips = 0
    shown: list[str] = []
    with watched_page(browser, url) as (pg, _):
        pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        pg.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        for path in _every_page(public):
            pg.goto(url + path)
            pg.wait_for_load_state("load")
            expected = pg.locator(".bench-table").count()
            pg.wait_for_function(
                f"document.querySelectorAll('.bench-tabulator .tabulator-header').length === {expected}"
            )
            if path == "compare/":
                assert _draw_every_compare_grid(pg) >= 9  # 3 prompts x (2 backends and their difference)
            hovered = pg.evaluate(HOVER_ALL)
            assert hovered["tables"] == expected, path
            assert not hovered["markup"], f"/{path}: a tooltip holds HTML: {hovered['markup'][:3]}"
            tables += hovered["tables"]
            tooltips += len(hovered["tooltips"])
            shown += hovered["tooltips"]
            if path.startswith("prompts/") and path != "prompts/":  # the lightbox's captions too
                pg.locator(".bench-grid a.bench-lightbox img").first.click()
                pg.locator(".gslide.current .gslide-desc").wait_for(state="visible")
                pg.keyboard.press("Escape")
            pg.wait_for_timeout(50)  # an injected <img src=x> has its 404 and onerror by now
            injected = pg.evaluate(INJECTED)
            assert not injected, f"/{path}: payloads put in as HTML: {injected[:3]}"
            ran = pg.evaluate(f"() => window.{XSS_LOG}")
            assert ran is None, f"/{path}: payloads ran, of the fields {sorted(set(ran))}"
    assert not dialogs, f"a payload opened dialogs: {dialogs[:5]}"
    assert not console, f"console errors: {console[:5]}"
    # The hover reached Tabulator's tooltips (the control): cells' and headers' both showed.
    assert tables >= 12 and tooltips > 200
    assert any(t.startswith("median seconds per image") for t in shown)  # a header's title
    assert any(t.startswith("model-sd ") and "<img src=x" in t for t in shown)  # a cell's text, literally


def test_the_category_filter_matches_the_whole_category_not_a_word_of_it(browser, hostile_site):
    url, _ = hostile_site
    with watched_page(browser, url) as (page, _):
        page.goto(url + "prompts/")
        table = board(page)
        assert table.locator(".tabulator-row").count() == 3
        page.select_option("form.bench-filters select[name=category]", "animals")
        assert column(table, "Category") == ["animals"]  # not "wild animals" too
        page.select_option("form.bench-filters select[name=category]", "wild animals")
        assert column(table, "Category") == ["wild animals"]
        page.reload()  # from the URL
        assert column(board(page), "Category") == ["wild animals"]
        assert page.locator(".bench-count").inner_text() == "1 of 3 rows shown"


def test_hostile_names_in_the_head_to_head_view_stay_text(browser, hostile_site):
    import json

    url, public = hostile_site
    first, second = sorted(json.loads((public / "h2h.json").read_text())["sets"])[:2]
    with watched_page(browser, url) as (pg, _):
        pg.goto(f"{url}?h2h={first}~{second}")
        pg.locator(".bench-h2h-answer").wait_for()
        assert "<img src=x" in pg.locator(".bench-h2h-result").inner_text()  # the names, literally
        pg.wait_for_timeout(50)
        assert not pg.evaluate(INJECTED)
        assert pg.evaluate(f"() => window.{XSS_LOG}") is None
