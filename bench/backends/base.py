"""The interface every backend implements: load once, swap schedulers, generate a batch of seeds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

    from bench.config import Suite
    from bench.models import ModelSpec


@dataclass(frozen=True)
class Request:
    """One call: one prompt, several explicit seeds (one image each)."""

    prompt: str
    negative_prompt: str
    seeds: tuple[int, ...]
    steps: int
    guidance_scale: float
    width: int
    height: int


@dataclass
class Generated:
    """One generated image and what we know of it."""

    image: Image | None  # None when nothing usable came out
    status: str = "ok"  # ok, nan (non-finite pixels), nsfw (blanked by the safety checker)
    extra: dict = field(default_factory=dict)  # family-specific columns (BigGAN's class)


@dataclass
class CallResult:
    images: list[Generated]
    latency_s: float  # wall time of the call / number of images
    denoise_s: float | None = None  # per image
    step_ms_p50: float | None = None
    peak_mem_mb: float | None = None
    mem_scope: str | None = None


@dataclass
class LoadInfo:
    load_s: float
    device: str  # cpu, cuda
    dtype: str  # float32, float16 ...
    provider: str  # what really executes: cpu, cuda, tensorrt
    export_s: float = 0.0  # ONNX export; 0 when a cached export was used
    revision: str | None = None


class Backend(ABC):
    """A model loaded on one backend. Created per model x backend, loaded once per sweep."""

    name: str = ""

    def __init__(self, spec: ModelSpec, suite: Suite):
        self.spec = spec
        self.suite = suite

    @abstractmethod
    def load(self) -> LoadInfo:
        """Load weights (and export where needed); heavy imports happen here, not at import."""

    def set_scheduler(self, name: str | None) -> None:
        """Swap the scheduler in place (None for families without one)."""

    @abstractmethod
    def generate(self, request: Request) -> CallResult:
        """Make one image per seed; seeds drive explicit generators, so images are reproducible."""

    def close(self) -> None:
        """Free memory before the next model loads."""
