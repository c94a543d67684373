"""Property tests of suite validation: any TOML document either loads into a Suite that keeps
every invariant and the values it states (nothing coerced), or fails with a ConfigError of one
"<field path>: ..." line per problem, naming the place that is wrong; never any other exception.
Random documents (derandomized: CI sees the same examples every run), and an exhaustive grid of
awkward values at every place of one valid suite."""

from __future__ import annotations

import copy
import functools
import math
import re
import tomllib
import typing
import unicodedata

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bench import config
from bench.config import BACKENDS, MAX_SEEDS, OVERRIDABLE, Prompt, Suite, load_suite, parse_seeds
from bench.errors import ConfigError
from bench.metrics import METRICS, REFERENCE_WITHOUT_FEATURES, SCORABLE
from bench.models import MODELS, ModelSpec
from bench.schedulers import SCHEDULERS

# The same examples every run: derandomized, no example database.
examples = functools.partial(settings, derandomize=True, database=None, deadline=None)
BARE = re.compile(r"[A-Za-z0-9_-]+")
# A line starts with a field path: a root key (bare, or quoted as repr quotes it), then
# .key / [index] parts, then ": ".
PATH_ROOT = re.compile(r"""([A-Za-z0-9_-]+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?=[.\[]|: )""")
FIELDS = tuple(Suite.model_fields)
CHOICE = {"dtype": config.DTYPES, "device": config.DEVICES, "provider": config.PROVIDERS}
CHOICE["provider_fallback"] = config.PROVIDER_FALLBACK
# KID against a shipped reference of mu and sigma only needs a suite's own fid_reference: a rule
# across two fields (tests/test_set_scores.py), so the documents here never list it alone.
ALONE = [m for m in SCORABLE if not (m in METRICS and METRICS[m].weights[1:] and METRICS[m].weights[1].hub_id in REFERENCE_WITHOUT_FEATURES and METRICS[m].options.get("statistic") == "kid")]  # fmt: skip
NAMES = {"models": MODELS, "schedulers": SCHEDULERS, "backends": BACKENDS, "metrics": ALONE}
HINTS = {**typing.get_type_hints(ModelSpec), "lora_scale": float}  # lora_scale: ModelSpec.lora.scale
# The plain type each override key holds: the one ModelSpec declares (str for "str | None").
OVERRIDE_TYPES = {
    k: next(t for t in (bool, int, float, str) if t in (HINTS[k], *typing.get_args(HINTS[k]))) for k in OVERRIDABLE
}


# --- a tiny TOML writer (tomli_w is not installed): inline tables and arrays only -------------


def toml_str(s: str) -> str:
    # Escape everything but printable ASCII: \U escapes are valid for any scalar value.
    return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\U{ord(c):08x}" for c in s) + '"'


def toml_key(k: str) -> str:
    return k if BARE.fullmatch(k) else toml_str(k)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def dump(doc: dict) -> str:
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


def agrees(actual, stated) -> bool:
    """Equal and of the same type (NaN agrees with NaN), but for an int where a float is wanted:
    nothing coerced. Also checks that the writer above round-trips."""
    if isinstance(actual, float) and isinstance(stated, float) and math.isnan(actual) and math.isnan(stated):
        return True
    if isinstance(actual, float) and type(stated) is int:
        return actual == float(stated)
    if isinstance(actual, list | tuple) and isinstance(stated, list | tuple):
        return len(actual) == len(stated) and all(agrees(a, b) for a, b in zip(actual, stated))
    if isinstance(actual, dict) and isinstance(stated, dict):
        return actual.keys() == stated.keys() and all(agrees(actual[k], stated[k]) for k in actual)
    return type(actual) is type(stated) and actual == stated


# --- strategies: valid values for each key, and values of any kind TOML can hold --------------

# Controls, zero-width and bidi characters, separators, fillers, a combining mark alone.
ODD = "\x00\x07\t\n\r\x1b\x7f\x85\xa0\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2028\u2029\u2066\ufeff\u3164\u0301"
texts = st.one_of(st.text(max_size=12), st.text(alphabet=ODD + "ab -_0/,", max_size=8))
ints = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([-1, 0, 1, 7, 8, 12, 1000, 1001, 8192, 8200, 2**32]))
floats = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, 0.4, 7.5, 1e300]))
scalars = st.one_of(st.booleans(), ints, floats, texts)
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=8
)


# Seed strings: digits, dashes, commas, spaces, an Arabic-Indic digit; ranges up to 10**6 wide.
seeds_text = st.one_of(
    st.text(alphabet="0123456789-, \t\u0663", max_size=12),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=3).map(
        lambda pairs: ",".join(f"{a}-{b}" if a != b else str(a) for a, b in pairs)
    ),
)
LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"


def words(first: str, rest: str, longest: int) -> st.SearchStrategy:
    """Strings of one character of `first`, then up to `longest` of `rest` (from_regex is slow)."""
    return st.builds(lambda a, b: a + b, st.sampled_from(first), st.text(alphabet=rest, max_size=longest))


# Values that are always valid, so that a document with one key changed can only fail there.
line = words(LOWER + "ABC", LOWER + "ABC ./_-", 20)
prompt_text = st.one_of(line, st.sampled_from(["a cat", "a \u200bdog\n", "\u202ecat", "caf\u00e9 \u2014 \U0001f408"]))
size = st.integers(1, 1024).map(lambda n: 8 * n)
finite = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1))


def good_names(allowed) -> st.SearchStrategy:
    chosen = st.lists(st.sampled_from(list(allowed)), min_size=1, max_size=3, unique=True)
    return st.one_of(chosen, chosen.map(",".join))  # a list, or the command line's string


seed = st.integers(0, 2**63 - 1)
seed_range = st.tuples(st.integers(0, 2**63 - 1001), st.integers(0, 999)).map(lambda t: f"{t[0]}-{t[0] + t[1]}")
prompt = st.fixed_dictionaries(
    {"id": words(LOWER, LOWER + "_-", 63), "text": prompt_text}, optional={"negative": st.just("") | prompt_text}
)
SETTINGS = {"steps": st.integers(1, 1000), "guidance_scale": st.floats(0, 1e6) | st.integers(0, 100)}
SETTINGS |= {"width": size, "height": size}
TEXT_KEYS = ("hub_id", "revision", "vae", "weights_url", "weights_sha256", "class_clip", "class_templates")
GOOD_OVERRIDE = {
    **dict.fromkeys(TEXT_KEYS, line),
    **SETTINGS,
    "negative_prompt": st.just("") | prompt_text,
    "lora_scale": finite,
    "truncation": finite,
    "class_top_k": st.integers(-(2**63), 2**63 - 1),
    "trust_unpinned_weights": st.booleans(),
}
override_table = st.fixed_dictionaries({}, optional=GOOD_OVERRIDE)
GOOD = {
    "name": line,
    "prompts": st.lists(prompt, min_size=1, max_size=3, unique_by=lambda p: p["id"]),
    **{key: good_names(allowed) for key, allowed in NAMES.items()},
    "seeds": st.one_of(seed, st.lists(seed, min_size=1, max_size=4, unique=True), seed_range),
    **SETTINGS,
    **{key: st.sampled_from(allowed) for key, allowed in CHOICE.items()},
    "batch_size": st.integers(1, 1024),
    "model_overrides": st.dictionaries(st.sampled_from(list(MODELS)), override_table),
    "description": st.text(max_size=20),
}
good_documents = st.fixed_dictionaries(
    {"models": GOOD["models"], "prompts": GOOD["prompts"]},
    optional={k: v for k, v in GOOD.items() if k not in ("models", "prompts")},
)


# Values a field of another type takes, and the values the red-team report found getting through.
TRICKY = [math.nan, math.inf, -math.inf, 0, -1, 7.0, 2**63 - 1, True, "", " ", "5", "p\n", "tiny-sd\n", "Euler-a"]
TRICKY += ["\u200b\u200d\ufeff", "\u202e\u2066", "a\x00b", "\u3164", "x" * 600, [], ["a"], {}, {"a": 1}]
wild = st.one_of(st.sampled_from(TRICKY), st.sampled_from(TRICKY), scalars, anything, *GOOD_OVERRIDE.values())
# Keys a suite does not have, some of them awkward to parse or to print.
JUNK = ("colour", "Models", "self", "model_config", "__class__", "_private", "", "a.b", "x\ny", "s p a c e")
wild_documents = st.fixed_dictionaries(
    {}, optional={**{k: st.one_of(v, wild) for k, v in GOOD.items()}, **{k: wild for k in JUNK[:3]}}
)


def places(doc: dict) -> list[tuple]:
    """Where a document can be changed: every key, a prompt's keys, a model's override keys,
    and keys that do not belong there."""
    out = [(k,) for k in (*FIELDS, *JUNK)]
    for i in range(len(doc["prompts"])):
        out += [("prompts", i), *(("prompts", i, k) for k in ("id", "text", "negative", "colour"))]
    for model in [*doc.get("model_overrides", {}), "tiny-sd", "nope"]:
        out += [("model_overrides", model), *(("model_overrides", model, k) for k in (*OVERRIDABLE, "colour"))]
    return out


def changed(doc: dict, place: tuple, value, drop: bool) -> dict:
    doc = copy.deepcopy(doc)
    *parents, last = place
    node = doc
    for key in parents:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    if drop and isinstance(node, list):
        node.pop(last)
    elif drop:
        node.pop(last, None)
    else:
        node[last] = value
    return doc


def one_change(doc: dict) -> st.SearchStrategy:
    """(document, where it changed or None): unchanged, or one place set to a wild value or
    taken out."""
    change = st.tuples(st.sampled_from(places(doc)), wild, st.integers(0, 5)).map(
        lambda t: (changed(doc, t[0], t[1], drop=t[2] == 0), t[0])
    )
    return st.one_of(st.just((doc, None)), change, change, change)


# --- invariants -------------------------------------------------------------------------------


def shows_something(text: str) -> bool:
    """Weaker than the suite's rule (which also refuses lone combining marks and fillers)."""
    return any(not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp") for c in text)


def check_suite(suite: Suite) -> None:
    assert isinstance(suite.name, str) and shows_something(suite.name) and "\n" not in suite.name
    assert suite.prompts and all(isinstance(p, Prompt) for p in suite.prompts)
    assert len({p.id for p in suite.prompts}) == len(suite.prompts)
    for p in suite.prompts:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", p.id)
        assert isinstance(p.text, str) and shows_something(p.text) and "\x00" not in p.text
        assert p.negative is None or isinstance(p.negative, str)
    for key, allowed in NAMES.items():
        values = getattr(suite, key)
        assert values and len(set(values)) == len(values) and all(v in allowed for v in values)
    assert 1 <= len(suite.seeds) <= MAX_SEEDS and len(set(suite.seeds)) == len(suite.seeds)
    assert all(type(s) is int and 0 <= s < 2**63 for s in suite.seeds)
    for value, top in [(suite.width, 8192), (suite.height, 8192), (suite.batch_size, 1024)]:
        assert value is None or (type(value) is int and 1 <= value <= top)
    assert all(v is None or v % 8 == 0 for v in (suite.width, suite.height))
    # the sweep axes: None, or 1..100 distinct values, each one valid setting
    steps, g = suite.steps, suite.guidance_scale
    assert steps is None or (1 <= len(steps) <= 100 and len(set(steps)) == len(steps))
    assert steps is None or all(type(v) is int and 1 <= v <= 1000 for v in steps)
    assert g is None or (1 <= len(g) <= 100 and len(set(g)) == len(g))
    assert g is None or all(type(v) is float and math.isfinite(v) and v >= 0 for v in g)
    assert all(getattr(suite, key) in allowed for key, allowed in CHOICE.items())
    assert isinstance(suite.description, str)
    for key, over in suite.model_overrides.items():
        assert key in MODELS and set(over) <= set(OVERRIDABLE)
        for name, value in over.items():
            assert type(value) is OVERRIDE_TYPES[name], (name, value)
            assert not isinstance(value, float) or math.isfinite(value)
    for key in suite.models:  # ModelSpec's own checks: a spec, or a ConfigError
        try:
            assert isinstance(suite.model_spec(key), ModelSpec)
        except ConfigError as e:
            assert str(e).strip()


def check_error(error: ConfigError, roots) -> None:
    message = str(error)
    assert message and "http" not in message and "pydantic" not in message.lower()
    for line in message.splitlines():
        assert line.strip() and line == line.strip(), message
        m = PATH_ROOT.match(line)
        assert m, line
        assert m[1] in roots or m[1][0] in "'\"", line  # a field, a key of the document, or a quoted key


@pytest.fixture(scope="module")
def suite_path(tmp_path_factory):
    return tmp_path_factory.mktemp("suites") / "s.toml"


def load(path, doc: dict) -> Suite | ConfigError:
    text = dump(doc)
    assert agrees(tomllib.loads(text), doc)  # the writer above is right
    path.write_text(text, encoding="utf-8")
    try:
        suite = load_suite(str(path))
    except ConfigError as e:
        event("refused")
        return e
    event("loaded")
    check_suite(suite)
    return suite


def rendered(place: tuple) -> str:
    """A place as error lines name it: prompts[0].text; keys that are not bare TOML keys quoted."""
    parts = (f"[{k}]" if isinstance(k, int) else "." + (k if BARE.fullmatch(k) else repr(k)) for k in place)
    return "".join(parts)[1:]  # without the first key's dot


def stated(key: str, value):
    """What a suite should hold for a value as a document states it."""
    if key in ("models", "schedulers", "backends", "metrics") and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if key == "seeds" and isinstance(value, str):
        return parse_seeds(value)
    if key in ("seeds", "steps", "guidance_scale") and not isinstance(value, list):
        return [value]  # one seed, or one value of a sweep axis, is a list of one
    if key == "prompts":
        return [(p["id"], p["text"], p.get("negative")) for p in value]
    return value


def check_changed_error(error: ConfigError, doc: dict, place: tuple) -> None:
    """Every line names the changed place, a place inside it, or the table or list holding it."""
    check_error(error, {"suite", *FIELDS, *(k for k in doc if BARE.fullmatch(k))})
    where = rendered(place)
    for line in str(error).splitlines():
        inside = line.startswith(tuple(where + c for c in ":.["))
        holding = any(line.startswith(where[:n] + ": ") for n in range(1, len(where)) if where[n] in ".[")
        assert inside or holding, (where, line)


def check_stated(suite: Suite, doc: dict) -> None:
    for key, value in doc.items():
        actual = getattr(suite, key)
        if key == "prompts":
            actual = [(p.id, p.text, p.negative) for p in actual]
        assert agrees(actual, stated(key, value)), (key, actual, value)


@examples(max_examples=200)
@given(change=good_documents.flatmap(one_change))
def test_a_document_changed_in_one_place_loads_as_stated_or_fails_only_there(suite_path, change):
    doc, place = change
    result = load(suite_path, doc)
    if isinstance(result, Suite):
        check_stated(result, doc)
        return
    assert place is not None, result  # the unchanged document is valid
    check_changed_error(result, doc, place)


GRID_BASE = {
    "models": ["tiny-sd"],
    "prompts": [{"id": "a", "text": "a cat"}, {"id": "b", "text": "a dog", "negative": "blurry"}],
    "model_overrides": {"tiny-sd": {"steps": 8}},
}
GRID_VALUES = [
    *TRICKY,
    *("a", "tiny-sd,tiny-sd", ["tiny-sd", "tiny-sd"], [0, 0], "0-3,3", 2**63, -(2**63), 1e300, 4.0, "8", 0.0, 1),
    *("0x10", "1e3", "true", "nan", "a b", "/models/x", "A", {"id": "c", "text": "x"}, [{"id": "c", "text": "x"}]),
]


def test_every_place_with_every_tricky_value_loads_as_stated_or_fails_only_there():
    """Exhaustive over a small grid: each place of a valid suite set to each awkward value (or
    taken out), built directly in Python, as load_suite would."""
    for place in places(GRID_BASE):
        for value, drop in [(None, True), *((v, False) for v in GRID_VALUES)]:
            doc = changed(GRID_BASE, place, value, drop)
            try:
                suite = Suite(**{"name": "grid", **doc})
            except ConfigError as e:
                check_changed_error(e, doc, place)
            else:
                check_suite(suite)
                check_stated(suite, doc)


@examples(max_examples=80)
@given(doc=wild_documents)
def test_any_document_loads_into_a_valid_suite_or_fails_with_field_lines(suite_path, doc):
    result = load(suite_path, doc)
    if isinstance(result, ConfigError):
        check_error(result, {"suite", *FIELDS, *(k for k in doc if BARE.fullmatch(k))})


@examples(max_examples=80)
@given(
    models=st.one_of(st.none(), texts, st.lists(st.sampled_from(list(MODELS)), min_size=1, max_size=3).map(",".join)),
    steps=st.one_of(st.none(), ints),
    batch_size=st.one_of(st.none(), ints),
    seeds=st.one_of(st.none(), texts, seeds_text),
)
def test_command_line_overrides_load_or_fail_with_field_lines(models, steps, batch_size, seeds):
    overrides = {"models": models, "steps": steps, "batch_size": batch_size, "seeds": seeds}
    try:
        suite = load_suite("tiny", overrides)
    except ConfigError as e:
        check_error(e, {"suite", *FIELDS})
    else:
        check_suite(suite)


@examples(max_examples=200)
@given(value=st.one_of(seeds_text, st.lists(ints, max_size=4), wild, st.none()))
def test_parse_seeds_gives_bounded_unique_seeds_or_one_line(value):
    try:
        seeds = parse_seeds(value)
    except ConfigError as e:
        assert str(e).startswith("seeds: ") and "\n" not in str(e)
    else:
        assert 1 <= len(seeds) <= MAX_SEEDS and len(set(seeds)) == len(seeds)
        assert all(type(s) is int and 0 <= s < 2**63 for s in seeds)


@examples(max_examples=100)
@given(lo=st.integers(0, 2**63 - 1), span=st.integers(0, 500), extra=st.integers(0, 2**63 - 1))
def test_parse_seeds_reads_ranges_and_lists_exactly(lo, span, extra):
    hi = min(lo + span, 2**63 - 1)
    assert parse_seeds(f"{lo}-{hi}") == list(range(lo, hi + 1))
    assert parse_seeds(f" {lo} - {hi} ") == list(range(lo, hi + 1))
    if not lo <= extra <= hi:
        assert parse_seeds(f"{lo}-{hi},{extra}") == [*range(lo, hi + 1), extra]
    assert parse_seeds([extra]) == [extra] == parse_seeds(str(extra))
