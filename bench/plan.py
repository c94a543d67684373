"""The plan: every cell (model x backend x scheduler x prompt x seed) of a suite, in run order.

The order makes the slow axis (loading a model) change least often: model, then backend, then
scheduler (a cheap in-place swap), then the swept settings (steps, guidance: free to change from
one call to the next), then prompt, then seeds (batched into one call). The plan is
also where the suite's settings are worked out once: each model's spec with its overrides, and
each (backend, family)'s Runtime on this machine, which every cell then carries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from itertools import groupby
from pathlib import Path

from bench import store
from bench.backends import backend_class, supports
from bench.config import Suite
from bench.errors import ConfigError
from bench.latents import latent_shape
from bench.models import ModelSpec, off_card
from bench.runtime import Runtime

# Fields that do not define the image: the runtime enters the id as its parts (below), and a
# prompt's labels name the prompt text that is already hashed (relabelling a prompt must not
# orphan its images).
_NOT_IDENTITY = ("runtime", "category", "challenge", "latents_file")
# Present in a cell's id only when the suite gives fixed latents, so ids made before they
# existed stay valid.
_LATENT_IDENTITY = ("latents_sha256", "latent_index")


@dataclass(frozen=True)
class Cell:
    """One image to make: everything that defines it, and the runtime it is made with."""

    model: str
    family: str
    hub_id: str
    revision: str | None
    lora: str | None
    lora_scale: float | None
    vae: str | None
    backend: str
    runtime: Runtime
    scheduler: str | None  # None for the gan family
    prompt_id: str
    prompt: str
    negative_prompt: str
    steps: int
    guidance_scale: float
    width: int
    height: int
    seed: int
    # Family-specific settings that change the image (BigGAN's truncation, class mapping,
    # weights hash), as sorted JSON; empty for the diffusion families.
    knobs: str = ""
    # The prompt's labels in its prompt set (PartiPrompts' category and challenge), carried
    # into each row for the site's breakdowns; not part of the identity (see cell_id).
    category: str | None = None
    challenge: str | None = None
    # The replacement VAE's commit; None (unpinned, or no VAE) leaves it out of the id, so that
    # the ids of cells made before VAEs could be pinned stay valid.
    vae_revision: str | None = None
    # Fixed initial latents (bench.latents): the file's sha256 and which of its latents this
    # cell starts from; None: the seed's noise. Where the file is read from is not identity.
    latents_sha256: str | None = None
    latent_index: int | None = None
    latents_file: str | None = None

    @property
    def device(self) -> str:
        return self.runtime.device

    @property
    def dtype(self) -> str:
        return self.runtime.dtype

    @property
    def provider_requested(self) -> str:
        """The provider asked for by name, else the device: TensorRT and CUDA cells share a
        device, not an image."""
        return self.runtime.requested if self.runtime.requested != "auto" else self.runtime.device

    @cached_property
    def cell_id(self) -> str:
        """Stable hash of everything that defines the image (the prompt text included, so an
        edited prompt is a new cell, not a silently reused one).

        The hashed fields and their names are those of the data already published: the runtime
        enters as device, dtype and provider_requested, so ids made before the Runtime existed
        stay valid.
        """
        identity = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_IDENTITY}
        if self.vae_revision is None:
            del identity["vae_revision"]
        if self.latents_sha256 is None:
            for name in _LATENT_IDENTITY:
                del identity[name]
        identity.update(device=self.device, dtype=self.dtype, provider_requested=self.provider_requested)
        if self.runtime.options:  # only where set: ids of cells without options stay as they were
            identity["backend_options"] = self.runtime.options
        blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def group(self) -> tuple[str, str]:
        """Cells that share one loaded model."""
        return (self.model, self.backend)


@dataclass
class Plan:
    cells: list[Cell]  # every cell of the suite, in run order
    todo: list[Cell]  # the cells not done yet
    notes: list[str] = field(default_factory=list)  # (model, backend) pairs left out, and why
    specs: dict[str, ModelSpec] = field(default_factory=dict)  # model key -> spec with overrides
    # One line per model the suite runs unlike its card (size, steps, guidance, LoRA scale):
    # a ranking at a forced 512 px measures resolution as much as the models.
    warnings: list[str] = field(default_factory=list)


def resolve_runtimes(suite: Suite, specs: dict[str, ModelSpec]) -> dict[tuple[str, str], Runtime]:
    """What the suite's runtime means on this machine, once per (backend, family) that will run.

    A CPU cell is never taken as done on a GPU machine: the resolved device and dtype are part
    of every cell id. Raises InstallError / DeviceUnavailable before anything loads.
    """
    families = sorted({spec.family for spec in specs.values()})
    return {
        (backend, family): backend_class(backend, family).resolve(suite.runtime_for(backend))
        for backend in suite.backends
        for family in families
        if supports(backend, family)
    }


def cells_for(
    suite: Suite, specs: dict[str, ModelSpec], runtimes: dict[tuple[str, str], Runtime]
) -> tuple[list[Cell], list[str]]:
    """All cells of a suite, and notes on the (model, backend) pairs left out as unsupported: one
    note per reason, naming its models (six models without CUDA make one line, not six)."""
    check_latents(suite, specs)
    latents = suite.latents
    cells, skipped = [], {}  # reason -> models it left out, in the suite's order
    for model in suite.models:
        spec = specs[model]
        knobs = json.dumps(spec.image_knobs(), sort_keys=True) if spec.image_knobs() else ""
        for backend in suite.backends:
            if not supports(backend, spec.family):
                skipped.setdefault(f"the {spec.family} family has no {backend} backend", []).append(model)
                continue
            if suite.only_on(backend) == "cuda" and runtimes[(backend, spec.family)].device != "cuda":
                skipped.setdefault(f"{backend} runs only on CUDA (only_on), and there is none here", []).append(model)
                continue
            common = dict(
                model=model,
                family=spec.family,
                hub_id=spec.hub_id,
                revision=spec.revision,
                lora=spec.lora.hub_id if spec.lora else None,
                lora_scale=spec.lora.scale if spec.lora else None,
                vae=spec.vae,
                vae_revision=spec.vae_revision if spec.vae else None,
                backend=backend,
                runtime=runtimes[(backend, spec.family)],
                width=spec.width,
                height=spec.height,
                knobs=knobs,
            )
            settings = [
                (steps, float(guidance))
                for steps in suite.axis(spec, "steps")
                for guidance in suite.axis(spec, "guidance_scale")
            ]
            for scheduler in [None] if spec.family == "gan" else suite.schedulers:
                for steps, guidance in settings:
                    for position, prompt in enumerate(suite.prompts):
                        negative = prompt.negative if prompt.negative is not None else spec.negative_prompt
                        fixed = (
                            dict(
                                latents_sha256=latents.sha256,
                                latent_index=latents.index_for(position),
                                latents_file=latents.path,
                            )
                            if latents
                            else {}
                        )
                        for seed in suite.seeds:
                            cells.append(
                                Cell(
                                    scheduler=scheduler,
                                    steps=steps,
                                    guidance_scale=guidance,
                                    prompt_id=prompt.id,
                                    prompt=prompt.text,
                                    negative_prompt=negative,
                                    seed=seed,
                                    category=prompt.category,
                                    challenge=prompt.challenge,
                                    **fixed,
                                    **common,
                                )
                            )
    return cells, [f"{reason}; skipped for {', '.join(models)}" for reason, models in skipped.items()]


def check_latents(suite: Suite, specs: dict[str, ModelSpec]) -> None:
    """A ConfigError unless every model of the suite can start from its fixed latents: a
    diffusion model whose latent space, at the size the suite runs it, has the file's shape."""
    if suite.latents is None:
        return
    have = suite.latents.shape[1:]
    for key, spec in specs.items():
        if spec.family == "gan":
            raise ConfigError(f"latents: {key} is a GAN ({spec.family} family): it starts from no latents")
        need = latent_shape(spec.latent_channels, spec.vae_scale_factor, spec.width, spec.height)
        if have != need:
            raise ConfigError(
                f"latents: {suite.latents.source!r} holds latents of shape (C, H, W) = {have}, but {key} at "
                f"{spec.width}x{spec.height} starts from {need}"
            )


def make_plan(suite: Suite, data_dir: Path, retry_failed: bool = True, runtimes=None) -> Plan:
    """The suite's cells, minus those the data already holds (failed ones count as not done
    unless `retry_failed` is off). `runtimes` (resolve_runtimes, worked out where the models
    will run: a Ray worker, say) defaults to this machine's."""
    specs = {key: suite.model_spec(key) for key in suite.models}
    cells, notes = cells_for(suite, specs, runtimes or resolve_runtimes(suite, specs))
    done = store.read(data_dir, "generations", columns=["cell_id", "status"])
    if retry_failed:
        done = done[done["status"] != "failed"]
    done_ids = set(done["cell_id"])
    return Plan(cells, [c for c in cells if c.cell_id not in done_ids], notes, specs, card_warnings(specs))


def card_warnings(specs: dict[str, ModelSpec]) -> list[str]:
    """One line per model whose settings differ from its card's."""
    lines = []
    for key, spec in specs.items():
        if differences := off_card(spec):
            lines.append(f"{key} runs off its card (bench list models): {', '.join(differences)}")
    return lines


def batches(cells: list[Cell], batch_size: int):
    """Consecutive cells that one call can make: same group, scheduler, steps, guidance and prompt."""
    key = lambda c: (c.group, c.scheduler, c.steps, c.guidance_scale, c.prompt_id)  # noqa: E731
    for _, run in groupby(cells, key=key):
        run = list(run)
        for i in range(0, len(run), batch_size):
            yield run[i : i + batch_size]
