"""The `bench-report` MkDocs plugin: Parquet tables in, leaderboard pages out.

Hooks, in build order:
- on_config: read the tables (bad data stops here, naming the file), add our CSS/JS, list one
  nav entry per prompt under the nav item that points at prompts/index.md.
- on_files: generate the prompt pages (a title and a marker each), check and link the images,
  make cached thumbnails, draw (or reuse) the charts, ship the vendored JavaScript.
- on_page_content: replace each `<!-- bench:NAME -->` marker with its HTML, made by the method
  that FRAGMENTS names for it (the sections build the HTML). This runs after Markdown, so
  untrusted text never meets the Markdown parser and big tables cost nothing there.
- on_serve: watch data/ and images/ so `mkdocs serve` rebuilds when a sweep writes.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pandas as pd
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, get_plugin_logger
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from bench.metrics import METRICS
from bench.report import charts, site_images, stats
from bench.report import data as report_data
from bench.report.config import ReportConfig
from bench.report.sections import leaderboard, methodology, prompts, speed
from bench.report.sections.common import Scale, empty_state, metric_header

log = get_plugin_logger(__name__)

ASSETS = [
    "tablesort.min.js",
    "tablesort.number.min.js",
    "bench.js",
    "bench.css",
    "LICENSE-tablesort.txt",
    "missing.svg",
]
ASSET_DIR = "assets/bench"
PROMPTS_INDEX = "prompts/index.md"
HIDE_TOC = "hide:\n  - toc\n"  # Material: wide tables need the room of the (empty) table of contents
MARKER = re.compile(r"<!--\s*bench:([a-z-]+)\s*-->")
PARETO_SVG = f"{ASSET_DIR}/pareto.svg"
SPEED_SVG = f"{ASSET_DIR}/speed.svg"


class LinkedFile(File):
    """A file from images/ or the thumbnail cache, hard-linked into the site where the file
    system allows it (a copy otherwise): a site holds thousands of images and a clean build
    would otherwise copy every one of them again."""

    def copy_file(self, dirty: bool = False) -> None:
        if dirty and not self.is_modified():
            return
        os.makedirs(os.path.dirname(self.abs_dest_path), exist_ok=True)
        try:
            os.link(self.abs_src_path, self.abs_dest_path)
        except OSError:  # another file system, an existing file, no link support
            super().copy_file(dirty)


def _needs_data(fragment):
    """A fragment of results: without any, it says how to make some instead. (The metric
    definitions and the seed study's table come from the package, so they need no data.)"""

    @functools.wraps(fragment)
    def fragment_or_empty_state(plugin: ReportPlugin, page: Page, root: str, files: Files) -> str:
        if plugin.data.empty:
            return empty_state(plugin.config.data_dir)
        return fragment(plugin, page, root, files)

    return fragment_or_empty_state


class ReportPlugin(BasePlugin[ReportConfig]):
    def on_config(self, config):
        if not self.config.enabled:
            return
        root = Path(config.config_file_path or ".").resolve().parent
        self.data_dir = root / self.config.data_dir
        self.images_dir = root / self.config.images_dir
        self.thumbs_dir = root / self.config.thumbs_dir
        self.charts_dir = root / self.config.charts_dir
        reference = root / self.config.seed_reference if self.config.seed_reference else None
        self.data = report_data.load(self.data_dir, self.config.metric, reference)
        self.scale = Scale(self.config.clip_scale, METRICS[self.data.metric].title)

        config.extra_css.append(f"{ASSET_DIR}/bench.css")
        for script in ("tablesort.min.js", "tablesort.number.min.js", "bench.js"):
            config.extra_javascript.append(f"{ASSET_DIR}/{script}")
        if config.nav:
            config.nav = _with_prompt_pages(config.nav, self.data.prompt_pages)
        return config

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
        for slug in self.data.prompt_pages.values():
            # The title is the slug (letters, digits, - and _ only): MkDocs puts titles into
            # templates unescaped, so no prompt text may go there.
            md = f"---\ntitle: {json.dumps(slug)}\n{HIDE_TOC}---\n\n<!-- bench:prompt -->\n"
            files.append(File.generated(config, f"prompts/{slug}.md", content=md))
        self.page_prompt = {f"prompts/{slug}.md": pid for pid, slug in self.data.prompt_pages.items()}
        self.site_images = self._images(files, config)
        self._tables()
        self._charts(files, config)
        return files

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

        return MARKER.sub(replace, html)

    def on_serve(self, server, config, builder):
        if not self.config.enabled:
            return
        for folder in (self.data_dir, self.images_dir):
            folder.mkdir(parents=True, exist_ok=True)
            server.watch(str(folder))
        return server

    # --- helpers -------------------------------------------------------------------------

    def _images(self, files: Files, config) -> dict[str, prompts.SiteImage | None]:
        """Link each image the pages show, and its thumbnail, into the site; report the files
        that are missing, changed since their run or undecodable (see site_images)."""
        frame = self.data.frame
        shown = frame.loc[frame["status"].eq("ok") & frame["image_path"].notna(), ["image_path", "image_sha256"]]
        shown = shown.drop_duplicates()
        try:
            found = site_images.collect(
                zip(shown["image_path"], shown["image_sha256"]),
                self.images_dir,
                self.data_dir / "generations",
                self.thumbs_dir,
                self.config.thumb_px,
            )
        except OSError as exc:  # an unreadable file, a full disk under the cache: one line, no traceback
            raise PluginError(f"bench-report: {exc}") from exc
        for dest, src in found.links.items():
            files.append(LinkedFile.generated(config, dest, abs_src_path=str(src)))
        log.info(
            f"{found.files} images, {found.made} new thumbnails (the others reused from {self.thumbs_dir}), "
            f"{found.hashed} files hashed (the others unchanged since the last build)"
        )
        say = log.warning if self.config.missing_images == "warn" else log.info
        for line in site_images.problems(found, self.images_dir):
            say(line)
        return found.site

    def _tables(self) -> None:
        """Every aggregate the pages need, computed once per build."""
        frame = self.data.frame
        self.board = stats.leaderboard(frame)
        self.boards = stats.leaderboards_by_prompt(frame)
        self.summary = stats.prompt_summary(frame, self.boards)
        self.galleries = dict(tuple(stats.gallery_images(frame).groupby("prompt_id", sort=False)))
        self.comparison = stats.backend_comparison(self.board, self.data.scores, frame)

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

    # --- page fragments: one per marker, dispatched through FRAGMENTS -------------------------

    @_needs_data
    def _leaderboard(self, page: Page, root: str, files: Files) -> str:
        html = metric_header(self.scale, self.data.metric_note) + leaderboard.leaderboard_table(self.board, self.scale)
        if files.get_file_from_path(PARETO_SVG):
            html += leaderboard.pareto_chart(root, PARETO_SVG)
        return html

    @_needs_data
    def _prompts(self, page: Page, root: str, files: Files) -> str:
        urls = {pid: files.get_file_from_path(f"prompts/{slug}.md").url for pid, slug in self.data.prompt_pages.items()}
        return metric_header(self.scale) + prompts.prompts_table(self.summary, urls, root, self.scale)

    @_needs_data
    def _prompt(self, page: Page, root: str, files: Files) -> str:
        prompt_id = self.page_prompt.get(page.file.src_uri)
        if prompt_id is None:
            raise PluginError(
                f"bench-report: <!-- bench:prompt --> is only for generated prompt pages, not {page.file.src_uri}"
            )
        summary = self.summary.set_index("prompt_id").loc[prompt_id]
        images = self.galleries.get(prompt_id, pd.DataFrame(columns=self.data.frame.columns))
        return "".join(
            [
                prompts.prompt_block(summary["prompt"], summary["truncated_tokens"]),
                metric_header(self.scale),
                leaderboard.leaderboard_table(self.boards[prompt_id], self.scale),
                "<h2>Gallery</h2>",
                prompts.best_rule(self.scale),
                prompts.gallery_grid(
                    stats.best_images(images),
                    images,
                    self.site_images,
                    root,
                    self.scale,
                    summary["prompt"],
                    self.config.thumb_px,
                ),
            ]
        )

    @_needs_data
    def _speed(self, page: Page, root: str, files: Files) -> str:
        if self.comparison.empty:
            return speed.no_comparison()
        return speed.speed_table(self.comparison) + speed.speed_chart(root, SPEED_SVG)

    @_needs_data
    def _runs(self, page: Page, root: str, files: Files) -> str:
        return methodology.runs_table(self.data.runs)

    @_needs_data
    def _settings(self, page: Page, root: str, files: Files) -> str:
        return methodology.settings_table(self.data.frame)

    def _metrics(self, page: Page, root: str, files: Files) -> str:
        present = set(self.data.scores["metric"]) | {self.data.metric}
        return methodology.metrics_table([m for m in METRICS.values() if m.name in present], self.data.metric)

    def _seed_reference(self, page: Page, root: str, files: Files) -> str:
        return methodology.seed_table(stats.seed_comparison(self.data.reference, self.data.frame), self.scale)


Fragment = Callable[[ReportPlugin, Page, str, Files], str]

# Marker name -> the method that renders it: the markers a page may hold, and their dispatch.
FRAGMENTS: dict[str, Fragment] = {
    "leaderboard": ReportPlugin._leaderboard,
    "prompts": ReportPlugin._prompts,
    "prompt": ReportPlugin._prompt,
    "speed": ReportPlugin._speed,
    "runs": ReportPlugin._runs,
    "settings": ReportPlugin._settings,
    "metrics": ReportPlugin._metrics,
    "seed-reference": ReportPlugin._seed_reference,
}


def _with_prompt_pages(nav: list, pages: dict[str, str]) -> list:
    """Turn the nav entry that points at prompts/index.md into a section listing every prompt."""
    children = [PROMPTS_INDEX] + [{slug: f"prompts/{slug}.md"} for slug in pages.values()]
    out = []
    for item in nav:
        if isinstance(item, dict) and len(item) == 1:
            ((title, target),) = item.items()
            if target == PROMPTS_INDEX:
                item = {title: children}
            elif isinstance(target, list):
                item = {title: _with_prompt_pages(target, pages)}
        elif item == PROMPTS_INDEX:
            item = {"Prompts": children}
        out.append(item)
    return out
