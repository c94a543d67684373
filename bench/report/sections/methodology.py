"""The methodology page's tables: what was run, the metrics, each run's environment, the seed study."""

from __future__ import annotations

from dataclasses import asdict
from importlib import resources

import pandas as pd

from bench.metrics import MetricInfo
from bench.report.html import DASH, Code, Col, Link, Num, esc, fmt, missing, show, table
from bench.report.sections.common import Scale
from bench.report.stats import options_text

RUN_FIELDS = [
    ("suite", "suite"),
    ("started_at", "started (UTC)"),
    ("finished_at", "finished (UTC)"),
    ("git_commit", "git commit"),
    ("python", "Python"),
    ("torch", "torch"),
    ("diffusers", "diffusers"),
    ("transformers", "transformers"),
    ("optimum", "optimum"),
    ("onnxruntime", "onnxruntime"),
    ("open_clip", "open_clip"),
    ("gpu_name", "GPU"),
    ("gpu_driver", "GPU driver"),
    ("cuda", "CUDA"),
    ("cpu", "CPU"),
    ("cpu_count", "CPU cores"),
    ("ram_gb", "RAM GB"),
    ("platform", "platform"),
    ("shard", "shards"),
    ("workers", "workers"),
    ("images_ok", "images ok (in the tables)"),
    ("images_failed", "images failed (in the tables)"),
    ("command", "command"),
]
RUN_CODE_FIELDS = ("command", "git_commit")  # shown as code: copied more often than read


def _plain(value: object) -> str:
    """A run field as escaped text: timestamps to the second, floats without trailing zeros."""
    if missing(value) or value is pd.NaT:
        return DASH
    if isinstance(value, pd.Timestamp):
        return esc(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, float):
        return esc(f"{value:g}")
    return esc(value)


def launches(runs: pd.DataFrame, generations: pd.DataFrame) -> list[dict]:
    """One record per launch, newest first: the runs that share a `launch_id` (the shards of
    one torchrun, Slurm array or Ray sweep) as one, else each run alone.

    Image counts come from the generations table, not from the runs' own counters: a cell made
    twice (a failed cell retried, two sweeps that raced) is counted once, for the run whose row
    the table keeps. Fields the runs disagree on list their distinct values."""
    if runs.empty:
        return []
    # Tables written before a column existed read it as nulls; a hand-made frame may lack it.
    runs = runs.reindex(
        columns=list(dict.fromkeys([*runs.columns, "launch_id", "shard", "workers", "started_at", "finished_at"]))
    )
    runs = runs.assign(_launch=runs["launch_id"].fillna(runs["run_id"]))
    status = generations.groupby(["run_id", "status"]).size() if not generations.empty else pd.Series(dtype=int)
    out = []
    for launch, part in runs.groupby("_launch", sort=False):
        ids = set(part["run_id"])
        record = {key: _joined(part[key]) for key, _ in RUN_FIELDS if key in part}
        record["started_at"], record["finished_at"] = part["started_at"].min(), part["finished_at"].max()
        counts: dict[str, int] = {}
        for (rid, st), n in status.items():
            if rid in ids:
                counts[st] = counts.get(st, 0) + int(n)
        record["images_ok"] = counts.get("ok", 0)
        record["images_failed"] = counts.get("failed", 0)
        record["shard"] = ", ".join(sorted(part["shard"].dropna())) or None
        record["workers"] = int(part["workers"].fillna(1).sum())
        record["title"] = launch
        record["runs"] = len(part)
        out.append(record)
    return sorted(out, key=lambda r: (pd.isna(r["started_at"]), r["started_at"]), reverse=True)


def _joined(values: pd.Series) -> object:
    """One value where the runs agree (or there is one run), else their distinct values."""
    distinct = list(dict.fromkeys(v for v in values if not missing(v)))
    if len(distinct) <= 1:
        return distinct[0] if distinct else None
    return ", ".join(_plain(v) for v in distinct)


CHANGELOG_RUNS = 5  # the latest launches the leaderboard lists; the Methodology page has them all


def _day(value: object) -> str:
    return "" if missing(value) or value is pd.NaT else pd.Timestamp(value).strftime("%Y-%m-%d")


def board_changelog(runs: pd.DataFrame, generations: pd.DataFrame, runs_url: str) -> str:
    """ "Data as of" the newest launch with images on the board, and the latest few of them
    (date, suite, images, GPU or CPU) folded under it: one line until opened."""
    made = [r for r in launches(runs, generations) if r["images_ok"] > 0]
    if not made:
        return ""
    items = []
    for r in made[:CHANGELOG_RUNS]:
        machine = r.get("gpu_name") or (f"CPU: {r['cpu']}" if not missing(r.get("cpu")) else "CPU")
        items.append(
            f"<li>{esc(_day(r['finished_at']) or _day(r['started_at']) or DASH)}: "
            f"<code>{esc(r.get('suite') or DASH)}</code>, {r['images_ok']:,} images, {esc(machine)}</li>"
        )
    newest = _day(made[0]["finished_at"]) or _day(made[0]["started_at"]) or "an unknown day"
    more = (
        f' <a href="{esc(runs_url)}">All {len(made)} runs</a> and their environments.'
        if len(made) > 1 and runs_url
        else ""
    )
    return (
        f'<details class="bench-changelog"><summary>Data as of <strong>{esc(newest)}</strong> · '
        f"{len(made)} run{'s' if len(made) > 1 else ''} on the board</summary>"
        f'<ul>{"".join(items)}</ul><p class="bench-note">Newest first: the day it finished, its suite, the '
        f"images it made that the board shows, and its machine.{more}</p></details>"
    )


def runs_table(runs: pd.DataFrame, generations: pd.DataFrame) -> str:
    """The environment of each launch, one column per launch (newest first), one row per field."""
    records = launches(runs, generations)
    if not records:
        return '<p class="bench-note">No run recorded in the <code>runs</code> table.</p>'
    head = "<th>run</th>" + "".join(
        f"<th><code>{esc(r['title'])}</code>" + (f"<br>{r['runs']} runs" if r["runs"] > 1 else "") + "</th>"
        for r in records
    )
    body = []
    for key, label in RUN_FIELDS:
        code = key in RUN_CODE_FIELDS
        tds = "".join(
            f"<td><code>{_plain(r.get(key))}</code></td>" if code else f"<td>{_plain(r.get(key))}</td>" for r in records
        )
        body.append(f'<tr><th scope="row">{esc(label)}</th>{tds}</tr>')
    return f'<div class="bench-grid bench-kv"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _distinct(values: pd.Series, digits: int | None = None) -> str:
    vals = sorted({v for v in values if not missing(v)}, key=str)
    if not vals:
        return DASH
    return ", ".join(fmt(v, digits) if digits is not None else show(v) for v in vals)


def _options(part: pd.DataFrame) -> str:
    """The distinct backend options of a model x backend as text; "; " between sets, whose own
    text holds commas."""
    raw = part["backend_options"] if "backend_options" in part.columns else pd.Series([], dtype=object)
    texts = sorted({options_text(v) for v in raw} - {""})
    return "; ".join(texts) or DASH


SETTINGS_COLUMNS = [
    Col("Model", "model"),
    Col("Backend", "backend"),
    Col("Family", "family"),
    Col("Weights", "weights", tooltip="hub id @ revision"),
    Col("LoRA", "lora"),
    Col("dtype", "dtype"),
    Col("Options", "options", tooltip="how the backend ran beyond device and dtype (torch.compile mode, ONNX graph)"),
    Col("Schedulers", "schedulers"),
    Col("steps", "steps"),
    Col("guidance", "guidance"),
    Col("size", "size"),
    Col("seeds", "seeds", Num(0), "distinct seeds", "higher"),
]
SETTING_KEYS = [
    "model", "backend", "family", "hub_id", "revision", "lora", "dtype", "backend_options", "scheduler",
    "steps", "guidance_scale", "width", "height",
]  # fmt: skip


def settings_table(frame: pd.DataFrame) -> str:
    """What was run, per model x backend: weights, precision, options, steps, guidance, size, seeds."""
    # Settings repeat on every row: keep the distinct combinations (a few) before going row by row.
    distinct = frame[[c for c in SETTING_KEYS if c in frame.columns]].drop_duplicates()
    seeds = frame.groupby(["model", "backend"])["seed"].nunique()
    rows = []
    for (model, backend), part in distinct.groupby(["model", "backend"], sort=True):
        recs = part.to_dict("records")
        weights = [
            f"{r['hub_id']}@{r['revision']}" if not missing(r.get("revision")) else r.get("hub_id") for r in recs
        ]
        sizes = [
            f"{show(r['width'])}×{show(r['height'])}"
            for r in recs
            if not missing(r.get("width")) and not missing(r.get("height"))
        ]
        rows.append(
            {
                "model": model,
                "backend": backend,
                "family": _distinct(part["family"]),
                "weights": _distinct(pd.Series(weights)),
                "lora": _distinct(part["lora"]),
                "dtype": _distinct(part["dtype"]),
                "options": _options(part),
                "schedulers": ", ".join(s or DASH for s in sorted(part["scheduler"].unique())),
                "steps": _distinct(part["steps"]),
                "guidance": _distinct(part["guidance_scale"], 1),
                "size": _distinct(pd.Series(sizes)),
                "seeds": seeds[(model, backend)],
            }
        )
    return table(SETTINGS_COLUMNS, rows)


def metrics_table(metrics: list[MetricInfo], shown: str) -> str:
    """Definitions of the metrics found in the scores table (metadata from bench.metrics)."""

    def use(m: dict) -> str:
        return "ranks the leaderboard" if m["name"] == shown else ("speed page" if m["kind"] == "parity" else "")

    columns = [
        Col("Metric", "name", Code()),
        Col("Name", "title"),
        Col("Better", lambda m: "higher" if m["higher_is_better"] else "lower"),
        Col("Unit", "unit"),
        Col("On this site", use),
    ]
    return table(columns, [asdict(m) for m in metrics])


def _ours_minus_seed(row: dict) -> float | None:
    return None if missing(row["ours_best"]) else row["ours_best"] - row["clip_raw_cosine"]


def seed_table(comparison: pd.DataFrame, scale: Scale) -> str:
    """The seed study's published CLIP next to our PyTorch numbers for the same cell: our best
    image against theirs, our mean with its interval beside it."""
    columns = [
        Col("Prompt", "prompt_id"),
        Col("Model", "model"),
        Col("Scheduler", "scheduler", tooltip="the seed did not say which scheduler its DALL-E 3 column used"),
        Col(
            "ours on",
            "ours_scheduler",
            tooltip="the scheduler of ours set against it: the same, or for the seed's unnamed one the "
            "model card's (all: every scheduler we ran)",
        ),
        Col(
            "seed study",
            "clip_raw_cosine",
            scale.num,
            "the origin README's number, converted to this site's scale",
            "higher",
        ),
        Col("ours best", "ours_best", scale.num, "our best PyTorch image, as the seed shows its best", "higher"),
        Col("ours − seed", _ours_minus_seed, scale.num, "our best image minus the seed's best", "higher"),
        Col("ours mean", "ours_mean", scale.num, "mean over our PyTorch images", "higher"),
        Col("±95%", "ours_half_width", scale.num, "half-width of the mean's 95% interval (Student's t)"),
        Col("images", "ours_n", Num(0), "our scored PyTorch images", "higher"),
    ]
    return table(columns, comparison)


def read_anchors() -> pd.DataFrame:
    """Published scores to check a real run against (bench/data/anchors.csv)."""
    with (resources.files("bench") / "data" / "anchors.csv").open("rb") as f:
        return pd.read_csv(f)


def anchors_table(anchors: pd.DataFrame, frame: pd.DataFrame, scores: pd.DataFrame) -> str:
    """Each published anchor beside our mean for the same metric and model (eager PyTorch
    images, on the anchor's scale), with the number of images behind it. The prompts differ
    from the anchor's unless a suite uses the same set: the anchor says what a score of that
    model usually is, not what this run must give."""
    ok = frame[(frame["status"] == "ok") & (frame["backend"] == "pytorch")][["cell_id", "model"]]
    rows = []
    for a in anchors.itertuples():
        mine = scores[scores["metric"] == a.metric].merge(ok, on="cell_id")
        mine = mine[mine["model"] == a.model]["value"]
        scale = 100.0 if a.published_scale.startswith("100 x") else 1.0
        rows.append(
            {
                "metric": a.metric,
                "model": a.model,
                "theirs": f"{a.their_model}, {a.checkpoint}",
                "published": a.published,
                "ours": mine.mean() * scale if len(mine) else None,
                "n": len(mine),
                "prompts": a.prompts,
                "source": "source",
                "url": a.source,
            }
        )
    columns = [
        Col("Metric", "metric", Code()),
        Col("Model", "model", Code()),
        Col("Published for", "theirs"),
        Col("Published", "published", Num(2), "the paper's or repository's number"),
        Col("Ours", "ours", Num(2), "mean over our eager PyTorch images, on the published scale"),
        Col("Images", "n", Num(0), "our scored eager PyTorch images of that model"),
        Col("Their prompts", "prompts"),
        Col("Source", "source", Link("url")),
    ]
    return table(columns, rows)
