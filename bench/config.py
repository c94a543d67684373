"""Suites: TOML files naming prompts, models, schedulers, seeds and settings, checked up front.

A suite is a shipped name (bench/suites/<name>.toml) or a path to a TOML file. Its whole schema
is a pydantic model (`Suite`): every key with its type (strict: no string read as a number, nor
the reverse), range and allowed values, each rule on its field's type (the Annotated aliases).
A bad value fails before any model loads with a ConfigError of one line per problem, "<field
path>: <what is wrong>", naming the allowed values of a closed set (the CLI: exit code 2).
Prompts are [[prompts]] tables, a prompts_file (a shipped set, parti, or a TSV, CSV or JSONL
file, read, given ids and sampled by bench.prompts while the suite is checked), or both: the
tables first.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Required

import numpy as np
import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    WrapValidator,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, on Python < 3.12

from bench.config_rules import (  # noqa: F401 - check_choices, split_list, parse_seeds: re-exported for the CLI
    MAX_SEEDS,
    BatchSize,
    Count,
    Flag,
    Guidance,
    GuidanceAxis,
    Integer,
    Line,
    Negative,
    Number,
    Size,
    Steps,
    StepsAxis,
    check_choices,
    one_of,
    parse_seeds,
    read_seeds,
    repeat,
    rule,
    says,
    show,
    split_list,
)
from bench.errors import ConfigError, PromptsNotFetched, first_line
from bench.latents import SHIPPED as LATENTS
from bench.latents import LatentsFile
from bench.latents import read as read_latents
from bench.metrics import METRICS, REFERENCE_WITHOUT_FEATURES, SCORABLE, SET_METRICS
from bench.models import FIXED_BY_WEIGHTS, MODELS
from bench.prompts import STRATA, Prompt, PromptSet, relative_to
from bench.prompts import load as load_prompt_set
from bench.runtime import Runtime
from bench.schedulers import SCHEDULERS

# Name -> what it runs (for `bench list`); bench.backends.IMPLEMENTATIONS says which families.
BACKENDS = {
    "pytorch": "diffusers pipelines (BigGAN: its own model), eager",
    "pytorch-compile": "the same, torch.compile on the UNet and VAE decoder",
    "onnxruntime": "optimum's ONNX Runtime pipelines on a cached ONNX export",
}
# torch.compile's modes; "auto": max-autotune-no-cudagraphs on CUDA (the fastest that keeps
# per-step callbacks honest), default on the CPU (inductor's C++ backend).
COMPILE_MODES = ("auto", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
ONLY_ON = ("any", "cuda")
DTYPES = ("auto", "float32", "float16", "bfloat16")
DEVICES = ("auto", "cpu", "cuda")
PROVIDERS = ("auto", "cpu", "cuda", "tensorrt")
PROVIDER_FALLBACK = ("error", "warn")
# Settings a suite may sweep: a list of values makes a cell per value.
AXES = ("steps", "guidance_scale")


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
    vae_revision: Line
    lora_scale: Number  # lands in ModelSpec.lora.scale
    eta: Number  # the pipeline call's eta (TCD's gamma), checked by ModelSpec
    # gan family (bench.models.ModelSpec): class mapping, noise, pickle weights
    truncation: Number
    class_top_k: Integer
    class_clip: Line
    class_templates: Line
    weights_url: Line
    weights_sha256: Line
    trust_unpinned_weights: Flag


OVERRIDABLE = tuple(_Overrides.__annotations__)


# [backend_options.<backend>]: how a backend runs, beyond device and dtype. `only_on = "cuda"`
# leaves the backend out (with a note) on a machine without CUDA, so one suite can race
# torch.compile on a GPU without compiling a full-size UNet for an hour on a CPU.
@pydantic.with_config(ConfigDict(extra="forbid"))
class _EagerOptions(TypedDict, total=False):
    channels_last: Flag  # UNet and VAE in NHWC memory layout
    fused_qkv: Flag  # fused attention QKV projections (diffusers' fuse_qkv_projections)
    only_on: Annotated[str, one_of(ONLY_ON)]


@pydantic.with_config(ConfigDict(extra="forbid"))
class _CompileOptions(_EagerOptions, total=False):
    mode: Annotated[str, one_of(COMPILE_MODES)]


@pydantic.with_config(ConfigDict(extra="forbid"))
class _OrtOptions(TypedDict, total=False):
    optimize: Flag  # ONNX Runtime's own Stable Diffusion graph optimizer (fusions, fp16 on CUDA)
    only_on: Annotated[str, one_of(ONLY_ON)]


@pydantic.with_config(ConfigDict(extra="forbid"))
class _BackendOptions(TypedDict, total=False):
    pytorch: Annotated[_EagerOptions, says("a table of options", "; allowed: channels_last, fused_qkv, only_on")]
    # TOML keys with a dash are quoted in Python only
    onnxruntime: Annotated[_OrtOptions, says("a table of options", "; allowed: optimize, only_on")]


_BackendOptions.__annotations__["pytorch-compile"] = Annotated[
    _CompileOptions, says("a table of options", "; allowed: mode, channels_last, fused_qkv, only_on")
]
_BackendOptions.__required_keys__ = frozenset()
_BackendOptions.__optional_keys__ = frozenset(_BackendOptions.__annotations__)


def _unique_ids(prompts: list[Prompt]) -> list[Prompt]:
    if (twice := repeat(p.id for p in prompts)) is not None:
        raise ValueError(f"id {twice!r} appears twice")
    return prompts


Prompts = Annotated[
    list[Annotated[Prompt, says("a [[prompts]] table with id and text (optional: negative, category, challenge)")]],
    Field(min_length=1),
    says("a list of [[prompts]] tables with id and text, at least one"),
    AfterValidator(_unique_ids),
]
# Stands in for `prompts` while the suite names a prompts_file instead; replaced by the file's
# prompts once that has loaded (Suite._take_file_prompts), so no Suite ever holds it.
_FROM_FILE = object()


def _from_file_or(value, handler):
    return value if value is _FROM_FILE else handler(value)


# [prompts_file]: prompts read from a shipped set (`parti`) or a TSV, CSV or JSONL file.
@pydantic.with_config(ConfigDict(extra="forbid"))
class _PromptsFile(TypedDict, total=False):
    path: Required[Line]  # a shipped set's name, or a file (relative to the suite file)
    text_column: Line  # default: text, prompt or prompts, in any case
    id_column: Line  # default: id if present, else ids are hashed from text and category
    category_column: Line  # default: category if present
    challenge_column: Line  # default: challenge if present
    sample: Count  # keep this many prompts (default: all)
    sample_by: Annotated[str, one_of(STRATA)]  # shares of the sample in proportion to each stratum's size
    sample_seed: Annotated[int, Strict(), Field(ge=0), says("an integer >= 0")]  # another sample of the same size


PROMPTS_FILE_KEYS = tuple(_PromptsFile.__annotations__)
PromptsFile = Annotated[
    _PromptsFile,
    BeforeValidator(lambda v: {"path": v} if isinstance(v, str) else v),  # prompts_file = "parti"
    says(
        "a prompt set name (parti), a path to a .tsv, .csv or .jsonl file, or a table",
        "; allowed keys: " + ", ".join(PROMPTS_FILE_KEYS),
    ),
]
Overrides = Annotated[
    dict[
        Annotated[str, one_of(MODELS)],
        Annotated[_Overrides, says("a table of settings", "; allowed: " + ", ".join(OVERRIDABLE))],
    ],
    says("tables [model_overrides.<model key>]"),
]


class Suite(BaseModel):
    """A whole suite, validated when built (from a file by load_suite, or directly in Python);
    a bad value raises ConfigError."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: Line  # recorded in runs
    prompts: Annotated[Prompts, WrapValidator(_from_file_or)]  # [[prompts]] tables, and/or ...
    models: Annotated[list[str], one_of(MODELS, many=True)]  # registry keys (bench list)
    # ... read from a file: checked as a _PromptsFile table, held as the PromptSet it loads
    prompts_file: PromptsFile = None
    schedulers: Annotated[list[str], one_of(SCHEDULERS, many=True)] = ["euler-a"]
    backends: Annotated[list[str], one_of(BACKENDS, many=True)] = ["pytorch"]
    seeds: Annotated[list[int], BeforeValidator(read_seeds)] = [0]  # "0-3", "0,5,9", 7 or a list
    # Fixed initial latents instead of each seed's noise (bench.latents): a shipped name
    # (mlperf-sdxl) or a .npy file (relative to the suite file), one latent for every prompt or
    # one per prompt; held as the LatentsFile it reads. Seeds still drive the noise that
    # ancestral schedulers add at each step.
    latents: (
        Annotated[Line, says("a shipped latents name (" + ", ".join(LATENTS) + ") or a path to a .npy file")] | None
    ) = None
    # None: each model's card; one value, or a list: a sweep axis, each value its own cells
    steps: StepsAxis | None = None
    guidance_scale: GuidanceAxis | None = None
    width: Size | None = None  # None: each model's native size
    height: Size | None = None
    dtype: Annotated[str, one_of(DTYPES)] = "auto"  # auto: float16 on CUDA, float32 on CPU
    device: Annotated[str, one_of(DEVICES)] = "auto"  # auto: CUDA where present, else CPU
    provider: Annotated[str, one_of(PROVIDERS)] = "auto"  # ONNX Runtime provider
    provider_fallback: Annotated[str, one_of(PROVIDER_FALLBACK)] = "error"
    batch_size: BatchSize = 4  # seeds generated per call (halved on OOM)
    metrics: Annotated[list[str], one_of(SCORABLE, many=True)] = ["clip_vit_b_32", "nsfw"]
    # Set metrics (FID, KID; bench.set_scoring): the image count of the protocol they reproduce
    # (MLPerf's SDXL: 5,000); a set scored on fewer images is marked indicative. None: never.
    protocol_images: Count | None = None
    # Reference statistics for the set metrics in place of each metric's own (an .npz with mu
    # and sigma, and features for KID, as `bench fid-stats` writes; relative to the suite file).
    fid_reference: Annotated[Line, says("a path to a reference statistics .npz file")] | None = None
    model_overrides: Overrides = {}  # [model_overrides.<key>]: per-model settings
    backend_options: Annotated[_BackendOptions, says("tables [backend_options.<backend>]")] = {}
    description: Annotated[str, Strict(), says("a string")] = ""

    def __init__(self, /, **data):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ConfigError(_explain(e)) from None

    @model_validator(mode="before")
    @classmethod
    def _prompts_may_come_from_a_file(cls, data):
        if isinstance(data, dict) and "prompts_file" in data and "prompts" not in data:
            data = {**data, "prompts": _FROM_FILE}
        return data

    @field_validator("prompts_file")
    @classmethod
    def _read_prompts_file(cls, spec: dict, info) -> PromptSet:
        # [[prompts]] (checked first, declared first) come before the file's, ids shared by none
        prompts = load_prompt_set(spec)
        inline = info.data.get("prompts", _FROM_FILE)
        if inline is not _FROM_FILE and (same := {p.id for p in inline} & {p.id for p in prompts.prompts}):
            raise ValueError(f"id {sorted(same)[0]!r} is both a [[prompts]] table's and the file's")
        return prompts

    @field_validator("latents")
    @classmethod
    def _read_latents(cls, source: str | None, info) -> LatentsFile | None:
        if source is None:
            return None
        latents = read_latents(source)
        inline, from_file = info.data.get("prompts", _FROM_FILE), info.data.get("prompts_file")
        if inline is _FROM_FILE and from_file is None:
            return latents  # the prompts failed their own checks
        count = (0 if inline is _FROM_FILE else len(inline)) + (len(from_file.prompts) if from_file else 0)
        if latents.count not in (1, count):
            raise ValueError(
                f"{source!r} holds {latents.count} latents; need 1 (for every prompt) or one per prompt ({count})"
            )
        return latents

    @field_validator("fid_reference")
    @classmethod
    def _check_reference(cls, path: str | None) -> str | None:
        if path is None:
            return None
        try:  # np.load of an .npz reads its directory only: the arrays stay on disk
            with np.load(path, allow_pickle=False) as data:
                names = set(data.files)
        except FileNotFoundError:
            raise ValueError(f"no such file {path!r}") from None
        except (OSError, ValueError) as e:
            raise ValueError(f"{path!r} is not an .npz file ({first_line(e)})") from None
        if not {"mu", "sigma"} <= names:
            raise ValueError(f"{path!r} holds {sorted(names)}; a reference needs mu and sigma")
        return path

    @model_validator(mode="after")
    def _set_metrics_have_a_reference(self):
        listed = [m for m in self.metrics if m in SET_METRICS]
        if self.fid_reference is not None and not listed:
            raise ConfigError(f"fid_reference: no set metric in metrics; set metrics: {', '.join(SET_METRICS)}")
        for metric in listed:
            if METRICS[metric].options.get("statistic") != "kid":
                continue
            if self.fid_reference is None and METRICS[metric].weights[1].hub_id in REFERENCE_WITHOUT_FEATURES:
                raise ConfigError(
                    f"metrics: {metric!r} needs the reference images' features, and its reference "
                    f"({METRICS[metric].weights[1].files[0]}) holds mu and sigma only; give fid_reference = a "
                    "file with features (`bench fid-stats FOLDER --out FILE.npz`), or leave it out"
                )
            if self.fid_reference is not None:
                with np.load(self.fid_reference, allow_pickle=False) as data:
                    if "features" not in data.files:
                        raise ConfigError(
                            f"fid_reference: {metric!r} needs the reference images' features, and "
                            f"{self.fid_reference!r} holds mu and sigma only (`bench fid-stats` keeps them)"
                        )
        return self

    @model_validator(mode="after")
    def _take_file_prompts(self):
        if self.prompts is _FROM_FILE:
            self.prompts = self.prompts_file.prompts
        elif self.prompts_file is not None:  # a few prompts of one's own, then a prompt set
            self.prompts = [*self.prompts, *self.prompts_file.prompts]
        return self

    @property
    def runtime(self) -> Runtime:
        """Device, dtype and provider as the suite asks for them ("auto" allowed); each backend
        resolves them for this machine once per plan."""
        return Runtime(self.device, self.dtype, self.provider, self.provider_fallback)

    def runtime_for(self, backend: str) -> Runtime:
        """`runtime` with this backend's [backend_options] (only_on is the plan's, not the run's)."""
        options = {k: v for k, v in self.backend_options.get(backend, {}).items() if k != "only_on"}
        return replace(self.runtime, options=json.dumps(options, sort_keys=True) if options else "")

    def only_on(self, backend: str) -> str:
        return self.backend_options.get(backend, {}).get("only_on", "any")

    def model_spec(self, key: str):
        """The registry entry with this suite's overrides on top (model < suite < per-model).
        A swept setting (a list) keeps the card's value here: axis() gives its values."""
        over = dict(self.model_overrides.get(key, {}))
        spec = MODELS[key]
        if "lora_scale" in over and spec.lora is not None:
            spec = spec.with_overrides(lora=replace(spec.lora, scale=float(over.pop("lora_scale"))))
        over.pop("lora_scale", None)
        general = dict(width=self.width, height=self.height)
        for name in AXES:
            values = getattr(self, name)
            general[name] = values[0] if values and len(values) == 1 else None
        return spec.with_overrides(**general).with_overrides(**over)

    def axis(self, spec, name: str) -> list:
        """The values of a sweep axis (steps or guidance_scale) for one model: the suite's list,
        unless the model fixes the setting (a per-model override; the GAN family's weights);
        else the one value its spec holds. Every value is its own cells."""
        values = getattr(self, name)
        fixed = name in self.model_overrides.get(spec.key, {}) or name in FIXED_BY_WEIGHTS.get(spec.family, ())
        return [getattr(spec, name)] if fixed or not values else list(values)


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


_TABLE_KEYS = {
    "prompts": ("id", "text", "negative", "category", "challenge"),
    "prompts_file": PROMPTS_FILE_KEYS,
    "model_overrides": OVERRIDABLE,
}
BACKEND_OPTION_KEYS = {
    "pytorch": tuple(_EagerOptions.__annotations__),
    "pytorch-compile": tuple(_CompileOptions.__annotations__),
    "onnxruntime": tuple(_OrtOptions.__annotations__),
}


def _allowed_keys(loc: tuple) -> tuple:
    """The keys the table at `loc` may hold (for an "unknown key" line)."""
    if len(loc) == 1:
        return tuple(Suite.model_fields)
    if loc[0] == "backend_options":
        return tuple(BACKEND_OPTION_KEYS) if len(loc) == 2 else BACKEND_OPTION_KEYS[loc[1]]
    return _TABLE_KEYS[loc[0]]


def _explain(error: ValidationError) -> str:
    lines = []
    for e in error.errors(include_url=False):
        kind, loc = e["type"], e["loc"]
        if kind == "value_error":
            reason = str(e.get("ctx", {}).get("error", e["msg"]))
        elif kind in ("missing", "missing_argument"):
            reason = "required" + (f"; allowed: {', '.join(MODELS)}" if loc == ("models",) else "")
            reason += " (or a prompts_file to read them from)" if loc == ("prompts",) else ""
        elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
            reason = f"unknown key; allowed: {', '.join(_allowed_keys(loc))}"
        else:  # not expected: every field's type says what it needs
            reason = f"{e['msg']} (got {show(e.get('input'))})"
        lines.append(f"{_path(loc)}: {reason}".replace("\n", " "))
    return "\n".join(dict.fromkeys(lines))


def shipped_suites() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("bench.suites").iterdir() if p.name.endswith(".toml"))


def _is_file(name_or_path: str) -> bool:
    """A suite given as a path rather than by a shipped suite's name."""
    return Path(name_or_path).suffix == ".toml" or Path(name_or_path).exists()


def _read_toml(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if _is_file(name_or_path):
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


def load_suite(name_or_path: str, overrides: dict | None = None, *, without_prompts: bool = False) -> Suite:
    """Read a suite, apply command-line overrides (None values ignored), and validate it.

    `without_prompts`: one placeholder prompt in place of the suite's own, for `bench fetch`,
    which needs only the models and metrics, before a fetched prompt set is here."""
    raw = _read_toml(name_or_path)
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if without_prompts:
        raw.pop("prompts_file", None)
        raw["prompts"] = [{"id": "placeholder", "text": "the suite's prompts are not fetched yet"}]
    if "prompts_file" in raw and _is_file(name_or_path):  # a shipped suite names a shipped set
        raw["prompts_file"] = relative_to(raw["prompts_file"], Path(name_or_path).parent)
    for name in ("latents", "fid_reference"):  # paths in a suite file are relative to it
        if name in raw and _is_file(name_or_path):
            raw[name] = relative_to(raw[name], Path(name_or_path).parent)
    raw.setdefault("name", Path(name_or_path).stem)
    try:
        return Suite(**raw)
    except PromptsNotFetched as e:  # not a ValueError, so pydantic lets it through as it is
        raise PromptsNotFetched(f"{e}; fetch them with: bench fetch --suite {name_or_path}", e.name) from None
