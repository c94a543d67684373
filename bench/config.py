"""Suites: TOML files naming prompts, models, schedulers, seeds and settings, checked up front.

Every check runs before any model loads and fails with one line that names the field and the
allowed values (ConfigError; the CLI turns it into exit code 2). A suite is a shipped name
(bench/suites/<name>.toml) or a path to a TOML file. The command line's lists are checked with
the same `check_choices`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

from bench.errors import ConfigError
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
OVERRIDABLE = (
    "hub_id",
    "revision",
    "steps",
    "guidance_scale",
    "width",
    "height",
    "negative_prompt",
    "vae",
    "lora_scale",
    # gan family (bench.models.ModelSpec): class mapping, noise, pickle weights
    "truncation",
    "class_top_k",
    "class_clip",
    "class_templates",
    "weights_url",
    "weights_sha256",
    "trust_unpinned_weights",
)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    negative: str | None = None  # None: the model's default negative prompt


@dataclass
class Suite:
    name: str = field(metadata={"help": "suite name, recorded in runs"})
    prompts: list[Prompt] = field(metadata={"help": "[[prompts]] tables with id and text"})
    models: list[str] = field(metadata={"help": "model registry keys (bench list)"})
    schedulers: list[str] = field(default_factory=lambda: ["euler-a"], metadata={"help": "scheduler short names"})
    backends: list[str] = field(default_factory=lambda: ["pytorch"], metadata={"help": "pytorch, onnxruntime"})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": '"0-3", "0,5,9" or a list'})
    steps: int | None = field(default=None, metadata={"help": "denoising steps; default: the model's"})
    guidance_scale: float | None = field(default=None, metadata={"help": "CFG scale; default: the model's"})
    width: int | None = field(default=None, metadata={"help": "pixels, multiple of 8; default: native"})
    height: int | None = field(default=None, metadata={"help": "pixels, multiple of 8; default: native"})
    dtype: str = field(default="auto", metadata={"help": "auto: float16 on CUDA, float32 on CPU"})
    device: str = field(default="auto", metadata={"help": "auto: CUDA where present, else CPU"})
    provider: str = field(default="auto", metadata={"help": "ONNX Runtime provider"})
    provider_fallback: str = field(default="error", metadata={"help": "a requested provider that did not load"})
    batch_size: int = field(default=4, metadata={"help": "seeds generated per call (halved on OOM)"})
    metrics: list[str] = field(default_factory=lambda: ["clip_vit_b_32"], metadata={"help": "bench list"})
    model_overrides: dict[str, dict] = field(default_factory=dict, metadata={"help": "[model_overrides.<key>]"})
    description: str = ""

    def __post_init__(self):
        if not self.prompts:
            raise ConfigError("prompts: at least one [[prompts]] table with id and text is required")
        seen = set()
        for p in self.prompts:
            if not _ID.match(p.id):
                raise ConfigError(f"prompts.id: {p.id!r} must match {_ID.pattern} (it names files)")
            if p.id in seen:
                raise ConfigError(f"prompts.id: {p.id!r} appears twice")
            if not p.text.strip():
                raise ConfigError(f"prompts.text: prompt {p.id!r} is empty")
            seen.add(p.id)
        check_choices("models", self.models, MODELS)
        check_choices("schedulers", self.schedulers, SCHEDULERS)
        check_choices("backends", self.backends, BACKENDS)
        check_choices("metrics", self.metrics, SCORABLE)
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("device", self.device, DEVICES)
        check_choice("provider", self.provider, PROVIDERS)
        check_choice("provider_fallback", self.provider_fallback, PROVIDER_FALLBACK)
        if not self.seeds or any(s < 0 or s >= 2**63 for s in self.seeds):
            raise ConfigError(f"seeds: need at least one seed, each in 0..2**63-1 (got {self.seeds})")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: duplicates in {self.seeds}")
        _check_positive("batch_size", self.batch_size)
        _check_settings("", self.steps, self.guidance_scale, self.width, self.height)
        for key, over in self.model_overrides.items():
            check_choice("model_overrides", key, MODELS)
            unknown = set(over) - set(OVERRIDABLE)
            if unknown:
                raise ConfigError(
                    f"model_overrides.{key}: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(OVERRIDABLE)}"
                )
            _check_settings(
                f"model_overrides.{key}.",
                over.get("steps"),
                over.get("guidance_scale"),
                over.get("width"),
                over.get("height"),
            )

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
        general = {
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "width": self.width,
            "height": self.height,
        }
        return spec.with_overrides(**general).with_overrides(**over)


def check_choice(name: str, value, allowed) -> None:
    """One value of `allowed` (a list, tuple or a registry dict's keys), or a ConfigError."""
    if value not in allowed:
        raise ConfigError(f"{name}: unknown value {value!r}; allowed: {', '.join(allowed)}")


def check_choices(name: str, values, allowed) -> None:
    """A non-empty list of values of `allowed`, or a ConfigError naming the first bad one."""
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{name}: need a non-empty list; allowed: {', '.join(allowed)}")
    for v in values:
        check_choice(name, v, allowed)


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated command-line list ("a, b,c") as a list; None stays None."""
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}: must be a positive integer (got {value!r})")


def _check_settings(prefix, steps, guidance, width, height):
    if steps is not None:
        _check_positive(prefix + "steps", steps)
    if guidance is not None and (not isinstance(guidance, (int, float)) or guidance < 0):
        raise ConfigError(f"{prefix}guidance_scale: must be a number >= 0 (got {guidance!r})")
    for name, v in ((prefix + "width", width), (prefix + "height", height)):
        if v is not None:
            _check_positive(name, v)
            if v % 8:
                raise ConfigError(f"{name}: must be divisible by 8 (got {v})")


def parse_seeds(value) -> list[int]:
    """Seeds from "0-3", "0,5,9", "7", an int or a list of ints."""
    if isinstance(value, bool):
        raise ConfigError(f"seeds: expected a range like 0-3 or a list (got {value!r})")
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
            raise ConfigError(f"seeds: a list must hold integers (got {value!r})")
        return value
    seeds: list[int] = []
    for part in str(value).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ConfigError(f"seeds: cannot read {part.strip()!r}; use a range like 0-3 or a list like 0,5,9")
        lo, hi = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if hi < lo:
            raise ConfigError(f"seeds: range {lo}-{hi} runs backwards")
        seeds.extend(range(lo, hi + 1))
    return seeds


def shipped_suites() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("bench.suites").iterdir() if p.name.endswith(".toml"))


def _read_toml(name_or_path: str) -> tuple[dict, str]:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"suite: no such file {str(path)!r}")
        text = path.read_text(encoding="utf-8")
    else:
        if name_or_path not in shipped_suites():
            raise ConfigError(
                f"suite: unknown suite {name_or_path!r}; shipped: {', '.join(shipped_suites())}, "
                "or a path to a .toml file"
            )
        text = resources.files("bench.suites").joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), str(path)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"suite: {name_or_path}: not valid TOML: {e}") from None


def load_suite(name_or_path: str, overrides: dict | None = None) -> Suite:
    """Read a suite, apply command-line overrides (None values ignored), and validate it."""
    raw, _ = _read_toml(name_or_path)
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    allowed = [f.name for f in fields(Suite)]
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"suite: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
    prompts = []
    for i, p in enumerate(raw.get("prompts", [])):
        if not isinstance(p, dict) or set(p) - {"id", "text", "negative"} or not {"id", "text"} <= set(p):
            raise ConfigError(f"prompts[{i}]: needs keys id and text (optional: negative)")
        prompts.append(Prompt(str(p["id"]), str(p["text"]), p.get("negative")))
    raw["prompts"] = prompts
    raw["seeds"] = parse_seeds(raw.get("seeds", [0]))
    raw.setdefault("name", Path(name_or_path).stem)
    for key in ("models", "schedulers", "backends", "metrics"):
        if isinstance(raw.get(key), str):
            raw[key] = split_list(raw[key])
    if "models" not in raw:
        raise ConfigError(f"models: required; allowed: {', '.join(MODELS)}")
    return Suite(**raw)
