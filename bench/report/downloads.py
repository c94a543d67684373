"""The downloads page: the leaderboard as CSV, the raw Parquet tables as the sweep wrote them
(copied from data/, only the files the store reads as parts), the suites' TOML, and the
`bench run` command behind each leaderboard row."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd
from mkdocs.plugins import get_plugin_logger

from bench import store
from bench.report.html import esc, href

log = get_plugin_logger(__name__)

DIR = "downloads"
TABLES = ("generations", "scores", "runs")
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
    """Site path -> file to publish: the part files of the three tables, as the store lists them
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


def leaderboard_csv(sets: pd.DataFrame) -> str:
    return sets.to_csv(index=False)


def downloads_page(published: dict[str, Path], root: str) -> str:
    items = [f'<li><a href="{href(root, CSV)}" download>leaderboard.csv</a>: the main leaderboard, every column</li>']
    for site_path, src in published.items():
        size = src.stat().st_size / 1e6
        what = "suite" if site_path.endswith(".toml") else site_path.split("/")[2] + " table (Parquet)"
        items.append(
            f'<li><a href="{href(root, site_path)}" download>{esc(site_path.split("/", 1)[1])}</a>: {esc(what)}, {size:.2f} MB</li>'
        )
    return (
        f"<ul>{''.join(items)}</ul>"
        '<p class="bench-note">The Parquet parts are the sweep\'s own files: read a table with '
        "<code>pandas.read_parquet(folder)</code> after downloading its parts into one folder. The command "
        "that reproduces each leaderboard row is in its <em>Reproduce</em> column (Columns, above the table).</p>"
    )
