"""Prompts: the Prompt record, and prompt sets read from a file (TSV, CSV or JSONL) or a folder
of JSON lists (HPS v2's benchmark: one file per style, the style is the category), given stable
ids and, if asked, sampled deterministically by category.

A prompt's id comes from its row, never from the row's position: the file's own id column
where it has one, else a short hash of the normalised text and category. Reordering a file, or
adding rows to it, leaves every other id (and so every stored cell) as it was. A sample of N
is stratified: each category gets its share of N by largest remainder, and within a category
the prompts are ranked by a seeded hash of their ids, so a row added to one category moves at
most one prompt in or out of each other category.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pydantic
from pydantic import ConfigDict, TypeAdapter, ValidationError

from bench.config_rules import Line, Negative, PromptId, PromptText, show
from bench.errors import PromptsNotFetched


@pydantic.with_config(ConfigDict(extra="forbid", revalidate_instances="always"))
@dataclass(frozen=True)
class Prompt:
    id: PromptId
    text: PromptText
    negative: Negative | None = None  # None: the model's default negative prompt
    # Labels from the prompt set (PartiPrompts: 12 categories, 11 challenge aspects). They
    # describe the prompt, not the image, so they are not part of a cell's id.
    category: Line | None = None
    challenge: Line | None = None


# A plain dataclass builds without checks (pydantic checks it inside a Suite); rows of a file
# are checked through this.
_CHECKED = TypeAdapter(Prompt)

# Prompt sets shipped inside the package (bench/data/), by the name a suite gives them; a name
# without a suffix is a folder of JSON lists (a file per category).
SHIPPED = {
    "parti": "parti/PartiPrompts.tsv",
    "mlperf-coco": "mlperf-sdxl/captions_source.tsv",
    "hpdv2-tiny": "hpdv2-tiny",
}


@dataclass(frozen=True)
class HubPromptSet:
    """A prompt set fetched like weights, never shipped: JSON lists of prompt strings in a folder
    of a Hugging Face dataset repo, one file per category (the file's stem)."""

    repo: str
    folder: str
    files: tuple[str, ...]
    revision: str | None = None  # None: the default branch (`bench fetch` prints the commit)
    licence: str = ""


# HPS v2's benchmark: 3,200 prompts, 800 per style. The hpsv2 package reads exactly these files
# (hpsv2/utils.py: hf_hub_download("zhwang/HPDv2", file, subfolder="benchmark",
# repo_type="dataset"), then json.load: a list of strings) at the default branch: no public code
# pins a revision of the dataset, so neither do we.
FETCHED = {
    "hpdv2": HubPromptSet(
        "zhwang/HPDv2",
        "benchmark",
        ("anime.json", "concept-art.json", "paintings.json", "photo.json"),
        licence="see the zhwang/HPDv2 dataset card",
    ),
}
FORMATS = (".tsv", ".csv", ".jsonl")
STRATA = ("category", "challenge")  # what a sample may be stratified by
# The columns looked for when a suite names none, matched without regard to case:
# PartiPrompts has Prompt, DrawBench has Prompts, most JSONL sets have text.
DEFAULT_COLUMNS = {
    "text": ("text", "prompt", "prompts"),
    "id": ("id",),
    "category": ("category",),
    "challenge": ("challenge",),
}
ID_HEX = 12  # 48 bits: a clash among 100,000 prompts has odds of about 1 in 50,000, and is caught


@dataclass(frozen=True)
class PromptSet:
    """A prompts file as a suite uses it: where it came from, how it was read, what it holds."""

    source: str  # a shipped name or the file's path
    spec: dict  # the suite's [prompts_file] table, as validated
    rows: int  # prompts in the file (after merging repeats), before sampling
    prompts: list[Prompt]


def is_path(source: str) -> bool:
    """A file path rather than the name of a shipped set: it has a suffix or a slash."""
    return bool(Path(source).suffix) or "/" in source or "\\" in source


def relative_to(value, base: Path):
    """A suite's prompts_file value with a relative file path made relative to `base` (the
    suite file's folder); any other value, valid or not, is returned as it was."""
    spec = value.get("path") if isinstance(value, dict) else value
    if not isinstance(spec, str) or not is_path(spec) or Path(spec).is_absolute():
        return value
    joined = str(base / spec)
    return {**value, "path": joined} if isinstance(value, dict) else joined


def stable_id(text: str, category: str | None) -> str:
    """A prompt's id from its content: the same words with the same category give the same id
    whatever the file's order, spacing or Unicode composition."""
    key = "\x1f".join(" ".join(unicodedata.normalize("NFC", s or "").split()) for s in (text, category))
    return hashlib.sha256(key.encode()).hexdigest()[:ID_HEX]


# --- reading a file into rows ---------------------------------------------------------------


def _read_text(source: str) -> tuple[str, str]:
    """(text, suffix) of a shipped set or a file; ValueError with one line on failure."""
    if not is_path(source):
        if source not in SHIPPED:
            raise ValueError(
                f"unknown prompt set {show(source)}; shipped: {', '.join(SHIPPED)}; fetched: {', '.join(FETCHED)}; "
                f"or a path to a {', '.join(FORMATS[:-1])} or {FORMATS[-1]} file"
            )
        data = resources.files("bench").joinpath("data", *SHIPPED[source].split("/")).read_bytes()
        suffix = Path(SHIPPED[source]).suffix
    else:
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"{source!r}: unknown format {show(path.suffix)}; allowed: {', '.join(FORMATS)}")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ValueError(f"no such file {source!r}") from None
        except OSError as e:  # a directory, no permission, a name too long
            raise ValueError(f"cannot read {source!r}: {e.strerror}") from None
    try:
        # utf-8-sig: spreadsheet programs start their CSV exports with a byte-order mark
        return data.decode("utf-8-sig"), suffix
    except UnicodeDecodeError as e:
        raise ValueError(f"{source!r}: the file must be UTF-8 (byte {e.start} is not)") from None


def _table_rows(text: str, suffix: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """(column names, [(line number, {column: value})]) of a TSV or CSV text."""
    # TSV has no quoting (IANA text/tab-separated-values): PartiPrompts has prompts that start
    # with a quote, which csv's default dialect would swallow.
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if suffix == ".tsv" else {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, **options)
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError("the file is empty; the first line must name the columns")
        _no_repeated_names(header)
        rows = []
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue  # blank lines, a trailing newline
            if len(fields) != len(header):
                raise ValueError(f"line {reader.line_num}: {len(fields)} fields, but the header names {len(header)}")
            rows.append((reader.line_num, dict(zip(header, fields))))
    except csv.Error as e:
        raise ValueError(f"line {reader.line_num}: not valid {suffix[1:].upper()}: {e}") from None
    return header, rows


def _no_repeated_names(header: list[str]) -> None:
    """A header naming one column twice: a row would keep only the last of the two values, so
    `id,text,text` would run the second column's text. Blank names are left alone: no role can
    choose them, and spreadsheets export trailing empty columns."""
    seen: set[str] = set()
    for name in header:
        if name in seen and name.strip():
            raise ValueError(f"line 1: the header names the column {show(name)} twice; give each column its own name")
        seen.add(name)


class _RepeatedKey(Exception):
    """A key given twice in one JSON object (raised out of json.loads, so the line is named)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object, refusing a key given twice (json.loads would keep the last silently)."""
    row: dict = {}
    for key, value in pairs:
        if key in row:
            raise _RepeatedKey(key)
        row[key] = value
    return row


def _jsonl_rows(text: str) -> tuple[list[str], list[tuple[int, dict]]]:
    columns, rows = {}, []
    # split on newlines only: JSON strings may hold U+2028 and other breaks splitlines() cuts at
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=_object)
        except _RepeatedKey as e:
            raise ValueError(f"line {number}: the key {show(e.key)} is given twice; give each key once") from None
        except (ValueError, RecursionError) as e:
            raise ValueError(f"line {number}: not valid JSON: {str(e).splitlines()[0]}") from None
        if not isinstance(row, dict):
            raise ValueError(f"line {number}: must be a JSON object (got {show(row)})")
        columns.update(dict.fromkeys(row))
        rows.append((number, row))
    return list(columns), rows


def _column(columns: list[str], asked: str | None, role: str) -> str | None:
    """The column holding `role`: the one the suite names (exactly, else ignoring case), or the
    first default name present; None where an optional one is absent. Two columns that differ
    only in case (Text and text) and both match are refused: which one was meant is a guess."""
    folded: dict[str, list[str]] = {}
    for c in columns:
        folded.setdefault(c.casefold(), []).append(c)

    def one(key: str) -> str | None:
        matches = folded.get(key.casefold(), [])
        if len(matches) > 1:
            raise ValueError(
                f"columns {' and '.join(map(show, matches))} differ only in case, and both could be the "
                f"{role} column; rename one, or name it exactly with {role}_column = ..."
            )
        return matches[0] if matches else None

    if asked is not None:
        found = asked if asked in columns else one(asked)
        if found is None:
            raise ValueError(f"{role}_column: no column {show(asked)}; columns: {', '.join(map(show, columns))}")
        return found
    found = next((hit for name in DEFAULT_COLUMNS[role] if (hit := one(name)) is not None), None)
    if found is None and role == "text":
        raise ValueError(
            f"no text column ({' or '.join(DEFAULT_COLUMNS['text'])}); name it with text_column = ...; "
            f"columns: {', '.join(map(show, columns))}"
        )
    return found


def _label(value) -> str | None:
    """A category or challenge cell: blank is no label; a JSON number is read as its text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else value


def _prompt(line: int, row: dict, cols: dict) -> Prompt:
    text = row.get(cols["text"])
    category, challenge = (_label(row.get(cols[k])) if cols[k] else None for k in ("category", "challenge"))
    if cols["id"] is not None:
        raw = row.get(cols["id"])
        given = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    else:
        given = stable_id(text if isinstance(text, str) else "", category)  # a bad text is named below
    try:
        # The text the model sees has no outer whitespace: it carries no meaning, and an edited
        # copy of the file (spreadsheets trim cells) must still describe the same cells.
        text = text.strip() if isinstance(text, str) else text
        return _CHECKED.validate_python(dict(id=given, text=text, category=category, challenge=challenge))
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        field = {"id": cols["id"] or "id", "text": cols["text"]}.get(err["loc"][0], cols.get(err["loc"][0]))
        reason = str(err.get("ctx", {}).get("error", err["msg"]))
        raise ValueError(f"line {line}: {field}: {reason}") from None


def fetched_files(name: str) -> list[Path] | None:
    """The files of a fetched prompt set in the local HF cache, in order; None when any is absent."""
    from huggingface_hub import try_to_load_from_cache

    hub = FETCHED[name]
    found = [
        try_to_load_from_cache(hub.repo, f"{hub.folder}/{f}", revision=hub.revision, repo_type="dataset")
        for f in hub.files
    ]
    return [Path(p) for p in found] if all(isinstance(p, str) for p in found) else None


def _json_list_files(source: str) -> list[tuple[str, bytes]]:
    """(category, bytes) of each JSON list of a fetched set or a shipped folder."""
    if source in FETCHED:
        if (paths := fetched_files(source)) is None:
            hub = FETCHED[source]
            raise PromptsNotFetched(
                f"prompts {source!r} are not here: they are fetched like weights, never shipped "
                f"({hub.repo} dataset, {hub.folder}/{{{','.join(hub.files)}}})",
                source,
            )
        return [(p.name.removesuffix(".json"), p.read_bytes()) for p in paths]
    folder = resources.files("bench").joinpath("data", *SHIPPED[source].split("/"))
    entries = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return [(f.name.removesuffix(".json"), f.read_bytes()) for f in entries]


def _json_list_rows(source: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """Rows of JSON lists of prompt strings, numbered across the files, each file's stem as the
    category (HPS v2: anime, concept-art, paintings, photo)."""
    rows = []
    for category, data in _json_list_files(source):
        try:
            texts = json.loads(data.decode("utf-8-sig"))
        except (ValueError, RecursionError) as e:
            raise ValueError(f"{category}.json: not valid JSON: {str(e).splitlines()[0]}") from None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"{category}.json: must be a JSON list of prompt strings")
        rows += [(len(rows) + 1, {"text": t, "category": category}) for t in texts]
    return ["text", "category"], rows


def is_json_lists(source: str) -> bool:
    """A fetched set, or a shipped folder of JSON lists (its SHIPPED entry has no suffix)."""
    return source in FETCHED or (source in SHIPPED and not Path(SHIPPED[source]).suffix)


def read(source: str, columns: dict | None = None) -> list[Prompt]:
    """Every prompt of a shipped set, a fetched set or a file, in file order, each with its
    stable id.

    `columns` maps text, id, category, challenge to column names (missing: the defaults). A row
    that repeats another's text and category (so its id) adds nothing and is merged into it;
    two rows with the same id column value but other prompts are an error.
    """
    columns = columns or {}
    if is_json_lists(source):
        names, rows = _json_list_rows(source)
    else:
        text, suffix = _read_text(source)
        names, rows = _jsonl_rows(text) if suffix == ".jsonl" else _table_rows(text, suffix)
    if not rows:
        raise ValueError(f"{source!r} holds no prompts")
    cols = {role: _column(names, columns.get(role), role) for role in DEFAULT_COLUMNS}
    by_id: dict[str, tuple[int, Prompt]] = {}
    for line, row in rows:
        prompt = _prompt(line, row, cols)
        if prompt.id not in by_id:
            by_id[prompt.id] = (line, prompt)
        elif cols["id"] is not None or _content(by_id[prompt.id][1]) != _content(prompt):
            raise ValueError(f"lines {by_id[prompt.id][0]} and {line} have the same id {prompt.id!r}")
    return [prompt for _, prompt in by_id.values()]


def _content(prompt: Prompt) -> str:
    return stable_id(prompt.text, prompt.category)


# --- a deterministic stratified sample ------------------------------------------------------


def _rank(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()


def allocate(sizes: dict[str, int], n: int, seed: int = 0) -> dict[str, int]:
    """n seats shared among strata in proportion to their sizes, by largest remainder
    (Hamilton's method): every stratum gets its exact share rounded down or up, so within 1 of
    it, and the shares add up to n. Ties of remainder go by a seeded hash of the stratum."""
    total = sum(sizes.values())
    if not 0 <= n <= total:
        raise ValueError(f"cannot take {n} of {total}")
    # integer arithmetic: exact shares, no float ties
    seats = {s: size * n // total for s, size in sizes.items()}
    remainders = sorted(sizes, key=lambda s: (-(sizes[s] * n % total), _rank(seed, s)))
    for s in remainders[: n - sum(seats.values())]:
        seats[s] += 1
    return seats


def sample(prompts: list[Prompt], n: int, by: str | None = None, seed: int = 0) -> list[Prompt]:
    """n of the prompts, in their original order: each stratum of `by` (category, challenge;
    None: one stratum) gets its proportional share, filled with its prompts of lowest seeded
    hash of id. The same inputs always give the same sample."""
    strata: dict[str, list[Prompt]] = {}
    for p in prompts:
        strata.setdefault((getattr(p, by) or "") if by else "", []).append(p)
    seats = allocate({s: len(members) for s, members in strata.items()}, n, seed)
    chosen = set()
    for s, members in strata.items():
        chosen.update(p.id for p in sorted(members, key=lambda p: _rank(seed, p.id))[: seats[s]])
    return [p for p in prompts if p.id in chosen]


def load(spec: dict) -> PromptSet:
    """A suite's [prompts_file] table (already type-checked) as the prompts it plans."""
    source = spec["path"]
    columns = {role: spec[f"{role}_column"] for role in DEFAULT_COLUMNS if f"{role}_column" in spec}
    prompts = read(source, columns)
    n, by = spec.get("sample"), spec.get("sample_by")
    if by is not None and n is None:
        raise ValueError("sample_by needs sample = <how many prompts to keep>")
    if by is not None and all(getattr(p, by) is None for p in prompts):
        raise ValueError(f"sample_by = {by!r}, but {source!r} has no {by} column (or it is empty)")
    if n is not None and n > len(prompts):
        raise ValueError(f"sample = {n}, but {source!r} holds only {len(prompts)} prompts")
    chosen = prompts if n is None else sample(prompts, n, by, spec.get("sample_seed", 0))
    return PromptSet(source, dict(spec), len(prompts), chosen)
