"""The report's HTML builders (bench.report.html and bench.report.sections), called without a build.

Prompts are untrusted: whatever they hold must come out as text, in tables, captions, titles
and alt text, and in the lightbox captions that GLightbox inserts with innerHTML.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from bench.metrics import METRICS
from bench.report import stats
from bench.report.html import DASH, Col, Num, fmt, table
from bench.report.sections.common import Scale, empty_state, metric_header
from bench.report.sections.leaderboard import leaderboard_table
from bench.report.sections.methodology import launches, runs_table, seed_table, settings_table
from bench.report.sections.prompts import MISSING_SVG, SiteImage, gallery_grid, prompt_block, prompts_table
from bench.report.sections.speed import speed_table

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    "a | b | c",
    "*bold* and **strong** _em_",
    "[x](javascript:alert(3))",
    "{{ config.site_name }} {% raw %}",
    "&amp; &lt;already&gt;",
    "w" * 5000,
]
SCALE = Scale("raw", "CLIP ViT-B/32 (OpenAI)")
ALLOWED_TAGS = {
    "div", "table", "thead", "tbody", "tr", "th", "td", "a", "img", "span", "small", "figure",
    "figcaption", "p", "blockquote", "code", "strong", "ul", "li", "br", "caption",
    "form", "label", "select", "option", "input",  # the filters: the renderer's own, values escaped
    "h3", "button",  # a model page's walls and their "Show all"
    "details", "summary",  # the leaderboard's folded filters and notes
}  # fmt: skip


# The markup a slide's caption may hold, all of it the renderer's: the counter, the prompt and the
# download link (whose address is escaped); never a tag from the data.
SLIDE_TAGS = {"span": {"class"}, "br": set(), "a": {"class", "href", "download"}}


class Collect(HTMLParser):
    """Every tag with its attributes, and all text, as a browser would parse them."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def assert_inert(fragment: str, hostile: str | None = None) -> Collect:
    """No tag or event handler came from the data; lightbox captions hold no markup either."""
    doc = Collect(fragment)
    for tag, attrs in doc.tags:
        assert tag in ALLOWED_TAGS, tag
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for slide in json.loads(attrs.get("data-slides", "[]")):
            for name in ("title", "description"):  # GLightbox parses these as HTML: only our own tags there
                for t, a in Collect(slide[name]).tags:
                    assert t in SLIDE_TAGS and set(a) <= SLIDE_TAGS[t], (name, slide[name])
                    assert a.get("class", "bench-").startswith("bench-"), (name, slide[name])
                assert not slide[name].lstrip().startswith(".")  # GLightbox reads ".x" as a selector
    if hostile is not None:
        assert hostile[:200] in "".join(doc.text) or hostile[:200] in str([a for _, a in doc.tags])
    return doc


def board_row(**overrides) -> dict:
    row = {
        "model": "sd15", "scheduler": "ddim", "backend": "pytorch", "provider": "cuda", "family": "sd",
        "n_images": 4, "n_failed": 1, "clip_mean": 0.31234, "clip_lo": 0.30, "clip_hi": 0.32468,
        "clip_best": 0.35, "latency_p50_s": 2.5, "latency_p90_s": 10.25, "images_per_s": 0.4,
        "load_s": 12.0, "peak_mem_mb": 3000.0, "pareto": True,
    }  # fmt: skip
    row.update(overrides)
    return row


def speed_row(**overrides) -> dict:
    """A row of stats.backend_comparison."""
    row = {
        "model": "sd15", "scheduler": "ddim", "backend": "pytorch", "provider": "cuda", "n_timed": 8,
        "latency_p50_s": 2.0, "latency_p90_s": 2.2, "load_s": 3.0, "export_s": None, "peak_mem_mb": 2000.0,
        "speedup": 1.0, "psnr_db_min": None, "max_abs_diff_max": None, "one_off_s": None, "one_off_kind": "",
        "energy_j": 400.0, "images_per_kwh": 9000.0, "options": "",
    }  # fmt: skip
    row.update(overrides)
    return row


def three_backend_rows(**everywhere) -> pd.DataFrame:
    return pd.DataFrame(
        [
            speed_row(**everywhere),
            speed_row(
                backend="pytorch-compile", latency_p50_s=1.0, speedup=2.0, psnr_db_min=46.0, max_abs_diff_max=0.004,
                one_off_s=41.5, one_off_kind="compile", energy_j=200.0, images_per_kwh=18000.0,
                options="max-autotune-no-cudagraphs, channels_last", **everywhere,
            ),
            speed_row(
                backend="onnxruntime", provider="cpu", latency_p50_s=4.0, speedup=0.5, psnr_db_min=35.0,
                max_abs_diff_max=0.05, one_off_s=20.0, one_off_kind="export", export_s=20.0, energy_j=float("nan"),
                images_per_kwh=float("nan"), options="graph optimized, IO binding", **everywhere,
            ),
        ]
    )  # fmt: skip


def cells_by_header(out: str) -> list[dict[str, str]]:
    """The table's rows as {header: cell text}, the way a reader sees them."""
    header, *rows = re.findall(r"<tr>(.*?)</tr>", out)
    titles = [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in re.findall(r"<th[^>]*>(.*?)</th>", header)]
    texts = [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows]
    return [dict(zip(titles, row)) for row in texts]


def image_row(**overrides) -> dict:
    row = {
        "cell_id": "c1", "model": "sd15", "scheduler": "ddim", "backend": "pytorch", "provider": "cuda",
        "seed": 3, "steps": 30, "guidance_scale": 7.5, "clip": 0.3123, "latency_s": 2.5, "status": "ok",
        "image_path": "sd15/a.png", "width": 512, "height": 512,
    }  # fmt: skip
    row.update(overrides)
    return row


def test_fmt_and_num_cells():
    assert fmt(None) == DASH and fmt(float("nan")) == DASH
    assert fmt(float("inf")) == "∞"
    assert fmt(0.31234, 4) == "0.3123"
    cell = Num(4, 100.0)(0.00001234, {})
    assert cell.html == "0.0012" and cell.sort == "0.001234"  # plain digits where they fit
    assert Num()(None, {}).sort == ""


def test_table_marks_numeric_columns_for_numeric_sorting():
    out = table(
        [
            Col("Model", "model"),
            Col("p50 s", "p50", Num()),
            Col("CLIP", "clip", Num(), better="higher", default=True),
        ],
        [{"model": "a", "p50": 10.5, "clip": 0.3}, {"model": "b", "p50": 9.0, "clip": 0.2}],
    )
    doc = Collect(out)
    ths = [a for t, a in doc.tags if t == "th"]
    assert "data-sort-method" not in ths[0]
    assert ths[1]["data-sort-method"] == "number" and "data-sort-reverse" not in ths[1]
    assert "data-sort-reverse" in ths[2] and "data-sort-default" in ths[2]
    assert [a["data-sort"] for t, a in doc.tags if t == "td"][:3] == ["a", "10.5", "0.3"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_the_leaderboard_stays_text(hostile):
    board = pd.DataFrame([board_row(model=hostile, scheduler=hostile, backend=hostile, provider=hostile)])
    assert_inert(leaderboard_table(board, SCALE), hostile)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_prompt_block_and_prompts_table(hostile):
    assert_inert(prompt_block(hostile, 5), hostile)
    summary = pd.DataFrame(
        [
            {
                "prompt_id": "p1",
                "prompt": hostile,
                "n_images": 3,
                "n_failed": 0,
                "best_row": (hostile, "", "pytorch"),
                "best_clip_mean": 0.3,
                "truncated_tokens": 2,
            }
        ]
    )
    out = prompts_table(summary, {"p1": "prompts/p1/"}, "../", SCALE)
    doc = assert_inert(out)
    assert ("a", {"href": "../prompts/p1/"}) in doc.tags
    assert any(a.get("title") == hostile for _, a in doc.tags)  # the full prompt, as text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_prompt_in_gallery_captions_and_alt_text(hostile):
    images = pd.DataFrame(
        [
            image_row(model=hostile, scheduler=hostile, provider=hostile, image_path="m/best.png"),
            image_row(
                cell_id="c2",
                seed=4,
                clip=0.2,
                model=hostile,
                scheduler=hostile,
                provider=hostile,
                image_path="m/other.png",
            ),
        ]
    )
    site = {
        "m/best.png": SiteImage("images/m/best.png", "thumbs/aa-256.webp"),
        "m/other.png": SiteImage("images/m/other.png", "thumbs/bb-256.webp"),
    }
    out = gallery_grid(stats.best_images(images), stats.gallery_images(images), site, "../../", SCALE, hostile, 256)
    doc = assert_inert(out)
    (link,) = [a for t, a in doc.tags if t == "a"]
    assert link["href"] == "../../images/m/best.png" and link["class"] == "bench-lightbox"
    slides = json.loads(link["data-slides"])
    assert [s["href"] for s in slides] == ["../../images/m/best.png", "../../images/m/other.png"]  # best first
    # Once GLightbox parses them (innerHTML), the captions show the hostile text literally.
    assert hostile[:100] in html.unescape(slides[0]["title"])
    desc = html.unescape(slides[0]["description"])
    assert desc.startswith("Backend: pytorch") and "seed 3" in desc and "30 steps" in desc and "guidance 7.5" in desc
    assert "CLIP 0.3123" in desc and "latency 2.50 s" in desc
    (img,) = [a for t, a in doc.tags if t == "img"]
    assert img["src"] == "../../thumbs/aa-256.webp" and hostile[:150] in img["alt"]
    assert (img["width"], img["height"]) == ("256", "256")


def test_gallery_placeholder_for_a_missing_image_and_one_cell_for_no_scheduler():
    images = pd.DataFrame(
        [
            image_row(image_path="gone.png"),
            image_row(
                cell_id="g", model="biggan-deep-256", scheduler="", image_path="g.png", steps=1, guidance_scale=None
            ),
        ]
    )
    site = {"gone.png": None, "g.png": SiteImage("images/g.png", "thumbs/g.webp")}
    out = gallery_grid(stats.best_images(images), stats.gallery_images(images), site, "", SCALE, "p", 256)
    doc = assert_inert(out)
    assert 'class="bench-missing"' in out and "gone.png" in out
    gan, gone = [json.loads(a["data-slides"])[0] for t, a in doc.tags if t == "a"]
    assert gan["href"] == "images/g.png" and "guidance" not in gan["description"] and "1 step " in gan["description"]
    assert gone["href"] == MISSING_SVG  # the lightbox shows a placeholder too
    assert html.unescape(gone["description"]).startswith("Image missing: gone.png")
    headers = [d for d in doc.text if d in ("ddim", DASH)]
    assert DASH not in headers  # the GAN has no column of its own: one cell across its row, no dashes
    assert [a.get("colspan") for t, a in doc.tags if t == "td" and "bench-alone" in a.get("class", "")] == ["1"]


def test_gallery_flags_a_changed_image_and_an_undecodable_one():
    changed = "changed since its run: sha256 differs from the one recorded"
    images = pd.DataFrame(
        [
            image_row(cell_id="a", image_path="<b>new</b>.png"),  # best of sd15's cell
            image_row(cell_id="a2", seed=4, clip=0.1, image_path="a2.png"),  # in its lightbox only
            image_row(cell_id="g", model="sd21", image_path="junk.png"),
            image_row(cell_id="h", model="sd21", seed=4, clip=0.1, image_path="h.png"),
        ]
    )
    site = {
        "<b>new</b>.png": SiteImage("images/new.png", "thumbs/new-256.webp", changed),
        "a2.png": SiteImage("images/a2.png", "thumbs/a2-256.webp", changed),
        "junk.png": SiteImage(None, None, f"{changed}; cannot be decoded as an image"),
        "h.png": SiteImage("images/h.png", "thumbs/h-256.webp"),
    }
    out = gallery_grid(stats.best_images(images), stats.gallery_images(images), site, "", SCALE, "p", 256)
    doc = assert_inert(out)
    shown, junk = out.split("</tr>")[1:3]  # the sd15 row, then the sd21 row
    assert '<td class="bench-flagged">' in shown and 'src="thumbs/new-256.webp"' in shown  # what is on disk now
    assert f"⚠ {changed}" in shown and "⚠ 1 other image of this cell flagged" in shown
    assert 'class="bench-missing"' in junk and "image unreadable" in junk and "<img" not in junk
    assert "⚠ changed since its run" in junk and "cannot be decoded" in junk
    slides = [json.loads(a["data-slides"]) for t, a in doc.tags if t == "a"]
    (new, a2), (gone, h) = slides
    assert html.unescape(new["description"]).startswith(f"⚠ Image <b>new</b>.png {changed} · Backend:")
    assert new["href"] == "images/new.png" and html.unescape(a2["description"]).startswith("⚠ Image a2.png changed")
    assert gone["href"] == MISSING_SVG and "cannot be decoded" in gone["description"]
    assert h["description"].startswith("Backend:")  # an image that matches its record is not flagged


def test_x100_scale_multiplies_clip_and_names_the_backbone():
    x100 = Scale("x100", METRICS["clip_vit_b_32"].title)
    out = leaderboard_table(pd.DataFrame([board_row()]), x100)
    assert ">31.23<" in out and 'data-sort="31.234"' in out
    header = metric_header(x100)
    assert "CLIP ViT-B/32 (OpenAI)" in header and "× 100" in header


def test_empty_state_tells_how_to_make_data():
    out = empty_state("data")
    assert "No results yet" in out and "nox -s demo" in out
    assert_inert(out)


def test_runs_and_settings_and_seed_tables_escape_their_values():
    runs = pd.DataFrame(
        [
            {
                "run_id": "<b>r</b>",
                "suite": "s",
                "started_at": pd.Timestamp("2026-11-25 12:00", tz="UTC"),
                "command": "bench run --x '<script>'",
                "cpu_count": 2,
            }
        ]
    )
    out = runs_table(runs, pd.DataFrame(columns=["run_id", "status"]))
    assert_inert(out)
    assert "bench run --x &#x27;&lt;script&gt;&#x27;" in out and "2026-11-25 12:00:00" in out
    frame = pd.DataFrame([image_row(family="sd", hub_id="<i>org/x</i>", revision=None, lora=None, dtype="float16")])
    assert_inert(settings_table(frame))
    comparison = pd.DataFrame(
        [
            {
                "prompt_id": "<p>",
                "model": "sd15",
                "scheduler": "",
                "clip_raw_cosine": 0.4,
                "ours_mean": 0.3,
                "ours_best": 0.41,
                "ours_n": 4,
            }
        ]
    )
    out = seed_table(comparison, SCALE)
    assert_inert(out)
    assert 'data-sort="0.01"' in out  # ours best - seed


def test_settings_table_names_each_backends_options():
    common = {"family": "sd", "hub_id": "org/x", "revision": "main", "lora": None, "dtype": "float16"}
    frame = pd.DataFrame(
        [
            image_row(
                backend="pytorch-compile", backend_options='{"channels_last": true, "mode": "default"}', **common
            ),
            image_row(cell_id="c2", backend="pytorch", backend_options=None, **common),
            image_row(
                cell_id="c3", backend="onnxruntime", backend_options='{"x": "<script>alert(1)</script>"}', **common
            ),
        ]
    )
    out = settings_table(frame)
    assert_inert(out)
    assert {r["Backend"]: r["Options"] for r in cells_by_header(out)} == {
        "onnxruntime": "x <script>alert(1)</script>",  # as text: escaped in the HTML
        "pytorch": DASH,
        "pytorch-compile": "default, channels_last",
    }


def test_speed_table_shows_every_backend_against_eager():
    out = speed_table(three_backend_rows())
    assert_inert(out)
    eager, compiled, ort = cells_by_header(out)
    assert [r["Backend"] for r in (eager, compiled, ort)] == ["pytorch", "pytorch-compile", "onnxruntime"]
    assert (eager["speed-up ×"], compiled["speed-up ×"], ort["speed-up ×"]) == ("1.00", "2.00", "0.50")
    assert eager["min PSNR dB"] == DASH and eager["max |Δ|"] == DASH and eager["one-off cost s"] == DASH
    assert (compiled["min PSNR dB"], ort["max |Δ|"]) == ("46.0", "0.0500")
    assert compiled["Options"] == "max-autotune-no-cudagraphs, channels_last"
    assert ort["Options"] == "graph optimized, IO binding" and eager["Options"] == DASH
    assert compiled["one-off cost s"] == "41.5 (compile)" and ort["one-off cost s"] == "20.0 (export)"
    assert 'title="torch.compile: median' in out and 'title="ONNX export (0 when the export cache was hit)"' in out
    assert (eager["J/image"], eager["images/kWh"]) == ("400.0", "9000")
    assert (ort["J/image"], ort["images/kWh"]) == (DASH, DASH)  # no energy reading: a dash, not 0
    assert (ort["Provider"], eager["p90 s"], eager["timed"]) == ("cpu", "2.200", "8")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_the_speed_table_stays_text(hostile):
    rows = three_backend_rows(model=hostile, scheduler=hostile)
    rows["backend"] = rows["backend"] + hostile
    rows["provider"] = rows["options"] = hostile
    rows["one_off_kind"] = hostile  # not a kind the page knows: the number alone, no tooltip from data
    out = speed_table(rows)
    assert_inert(out, hostile)
    assert all(r["Backend"].startswith(("pytorch", "onnxruntime")) for r in cells_by_header(out))


def test_the_shards_of_a_launch_add_up_as_one_run_and_a_cell_made_twice_counts_once():
    t = pd.Timestamp("2026-11-27 12:00", tz="UTC")
    runs = pd.DataFrame(
        [
            {"run_id": "r1", "launch_id": "slurm_array_job_id:7", "shard": "0/2", "workers": 1, "started_at": t,
             "finished_at": t + pd.Timedelta("1h"), "images_ok": 3, "gpu_name": "H100"},
            {"run_id": "r2", "launch_id": "slurm_array_job_id:7", "shard": "1/2", "workers": 1,
             "started_at": t + pd.Timedelta("1min"), "finished_at": t + pd.Timedelta("2h"), "images_ok": 3,
             "gpu_name": "H200"},
            {"run_id": "r3", "started_at": t + pd.Timedelta("3h"), "finished_at": t + pd.Timedelta("4h"), "images_ok": 1},
        ]
    )  # fmt: skip
    # r3 made cell a again (a retry): the generations table keeps its row, not r1's
    generations = pd.DataFrame(
        {"cell_id": list("abcdef"), "run_id": ["r3", "r1", "r1", "r2", "r2", "r2"], "status": ["ok"] * 5 + ["failed"]}
    )
    newest, launch = launches(runs, generations)
    assert (newest["title"], newest["images_ok"], newest["runs"]) == ("r3", 1, 1)
    assert launch["title"] == "slurm_array_job_id:7" and launch["runs"] == 2 and launch["shard"] == "0/2, 1/2"
    assert (launch["images_ok"], launch["images_failed"], launch["workers"]) == (4, 1, 2)
    assert launch["started_at"] == t and launch["finished_at"] == t + pd.Timedelta("2h")
    assert launch["gpu_name"] == "H100, H200"  # where shards disagree, both are shown
    html = runs_table(runs, generations)
    assert "2 runs" in html and html.count("<th><code>") == 2


def test_published_anchors_sit_beside_our_mean_on_their_scale():
    from bench.report.sections.methodology import anchors_table, read_anchors

    anchors = read_anchors()
    assert {"dreamlike-photoreal-2", "openjourney-v4"} <= set(anchors.loc[anchors["metric"] == "hpsv2", "model"])
    frame = pd.DataFrame(
        {
            "cell_id": ["a", "b", "c", "d"],
            "model": ["dreamlike-photoreal-2"] * 3 + ["sd15"],
            "backend": ["pytorch", "pytorch", "onnxruntime", "pytorch"],
            "status": ["ok", "ok", "ok", "failed"],
        }
    )
    scores = pd.DataFrame({"cell_id": ["a", "b", "c"], "metric": "hpsv2", "value": [0.27, 0.29, 0.5]})
    html = anchors_table(anchors, frame, scores)
    row = next(r for r in html.split("<tr") if "dreamlike-photoreal-2" in r)
    assert "29.73" in row and "28.00" in row  # the ORT twin is not counted twice
    assert "HPS v2.1" in row  # the checkpoint we score with: v2.0's table does not compare
    assert_inert(html)


@pytest.mark.parametrize("hostile", HOSTILE[:3])
def test_a_model_page_shows_a_fixed_number_of_images_whatever_the_prompt_count(hostile):
    """The page holds the best WALL_FIRST images per scheduler, best first; the rest go to the
    JSON the "Show all" button loads, so the page's size does not grow with the prompts."""
    from bench.report.sections import models

    def built(n_prompts: int) -> tuple[str, dict]:
        images = pd.DataFrame(
            {
                "model": "sd15", "scheduler": "ddim", "seed": 0, "prompt_id": [f"p{i:05d}" for i in range(n_prompts)],
                "prompt": hostile, "clip": [i / n_prompts for i in range(n_prompts)],
                "image_path": [f"img/{i}.png" for i in range(n_prompts)],
            }
        )  # fmt: skip
        site = {f"img/{i}.png": SiteImage(f"images/{i}.png", f"thumbs/{i:05d}.webp") for i in range(n_prompts)}
        urls = {f"p{i:05d}": f"prompts/p{i:05d}/" for i in range(n_prompts)}
        walls = models.wall_entries(images, site, urls, SCALE)
        return models.galleries(walls, "../../", "models/sd15.json"), json.loads(models.wall_json(walls))

    small, small_rest = built(30)
    large, large_rest = built(3000)
    assert small.count("<figure>") == large.count("<figure>") == models.WALL_FIRST
    assert abs(len(large) - len(small)) < 100  # only the counts in the text differ
    assert len(small_rest["ddim"]) == 30 - models.WALL_FIRST and len(large_rest["ddim"]) == 3000 - models.WALL_FIRST
    assert 'href="../../prompts/p02999/"' in large  # the best first: the last prompt scores highest
    assert "Show all 3000 prompts" in large and 'id="gallery-ddim"' in large
    assert_inert(large, hostile)


def test_a_model_page_links_its_pinned_weights_and_marks_settings_that_differ_from_its_card():
    from bench.models import MODELS
    from bench.report.sections import models

    about = models.about("dalle3-xl")
    spec = MODELS["dalle3-xl"]
    assert f'href="https://huggingface.co/{spec.hub_id}/tree/{spec.revision}"' in about
    assert f'href="https://huggingface.co/{spec.lora.hub_id}/tree/{spec.lora.revision}"' in about
    assert 'href="https://huggingface.co/spaces/ehristoforu/dalle-3-xl-lora-v2"' in about  # the card it cites
    frame = pd.DataFrame(
        {
            "model": "dalle3-xl", "width": 1024, "height": 1024, "steps": [30, 30], "guidance_scale": 6.0,
            "scheduler": ["euler", "ddim"], "lora_scale": 0.65,
        }
    )  # fmt: skip
    rows = {r["Setting"]: r for r in cells_by_header(models.card_table("dalle3-xl", frame))}
    assert (rows["Steps"]["Card"], rows["Steps"]["Ran with"], rows["Steps"]["Differs"]) == ("25", "30", "yes")
    assert rows["Size px"]["Differs"] == rows["Guidance"]["Differs"] == rows["LoRA scale"]["Differs"] == DASH
    assert rows["Scheduler"]["Differs"] == "card's not run"  # euler-a, the author's, is not among them
    assert models.card_table("biggan-deep-256", frame) == ""  # a GAN's settings are its weights'


def test_the_speed_table_says_each_rows_size_and_seconds_per_megapixel():
    out = speed_table(pd.DataFrame([speed_row(size="768×768", latency_p50_s_per_mp=3.391)]))
    (row,) = cells_by_header(out)
    assert (row["Size px"], row["p50 s/MP"]) == ("768×768", "3.391")


def test_the_leaderboard_shows_the_nsfw_rate_after_quality_and_speed_but_never_ranks_by_it():
    from test_report_board import RUNS, gen, score

    from bench.report import board
    from bench.report.sections.leaderboard import board_table, metric_title

    rows = [gen(f"c{s}", seed=s) for s in range(4)]
    scores = pd.DataFrame(
        [score(f"c{s}", "clip_vit_b_32", 0.3) for s in range(4)] + [score(f"c{s}", "nsfw", s == 1) for s in range(4)]
    )
    frame = stats.normalise(pd.DataFrame(rows))
    metrics = board.quality_metrics(scores)
    sets = board.image_sets(frame, scores, RUNS, "clip_vit_b_32")
    out = board_table(sets, metrics, "clip_vit_b_32", SCALE)
    assert_inert(out)
    titles = [html.unescape(t) for t in re.findall(r"<th[^>]*>(.*?)</th>", out)]
    (row,) = re.findall(r"<tr id=[^>]*>(.*?)</tr>", out)  # the main board's rows carry their anchors
    texts = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    cells = dict(zip(titles, texts))
    assert cells["NSFW rate (%)"] == "25.0"  # one image of four flagged
    # The answer-first order: rank, the ranked metric, the fastest backend, memory, then NSFW.
    first = ["Rank", metric_title("clip_vit_b_32", SCALE), "Fastest p50 (s)", "Speed-up (×)", "Parity PSNR (dB)",
             "Peak MB", "NSFW rate (%)"]  # fmt: skip
    assert titles[1:8] == first
    assert 'data-col="nsfw_rate"' in out and 'data-metric="nsfw' not in out and "rank:nsfw" not in out
    assert metrics == ["clip_vit_b_32"]  # nothing to rank by but the quality metric


def test_a_flagged_thumbnail_is_blurred_until_clicked_in_the_gallery_lightbox_and_compare_grid():
    from bench.report.html import NSFW_LABEL
    from bench.report.sections import compare

    images = pd.DataFrame(
        [
            image_row(cell_id="a", image_path="a.png", clip=0.4, nsfw=True),  # best of sd15's cell
            image_row(cell_id="a2", seed=4, clip=0.1, image_path="a2.png", nsfw=False),
            image_row(cell_id="g", model="sd21", image_path="g.png", nsfw=False),
        ]
    )
    site = {p: SiteImage(f"images/{p}", f"thumbs/{p}.webp") for p in ("a.png", "a2.png", "g.png")}
    out = gallery_grid(stats.best_images(images), stats.gallery_images(images), site, "", SCALE, "p", 256)
    doc = assert_inert(out)
    flagged, shown = [a for t, a in doc.tags if t == "a"]
    assert "data-nsfw" in flagged and flagged["aria-label"] == NSFW_LABEL == "flagged NSFW: click to show"
    assert "data-nsfw" not in shown and "aria-label" not in shown
    first, second = json.loads(flagged["data-slides"])
    assert first["nsfw"] is True and html.unescape(first["description"]).startswith("⚠ Flagged NSFW")
    assert "nsfw" not in second  # the cell's other image is not flagged: not veiled in the lightbox
    assert "· NSFW" in out.split("</tr>")[1]  # the caption says so, also once the image is shown

    records = images.assign(prompt_id="p").to_dict("records")
    cells = json.loads(compare.prompt_json(records, site, SCALE))["cells"]
    assert cells["3|pytorch|sd15|ddim"][3] == 1 and cells["3|pytorch|sd21|ddim"][3] == 0
    grid = compare.compare_page(images.assign(prompt_id="p"), {"p": "p"}, "p", site, "", SCALE)
    doc = assert_inert(grid)
    links = [a for t, a in doc.tags if t == "a"]
    assert ["data-nsfw" in a for a in links] == [True, False]  # sd15's image, then sd21's


def test_a_flagged_image_on_a_model_page_is_blurred_until_clicked_here_and_in_its_json():
    from bench.report.sections import models

    images = pd.DataFrame(
        {
            "model": "sd15", "scheduler": "ddim", "seed": 0, "prompt_id": ["p0", "p1"], "prompt": "x",
            "clip": [0.3, 0.2], "image_path": ["a.png", "b.png"], "nsfw": [True, False],
        }
    )  # fmt: skip
    site = {"a.png": SiteImage("images/a.png", "thumbs/a.webp"), "b.png": SiteImage("images/b.png", "thumbs/b.webp")}
    walls = models.wall_entries(images, site, {"p0": "prompts/p0/", "p1": "prompts/p1/"}, SCALE)
    flagged, clean = walls["ddim"]
    assert flagged["n"] == 1 and "n" not in clean and flagged["c"].endswith("· NSFW")
    html = models.galleries(walls, "../", "models/sd15.json")
    first, second = html.split("<figure>")[1:]
    assert "data-nsfw" in first and "flagged NSFW" in first and "data-nsfw" not in second
