"""Scoring passes: images stream through the scorer's workers, rows land chunk by chunk."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from bench import scoring, store
from bench.errors import StorageError

PROMPTS = ["a cat", "a dog", "a cat", "a boat", "a cat", "a dog", "a cat"]


@pytest.fixture
def gallery(tmp_path):
    """Seven ok generations; image 1 is missing and image 4 is not a PNG."""
    data, images = tmp_path / "data", tmp_path / "images"
    rng = np.random.default_rng(0)
    rows = []
    for i, prompt in enumerate(PROMPTS):
        rel = f"tiny/pytorch/c{i}.png"
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(images / rel)
        rows.append({"run_id": "r", "cell_id": f"c{i}", "prompt": prompt, "status": "ok", "image_path": rel,
                     "created_at": datetime.now(UTC)})  # fmt: skip
    (images / rows[1]["image_path"]).unlink()
    (images / rows[4]["image_path"]).write_bytes(b"not a png")
    store.append(data, "generations", rows)
    return data, images


def test_rows_land_every_chunk_and_the_unreadable_are_named_in_table_order(gallery, monkeypatch):
    data, images = gallery
    appended: list[list[str]] = []
    append = store.append
    monkeypatch.setattr(
        scoring.store, "append", lambda d, t, rows: appended.append([r["cell_id"] for r in rows]) or append(d, t, rows)
    )
    with pytest.raises(StorageError, match=r"2 image\(s\) could not be read") as caught:
        scoring.score(data, images, ["clip_tiny"], chunk=3)
    assert appended == [["c0", "c2"], ["c3", "c5"], ["c6"]]  # chunks of 3, less what could not be read
    message = str(caught.value)
    assert message.index("c1.png: FileNotFoundError") < message.index("c4.png: UnidentifiedImageError")

    # The same numbers as the scorer gives the pictures directly.
    scores = store.read(data, "scores").set_index("cell_id")
    scorer = scoring.make_scorer("clip_tiny")
    kept = [0, 2, 3, 5, 6]
    pics = [Image.open(images / f"tiny/pytorch/c{i}.png").convert("RGB") for i in kept]
    expected = scorer.score(pics, [PROMPTS[i] for i in kept])
    assert [scores.loc[f"c{i}", "value"] for i in kept] == pytest.approx(expected, abs=1e-6)
    assert (scores["truncated_tokens"] == 0).all()


def test_an_interrupted_pass_keeps_its_finished_chunks_and_stops_the_workers(gallery, monkeypatch):
    data, images = gallery
    append = store.append
    calls = []

    def append_then_stop(d, t, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return append(d, t, rows)

    monkeypatch.setattr(scoring.store, "append", append_then_stop)
    with pytest.raises(KeyboardInterrupt):
        scoring.score(data, images, ["clip_tiny"], chunk=3)
    assert sorted(store.read(data, "scores")["cell_id"]) == ["c0", "c2"]
    assert not [t for t in threading.enumerate() if t.name.startswith("clip-preprocess")]
    monkeypatch.setattr(scoring.store, "append", append)
    with pytest.raises(StorageError):  # the next pass does the rest, and still names the two
        scoring.score(data, images, ["clip_tiny"], chunk=3)
    assert sorted(store.read(data, "scores")["cell_id"]) == ["c0", "c2", "c3", "c5", "c6"]
