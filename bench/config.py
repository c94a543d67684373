"""Suites: TOML files naming prompts, models, schedulers, seeds and settings, checked up front.

A suite is a shipped name (bench/suites/<name>.toml) or a path to a TOML file. Its whole schema
is a pydantic model (`Suite`): every key with its type (strict: no string read as a number, nor
the reverse), range and allowed values, each rule on its field's type (the Annotated aliases).
A bad value fails before any model loads with a ConfigError of one line per problem, "<field
path>: <what is wrong>", naming the allowed values of a closed set (the CLI: exit code 2).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Annotated

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, on Python < 3.12

from bench.errors import ConfigError, first_line
from bench.metrics import SCORABLE
from bench.models import MODELS
from bench.runtime import Runtime
from bench.schedulers import SCHEDULERS

# Names only: bench.backends.IMPLEMENTATIONS says which family each one runs.
BACKENDS = ("pytorch", "onnxruntime")
DTYPES = ("auto", "float32", "float16", "bfloat16")
DEVICES = ("auto", "cpu", "cuda")
PROVIDERS = ("auto", "cpu", "cuda", "tensorrt")
PROVIDER_FALLBACK = ("error", "warn")
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


def _show(value) -> str:
    """A value for an error line: repr, one line, cut short."""
    try:
        text = repr(value).replace("\n", "\\n")
    except (ValueError, RecursionError):  # an int past str()'s digit limit, a deeply nested list
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _visible(text: str) -> bool:
    return any(unicodedata.category(c) not in _BLANK_CATEGORIES and c not in _BLANK_CHARS for c in text)


def _controls(text: str, allowed: str = "") -> bool:
    """True if the text holds a control character or line separator (other than `allowed`) or a
    lone surrogate (which cannot be written to a UTF-8 file)."""
    return any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") and c not in allowed for c in text)


def _text(visible: bool, breaks: str = "") -> AfterValidator:
    """Strings without control characters (but `breaks`); with `visible`, with something to see."""
    return _rule(lambda t: not _controls(t, breaks) and (_visible(t) or not visible))


def _rule(ok) -> AfterValidator:
    """A check on a value already of its type; a failure reads as the type's `_says`."""

    def check(value):
        if not ok(value):
            raise ValueError("not allowed")
        return value

    return AfterValidator(check)


def _says(expect: str, then: str = "") -> pydantic.WrapValidator:
    """Any failure of the value itself reads "must be <expect> (got <value>)"; failures deeper
    down (a table's own keys, a list's items) keep their own paths and reasons."""

    def wrap(value, handler):
        try:
            return handler(value)
        except ValidationError as e:
            if any(err["loc"] for err in e.errors()):
                raise
            raise ValueError(f"must be {expect} (got {_show(value)}){then}") from None

    return pydantic.WrapValidator(wrap)


def _repeat(values):
    """The first value seen twice, or None."""
    seen = set()
    return next((v for v in values if v in seen or seen.add(v)), None)


def _one_of(allowed, many: bool = False) -> BeforeValidator:
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
        return f"unknown value {_show(value)}; allowed: {', '.join(allowed)}"
    return None


def _list_problem(values, allowed) -> str | None:
    if not isinstance(values, list) or not values:
        return f"need a non-empty list; allowed: {', '.join(allowed)}"
    if problem := next(filter(None, (_choice_problem(v, allowed) for v in values)), None):
        return problem
    return None if (twice := _repeat(values)) is None else f"{twice!r} appears twice"


def check_choice(name: str, value, allowed) -> None:
    """One value of `allowed` (a list, tuple or a registry dict's keys), or a ConfigError."""
    if problem := _choice_problem(value, allowed):
        raise ConfigError(f"{name}: {problem}")


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
        raise ValueError(f"{_show(digits)} is out of range; each seed must be in 0..2**63-1")
    return int(digits)


def _parse_seeds(value) -> list[int]:
    """parse_seeds without the field name: a ValueError's text is the reason."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list):
        if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in value):
            raise ValueError(f"a list must hold integers in 0..2**63-1 (got {_show(value)})")
        seeds = list(value)
    elif isinstance(value, str):
        seeds = []
        for part in value.split(","):
            # [0-9], not \d: int() would read other scripts' digits too.
            m = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
            if not m:
                raise ValueError(f"cannot read {_show(part.strip())}; use a range like 0-3 or a list like 0,5,9")
            lo, hi = _seed(m[1]), _seed(m[2] if m[2] is not None else m[1])
            if hi < lo:
                raise ValueError(f"range {lo}-{hi} runs backwards")
            if len(seeds) + hi - lo + 1 > MAX_SEEDS:  # counted before a huge range is built
                raise ValueError(f"at most {MAX_SEEDS} seeds per suite (got more in {_show(value)})")
            seeds.extend(range(lo, hi + 1))
    else:
        raise ValueError(f"expected a range like 0-3, a list like 0,5,9 or [0, 5, 9] (got {_show(value)})")
    if not seeds:
        raise ValueError("need at least one seed")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"at most {MAX_SEEDS} seeds per suite (got {len(seeds)})")
    if (twice := _repeat(seeds)) is not None:
        raise ValueError(f"duplicates: {twice} appears twice")
    return seeds


def parse_seeds(value) -> list[int]:
    """Seeds from "0-3", "0,5,9", "7", an int or a list of ints (at most MAX_SEEDS, no repeats)."""
    try:
        return _parse_seeds(value)
    except ValueError as e:
        raise ConfigError(f"seeds: {e}") from None


# --- the types: one rule each (a failure reads "<path>: must be <what _says> (got <value>)") ---

_BREAKS = "\t\n\r\u2028\u2029"  # what prompt text may hold beyond one line of visible text
# A line: a name, a hub id, a path (up to PATH_MAX), a revision, a hash.
Line = Annotated[str, Strict(), Field(max_length=4096), _text(visible=True), _says("a non-empty line of text")]
PromptText = Annotated[
    str, Strict(), _text(True, _BREAKS), _says("text with visible characters, no control characters")
]
Negative = Annotated[str, Strict(), _text(False, _BREAKS), _says("text without control characters")]
PromptId = Annotated[str, Strict(), _rule(_ID.fullmatch), _says(f"an id matching {_ID.pattern} (it names files)")]
Steps = Annotated[int, Strict(), Field(ge=1, le=MAX_STEPS), _says(f"a positive integer (at most {MAX_STEPS})")]
Size = Annotated[int, Strict(), Field(ge=8, le=MAX_SIZE, multiple_of=8), _says(f"divisible by 8 and in 8..{MAX_SIZE}")]
BatchSize = Annotated[int, Strict(), Field(ge=1, le=MAX_BATCH), _says(f"a positive integer (at most {MAX_BATCH})")]
# A TOML int is fine where a float is wanted (7 -> 7.0); a string or a bool is not.
Guidance = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False), _says("a finite number >= 0")]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False), _says("a finite number")]
Integer = Annotated[int, Strict(), _says("an integer")]
Flag = Annotated[bool, Strict(), _says("true or false")]


@pydantic.with_config(ConfigDict(extra="forbid", revalidate_instances="always"))
@dataclass(frozen=True)
class Prompt:
    id: PromptId
    text: PromptText
    negative: Negative | None = None  # None: the model's default negative prompt


# The keys a [model_overrides.<model>] table may set, typed as bench.models.ModelSpec declares
# them; ModelSpec's own checks (ranges, closed sets of the gan knobs) run when the spec is built.
@pydantic.with_config(ConfigDict(extra="forbid"))
class _Overrides(TypedDict, total=False):
    hub_id: Line
    revision: Line
    steps: Steps
    guidance_scale: Guidance
    width: Size
    height: Size
    negative_prompt: Negative
    vae: Line
    lora_scale: Number  # lands in ModelSpec.lora.scale
    # gan family (bench.models.ModelSpec): class mapping, noise, pickle weights
    truncation: Number
    class_top_k: Integer
    class_clip: Line
    class_templates: Line
    weights_url: Line
    weights_sha256: Line
    trust_unpinned_weights: Flag


OVERRIDABLE = tuple(_Overrides.__annotations__)


def _unique_ids(prompts: list[Prompt]) -> list[Prompt]:
    if (twice := _repeat(p.id for p in prompts)) is not None:
        raise ValueError(f"id {twice!r} appears twice")
    return prompts


Prompts = Annotated[
    list[Annotated[Prompt, _says("a [[prompts]] table with id and text (optional: negative)")]],
    Field(min_length=1),
    _says("a list of [[prompts]] tables with id and text, at least one"),
    AfterValidator(_unique_ids),
]
Overrides = Annotated[
    dict[
        Annotated[str, _one_of(MODELS)],
        Annotated[_Overrides, _says("a table of settings", "; allowed: " + ", ".join(OVERRIDABLE))],
    ],
    _says("tables [model_overrides.<model key>]"),
]


class Suite(BaseModel):
    """A whole suite, validated when built (from a file by load_suite, or directly in Python);
    a bad value raises ConfigError."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: Line  # recorded in runs
    prompts: Prompts
    models: Annotated[list[str], _one_of(MODELS, many=True)]  # registry keys (bench list)
    schedulers: Annotated[list[str], _one_of(SCHEDULERS, many=True)] = ["euler-a"]
    backends: Annotated[list[str], _one_of(BACKENDS, many=True)] = ["pytorch"]
    seeds: Annotated[list[int], BeforeValidator(_parse_seeds)] = [0]  # "0-3", "0,5,9", 7 or a list
    steps: Steps | None = None  # None: each model's default
    guidance_scale: Guidance | None = None
    width: Size | None = None  # None: each model's native size
    height: Size | None = None
    dtype: Annotated[str, _one_of(DTYPES)] = "auto"  # auto: float16 on CUDA, float32 on CPU
    device: Annotated[str, _one_of(DEVICES)] = "auto"  # auto: CUDA where present, else CPU
    provider: Annotated[str, _one_of(PROVIDERS)] = "auto"  # ONNX Runtime provider
    provider_fallback: Annotated[str, _one_of(PROVIDER_FALLBACK)] = "error"
    batch_size: BatchSize = 4  # seeds generated per call (halved on OOM)
    metrics: Annotated[list[str], _one_of(SCORABLE, many=True)] = ["clip_vit_b_32"]
    model_overrides: Overrides = {}  # [model_overrides.<key>]: per-model settings
    description: Annotated[str, Strict(), _says("a string")] = ""

    def __init__(self, /, **data):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ConfigError(_explain(e)) from None

    @property
    def runtime(self) -> Runtime:
        """Device, dtype and provider as the suite asks for them ("auto" allowed); each backend
        resolves them for this machine once per plan."""
        return Runtime(self.device, self.dtype, self.provider, self.provider_fallback)

    def model_spec(self, key: str):
        """The registry entry with this suite's overrides on top (model < suite < per-model)."""
        over = dict(self.model_overrides.get(key, {}))
        spec = MODELS[key]
        if "lora_scale" in over and spec.lora is not None:
            spec = spec.with_overrides(lora=replace(spec.lora, scale=float(over.pop("lora_scale"))))
        over.pop("lora_scale", None)
        general = dict(steps=self.steps, guidance_scale=self.guidance_scale, width=self.width, height=self.height)
        return spec.with_overrides(**general).with_overrides(**over)


# --- pydantic's errors as one line per problem ----------------------------------------------


def _path(loc: tuple) -> str:
    """("prompts", 1, "text") -> prompts[1].text; keys that are not bare TOML keys are quoted."""
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a dict key (the key itself came just before)
            continue
        key = str(part)  # a str, but for a dict key of a Suite built in Python
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            key = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else repr(key[:40] + "..." * (len(key) > 40))
            path += f".{key}" if path else key
    return path or "suite"


_TABLE_KEYS = {"prompts": ("id", "text", "negative"), "model_overrides": OVERRIDABLE}


def _explain(error: ValidationError) -> str:
    lines = []
    for e in error.errors(include_url=False):
        kind, loc = e["type"], e["loc"]
        if kind == "value_error":
            reason = str(e.get("ctx", {}).get("error", e["msg"]))
        elif kind in ("missing", "missing_argument"):
            reason = "required" + (f"; allowed: {', '.join(MODELS)}" if loc == ("models",) else "")
        elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
            table = Suite.model_fields if len(loc) == 1 else _TABLE_KEYS[loc[0]]
            reason = f"unknown key; allowed: {', '.join(table)}"
        else:  # not expected: every field's type says what it needs
            reason = f"{e['msg']} (got {_show(e.get('input'))})"
        lines.append(f"{_path(loc)}: {reason}".replace("\n", " "))
    return "\n".join(dict.fromkeys(lines))


def shipped_suites() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("bench.suites").iterdir() if p.name.endswith(".toml"))


def _read_toml(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if path.is_dir():
            raise ConfigError(f"suite: {name_or_path!r} is a directory; give a suite name or a .toml file")
        if not path.is_file():
            raise ConfigError(f"suite: no such file {str(path)!r}")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"suite: cannot read {name_or_path!r}: {e.strerror}") from None
    else:
        if name_or_path not in shipped_suites():
            raise ConfigError(
                f"suite: unknown suite {name_or_path!r}; shipped: {', '.join(shipped_suites())}, "
                "or a path to a .toml file"
            )
        data = resources.files("bench.suites").joinpath(f"{name_or_path}.toml").read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"suite: {name_or_path!r}: the file must be UTF-8 (byte {e.start} is not)") from None
    try:
        return tomllib.loads(text)
    # ValueError: tomllib's own errors and an integer of over 4300 digits; RecursionError: deep nesting.
    except (ValueError, RecursionError) as e:
        raise ConfigError(f"suite: {name_or_path!r}: not valid TOML: {first_line(e)}") from None


def load_suite(name_or_path: str, overrides: dict | None = None) -> Suite:
    """Read a suite, apply command-line overrides (None values ignored), and validate it."""
    raw = _read_toml(name_or_path)
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    raw.setdefault("name", Path(name_or_path).stem)
    return Suite(**raw)
