"""Can this sweep's weights be had, and do its schedulers fit its models? Answered before any
model loads, reading at most a few small files per model (model_index.json, a config, a hash),
so a machine without weights fails in seconds with the list of what is missing and how to get it.
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import ConfigError, WeightsError, WeightsMissing, first_line
from bench.metrics import METRICS, OPEN_CLIP_REVISIONS
from bench.models import ModelSpec
from bench.schedulers import SCHEDULERS
from bench.weights import hub, pickles
from bench.weights.fetch import MODEL_FILES, component_kind, is_weights_file, pipeline_components

HOW_TO_GET = (
    "Get them with `bench fetch --suite <suite>` on a machine with internet (set HF_TOKEN for gated "
    "repos), then run with HF_HUB_OFFLINE=1; or point the model at a local folder with "
    '[model_overrides.<key>] hub_id = "/path/to/folder" in a suite file.'
)


def missing(specs: list[ModelSpec]) -> list[str]:
    """One line per model whose weights cannot be reached now (empty: all reachable)."""
    problems = []
    for spec in specs:
        try:
            if spec.family == "gan":
                pickles.weights_folder(spec)  # reached, and its hash pinned
                continue
            index = hub.hub_file(spec.hub_id, "model_index.json", spec.revision, spec.tiny)
            # what loads from this copy alone: a local folder, or the cache when the hub is out of
            # reach (online, from_pretrained fetches a hub repo's missing parts itself)
            alone = Path(hub.source(spec.hub_id, spec.tiny)).is_dir() or hub.offline() or not hub.hub_reachable()
            if alone and (gaps := incomplete(index.parent, {"vae"} if spec.vae else set())):
                raise WeightsError(f"a partial copy: {'; '.join(gaps)} (a fetch that stopped part-way?)")
            if spec.vae:
                hub.hub_file(spec.vae, "config.json", spec.vae_revision)
            if spec.lora:
                hub.hub_file(spec.lora.hub_id, spec.lora.weight_name, spec.lora.revision, spec.tiny)
        except Exception as e:  # noqa: BLE001 - any failure to reach a file means the same to the user
            problems.append(f"{spec.key} ({spec.hub_id}): {first_line(e)[:200]}")
    return problems


def incomplete(folder: Path, skip: set[str]) -> list[str]:
    """The model components of a pipeline folder (a cached snapshot, or a local copy) without their
    config or weights: model_index.json alone came through, but a fetch that stopped part-way
    would otherwise pass this check and fail hours into a sweep, when the model loads."""
    import json

    gaps = []
    for comp in pipeline_components(json.loads((folder / "model_index.json").read_text(encoding="utf-8"))):
        if comp in skip or component_kind(comp) not in MODEL_FILES:
            continue
        part = folder / comp
        names = [p.name for p in part.iterdir()] if part.is_dir() else []
        if "config.json" not in names or not any(is_weights_file(n) for n in names):
            gaps.append(f"{comp}/ has no {'config.json' if 'config.json' not in names else 'weights'}")
    return gaps


def missing_metrics(metrics: list[str]) -> list[str]:
    """One line per metric whose weights cannot be reached now: open_clip's pretrained tag (CLIP,
    the LAION aesthetic's CLIP), the files of each of its hub repos (or URLs), and a pickle's
    sha256 pin."""
    problems = []
    for metric in metrics:
        info = METRICS[metric]
        if info.options.get("pretrained") not in (None, "tiny") and (repo := hub.open_clip_repo(info.options)):
            # (no repo: open_clip fetches it by URL into its own cache: nothing to check cheaply)
            reasons = []
            for filename in hub.OPEN_CLIP_FILES:
                try:
                    hub.hub_file(repo, filename, OPEN_CLIP_REVISIONS.get(repo))
                    break
                except Exception as e:  # noqa: BLE001 - any failure to reach a file means the same to the user
                    reasons.append(first_line(e))
            else:
                problems.append(f"{metric} ({repo}): {reasons[-1][:200]}")
        for w in info.weights:
            if w.tiny:
                continue
            try:
                if w.urls:  # on no hub: the bench cache, or its URLs (unless offline)
                    pickles.url_file(w)
                else:
                    for filename in w.files:
                        hub.hub_file(w.hub_id, filename, w.revision)
            except Exception as e:  # noqa: BLE001 - any failure to reach a file means the same to the user
                problems.append(f"{metric} ({w.hub_id}): {first_line(e)[:200]}")
                continue
            if w.pickled and not w.sha256:
                problems.append(
                    f"{metric} ({w.hub_id}): {w.files[0]} is a pickle with no sha256 pinned, so it would not "
                    "be loaded; `bench fetch` prints its hash: pin it as the metric's sha256 in bench/metrics.py"
                )
    return problems


def check_compatible(scheduler_class: str, model: str, names: list[str], card: str | None = None) -> None:
    """Reject schedulers that the model's own scheduler class does not list in `compatibles`,
    but for `card`, the scheduler its card runs it with (an LCM LoRA's LCMScheduler, which no
    base scheduler lists)."""
    import diffusers

    cls = getattr(diffusers, scheduler_class)
    # The names the class lists, not its `compatibles` property: that imports every compatible
    # scheduler's module (about a second here), and only the ones the sweep swaps in are needed.
    names_listed = getattr(cls, "_compatibles", None)
    if names_listed is None:  # a diffusers without the list: the property, imports and all
        compatible = {c.__name__ for c in cls().compatibles}
    else:
        compatible = {cls.__name__, *names_listed}
    if card is not None:
        compatible.add(SCHEDULERS[card].class_name)
    for name in names:
        if SCHEDULERS[name].class_name not in compatible:
            raise ConfigError(
                f"schedulers: {name!r} is not compatible with model {model!r} "
                f"(which ships {scheduler_class}); compatible: "
                + ", ".join(n for n, s in SCHEDULERS.items() if s.class_name in compatible)
            )


def require_metrics(metrics: list[str]) -> None:
    """Raise WeightsMissing unless every metric's weights can be reached now."""
    if problems := missing_metrics(metrics):
        raise WeightsMissing(problems, HOW_TO_GET)


def preflight(specs: list[ModelSpec], schedulers: dict[str, list[str]], metrics: list[str]) -> None:
    """Everything about weights that can fail before a model loads: every model's and metric's
    (and class-mapping CLIP's) weights reachable (scoring runs after generation, so its weights are checked now, not after
    hours of work), and each model's schedulers (`schedulers[key]`) in its `compatibles`."""
    # A GAN maps prompts to classes with a CLIP of its own: its weights are needed too.
    clips = list(dict.fromkeys(metrics + [spec.class_clip for spec in specs if spec.family == "gan"]))
    if problems := missing(specs) + missing_metrics(clips):
        raise WeightsMissing(problems, HOW_TO_GET)
    for spec in specs:
        if spec.family != "gan":
            check_compatible(hub.scheduler_class_name(spec), spec.key, schedulers[spec.key], spec.scheduler_hint)
