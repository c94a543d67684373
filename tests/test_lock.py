"""The weights lock: the first run (or `bench fetch`) locks what it finds, a later run refuses
weights that differ unless told to update the lock, and the runs table records which lock the
weights matched. Nothing here reaches a hub: a local folder, and a fake HF cache laid out as
huggingface_hub lays it out (blobs named by their hash, snapshots of links)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from test_fetch import SD_INDEX, hf_cache  # noqa: F401 - the fixture, for hub_cache below

from bench import store
from bench.cli import EXIT_CODES, main
from bench.errors import WeightsChanged, WeightsError
from bench.files import cache_dir
from bench.models import MODELS
from bench.tiny import tiny_path
from bench.weights import digest, fetch, lock

UNET = "unet/diffusion_pytorch_model.safetensors"
C, D = "c" * 40, "d" * 40  # two commits of one hub repo


@pytest.fixture()
def local_model(tmp_path) -> Path:
    """The tiny SD pipeline copied into a folder of the user's own."""
    folder = tmp_path / "my-model"
    shutil.copytree(tiny_path("tiny-sd"), folder)
    return folder


@pytest.fixture()
def run_argv(tmp_path, local_model) -> list[str]:
    """`bench run` of a suite whose sd15 is that folder, as small as the tiny suite."""
    suite = tmp_path / "local.toml"
    suite.write_text(
        'models = ["sd15"]\nschedulers = ["euler"]\nbackends = ["pytorch"]\nseeds = "0"\ndevice = "cpu"\n'
        'metrics = ["clip_tiny"]\nwidth = 64\nheight = 64\nsteps = 2\n'
        f"[model_overrides.sd15]\nhub_id = {json.dumps(str(local_model))}\n"
        '[[prompts]]\nid = "p"\ntext = "a red cube"\n',
        encoding="utf-8",
    )
    return ["run", "--suite", str(suite), "--data-dir", str(tmp_path / "data"), "--images-dir", str(tmp_path / "img")]


def local_spec(folder: Path):
    return MODELS["sd15"].with_overrides(hub_id=str(folder))


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


def locked(data_dir: Path) -> dict:
    return json.loads((data_dir / lock.LOCK_FILE).read_bytes())["items"]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- a local folder ------------------------------------------------------------------------------


def test_the_first_run_locks_a_local_folder_file_by_file_and_a_second_run_keeps_it(tmp_path, local_model):
    data = tmp_path / "data"
    sha = lock.check(data, [local_spec(local_model)], ["clip_tiny"])
    (entry,) = locked(data).values()
    assert (entry["kind"], entry["source"], entry["revision"], entry["commit"]) == (
        "pipeline",
        str(local_model),
        None,
        None,
    )
    unet = local_model / UNET
    assert entry["files"][UNET] == {"size_bytes": unet.stat().st_size, "sha256": file_sha256(unet)}
    assert {"model_index.json", "tokenizer/vocab.json", "text_encoder/model.safetensors"} <= set(entry["files"])
    assert sha == file_sha256(data / lock.LOCK_FILE)
    assert lock.check(data, [local_spec(local_model)], ["clip_tiny"]) == sha  # same weights, same lock


def test_tiny_models_are_built_here_and_not_locked(tmp_path):
    assert lock.check(tmp_path, [MODELS["tiny-sd"], MODELS["tiny-sdxl"]], ["clip_tiny"]) is None
    assert not (tmp_path / lock.LOCK_FILE).exists()


def test_one_changed_byte_of_the_unet_makes_the_next_run_refuse_with_exit_4(tmp_path, local_model, run_argv, capsys):
    data = tmp_path / "data"
    lock.check(data, [local_spec(local_model)], ["clip_tiny"])
    before = (data / lock.LOCK_FILE).read_bytes()
    flip_last_byte(local_model / UNET)
    assert EXIT_CODES[WeightsError] == 4
    assert main(run_argv) == 4
    err = capsys.readouterr().err
    assert f"{UNET}: locked sha256 " in err and file_sha256(local_model / UNET) in err
    assert "bench run --update-lock" in err
    assert (data / lock.LOCK_FILE).read_bytes() == before  # a refused run changes nothing
    assert not (tmp_path / "img").exists() or not any((tmp_path / "img").rglob("*.png"))


def test_a_file_that_appears_in_a_local_folder_is_a_change_too(tmp_path, local_model):
    lock.check(tmp_path, [local_spec(local_model)], [])
    (local_model / "unet" / "diffusion_pytorch_model.safetensors.index.json").write_text("{}")
    with pytest.raises(WeightsChanged, match="index.json: not in the lock"):
        lock.check(tmp_path, [local_spec(local_model)], [])


@pytest.mark.slow
def test_update_lock_accepts_the_change_and_the_runs_row_records_the_new_lock(tmp_path, local_model, run_argv):
    data = tmp_path / "data"
    old = lock.check(data, [local_spec(local_model)], ["clip_tiny"])
    flip_last_byte(local_model / UNET)
    assert main([*run_argv, "--update-lock"]) == 0
    new = file_sha256(data / lock.LOCK_FILE)
    assert new != old
    (entry,) = locked(data).values()
    assert entry["files"][UNET]["sha256"] == file_sha256(local_model / UNET)
    assert store.read(data, "runs")["weights_lock_sha256"].tolist() == [new]


def test_a_dry_run_reports_the_lock_and_writes_nothing(tmp_path, local_model, run_argv, capsys, monkeypatch):
    # A digest table of this test's own: the run's shared one is written meanwhile by the other
    # test worker's sweeps, which would change it between the two reads below.
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    data, table = tmp_path / "data", cache_dir("weights") / digest.TABLE
    assert main([*run_argv, "--dry-run"]) == 0
    assert "1 not locked yet (the run locks them)" in capsys.readouterr().err
    assert not data.exists() or not any(data.iterdir())
    lock.check(data, [local_spec(local_model)], ["clip_tiny"])
    before = {p: p.read_bytes() for p in [data / lock.LOCK_FILE, table]}
    flip_last_byte(local_model / UNET)  # a new file to hash: only a run that writes would remember it
    assert main([*run_argv, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "DIFFERS" in err and UNET in err and "--update-lock" in err
    assert {p: p.read_bytes() for p in before} == before


# --- the Hugging Face cache --------------------------------------------------------------------


@pytest.fixture()
def hub_cache(request) -> Path:
    """test_fetch's HF cache of our own, in place of the user's."""
    return request.getfixturevalue("hf_cache")


def cache_as_the_hub_does(hub_cache: Path, repo: str, files: dict[str, bytes], commit: str) -> Path:
    """huggingface_hub's layout: blobs/ named by sha256 (LFS files) or git sha1 (small files kept
    in git), snapshots/<commit>/ of relative links to them, refs/main naming the commit."""
    root = hub_cache / f"models--{repo.replace('/', '--')}"
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name.endswith(".safetensors"):
            blob = hashlib.sha256(data).hexdigest()
        else:
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        (root / "blobs" / blob).write_bytes(data)
        link = root / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(root / "blobs" / blob, link.parent))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return root


HUB_SD = {
    "model_index.json": json.dumps(SD_INDEX).encode(),
    "scheduler/scheduler_config.json": b"{}",
    "unet/config.json": b"{}",
    UNET: b"unet weights",
    "vae/config.json": b"{}",
    "vae/diffusion_pytorch_model.safetensors": b"vae weights",
}


@pytest.fixture()
def hub_sd(monkeypatch):
    """An SD model on the default branch of a hub repo."""
    spec = replace(MODELS["sd15"], key="test-sd", hub_id="someone/sd", revision=None)
    monkeypatch.setitem(MODELS, "test-sd", spec)
    return spec


def test_a_cached_snapshot_is_locked_by_its_commit_and_blob_names_without_reading_weights(
    hub_cache, tmp_path, hub_sd, monkeypatch
):
    cache_as_the_hub_does(hub_cache, "someone/sd", HUB_SD, C)
    read = []
    monkeypatch.setattr(digest, "sha256_file", lambda p: read.append(Path(p).name) or file_sha256(Path(p)))
    lock.check(tmp_path, [hub_sd], [])
    entry = locked(tmp_path)["pipeline someone/sd"]
    assert entry["commit"] == C
    assert entry["files"][UNET] == {"size_bytes": 12, "sha256": hashlib.sha256(b"unet weights").hexdigest()}
    assert read and not [name for name in read if name.endswith(".safetensors")]  # only small git files
    # the hub moved main, and a fetch brought the new commit into the cache
    cache_as_the_hub_does(hub_cache, "someone/sd", HUB_SD | {UNET: b"new unet weights"}, D)
    with pytest.raises(WeightsChanged, match=f"pipeline someone/sd: commit: locked {C}, found {D}"):
        lock.check(tmp_path, [hub_sd], [])


def test_fetch_locks_the_commits_it_fetched_and_refuses_a_moved_branch_unless_updated(
    hub_cache, tmp_path, hub_sd, monkeypatch, capsys
):
    root = cache_as_the_hub_does(hub_cache, "someone/sd", HUB_SD, C)
    # the download itself is huggingface_hub's: here the files are in the cache already
    monkeypatch.setattr(fetch, "download", lambda item: "commit " + (root / "refs" / "main").read_text())
    argv = ["fetch", "--models", "test-sd", "--metrics", "clip_tiny", "--data-dir", str(tmp_path)]
    assert main(argv) == 0
    assert "1 items added" in capsys.readouterr().out
    entry = locked(tmp_path)["pipeline someone/sd"]
    assert entry["commit"] == C and entry["files"][UNET]["sha256"] == hashlib.sha256(b"unet weights").hexdigest()
    cache_as_the_hub_does(hub_cache, "someone/sd", HUB_SD | {UNET: b"new unet weights"}, D)
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert f"failed: pipeline someone/sd: {tmp_path / lock.LOCK_FILE} locks other weights: commit: locked {C}" in out
    assert locked(tmp_path)["pipeline someone/sd"]["commit"] == C
    assert main([*argv, "--update-lock"]) == 0
    assert locked(tmp_path)["pipeline someone/sd"]["commit"] == D
