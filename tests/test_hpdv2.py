"""The HPS v2 benchmark suites: its prompt files read as the hpsv2 package reads them (a JSON
list of strings per style), fetched like weights, and the tiny twin run offline end to end."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from huggingface_hub import constants

from bench import prompts, store, sweep
from bench.cli import main
from bench.config import load_suite
from bench.errors import PromptsNotFetched

STYLES = ["anime", "concept-art", "paintings", "photo"]


def fake_hub_cache(root, texts: dict[str, list[str]], commit: str = "a" * 40):
    """The layout huggingface_hub gives a downloaded dataset file: snapshots/<commit>/... and
    refs/main naming the commit."""
    repo = root / "datasets--zhwang--HPDv2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    folder = repo / "snapshots" / commit / "benchmark"
    folder.mkdir(parents=True)
    for style, lines in texts.items():
        (folder / f"{style}.json").write_text(json.dumps(lines))


def test_the_tiny_set_reads_each_style_file_as_a_list_of_prompts_with_the_style_as_category():
    folder = resources.files("bench").joinpath("data", "hpdv2-tiny")
    expected = [(t, s) for s in STYLES for t in json.loads(folder.joinpath(f"{s}.json").read_text())]
    got = prompts.read("hpdv2-tiny")
    assert [(p.text, p.category) for p in got] == expected
    assert len(expected) == 8 and len({p.id for p in got}) == 8


def test_the_fetched_benchmark_is_read_from_the_hf_cache_as_a_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    texts = {s: [f"{s} prompt {i}" for i in range(3)] for s in STYLES}
    fake_hub_cache(tmp_path / "hub", texts)
    got = prompts.read("hpdv2")
    assert [(p.text, p.category) for p in got] == [(t, s) for s in STYLES for t in texts[s]]


def test_a_style_file_that_is_not_a_list_of_strings_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    fake_hub_cache(tmp_path / "hub", {s: ["fine"] for s in STYLES[:3]} | {"photo": [{"text": "no"}]})
    with pytest.raises(ValueError, match=r"photo\.json: must be a JSON list of prompt strings"):
        prompts.read("hpdv2")


def test_the_suite_without_its_prompts_says_to_fetch_them(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(PromptsNotFetched, match="bench fetch --suite hpdv2"):
        load_suite("hpdv2")
    # fetch plans the models and metrics all the same
    s = load_suite("hpdv2", without_prompts=True)
    assert s.models == ["dreamlike-photoreal-2", "openjourney-v4", "sd21", "sd15"]


def test_a_dry_run_offline_exits_4_and_names_the_fetch_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["run", "--suite", "hpdv2", "--dry-run", "--data-dir", str(tmp_path / "data")]) == 4
    assert "bench fetch --suite hpdv2" in capsys.readouterr().err


def test_the_fetch_dry_run_lists_the_prompts_with_their_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["fetch", "--suite", "hpdv2", "--dry-run", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "prompts hpdv2: zhwang/HPDv2 (dataset; unpinned" in out and "benchmark/photo.json" in out


def test_the_fetched_suite_plans_every_prompt_at_each_models_native_size(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    fake_hub_cache(tmp_path / "hub", {s: [f"{s} {i}" for i in range(800)] for s in STYLES})
    s = load_suite("hpdv2")
    assert len(s.prompts) == 3200 and {p.category for p in s.prompts} == set(STYLES)
    assert s.metrics == ["hpsv2", "nsfw"]
    assert s.model_spec("dreamlike-photoreal-2").width == 768 and s.model_spec("openjourney-v4").width == 512


@pytest.mark.slow
def test_the_tiny_twin_runs_offline_and_scores_every_style(tmp_path):
    s = load_suite("hpdv2-tiny", {"steps": 1})
    report = sweep.run(s, tmp_path / "data", tmp_path / "images")
    assert report.ok == 8 and report.failed == 0
    rows = store.read(tmp_path / "data", "generations")
    assert rows["category"].value_counts().to_dict() == dict.fromkeys(STYLES, 2)
    scores = store.read(tmp_path / "data", "scores")
    assert len(scores.query("metric == 'hpsv2_tiny'")) == 8
