"""The downloads page: the leaderboard as CSV, one merged Parquet file per table (as the store
reads it: one row per key, the schema's types) with a dictionary of its columns, the raw part
files as the sweep wrote them (copied from data/, only the files the store reads as parts), the
suites' TOML, and the `bench run` command behind each leaderboard row."""

from __future__ import annotations

import contextlib
import io
import logging
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mkdocs.plugins import get_plugin_logger

from bench import schema_docs, store
from bench.report.html import Col, Prose, esc, href
from bench.report.html import table as html_table
from bench.schema import TABLES as SCHEMAS

log = get_plugin_logger(__name__)

DIR = "downloads"
TABLES = tuple(SCHEMAS)  # generations, scores, set_scores, runs
CSV = f"{DIR}/leaderboard.csv"


def _seeds(values: pd.Series) -> str:
    """Seeds as a suite writes them: "0-3" for a run of consecutive ones, else "0,5,9"."""
    seeds = sorted({int(v) for v in values.dropna().unique()})
    if not seeds:
        return ""
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(str(s) for s in seeds)


def commands(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.Series:
    """Per model x scheduler, the `bench run` command that makes its rows again."""
    suites = (
        runs.set_index("run_id")["suite"] if "suite" in runs.columns and not runs.empty else pd.Series(dtype=object)
    )
    out = {}
    for (model, sched), part in frame.groupby(["model", "scheduler"], sort=False):
        suite = part["run_id"].map(suites).dropna()
        backends = ",".join(sorted(set(part["backend"].unique())))
        cmd = f"bench run --suite {suite.iloc[0] if len(suite) else '<suite>'} --models {model}"
        cmd += f" --schedulers {sched}" if sched else ""
        out[(model, sched)] = cmd + f" --backends {backends} --seeds {_seeds(part['seed'])}"
    return pd.Series(out, name="command", dtype=object).rename_axis(["model", "scheduler"])


def suite_file(suite: str) -> Path | None:
    """The shipped suite's TOML, if `suite` names one (a suite given as a path is not published)."""
    if not suite or "/" in suite or "\\" in suite or suite.startswith("."):
        return None
    path = Path(str(resources.files("bench") / "suites" / f"{suite}.toml"))
    return path if path.is_file() else None


def files(data_dir: Path, runs: pd.DataFrame) -> dict[str, Path]:
    """Site path -> file to publish: the part files of the tables, as the store lists them
    (regular files named as parts: never a `_` or `.` name, a symlink, a FIFO or a folder), and the
    suites' TOML. A part that resolves outside data_dir (its table folder is a link to elsewhere)
    is not published: a warning names it."""
    out = {}
    root = data_dir.resolve()
    for table in TABLES:
        for part in store.part_files(data_dir, table):
            if not part.resolve().is_relative_to(root):
                log.warning(f"{part} is outside {data_dir}: not published on the downloads page")
                continue
            out[f"{DIR}/data/{table}/{part.name}"] = part
    for suite in sorted(set(runs["suite"].dropna())) if "suite" in runs.columns else []:
        path = suite_file(str(suite))
        if path is not None:
            out[f"{DIR}/suites/{path.name}"] = path
    return out


def merged_path(table: str) -> str:
    return f"{DIR}/{table}.parquet"


def _outside(data_dir: Path, table: str) -> bool:
    root = data_dir.resolve()
    return any(not part.resolve().is_relative_to(root) for part in store.part_files(data_dir, table))


@contextlib.contextmanager
def _quiet_store():
    """The store's warnings off: the build's first read of each table (bench.report.data) has
    named every file it skipped, so a second read would only repeat them."""
    logger = logging.getLogger(store.__name__)
    before, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = before


def merged(data_dir: Path) -> dict[str, bytes]:
    """Site path -> one Parquet file per table that has parts: the table as `store.read` gives
    it (one row per key, the winning version), with the schema's column types. A table with a
    part outside data_dir is not merged, as its parts are not published (see `files`)."""
    out = {}
    for name, schema in SCHEMAS.items():
        if not store.part_files(data_dir, name) or _outside(data_dir, name):
            continue
        with _quiet_store():
            frame = store.read(data_dir, name)
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), buf)
        out[merged_path(name)] = buf.getvalue()
    return out


def leaderboard_csv(sets: pd.DataFrame) -> str:
    return sets.to_csv(index=False)


DICTIONARY_COLUMNS = [
    Col("Column", "column", tooltip="the column's name: its unit, if any, is in its suffix"),
    Col("Type", "type", tooltip="its Arrow type in the Parquet file"),
    Col("Unit", "unit"),
    Col("Meaning", "meaning", Prose(240)),
]


def column_dictionary(name: str) -> str:
    """Every column of one table: its name, Arrow type, unit and meaning (bench.schema_docs)."""
    rows = [
        {"column": f.name, "type": str(f.type), "unit": schema_docs.unit(name, f.name),
         "meaning": schema_docs.meaning(name, f.name)}
        for f in SCHEMAS[name]
    ]  # fmt: skip
    return html_table(DICTIONARY_COLUMNS, rows)


def downloads_page(published: dict[str, Path], merged_sizes: dict[str, int], root: str) -> str:
    """The leaderboard CSV and the merged tables first, each table's column dictionary, then the
    raw part files (folded: a sweep writes many)."""
    items = [f'<li><a href="{href(root, CSV)}" download>leaderboard.csv</a>: the main leaderboard, every column</li>']
    for site_path, size in merged_sizes.items():
        name = site_path.rsplit("/", 1)[1]
        items.append(
            f'<li><a href="{href(root, site_path)}" download>{esc(name)}</a>: the {esc(name.removesuffix(".parquet"))} '
            f"table, one row per key, {size / 1e6:.2f} MB</li>"
        )
    suites, parts = [], []
    for site_path, src in published.items():
        size = src.stat().st_size / 1e6
        link = f'<a href="{href(root, site_path)}" download>{esc(site_path.split("/", 1)[1])}</a>'
        if site_path.endswith(".toml"):
            suites.append(f"<li>{link}: suite, {size:.2f} MB</li>")
        else:
            parts.append(f"<li>{link}: {esc(site_path.split('/')[2])} table part, {size:.2f} MB</li>")
    html = f"<ul>{''.join(items + suites)}</ul>"
    html += (
        '<p class="bench-note">Read a table with <code>pandas.read_parquet("generations.parquet")</code>. '
        "Tables join on <code>cell_id</code> (generations, scores) and <code>run_id</code> (runs). The command "
        "that reproduces each leaderboard row is in its <em>Reproduce</em> column (Columns, above the table).</p>"
    )
    html += '<h2 id="columns">Columns</h2>'
    for name in (n for n in SCHEMAS if merged_path(n) in merged_sizes):
        html += f'<h3 id="columns-{esc(name)}">{esc(name)}</h3>' + column_dictionary(name)
    if parts:
        html += (
            f"<details><summary>The raw part files ({len(parts)}), as the sweeps wrote them</summary>"
            f'<ul>{"".join(parts)}</ul><p class="bench-note">Several versions of a row may be among them (a '
            "rerun, a rescore): the merged files above keep the one the site shows.</p></details>"
        )
    return html
