"""The `bench-report` MkDocs plugin: Parquet tables in, leaderboard pages out.

Hooks, in build order:
- on_config: read the tables (bad data stops here, naming the file), add our CSS/JS.
- on_files: generate the prompt and model pages (a title and a marker each; reached from their
  index pages, not the nav, so no page grows with the number of prompts), check and link the
  images, make cached thumbnails, draw (or reuse) the static charts, write each prompt's JSON for
  the compare page and the downloads, ship the vendored JavaScript (Tabulator, Vega).
- on_page_content: replace each `<!-- bench:NAME -->` marker with its HTML, made by the method
  that FRAGMENTS names for it (the sections build the HTML). This runs after Markdown, so
  untrusted text never meets the Markdown parser and big tables cost nothing there.
- on_serve: watch data/ and images/ so `mkdocs serve` rebuilds when a sweep writes.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pandas as pd
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, get_plugin_logger
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from bench import store
from bench.errors import StorageError
from bench.files import writable_dir
from bench.metrics import METRICS
from bench.report import board, charts, downloads, names, pagecache, site_images, stats
from bench.report import data as report_data
from bench.report.config import ReportConfig
from bench.report.linked import LinkedFile
from bench.report.sections import (
    breakdown,
    compare,
    leaderboard,
    methodology,
    models,
    prompts,
    published,
    quality_speed,
    speed,
    steps,
)
from bench.report.sections.common import Scale, empty_state, metric_header, metric_note

log = get_plugin_logger(__name__)

# Tabulator (tabulator-tables on npm, MIT) is vendored: the site makes no request to another host.
SCRIPTS = ["tabulator.min.js", "bench.js"]
STYLES = ["tabulator_simple.min.css", "bench.css"]
# Vega, Vega-Lite and vega-embed (BSD-3-Clause) draw the chart; only the leaderboard loads them.
LICENSES = ["LICENSE-tabulator.txt", "LICENSE-vega.txt", "LICENSE-vega-lite.txt", "LICENSE-vega-embed.txt"]
ASSETS = [*SCRIPTS, *STYLES, *quality_speed.VEGA_SCRIPTS, *LICENSES, "missing.svg"]
ASSET_DIR = "assets/bench"
PROMPTS_INDEX = "prompts/index.md"
MODELS_INDEX = "models/index.md"
HIDE_TOC = "hide:\n  - toc\n"  # Material: wide tables need the room of the (empty) table of contents
MARKER = re.compile(r"<!--\s*bench:([a-z-]+)\s*-->")
PARETO_SVG = f"{ASSET_DIR}/pareto.svg"
DEMO_BANNER = (  # on a phone only its first sentence shows (bench.css): the board stays on the first screen
    '<p class="bench-demo" role="note"><strong>Demo data: random-weight models.</strong> <span>These results come '
    "from the tiny suite, which runs every code path with untrained models: the pictures are noise and the numbers "
    "mean nothing about real models.</span></p>"
)
SPEED_SVG = f"{ASSET_DIR}/speed.svg"
H2H_JSON = "h2h.json"  # the head-to-head view's pairs and images, fetched when it opens


def _needs_data(fragment):
    """A fragment of results: without any, it says how to make some instead. (The metric
    definitions and the seed study's table come from the package, so they need no data.)"""

    @functools.wraps(fragment)
    def fragment_or_empty_state(plugin: ReportPlugin, page: Page, root: str, files: Files) -> str:
        if plugin.data.empty:
            return empty_state(plugin.config.data_dir)
        return fragment(plugin, page, root, files)

    return fragment_or_empty_state


def _one_line(hook):
    """A file that cannot be read or written (an unreadable file, a full disk under a cache, a
    cache option naming a file) stops the build with one line naming it, not a traceback."""

    @functools.wraps(hook)
    def hook_or_plugin_error(*args, **kwargs):
        try:
            return hook(*args, **kwargs)
        except PluginError:
            raise
        except OSError as exc:
            raise PluginError(f"bench-report: {exc}") from exc

    return hook_or_plugin_error


def _cache_dir(root: Path, option: str, value: str) -> Path:
    """A cache folder option as a folder the build can write to, checked before any work."""
    try:
        return writable_dir(root / value)
    except StorageError as exc:
        raise PluginError(f"bench-report: {option}: {exc}; set {option} to a folder") from exc


class ReportPlugin(BasePlugin[ReportConfig]):
    @_one_line
    def on_config(self, config):
        if not self.config.enabled:
            return
        root = Path(config.config_file_path or ".").resolve().parent
        self.data_dir = root / self.config.data_dir
        self.images_dir = root / self.config.images_dir
        self.thumbs_dir = _cache_dir(root, "thumbs_dir", self.config.thumbs_dir)
        self.charts_dir = _cache_dir(root, "charts_dir", self.config.charts_dir)
        reference = root / self.config.seed_reference if self.config.seed_reference else None
        self.data = report_data.load(self.data_dir, self.config.metric, reference)
        self.scale = Scale(self.config.clip_scale, METRICS[self.data.metric].title)
        self.demo = report_data.is_demo(self.data)

        config.extra_css.extend(f"{ASSET_DIR}/{style}" for style in STYLES)
        config.extra_javascript.extend(f"{ASSET_DIR}/{script}" for script in SCRIPTS)
        return config

    @_one_line
    def on_files(self, files: Files, config):
        if not self.config.enabled:
            return
        for name in ASSETS:
            src = resources.files("bench.report") / "assets" / name
            files.append(File.generated(config, f"{ASSET_DIR}/{name}", abs_src_path=str(src)))
        files.append(
            File.generated(
                config, PROMPTS_INDEX, content=f"---\ntitle: Prompts\n{HIDE_TOC}---\n\n<!-- bench:prompts -->\n"
            )
        )
        # Prompt and model pages are reached from their index pages, not the navigation: every page
        # carries the navigation, so listing 1,632 prompts there would make each page grow with them.
        files.append(
            File.generated(
                config, MODELS_INDEX, content=f"---\ntitle: Models\n{HIDE_TOC}---\n\n<!-- bench:models -->\n"
            )
        )
        self.page_model = {}
        model_pages = names.pages(sorted(self.data.frame["model"].unique()) if not self.data.empty else [], "model")
        for model, slug in model_pages.items():
            files.append(
                File.generated(
                    config,
                    f"models/{slug}.md",
                    content=f"---\ntitle: {json.dumps(slug)}\n{HIDE_TOC}---\n\n<!-- bench:model -->\n",
                )
            )
            self.page_model[f"models/{slug}.md"] = model
        self.prompt_urls: dict[str, str] = {}  # prompt_id -> its page's URL from the site root
        for pid, slug in self.data.prompt_pages.items():
            # The title is the slug (letters, digits, - and _ only): MkDocs puts titles into
            # templates unescaped, so no prompt text may go there.
            # In the search index by its prompt text only (the fragment marks the rest
            # data-search-exclude): a search for a prompt's words lands on its page, and the index
            # grows by a prompt's text per prompt, not by its tables.
            md = f"---\ntitle: {json.dumps(slug)}\n{HIDE_TOC}---\n\n<!-- bench:prompt -->\n"
            made = File.generated(config, f"prompts/{slug}.md", content=md)
            files.append(made)
            self.prompt_urls[pid] = made.url
        self.page_prompt = {f"prompts/{slug}.md": pid for pid, slug in self.data.prompt_pages.items()}
        self.site_images = self._images(files, config)
        self._tables()
        self._charts(files, config)
        # Each model's wall of best images: the first few go into its page, the rest into its JSON.
        self.walls = {}
        for model, mine in self.images.groupby("model", sort=False) if not self.images.empty else []:
            self.walls[model] = models.wall_entries(mine, self.site_images, self.prompt_urls, self.scale)
            body = models.wall_json(self.walls[model])
            files.append(File.generated(config, models.wall_json_path(model), content=body))
        self.published = downloads.files(self.data_dir, self.data.runs)
        for site_path, src in self.published.items():
            files.append(LinkedFile.generated(config, site_path, abs_src_path=str(src)))
        self.merged = downloads.merged(self.data_dir) if not self.data.empty else {}
        for site_path, body in self.merged.items():
            files.append(File.generated(config, site_path, content=body))
        if not self.data.empty:
            files.append(File.generated(config, downloads.CSV, content=downloads.leaderboard_csv(self.sets)))
            files.append(File.generated(config, H2H_JSON, content=self._h2h_json()))
        for pid, slug in self.data.prompt_pages.items():
            records = self.records.get(pid)
            if records:
                body = compare.prompt_json(records, self.site_images, self.scale, self.metric_texts)
                files.append(File.generated(config, f"{compare.JSON_DIR}/{slug}.json", content=body))
        return files

    @_one_line
    def on_page_content(self, html, page, config, files):
        if not self.config.enabled:
            return
        root = "../" * page.url.count("/")

        def replace(match: re.Match) -> str:
            fragment = FRAGMENTS.get(match.group(1))
            if fragment is None:
                raise PluginError(
                    f"bench-report: unknown marker {match.group(0)} in {page.file.src_uri}; known: {', '.join(FRAGMENTS)}"
                )
            return fragment(self, page, root, files)

        html = MARKER.sub(replace, html)
        if self.demo:  # random-weight models: every page says so, before anything else
            html = DEMO_BANNER + html
        return html

    @_one_line
    def on_serve(self, server, config, builder):
        if not self.config.enabled:
            return
        for folder in (self.data_dir, self.images_dir):
            folder.mkdir(parents=True, exist_ok=True)
            server.watch(str(folder))
        # mkdocs rebuilds once changes have stopped for build_delay (0.1 s): wait for a sweep's
        # burst of writes to settle instead, so the page is not reloaded mid-sweep
        server.build_delay = max(server.build_delay, float(self.config.serve_settle_s))
        return server

    # --- helpers -------------------------------------------------------------------------

    def _images(self, files: Files, config) -> dict[str, prompts.SiteImage | None]:
        """Link each image the pages show, and its thumbnail, into the site; report the files
        that are missing, changed since their run or undecodable (see site_images)."""
        frame = self.data.frame
        shown = frame.loc[frame["status"].eq("ok") & frame["image_path"].notna(), ["image_path", "image_sha256"]]
        shown = shown.drop_duplicates()
        found = site_images.collect(
            zip(shown["image_path"], shown["image_sha256"]),
            self.images_dir,
            self.data_dir / "generations",
            self.thumbs_dir,
            self.config.thumb_px,
            self.config.images_base_url,
        )
        for dest, src in found.links.items():
            files.append(LinkedFile.generated(config, dest, abs_src_path=str(src)))
        log.info(
            f"{found.files} images, {found.made} new thumbnails (the others reused from {self.thumbs_dir}), "
            f"{found.hashed} files hashed (the others unchanged since the last build)"
        )
        say = log.warning if self.config.missing_images == "warn" else log.info
        for line in site_images.problems(found, self.images_dir):
            say(line)
        for line in site_images.refused(found, self.images_dir):
            log.warning(line)
        return found.site

    def _tables(self) -> None:
        """Every aggregate the pages need, computed once per build."""
        frame = self.data.frame
        self.board = stats.leaderboard(frame)
        self.metrics = board.quality_metrics(self.data.scores)
        self.categories = board.categories(frame)
        # The configured metric ranks by default; failing that (no scores of it) the first present.
        self.rank_by = self.data.metric if self.data.metric in self.metrics or not self.metrics else self.metrics[0]
        self.sets = board.image_sets(frame, self.data.scores, self.data.runs, self.rank_by)
        self.boards = board.prompt_image_sets(
            frame, METRICS[self.data.metric].higher_is_better, self.sets.set_index(board.KEYS).get("measured_on")
        )
        self.summary = stats.prompt_summary(frame, self.boards)
        self.summary_by_id = self.summary.set_index("prompt_id")
        images = stats.gallery_images(frame)
        images["scores_html"] = images["cell_id"].map(board.score_texts(self.data.scores, self.data.metric))
        # Flagged by the NSFW metric: shown blurred until clicked, in every gallery and lightbox.
        images["nsfw"] = images["cell_id"].isin(board.flagged_cells(self.data.scores))
        self.images = images  # every gallery image: the compare and model pages take their part
        # Every quality metric of each image as printed, for the compare page's badges (its "Score").
        self.metric_texts = (
            board.metric_texts(self.data.scores, self.metrics, self.scale) if len(self.metrics) > 1 else {}
        )
        self.shown_prompts = list(dict.fromkeys(images["prompt_id"].tolist()))  # prompts with an image
        # Per prompt, once per build rather than once per page: its best images and its gallery
        # rows as dicts (one to_dict for all of them; a sweep can hold 1,632 prompts).
        self.best: dict[str, list[dict]] = {}
        for r in prompts._records(stats.best_images(images, by=("prompt_id",))):
            self.best.setdefault(r["prompt_id"], []).append(r)
        self.records: dict[str, list[dict]] = {}
        for r in prompts._records(images):
            self.records.setdefault(r["prompt_id"], []).append(r)
        self.comparison = stats.backend_comparison(self.board, self.data.scores, frame)
        # The machine and day beside every latency: on the speed page and each prompt's table.
        where = board.measured_on(frame, self.data.runs, stats.GROUP)
        if not where.empty:
            self.comparison = self.comparison.join(where, on=stats.GROUP)
        # MLPerf's verdict on each backend's image sets with an FID, beside its speed (one place decides it).
        swept = self.data.swept if self.data.swept is not None else frame
        mlperf = published.mlperf_rows(swept, self.data.scores, store.read(self.data_dir, "set_scores"))
        self.comparison = speed.with_mlperf(self.comparison, mlperf)

    def _charts(self, files: Files, config) -> None:
        if not self.board.empty and self.board["clip_mean"].notna().any() and self.board["latency_p50_s"].notna().any():
            svg = charts.cached(
                self.charts_dir, "pareto_svg", self.board, self.scale.factor, self.scale.label("mean CLIP")
            )
            files.append(File.generated(config, PARETO_SVG, content=svg))
        if not self.comparison.empty:
            # Only what the chart draws goes into its cache key: a new table column redraws nothing.
            drawn = self.comparison[["model", "scheduler", "backend", "latency_p50_s", "speedup"]]
            svg = charts.cached(self.charts_dir, "speed_svg", drawn)
            files.append(File.generated(config, SPEED_SVG, content=svg))

    def _h2h_json(self) -> str:
        """The head-to-head view's data: each quality metric's title and direction, each image
        set's name and its first-seed thumbnail per prompt, the prompts, and every pair's paired
        comparison (board.head_to_head). Paths from the site root; all text is set as text."""
        frame, scores = self.data.frame, self.data.scores
        images = board.h2h_images(frame, scores, self.rank_by)
        sets = {}
        for r in self.sets.to_dict("records"):
            sid = board.set_id(r)
            shown = {pid: self.site_images.get(path) for pid, path in images.get(sid, {}).items()}
            sets[sid] = {
                "name": f"{r['model']} / {r['scheduler'] or 'no scheduler'}",
                "images": {pid: [w.thumb, w.full] for pid, w in shown.items() if w is not None and w.thumb},
            }
        metrics = {
            m: {"title": leaderboard.metric_title(m, self.scale), "higher": METRICS[m].higher_is_better,
                "factor": self.scale.factor if METRICS[m].kind == "clip" else 1.0,
                "digits": self.scale.digits if METRICS[m].kind == "clip" else 3}
            for m in self.metrics
        }  # fmt: skip
        prompt_text = frame.drop_duplicates("prompt_id").set_index("prompt_id")["prompt"]
        used = sorted({pid for s in sets.values() for pid in s["images"]})
        prompts_ = {pid: [str(prompt_text.get(pid, "")), self.prompt_urls.get(pid, "")] for pid in used}
        body = {"metrics": metrics, "sets": sets, "prompts": prompts_, "pairs": board.head_to_head(frame, scores)}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    # --- page fragments: one per marker, dispatched through FRAGMENTS -------------------------

    @_needs_data
    def _leaderboard(self, page: Page, root: str, files: Files) -> str:
        pages = self._page_urls(files, {m: p for p, m in self.page_model.items()})
        galleries = [  # each row links to its images: its scheduler's wall on the model's page
            f"{root}{pages[m]}#{models.gallery_anchor(sch)}" if m in pages else ""
            for m, sch in zip(self.sets["model"], self.sets["scheduler"])
        ]
        sets = self.sets.assign(gallery=galleries) if len(self.sets) else self.sets
        method = files.get_file_from_path("methodology.md")
        runs_url = f"{root}{method.url}#environment-of-each-run" if method else ""
        html = (  # folded notes: on a phone the board's first row stays on the first screen
            methodology.board_changelog(self.data.runs, self.data.frame, runs_url)
            + metric_note(self.data.metric_note, folded=True)
            + metric_note(self.data.axes_note, "Steps and guidance", folded=True)
            + leaderboard.board_table(sets, self.metrics, self.rank_by, self.scale)
        )
        svg = PARETO_SVG if files.get_file_from_path(PARETO_SVG) else None
        html += quality_speed.quality_speed(self.sets, self.metrics, self.rank_by, self.scale, root, svg)
        if len(self.sets) > 1:
            html += leaderboard.head_to_head_form(self.sets, root + H2H_JSON)
        if self.categories:
            wide = board.by_category(self.data.frame, self.data.scores, self.rank_by)
            html += breakdown.category_table(wide, self.rank_by, self.scale)
        return html

    @_needs_data
    def _prompts(self, page: Page, root: str, files: Files) -> str:
        table = prompts.prompts_table(self.summary, self.prompt_urls, root, self.scale, self.categories)
        return metric_header(self.scale) + table

    @_needs_data
    def _prompt(self, page: Page, root: str, files: Files) -> str:
        prompt_id = self.page_prompt.get(page.file.src_uri)
        if prompt_id is None:
            raise PluginError(
                f"bench-report: <!-- bench:prompt --> is only for generated prompt pages, not {page.file.src_uri}"
            )
        summary = self.summary_by_id.loc[prompt_id]
        board_rows, best, records = (
            self.boards[prompt_id],
            self.best.get(prompt_id, []),
            self.records.get(prompt_id, []),
        )

        def render() -> str:
            return "".join(
                [
                    prompts.prompt_block(summary["prompt"], summary["truncated_tokens"]),
                    # numbers and captions make unreadable search snippets: Material skips these
                    "<div data-search-exclude>",
                    metric_header(self.scale),
                    leaderboard.prompt_table(board_rows, self.scale),
                    '<h2 id="gallery">Gallery</h2>',
                    prompts.best_rule(self.scale),
                    prompts.gallery_grid(
                        best, records, self.site_images, root, self.scale, summary["prompt"], self.config.thumb_px
                    ),
                    "</div>",
                ]
            )

        # Everything the fragment is made of, so that a rebuild of unchanged data reads it back.
        shown = [self.site_images.get(r["image_path"]) for r in records]
        inputs = (prompt_id, root, self.scale, self.config.thumb_px, tuple(summary), board_rows, best, records, shown)
        return pagecache.cached(self.charts_dir.parent / "pages", inputs, render)

    @_needs_data
    def _compare(self, page: Page, root: str, files: Files) -> str:
        if not self.shown_prompts:
            return prompts.gallery_grid(pd.DataFrame(), pd.DataFrame(), {}, root, self.scale, "", self.config.thumb_px)
        images = self.images
        first = next(iter(self.data.prompt_pages))
        first = first if first in set(self.shown_prompts) else self.shown_prompts[0]
        titles = {m: METRICS[m].title for m in self.metrics}
        return compare.compare_page(images, self.data.prompt_pages, first, self.site_images, root, self.scale, titles)

    def _page_urls(self, files: Files, paths: dict[str, str]) -> dict[str, str]:
        """key -> the page's URL relative to the site root, for the pages in `paths` (key -> src path)."""
        return {key: files.get_file_from_path(src).url for key, src in paths.items()}

    @_needs_data
    def _models(self, page: Page, root: str, files: Files) -> str:
        urls = {m: root + u for m, u in self._page_urls(files, {m: p for p, m in self.page_model.items()}).items()}
        return models.models_index(self.sets, f"{self.rank_by}__mean", urls, self.scale)

    @_needs_data
    def _model(self, page: Page, root: str, files: Files) -> str:
        model = self.page_model[page.file.src_uri]
        rows = self.comparison[self.comparison["model"].eq(model)]
        speed_html = (
            speed.speed_table(rows)
            if not rows.empty
            else leaderboard.leaderboard_table(self.board[self.board["model"].eq(model)], self.scale)
        )
        gallery = models.galleries(self.walls.get(model, {}), root, models.wall_json_path(model))
        mine = self.sets[self.sets["model"].eq(model)] if len(self.sets) else self.sets
        quality = leaderboard.model_quality_table(mine, self.metrics, self.rank_by, self.scale, root or "./")
        return models.model_page(model, self.data.frame, speed_html, gallery, quality)

    def _downloads(self, page: Page, root: str, files: Files) -> str:
        if self.data.empty:
            return empty_state(self.config.data_dir)
        return downloads.downloads_page(self.published, {p: len(b) for p, b in self.merged.items()}, root)

    @_needs_data
    def _speed(self, page: Page, root: str, files: Files) -> str:
        if self.comparison.empty:
            return speed.no_comparison()
        return speed.speed_table(self.comparison) + speed.speed_chart(root, SPEED_SVG, self.comparison)

    @_needs_data
    def _steps(self, page: Page, root: str, files: Files) -> str:
        return steps.steps_page(self.data.swept, self.data.scores, self.rank_by, self.scale, root, self.metrics)

    @_needs_data
    def _runs(self, page: Page, root: str, files: Files) -> str:
        return methodology.runs_table(self.data.runs, self.data.frame)

    @_needs_data
    def _settings(self, page: Page, root: str, files: Files) -> str:
        return methodology.settings_table(self.data.frame)

    def _metrics(self, page: Page, root: str, files: Files) -> str:
        present = set(self.data.scores["metric"].unique()) | {self.data.metric}
        html = methodology.metrics_table([m for m in METRICS.values() if m.name in present], self.data.metric)
        if len(self.metrics) > 1:
            html += breakdown.agreement_table(board.agreement(self.data.frame, self.data.scores, self.metrics))
        return html

    def _anchors(self, page: Page, root: str, files: Files) -> str:
        return methodology.anchors_table(methodology.read_anchors(), self.data.frame, self.data.scores)

    def _seed_reference(self, page: Page, root: str, files: Files) -> str:
        return methodology.seed_table(stats.seed_comparison(self.data.reference, self.data.frame), self.scale)


Fragment = Callable[[ReportPlugin, Page, str, Files], str]

# Marker name -> the method that renders it: the markers a page may hold, and their dispatch.
FRAGMENTS: dict[str, Fragment] = {
    "leaderboard": ReportPlugin._leaderboard,
    "prompts": ReportPlugin._prompts,
    "prompt": ReportPlugin._prompt,
    "speed": ReportPlugin._speed,
    "steps": ReportPlugin._steps,
    "compare": ReportPlugin._compare,
    "models": ReportPlugin._models,
    "model": ReportPlugin._model,
    "downloads": ReportPlugin._downloads,
    "runs": ReportPlugin._runs,
    "settings": ReportPlugin._settings,
    "metrics": ReportPlugin._metrics,
    "seed-reference": ReportPlugin._seed_reference,
    "anchors": ReportPlugin._anchors,
    "published": published.fragment,
}
