"""Tiny models: built deterministically, with the real CLIP tokenizer, loadable like real ones."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from bench.tiny import clip_tokenizer, tiny_path

pytestmark = pytest.mark.slow


def digests(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_build_in_another_process_is_byte_identical(tmp_path):
    here = tiny_path("tiny-sd")
    env = dict(os.environ, BENCH_CACHE=str(tmp_path))
    code = "from bench.tiny import tiny_path; print(tiny_path('tiny-sd'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    there = tmp_path / here.relative_to(here.parents[2])  # <cache>/tiny/v<recipe>/tiny-sd
    assert digests(there) == digests(here) and len(digests(here)) > 5


def test_tokenizer_gives_open_clips_ids(tmp_path):
    import open_clip

    text = "A lighthouse on a rocky coast at dusk, oil painting"
    ours = clip_tokenizer(tmp_path)(text)["input_ids"]
    theirs = open_clip.get_tokenizer("ViT-B-32")([text])[0].tolist()
    assert ours == theirs[: len(ours)] and ours[0] == 49406 and ours[-1] == 49407


def test_tiny_sd_loads_through_from_pretrained_offline():
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(tiny_path("tiny-sd")), local_files_only=True)
    assert type(pipe.scheduler).__name__ == "PNDMScheduler" and pipe.tokenizer.model_max_length == 77
