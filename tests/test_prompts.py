"""Prompt sets from files: three formats, ids that belong to the row, a deterministic stratified
sample, and the PartiPrompts suites planned and stored with their categories."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import plan, prompts, store
from bench.config import BACKENDS, load_suite
from bench.errors import ConfigError
from bench.models import FAMILIES
from bench.runtime import Runtime

CPU = Runtime("cpu", "float32", "cpu")
ROWS = [
    ("A red cube on a blue sphere", "Artifacts", "Properties & Positioning"),
    ('"HELLO" written in neon', "Illustrations", "Writing & Symbols"),
    ("a cat", "Animals", "Basic"),
    ("two dogs and a cat", "Animals", "Quantity"),
]


def write(path, rows=ROWS, header=("Prompt", "Category", "Challenge")):
    """rows as a TSV, CSV or JSONL file, by the path's suffix."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(header, r))) + "\n" for r in rows))
    elif path.suffix == ".csv":
        quoted = lambda v: '"' + v.replace('"', '""') + '"'  # noqa: E731
        path.write_text("\n".join(",".join(map(quoted, r)) for r in [header, *rows]) + "\n")
    else:
        path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    return path


def suite_with(tmp_path, prompts_file: str, models: str = '["tiny-sd"]') -> str:
    path = tmp_path / "suite.toml"
    path.write_text(f"models = {models}\n{prompts_file}\n")
    return str(path)


def one_line_error(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        load_suite(*args, **kwargs)
    message = str(err.value)
    assert len(message.splitlines()) == 1, message
    return message


def all_cells(suite) -> list[plan.Cell]:
    specs = {key: suite.model_spec(key) for key in suite.models}
    return plan.cells_for(suite, specs, {(b, f): CPU for b in BACKENDS for f in FAMILIES})[0]


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl"])
def test_each_format_reads_the_same_prompts_with_their_labels(tmp_path, suffix):
    got = prompts.read(str(write(tmp_path / f"p{suffix}")))
    assert [(p.text, p.category, p.challenge) for p in got] == ROWS
    assert [p.id for p in got] == [prompts.stable_id(text, category) for text, category, _ in ROWS]


def test_tsv_keeps_quotes_csv_unquotes_and_outer_spaces_are_trimmed(tmp_path):
    tsv = tmp_path / "p.tsv"
    tsv.write_text('text\n"G I G G L E" on a wall \n  a cat\n')
    assert [p.text for p in prompts.read(str(tsv))] == ['"G I G G L E" on a wall', "a cat"]
    csv = tmp_path / "p.csv"
    csv.write_text('Prompts,Category\n"a cat, sitting",Animals\n')  # DrawBench's column names
    assert [(p.text, p.category) for p in prompts.read(str(csv))] == [("a cat, sitting", "Animals")]


def test_columns_are_found_by_default_name_or_named_by_the_suite(tmp_path):
    path = write(tmp_path / "p.csv", [("a cat", "x1")], header=("caption", "Key"))
    assert "no text column (text or prompt or prompts)" in one_line_error(
        suite_with(tmp_path, 'prompts_file = "p.csv"')
    )
    table = '[prompts_file]\npath = "p.csv"\ntext_column = "caption"\nid_column = "key"'
    (got,) = load_suite(suite_with(tmp_path, table)).prompts
    assert (got.id, got.text, got.category) == ("x1", "a cat", None)
    missing = one_line_error(suite_with(tmp_path, table + '\ncategory_column = "Kind"'))
    assert (
        missing.startswith("prompts_file: ")
        and "category_column: no column 'Kind'; columns: 'caption', 'Key'" in missing
    )
    assert path.exists()


@pytest.mark.parametrize(
    "body, says",
    [
        ('prompts_file = "nope"', "prompts_file: unknown prompt set 'nope'; shipped: parti"),
        ('prompts_file = "p.txt"', "unknown format '.txt'; allowed: .tsv, .csv, .jsonl"),
        ('prompts_file = "gone.tsv"', "prompts_file: no such file"),
        ("prompts_file = 5", "prompts_file: must be a prompt set name (parti), a path"),
        ('[prompts_file]\npath = "parti"\nsample = 0', "prompts_file.sample: must be a positive integer"),
        ('[prompts_file]\npath = "parti"\nsample = 10000', "prompts_file: sample = 10000, but 'parti' holds only 1632"),
        ('[prompts_file]\npath = "parti"\nsample_by = "category"', "prompts_file: sample_by needs sample"),
        ('[prompts_file]\npath = "parti"\nsample = 5\nsample_by = "Note"', "prompts_file.sample_by: unknown value"),
        ('[prompts_file]\npath = "parti"\ncolour = 1', "prompts_file.colour: unknown key; allowed: path,"),
        ("[prompts_file]\nsample = 5", "prompts_file.path: required"),
        ("", "prompts: required (or a prompts_file"),
    ],
)
def test_bad_prompts_files_fail_with_one_line_naming_the_field(tmp_path, body, says):
    assert says in one_line_error(suite_with(tmp_path, body))


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("p.tsv", "Prompt\n", "holds no prompts"),
        ("p.tsv", "Prompt\tCategory\na\tb\tc\n", "line 2: 3 fields, but the header names 2"),
        ("p.tsv", "Prompt\n\u200b\n", "line 2: Prompt: must be text with visible characters"),
        ("p.jsonl", '{"text": "a"}\n[1]\n', "line 2: must be a JSON object"),
        ("p.jsonl", '{"text": "a"}\n{"text": \n', "line 2: not valid JSON"),
        ("p.jsonl", '{"text": "a"}\n{"prompt": "b"}\n', "line 2: text: must be text"),
        ("p.jsonl", '{"text": "a", "id": "x"}\n{"text": "b", "id": "x"}\n', "lines 1 and 2 have the same id 'x'"),
        ("p.jsonl", '{"text": "a", "id": "../x"}\n', "line 1: id: must be an id matching"),
        # one name for two columns: a row would keep the last one's value, silently
        ("p.csv", "id,text,text\n1,a,b\n", "line 1: the header names the column 'text' twice"),
        ("p.tsv", "Prompt\tCategory\tCategory\na\tb\tc\n", "line 1: the header names the column 'Category' twice"),
        ("p.jsonl", '{"id": "1", "text": "a", "text": "b"}\n', "line 1: the key 'text' is given twice"),
        ("p.csv", "Text,text\na,b\n", "columns 'Text' and 'text' differ only in case"),
        ("p.jsonl", '{"text": "a"}\n{"Text": "b"}\n', "columns 'text' and 'Text' differ only in case"),
    ],
)
def test_bad_rows_are_named_by_line(tmp_path, name, content, says):
    (tmp_path / name).write_text(content)
    message = one_line_error(suite_with(tmp_path, f'prompts_file = "{name}"'))
    assert message.startswith("prompts_file: ") and says in message, message


def test_blank_column_names_may_repeat_and_a_named_column_is_found_exactly(tmp_path):
    # a spreadsheet's export with empty trailing columns; no role can pick a blank name
    (tmp_path / "p.csv").write_text("id,text,,\n1,a cat,,\n")
    assert [(p.id, p.text) for p in prompts.read(str(tmp_path / "p.csv"))] == [("1", "a cat")]
    (tmp_path / "q.csv").write_text("Text,text\nA,b\n")
    assert [p.text for p in prompts.read(str(tmp_path / "q.csv"), {"text": "text"})] == ["b"]


def test_a_file_that_is_not_utf8_fails_with_one_line(tmp_path):
    (tmp_path / "p.csv").write_bytes("text\ncaf\u00e9\n".encode("latin-1"))
    assert "must be UTF-8" in one_line_error(suite_with(tmp_path, 'prompts_file = "p.csv"'))


def test_a_relative_path_is_read_from_the_suite_files_folder_not_the_working_one(tmp_path, monkeypatch):
    (tmp_path / "sets").mkdir()
    write(tmp_path / "sets" / "p.jsonl", header=("text", "category", "challenge"))
    monkeypatch.chdir("/")
    suite = load_suite(suite_with(tmp_path, 'prompts_file = "sets/p.jsonl"'))
    assert [p.text for p in suite.prompts] == [r[0] for r in ROWS]


# --- ids --------------------------------------------------------------------------------------


def test_ids_belong_to_the_row_not_its_place(tmp_path):
    rows = [(f"prompt number {i}", f"cat{i % 3}", "Basic") for i in range(30)]
    first = {p.text: p.id for p in prompts.read(str(write(tmp_path / "a.tsv", rows)))}
    shuffled = random.Random(0).sample(rows, len(rows))
    assert {p.text: p.id for p in prompts.read(str(write(tmp_path / "b.tsv", shuffled)))} == first
    edited = list(rows)
    edited[7] = ("prompt number 7, at night", "cat1", "Basic")
    after = {p.text: p.id for p in prompts.read(str(write(tmp_path / "c.tsv", edited)))}
    assert {t: i for t, i in after.items() if t in first} == {t: i for t, i in first.items() if t != rows[7][0]}
    assert after[edited[7][0]] != first[rows[7][0]]


def test_spacing_and_unicode_form_do_not_change_an_id_but_the_category_does():
    assert prompts.stable_id("a  caf\u00e9 ", "Food") == prompts.stable_id("a cafe\u0301", "Food")
    assert prompts.stable_id("a cat", "Animals") != prompts.stable_id("a cat", "Arts")


def test_a_repeated_row_is_planned_once(tmp_path):
    got = prompts.read(str(write(tmp_path / "p.tsv", [*ROWS, ROWS[2]])))
    assert [p.text for p in got] == [r[0] for r in ROWS]


def test_the_shipped_partiprompts_file():
    parti = prompts.read("parti")
    assert len(parti) == len({p.id for p in parti}) == 1632
    assert len({p.category for p in parti}) == 12 and len({p.challenge for p in parti}) == 11
    assert all(p.text == p.text.strip() for p in parti)


# --- the stratified sample --------------------------------------------------------------------


def test_parti_200_is_200_prompts_from_every_category_in_proportion_every_time():
    suite = load_suite("parti-200")
    parti = prompts.read("parti")
    assert [p.id for p in suite.prompts] == [p.id for p in load_suite("parti-200").prompts]
    assert len(suite.prompts) == len({p.id for p in suite.prompts}) == 200
    sizes, taken = Counter(p.category for p in parti), Counter(p.category for p in suite.prompts)
    assert set(taken) == set(sizes)
    assert all(abs(taken[c] - 200 * sizes[c] / len(parti)) < 1 for c in sizes)
    assert {p.id for p in suite.prompts} <= {p.id for p in parti}
    assert suite.prompts_file.rows == 1632


sizes = st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(1, 60), min_size=1, max_size=8)


@settings(derandomize=True, database=None, deadline=None, max_examples=150)
@given(sizes=sizes, fraction=st.floats(0, 1), seed=st.integers(0, 3))
def test_a_sample_is_exact_proportional_and_moves_little_when_a_row_is_added(sizes, fraction, seed):
    rows = [prompts.Prompt(f"{s}-{i}", f"text {s} {i}", category=s) for s, k in sizes.items() for i in range(k)]
    n = round(fraction * len(rows))
    seats = prompts.allocate(sizes, n, seed)
    assert sum(seats.values()) == n and all(0 <= seats[s] <= sizes[s] for s in sizes)
    assert all(abs(seats[s] - n * sizes[s] / len(rows)) < 1 for s in sizes)
    picked = prompts.sample(rows, n, "category", seed)
    assert picked == prompts.sample(list(reversed(rows)), n, "category", seed)[::-1]  # order-free
    assert Counter(p.category for p in picked) == {s: k for s, k in seats.items() if k}
    # one more row in one stratum: every other stratum's picks only grow or shrink at the end
    # of its own ranking (its share moves by a seat at most), they are never reshuffled
    grown = [*rows, prompts.Prompt("new", "a new prompt", category=next(iter(sizes)))]
    again = {p.id for p in prompts.sample(grown, n, "category", seed)}
    for s in list(sizes)[1:]:
        before, after = ({p.id for p in chosen if p.category == s} for chosen in (picked, rows))
        after &= again
        assert before <= after or after <= before
        assert abs(len(before) - len(after)) <= 1


def test_a_sample_without_strata_and_another_seed(tmp_path):
    write(tmp_path / "p.tsv", [(f"p {i}", "", "") for i in range(50)])

    def pick(seed: int) -> list[str]:
        table = f'[prompts_file]\npath = "p.tsv"\nsample = 10\nsample_seed = {seed}'
        return [p.id for p in load_suite(suite_with(tmp_path, table)).prompts]

    assert len(pick(0)) == 10 and pick(0) == pick(0) and pick(0) != pick(1)


# --- plans and rows ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, n", [("parti", 1632), ("parti-200", 200)])
def test_the_parti_suites_plan_every_prompt_for_every_model_scheduler_and_seed(name, n):
    suite = load_suite(name)
    cells = all_cells(suite)
    assert len(suite.prompts) == n
    assert len(cells) == n * len(suite.models) * len(suite.schedulers) * len(suite.seeds) * len(suite.backends)
    assert len({c.cell_id for c in cells}) == len(cells)
    assert all(c.category and c.challenge for c in cells)


def test_labels_ride_on_cells_without_changing_their_ids(tmp_path):
    inline = '[[prompts]]\nid = "lighthouse"\ntext = "A lighthouse on a rocky coast at dusk, oil painting"\n'
    plain = load_suite(suite_with(tmp_path, inline))
    labelled = load_suite(suite_with(tmp_path, inline + 'category = "Outdoor Scenes"\nchallenge = "Basic"\n'))
    assert [c.cell_id for c in all_cells(plain)] == [c.cell_id for c in all_cells(labelled)]
    assert {(c.category, c.challenge) for c in all_cells(labelled)} == {("Outdoor Scenes", "Basic")}
    # the id the tiny suite's published rows carry (tests/test_plan.py pins the rest)
    tiny = {(c.model, c.backend, c.scheduler, c.prompt_id, c.seed): c for c in all_cells(load_suite("tiny"))}
    assert tiny[("tiny-sd", "pytorch", "euler-a", "lighthouse", 0)].cell_id == "45c731716d83ed3a888d"


@pytest.mark.slow
def test_category_and_challenge_are_stored_with_each_generation(tmp_path):
    from bench import sweep

    write(tmp_path / "p.jsonl", ROWS[2:], header=("text", "category", "challenge"))
    body = 'prompts_file = "p.jsonl"\nschedulers = ["ddim"]\nseeds = "0"\nbatch_size = 1'
    suite = load_suite(suite_with(tmp_path, body))
    report = sweep.run(suite, tmp_path / "d", tmp_path / "i", score=False)
    gen = store.read(tmp_path / "d", "generations").sort_values("prompt")
    assert report.failed == 0 and len(gen) == 2
    assert gen[["prompt", "category", "challenge"]].values.tolist() == [list(r) for r in ROWS[2:]]
    assert gen["prompt_id"].tolist() == [prompts.stable_id(t, c) for t, c, _ in ROWS[2:]]


def test_a_suite_may_hold_its_own_prompts_beside_a_prompt_set_its_own_first(tmp_path):
    both = load_suite(
        suite_with(tmp_path, '[prompts_file]\npath = "parti"\nsample = 3\n[[prompts]]\nid = "mine"\ntext = "b"')
    )
    assert [p.id for p in both.prompts][0] == "mine" and len(both.prompts) == 4
    taken = both.prompts[1].id  # a prompt set's id may not be reused by a table of one's own
    body = f'[prompts_file]\npath = "parti"\nsample = 3\n[[prompts]]\nid = "{taken}"\ntext = "b"'
    assert f"prompts_file: id {taken!r} is both a [[prompts]] table's and the file's" in one_line_error(
        suite_with(tmp_path, body)
    )
