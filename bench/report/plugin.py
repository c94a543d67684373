"""The `bench-report` MkDocs plugin: Parquet tables in, leaderboard pages out.

Hooks, in build order:
- on_config: read the tables (bad data stops here, naming the file), add our CSS/JS, list one
  nav entry per prompt under the nav item that points at prompts/index.md.
- on_files: generate the prompt pages (a title and a marker each), copy images, make cached
  thumbnails, draw (or reuse) the charts, ship the vendored JavaScript.
- on_page_content: replace each `<!-- bench:NAME -->` marker with its HTML. This runs after
  Markdown, so untrusted text never meets the Markdown parser and big tables cost nothing there.
- on_serve: watch data/ and images/ so `mkdocs serve` rebuilds when a sweep writes.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import pandas as pd
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, get_plugin_logger
from mkdocs.structure.files import File, Files

from bench.metrics import METRICS
from bench.report import charts, render, stats
from bench.report import data as report_data
from bench.report.config import ReportConfig

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
MARKERS = ("leaderboard", "prompts", "prompt", "speed", "runs", "settings", "metrics", "seed-reference")


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
        self.scale = render.Scale(self.config.clip_scale, METRICS[self.data.metric].title)

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
            name = match.group(1)
            if name not in MARKERS:
                raise PluginError(
                    f"bench-report: unknown marker {match.group(0)} in {page.file.src_uri}; known: {', '.join(MARKERS)}"
                )
            return self._fragment(name, page, root, files)

        return MARKER.sub(replace, html)

    def on_serve(self, server, config, builder):
        if not self.config.enabled:
            return
        for folder in (self.data_dir, self.images_dir):
            folder.mkdir(parents=True, exist_ok=True)
            server.watch(str(folder))
        return server

    # --- helpers -------------------------------------------------------------------------

    def _images(self, files: Files, config) -> dict[str, render.SiteImage | None]:
        """Copy each image the pages show into the site, with its thumbnail; None if missing."""
        frame = self.data.frame
        shown = frame[frame["status"].eq("ok") & frame["image_path"].notna()]
        shown = shown.drop_duplicates("image_path")
        table_dir = self.data_dir / "generations"
        found: dict[Path, str | None] = {}  # image file -> sha256 recorded by the sweep
        where: dict[str, Path | None] = {}  # image_path as in the table -> its file, None if missing
        for rel, sha in zip(shown["image_path"], shown["image_sha256"]):
            path = report_data.image_file(self.images_dir, rel, table_dir)
            where[rel] = path if path.is_file() else None
            if where[rel] is not None:
                found[path] = sha
        try:
            thumbs, made = _thumbnails(found, self.thumbs_dir, self.config.thumb_px)
        except ValueError as exc:
            raise PluginError(f"bench-report: {exc}") from exc
        images_root = self.images_dir.resolve()
        for path in thumbs:
            files.append(
                LinkedFile.generated(
                    config, "images/" + path.relative_to(images_root).as_posix(), abs_src_path=str(path)
                )
            )
        for thumb in set(thumbs.values()):  # identical images share one thumbnail
            files.append(LinkedFile.generated(config, "thumbs/" + thumb.name, abs_src_path=str(thumb)))
        site = {
            rel: None
            if path is None
            else render.SiteImage("images/" + path.relative_to(images_root).as_posix(), "thumbs/" + thumbs[path].name)
            for rel, path in where.items()
        }
        log.info(f"{len(thumbs)} images, {made} new thumbnails (the others reused from {self.thumbs_dir})")
        missing = sorted(rel for rel, target in site.items() if target is None)
        if missing:
            say = log.warning if self.config.missing_images == "warn" else log.info
            examples = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            say(
                f"missing image: {len(missing)} image file(s) under {self.images_dir} not found, placeholders shown: {examples}"
            )
        return site

    def _tables(self) -> None:
        """Every aggregate the pages need, computed once per build."""
        frame = self.data.frame
        self.board = stats.leaderboard(frame)
        self.boards = stats.leaderboards_by_prompt(frame)
        self.summary = stats.prompt_summary(frame, self.boards)
        self.galleries = dict(tuple(stats.gallery_images(frame).groupby("prompt_id", sort=False)))
        self.pairs = (
            stats.backend_pairs(self.board, self.data.scores, frame) if not self.board.empty else pd.DataFrame()
        )

    def _charts(self, files: Files, config) -> None:
        if not self.board.empty and self.board["clip_mean"].notna().any() and self.board["latency_p50_s"].notna().any():
            svg = charts.cached(
                self.charts_dir, "pareto_svg", self.board, self.scale.factor, self.scale.label("mean CLIP")
            )
            files.append(File.generated(config, f"{ASSET_DIR}/pareto.svg", content=svg))
        if not self.pairs.empty:
            svg = charts.cached(self.charts_dir, "speed_svg", self.pairs)
            files.append(File.generated(config, f"{ASSET_DIR}/speed.svg", content=svg))

    def _fragment(self, name: str, page, root: str, files: Files) -> str:
        d, scale = self.data, self.scale
        if d.empty and name not in ("metrics", "seed-reference"):
            return render.empty_state(self.config.data_dir)
        if name == "leaderboard":
            html = render.metric_header(scale, d.metric_note) + render.leaderboard_table(self.board, scale)
            if files.get_file_from_path(f"{ASSET_DIR}/pareto.svg"):
                html += "<h2>Quality against speed</h2>" + render.chart(
                    root,
                    f"{ASSET_DIR}/pareto.svg",
                    "mean CLIP against p50 latency; the dashed line is the Pareto front",
                )
                html += '<p class="bench-note">◆ marks the Pareto front: no other row is both faster (p50) and better (mean CLIP).</p>'
            return html
        if name == "prompts":
            urls = {pid: files.get_file_from_path(f"prompts/{slug}.md").url for pid, slug in d.prompt_pages.items()}
            return render.metric_header(scale) + render.prompts_table(self.summary, urls, root, scale)
        if name == "prompt":
            return self._prompt_page(page, root)
        if name == "speed":
            if self.pairs.empty:
                return '<p class="bench-note">No model and scheduler ran on both PyTorch and ONNX Runtime yet.</p>'
            return render.speed_table(self.pairs) + render.chart(
                root, f"{ASSET_DIR}/speed.svg", "p50 latency per model and scheduler, PyTorch and ONNX Runtime"
            )
        if name == "runs":
            return render.runs_table(d.runs)
        if name == "settings":
            return render.settings_table(d.frame)
        if name == "metrics":
            present = set(d.scores["metric"]) | {d.metric}
            return render.metrics_table([m for m in METRICS.values() if m.name in present], d.metric)
        if name == "seed-reference":
            return render.seed_table(stats.seed_comparison(d.reference, d.frame), scale)
        raise AssertionError(name)

    def _prompt_page(self, page, root: str) -> str:
        prompt_id = self.page_prompt.get(page.file.src_uri)
        if prompt_id is None:
            raise PluginError(
                f"bench-report: <!-- bench:prompt --> is only for generated prompt pages, not {page.file.src_uri}"
            )
        summary = self.summary.set_index("prompt_id").loc[prompt_id]
        images = self.galleries.get(prompt_id, pd.DataFrame(columns=self.data.frame.columns))
        return "".join(
            [
                render.prompt_block(summary["prompt"], summary["truncated_tokens"]),
                render.metric_header(self.scale),
                render.leaderboard_table(self.boards[prompt_id], self.scale),
                "<h2>Gallery</h2>",
                render.best_rule(self.scale),
                render.gallery_grid(
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


def _thumbnails(found, cache_dir, px):
    from bench.report import thumbs  # Pillow only when there are images

    return thumbs.ensure_thumbnails(found, cache_dir, px) if found else ({}, 0)


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
