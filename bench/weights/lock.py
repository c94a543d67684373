"""The weights lock: what every weight a suite loads resolved to, kept beside its results in
`<data dir>/weights-lock.json`, like a package lock, so that a run months later refuses weights
that changed under the same name.

`bench fetch` writes an entry for each item it fetched; a run adds the items not yet locked (the
first run locks them) and refuses any that differ, unless `--update-lock` accepts them. An entry
is keyed by what was asked (kind, source, revision or the default branch) and holds the commit
the HF cache resolved it to (none for a local folder) and, per file the loader reads, its size
and sha256. Different means another commit, or a file whose size or hash changed; in a local
folder, which has no commit to fix its files, also a file that appeared or went. Files of one
commit that a run does not read stay in the entry, and new ones are added: the commit fixes
their bytes already.

Tiny models and scorers are not locked: they are built here from seeded recipes, never fetched.

The check is cheap for real weights: a commit is its snapshot folder's name and an LFS file's
sha256 its blob's name (bench.weights.digest), so no weights file in the HF cache is read.
Entries are observed where the weights are (a Ray worker) and settled where the data is.
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from bench.errors import StorageError, WeightsChanged
from bench.files import atomic_write
from bench.models import ModelSpec
from bench.weights import digest
from bench.weights.fetch import Item, pipeline_components, pipeline_files, slots, wanted
from bench.weights.pickles import url_folder, url_path

LOCK_FILE = "weights-lock.json"  # not *.lock: git ignores those, as sweeps' transient lock files
VERSION = 1
log = logging.getLogger(__name__)


def path_of(data_dir: Path) -> Path:
    return Path(data_dir) / LOCK_FILE


def key_of(entry: dict) -> str:
    """What was asked, as one readable string: 'pipeline org/name @ <revision>' ('pipeline
    org/name' for the default branch, or a local folder)."""
    name = f" {entry['weight_name']}" if entry.get("weight_name") else ""
    return f"{entry['kind']} {entry['source']}{name}" + (f" @ {entry['revision']}" if entry["revision"] else "")


def asked(item: Item) -> dict:
    """A fetch item as a lock entry not yet observed: what was asked for (its key), no commit."""
    entry = {"kind": item.kind, "source": item.source, "revision": item.revision, "commit": None}
    if item.weight_name:
        entry["weight_name"] = item.weight_name
    return entry


# --- what this machine has ---------------------------------------------------------------------


def observe(specs: list[ModelSpec], metrics: list[str], *, remember: bool = True) -> tuple[list[dict], list[str]]:
    """Entries for the weights these models and metrics load, as found on this machine now (no
    network), and the keys of items not here yet (from_pretrained may still download them)."""
    items, _ = wanted(specs, metrics, local_folders=True)
    return observe_items(items, remember=remember)


def observe_items(items: list[Item], *, remember: bool = True) -> tuple[list[dict], list[str]]:
    found, absent = [], []  # found: (entry, {name: path here})
    for item in items:
        entry = asked(item)
        where = _locate(item)
        files = _files(item, where[0]) if where else []
        if not files:
            absent.append(key_of(entry))
            continue
        entry["commit"] = where[1]
        found.append((entry, {name: where[0] / name for name in files}))
    sha256 = digest.sha256_of([path for _, named in found for path in named.values()], remember=remember)
    for entry, named in found:
        entry["files"] = {n: {"size_bytes": p.stat().st_size, "sha256": sha256[p]} for n, p in named.items()}
    return [entry for entry, _ in found], absent


def _locate(item: Item) -> tuple[Path, str | None] | None:
    """The folder the item's files are in here and its commit (None for a folder of our own)."""
    if item.is_url:  # BigGAN's package weights, or a metric's weight on no hub, in the bench cache
        folder = url_folder(item.spec) if item.kind == "gan" else url_path(item.weights).parent
        return (folder, None) if folder.is_dir() else None
    local = Path(item.source).expanduser()
    if local.is_dir():
        return local, None
    from huggingface_hub import try_to_load_from_cache

    probes = ["model_index.json"] if item.kind == "pipeline" else [n for options in slots(item) for n in options]
    for name in probes:
        cached = try_to_load_from_cache(item.source, name, revision=item.revision)
        if isinstance(cached, str):  # snapshots/<commit>/<name>: the folder's name is the commit
            snapshot = Path(cached).parents[name.count("/")]
            return snapshot, snapshot.name
    return None


def _files(item: Item, folder: Path) -> list[str]:
    """The files of `folder` the item's loader reads (relative, '/'-separated)."""
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    if item.kind == "pipeline":
        if "model_index.json" not in names:
            return []
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        return pipeline_files(pipeline_components(index), names)
    return [found for options in slots(item) if (found := next((n for n in options if n in names), None))]


# --- the lock file -----------------------------------------------------------------------------


def read(path: Path) -> dict[str, dict]:
    """The lock's entries by key (none when there is no lock yet)."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise StorageError(f"cannot read the weights lock {path}: {e}; restore it, or delete it to lock anew") from e
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("items"), dict):
        raise StorageError(f"{path} is not a weights lock of version {VERSION}; restore it, or delete it to lock anew")
    return doc["items"]


def differences(locked: dict, found: dict) -> list[str]:
    """What differs between a locked entry and the same item found now, a line each."""
    if locked.get("commit") != found["commit"]:
        return [f"commit: locked {locked.get('commit') or 'none'}, found {found['commit'] or 'none'}"]
    old, new = locked.get("files", {}), found["files"]
    out = [
        f"{name}: locked sha256 {old[name].get('sha256')} ({old[name].get('size_bytes')} bytes), "
        f"found {new[name]['sha256']} ({new[name]['size_bytes']} bytes)"
        for name in sorted(old.keys() & new.keys())
        if old[name] != new[name]
    ]
    if found["commit"] is None:  # a folder of our own: no commit fixes which files it has
        out += [f"{name}: locked, now gone" for name in sorted(old.keys() - new.keys())]
        out += [
            f"{name}: not in the lock (found sha256 {new[name]['sha256']})" for name in sorted(new.keys() - old.keys())
        ]
    return out


@dataclass
class Verdict:
    sha256: str | None  # of the lock file as this leaves it; None: there is none
    added: list[str] = field(default_factory=list)  # keys first locked now
    changed: dict[str, list[str]] = field(default_factory=dict)  # key -> differences()


def settle(
    data_dir: Path, found: list[dict], *, update: bool = False, write: bool = True, refuse: bool = True
) -> Verdict:
    """Compare what was found with the lock and record it: new items are added; a changed item
    is rewritten with `update`, else (with `refuse`) raises WeightsChanged before anything is
    written. `write=False` (a dry run) only compares."""
    path = path_of(data_dir)
    write = write and bool(found)  # nothing to record (tiny models only): no file, not even the lock's lock
    # One writer at a time: sweeps sharing a data dir each add what they found.
    with FileLock(path.with_name(f".{LOCK_FILE}.lock")) if write else nullcontext():
        items = read(path)
        verdict, now = Verdict(None), dict(items)
        for entry in found:
            key = key_of(entry)
            old = items.get(key)
            if old is None:
                verdict.added.append(key)
                now[key] = entry
            elif diffs := differences(old, entry):
                verdict.changed[key] = diffs
                if update:
                    now[key] = entry
            else:
                now[key] = {**old, "files": {**old.get("files", {}), **entry["files"]}}
        if verdict.changed and refuse and not update:
            raise WeightsChanged(
                f"weights differ from the lock {path}:\n  "
                + "\n  ".join(f"{key}: {line}" for key, lines in verdict.changed.items() for line in lines)
                + "\nIf these are the weights you mean to run, `bench run --update-lock` accepts them."
            )
        if write and now != items:
            # sorted and indented: a diff of the lock reads item by item, and its hash is stable
            data = (json.dumps({"version": VERSION, "items": now}, sort_keys=True, indent=2) + "\n").encode()
            with atomic_write(path, fsync=True) as f:
                f.write(data)
        verdict.sha256 = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return verdict


def check(data_dir: Path, specs: list[ModelSpec], metrics: list[str], *, update: bool = False) -> str | None:
    """A run's preflight of its weights against the lock (see enforce), where data and weights
    are on one machine."""
    found, absent = observe(specs, metrics)
    return enforce(data_dir, found, absent, update=update)


def enforce(data_dir: Path, found: list[dict], absent: list[str], *, update: bool = False) -> str | None:
    """A run's check: settle, say once what was locked or accepted, return the lock's sha256."""
    verdict = settle(data_dir, found, update=update)
    if verdict.added:
        log.info("weights lock %s: locked %s", path_of(data_dir), "; ".join(verdict.added))
    if verdict.changed:
        log.warning("weights lock %s: accepted new weights for %s", path_of(data_dir), "; ".join(verdict.changed))
    if absent:
        log.info("not on this machine yet, so not checked against the weights lock: %s", "; ".join(absent))
    return verdict.sha256


def summary(data_dir: Path, specs: list[ModelSpec], metrics: list[str]) -> str:
    """One line for a dry run: how the weights here compare with the lock. Writes nothing."""
    found, absent = observe(specs, metrics, remember=False)
    verdict = settle(data_dir, found, write=False, refuse=False)
    where = f"weights lock {path_of(data_dir)}"
    if verdict.changed:
        lines = "; ".join(f"{key}: {line}" for key, lines in verdict.changed.items() for line in lines)
        return f"{where}: DIFFERS, the run will refuse it: {lines} (`bench run --update-lock` accepts them)"
    parts = [f"{len(found) - len(verdict.added)} items match"]
    if verdict.added:
        parts.append(f"{len(verdict.added)} not locked yet (the run locks them)")
    if absent:
        parts.append(f"{len(absent)} not here yet")
    return f"{where}: " + ", ".join(parts) + ("" if found or absent else " (tiny models are not locked)")
