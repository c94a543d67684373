"""The value rules of a suite's schema (bench.config): one pydantic-annotated type per rule,
each failing with "must be <what> (got <value>)", the choice checks the command line shares,
and seed ranges read without ever building a huge list.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field, Strict, ValidationError

from bench.errors import ConfigError

# Seeds are expanded into a list up front, so "0-100000000000" must fail before it is built.
MAX_SEEDS = 100_000
MAX_SEED = 2**63 - 1  # a signed 64-bit integer, as stored (BigGAN refuses >= 2**32 itself)
# diffusers refuses more inference steps than the 1000 training timesteps of these schedulers.
MAX_STEPS = 1000
MAX_SIZE = 8192
MAX_BATCH = 1024
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # always fullmatch: `$` would let "p\n" through
# Categories that draw nothing on their own (controls, format chars such as zero-width spaces
# and bidi marks, separators, lone combining marks), plus fillers that are letters by category.
_BLANK_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"}
_BLANK_CHARS = set("\u115f\u1160\u3164\uffa0\u2800")


def show(value) -> str:
    """A value for an error line: repr, one line, cut short."""
    try:
        text = repr(value).replace("\n", "\\n")
    except (ValueError, RecursionError):  # an int past str()'s digit limit, a deeply nested list
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def has_visible(text: str) -> bool:
    return any(unicodedata.category(c) not in _BLANK_CATEGORIES and c not in _BLANK_CHARS for c in text)


def has_controls(text: str, allowed: str = "") -> bool:
    """True if the text holds a control character or line separator (other than `allowed`) or a
    lone surrogate (which cannot be written to a UTF-8 file)."""
    return any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") and c not in allowed for c in text)


def text_rule(visible: bool, breaks: str = "") -> AfterValidator:
    """Strings without control characters (but `breaks`); with `visible`, with something to see."""
    return rule(lambda t: not has_controls(t, breaks) and (has_visible(t) or not visible))


def rule(ok) -> AfterValidator:
    """A check on a value already of its type; a failure reads as the type's `says`."""

    def check(value):
        if not ok(value):
            raise ValueError("not allowed")
        return value

    return AfterValidator(check)


def says(expect: str, then: str = "") -> pydantic.WrapValidator:
    """Any failure of the value itself reads "must be <expect> (got <value>)"; failures deeper
    down (a table's own keys, a list's items) keep their own paths and reasons."""

    def wrap(value, handler):
        try:
            return handler(value)
        except ValidationError as e:
            if any(err["loc"] for err in e.errors()):
                raise
            raise ValueError(f"must be {expect} (got {show(value)}){then}") from None

    return pydantic.WrapValidator(wrap)


def repeat(values):
    """The first value seen twice, or None."""
    seen = set()
    return next((v for v in values if v in seen or seen.add(v)), None)


def one_of(allowed, many: bool = False) -> BeforeValidator:
    """A value of `allowed` (a registry is read when checked, so tests may add entries), or with
    `many` a non-empty list of them without repeats; a string is a comma-separated list."""

    def check(value):
        if many and isinstance(value, str):
            value = split_list(value)
        problem = _list_problem(value, allowed) if many else _choice_problem(value, allowed)
        if problem:
            raise ValueError(problem)
        return value

    return BeforeValidator(check)


def _choice_problem(value, allowed) -> str | None:
    if not isinstance(value, str) or value not in allowed:
        return f"unknown value {show(value)}; allowed: {', '.join(allowed)}"
    return None


def _list_problem(values, allowed) -> str | None:
    if not isinstance(values, list) or not values:
        return f"need a non-empty list; allowed: {', '.join(allowed)}"
    if problem := next(filter(None, (_choice_problem(v, allowed) for v in values)), None):
        return problem
    return None if (twice := repeat(values)) is None else f"{twice!r} appears twice"


def check_choices(name: str, values, allowed) -> None:
    """A non-empty list of values of `allowed` without repeats, or a ConfigError naming one."""
    if problem := _list_problem(values, allowed):
        raise ConfigError(f"{name}: {problem}")


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated command-line list ("a, b,c") as a list; None stays None."""
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _seed(digits: str) -> int:
    # Cut long digit strings before int(): Python refuses to convert more than 4300 digits.
    if len(digits.lstrip("0")) > len(str(MAX_SEED)) or int(digits) > MAX_SEED:
        raise ValueError(f"{show(digits)} is out of range; each seed must be in 0..2**63-1")
    return int(digits)


def read_seeds(value) -> list[int]:
    """parse_seeds without the field name: a ValueError's text is the reason."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list):
        if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in value):
            raise ValueError(f"a list must hold integers in 0..2**63-1 (got {show(value)})")
        seeds = list(value)
    elif isinstance(value, str):
        seeds = []
        for part in value.split(","):
            # [0-9], not \d: int() would read other scripts' digits too.
            m = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
            if not m:
                raise ValueError(f"cannot read {show(part.strip())}; use a range like 0-3 or a list like 0,5,9")
            lo, hi = _seed(m[1]), _seed(m[2] if m[2] is not None else m[1])
            if hi < lo:
                raise ValueError(f"range {lo}-{hi} runs backwards")
            if len(seeds) + hi - lo + 1 > MAX_SEEDS:  # counted before a huge range is built
                raise ValueError(f"at most {MAX_SEEDS} seeds per suite (got more in {show(value)})")
            seeds.extend(range(lo, hi + 1))
    else:
        raise ValueError(f"expected a range like 0-3, a list like 0,5,9 or [0, 5, 9] (got {show(value)})")
    if not seeds:
        raise ValueError("need at least one seed")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"at most {MAX_SEEDS} seeds per suite (got {len(seeds)})")
    if (twice := repeat(seeds)) is not None:
        raise ValueError(f"duplicates: {twice} appears twice")
    return seeds


def parse_seeds(value) -> list[int]:
    """Seeds from "0-3", "0,5,9", "7", an int or a list of ints (at most MAX_SEEDS, no repeats)."""
    try:
        return read_seeds(value)
    except ValueError as e:
        raise ConfigError(f"seeds: {e}") from None


# --- the types: one rule each (a failure reads "<path>: must be <what says> (got <value>)") ---

_BREAKS = "\t\n\r\u2028\u2029"  # what prompt text may hold beyond one line of visible text
# A line: a name, a hub id, a path (up to PATH_MAX), a revision, a hash.
Line = Annotated[str, Strict(), Field(max_length=4096), text_rule(visible=True), says("a non-empty line of text")]
PromptText = Annotated[
    str, Strict(), text_rule(True, _BREAKS), says("text with visible characters, no control characters")
]
Negative = Annotated[str, Strict(), text_rule(False, _BREAKS), says("text without control characters")]
PromptId = Annotated[str, Strict(), rule(_ID.fullmatch), says(f"an id matching {_ID.pattern} (it names files)")]
Steps = Annotated[int, Strict(), Field(ge=1, le=MAX_STEPS), says(f"a positive integer (at most {MAX_STEPS})")]
# A sweep axis: one value for every cell, or a list of values, each its own cells.
MAX_AXIS = 100
Size = Annotated[int, Strict(), Field(ge=8, le=MAX_SIZE, multiple_of=8), says(f"divisible by 8 and in 8..{MAX_SIZE}")]
BatchSize = Annotated[int, Strict(), Field(ge=1, le=MAX_BATCH), says(f"a positive integer (at most {MAX_BATCH})")]
Count = Annotated[int, Strict(), Field(ge=1), says("a positive integer")]
# A TOML int is fine where a float is wanted (7 -> 7.0); a string or a bool is not.
Guidance = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False), says("a finite number >= 0")]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False), says("a finite number")]
Integer = Annotated[int, Strict(), says("an integer")]
Flag = Annotated[bool, Strict(), says("true or false")]


def axis(value) -> list:
    """A sweep axis as a list: one value (30) or a list ([10, 20, 30]), without repeats and at
    most MAX_AXIS values; each value is then checked as one setting (strictly: a suite's "30"
    is no number; the command line's text is read by parse_axis first)."""
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > MAX_AXIS:
        raise ValueError(f"must hold 1 to {MAX_AXIS} values (got {len(values)})")
    try:
        twice = repeat(values)
    except TypeError:  # a table or list among the values: refused when each value is checked
        return values
    if twice is not None:
        raise ValueError(f"{show(twice)} appears twice")
    return values


def parse_axis(option: str, text: str | None) -> list | None:
    """A command line's "30" or "10,20,30" (or "4,7.5") as numbers; None stays None."""
    if text is None:
        return None
    try:
        return [float(v) if any(c in v for c in ".eEn") else int(v) for v in split_list(text) or [text]]
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a number or a comma-separated list of numbers") from None


def _axis_of(item) -> pydantic.WrapValidator:
    """axis(), then each value checked as `item`; one value given alone is named as the field
    itself ("steps: ..."), a list's items by index ("steps[1]: ...")."""
    one = pydantic.TypeAdapter(item)

    def check(value, handler):
        values = axis(value)
        if isinstance(value, list) or len(values) > 1:
            return handler(values)
        try:
            return [one.validate_python(values[0])]
        except ValidationError as e:
            error = e.errors(include_url=False)[0]
            raise ValueError(str(error.get("ctx", {}).get("error", error["msg"]))) from None

    return pydantic.WrapValidator(check)


StepsAxis = Annotated[list[Steps], _axis_of(Steps)]
GuidanceAxis = Annotated[list[Guidance], _axis_of(Guidance)]
