"""BigGAN end to end on a tiny random model: prompt -> class -> image -> CLIP score -> Parquet,
plus the class mapping, the seeded noise, and the pinned-pickle rules for its weights."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench import store, sweep
from bench.backends.base import Request
from bench.backends.biggan import BigGANBackend, load_generator, truncated_noise
from bench.classmap import ClassMap, template_texts
from bench.cli import main
from bench.config import load_suite
from bench.errors import WeightsError
from bench.models import MODELS, ModelSpec
from bench.tiny import tiny_path
from bench.weights.check import missing
from bench.weights.pickles import url_folder, weights_folder

pytestmark = pytest.mark.slow
PROMPTS = [("lighthouse", "A lighthouse on a rocky coast at dusk, oil painting"), ("fish", "a photo of a goldfish.")]


def request(*seeds: int) -> Request:
    return Request(
        prompt="a photo of a goldfish.",
        negative_prompt="",
        seeds=seeds,
        steps=0,
        guidance_scale=0.0,
        width=64,
        height=64,
    )


def suite_file(folder: Path, model: str, seeds: str = "0-1") -> str:
    prompts = "".join(f'[[prompts]]\nid = "{i}"\ntext = "{t}"\n' for i, t in PROMPTS)
    path = folder / "suite.toml"
    path.write_text(
        f'models = ["{model}"]\nseeds = "{seeds}"\nmetrics = ["clip_tiny"]\nbatch_size = 2\n{prompts}', encoding="utf-8"
    )
    return str(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def register(monkeypatch):
    """Adds a gan registry entry whose weights are a local folder (as a user's override would be)."""

    def add(folder: Path, **fields) -> ModelSpec:
        # The tiny BigGAN's registry entry, pointed at a local folder as a user's override would.
        spec = replace(MODELS["tiny-biggan"], key="test-gan", hub_id=str(folder), title="test", tiny=False, **fields)
        monkeypatch.setitem(MODELS, "test-gan", spec)
        return spec

    return add


@pytest.fixture()
def tiny_copy(tmp_path) -> Path:
    folder = tmp_path / "weights"
    shutil.copytree(tiny_path("tiny-biggan"), folder)
    return folder


@pytest.fixture(scope="module")
def backend():
    suite = load_suite("tiny", {"models": "tiny-biggan"})
    b = BigGANBackend(suite.model_spec("tiny-biggan"), BigGANBackend.resolve(suite.runtime))
    b.load()
    yield b
    b.close()


@pytest.fixture(scope="module")
def classmap():
    return ClassMap("clip_tiny", "photo")


# --- the tiny model and the noise --------------------------------------------------------------


def test_tiny_biggan_loads_like_real_weights_and_is_finite():
    from pytorch_pretrained_biggan import BigGAN

    folder = tiny_path("tiny-biggan")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "pytorch_model.bin"}
    noise = torch.from_numpy(truncated_noise((0, 1), 32, 0.4))
    classes = torch.eye(1000)[[1, 2]]
    with torch.no_grad():
        ours = load_generator(folder)(noise, classes, 0.4)
        package = BigGAN.from_pretrained(str(folder)).eval()(noise, classes, 0.4)  # the package's own loader
    assert torch.isfinite(ours).all() and ours.abs().max() <= 1
    assert ours.std() > 1e-3  # an image, not a constant
    assert torch.equal(ours, package)


def test_noise_is_the_packages_per_seed_and_independent_of_the_batch():
    from pytorch_pretrained_biggan import truncated_noise_sample

    batch = truncated_noise((5, 9), 32, 0.4)
    assert np.array_equal(batch[1], truncated_noise((9,), 32, 0.4)[0])
    assert np.array_equal(batch[0], truncated_noise_sample(1, 32, 0.4, seed=5)[0])
    assert not np.array_equal(batch[0], batch[1])
    assert np.abs(batch).max() <= 2 * 0.4  # truncated at two standard deviations, then scaled
    with pytest.raises(ValueError, match="2\\*\\*32"):
        truncated_noise((2**32,), 32, 0.4)


def test_same_seed_same_pixels_other_seed_other_pixels(backend):
    first, again = backend.generate(request(0, 1)), backend.generate(request(0, 1))
    a, b = [np.asarray(g.image) for g in first.images], [np.asarray(g.image) for g in again.images]
    assert a[0].shape == (64, 64, 3) and all(g.status == "ok" for g in first.images)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])
    alone = np.asarray(backend.generate(request(1)).images[0].image)
    assert np.abs(alone.astype(int) - a[1].astype(int)).max() <= 1  # batch-mates do not matter
    assert first.images[0].extra == {"class_label": "goldfish (#1)", "class_similarity": pytest.approx(1.0, abs=1e-5)}
    assert first.latency_s > 0 and first.step_ms_p50 is None  # no denoising loop to time


def test_truncation_changes_the_image(backend):
    base = np.asarray(backend.generate(request(0)).images[0].image)
    backend.spec = replace(backend.spec, truncation=1.0)
    try:
        loose = np.asarray(backend.generate(request(0)).images[0].image)
    finally:
        backend.spec = replace(backend.spec, truncation=0.4)
    assert not np.array_equal(base, loose)


# --- prompt -> class ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt, label",
    [
        ("a photo of a goldfish.", "goldfish (#1)"),
        ("a photo of a tabby cat.", "tabby cat (#281)"),
        # two classes share the name: the lower index, every time
        ("a photo of a sunglasses.", "sunglasses (#836)"),
    ],
)
def test_a_templated_class_name_maps_to_its_class(classmap, prompt, label):
    choice = classmap.choose(prompt)
    assert choice.label == label and choice.similarity == pytest.approx(1.0, abs=1e-5)


def test_free_text_maps_to_the_argmax_of_an_independent_computation(classmap):
    import open_clip

    from bench.tiny import register_tiny_clip

    model = open_clip.create_model("tiny-clip", pretrained=str(register_tiny_clip())).eval()
    tokenizer = open_clip.get_tokenizer("tiny-clip")
    some = [0, 1, 281, 999]
    texts = [f"a photo of a {open_clip.IMAGENET_CLASSNAMES[i]}." for i in some] + [PROMPTS[0][1]]
    with torch.no_grad():
        encoded = torch.nn.functional.normalize(model.encode_text(tokenizer(texts)))
    assert torch.allclose(classmap.classes[some], encoded[:-1], atol=1e-5)  # one template: its embedding
    cosines = classmap.classes @ encoded[-1]
    choice = classmap.choose(PROMPTS[0][1])
    assert choice.indices == (int(cosines.argmax()),)
    assert choice.similarity == pytest.approx(float(cosines.max()), abs=1e-5)


def test_class_embeddings_are_cached_and_reload_identically(classmap):
    again = ClassMap("clip_tiny", "photo")  # from the disk cache this time
    assert torch.equal(again.classes, classmap.classes)
    assert again.choose(PROMPTS[0][1]) == classmap.choose(PROMPTS[0][1])


def test_top_k_mixes_the_k_best_classes(classmap):
    one, three = classmap.choose(PROMPTS[0][1]), classmap.choose(PROMPTS[0][1], top_k=3)
    assert three.indices[0] == one.indices[0] and len(set(three.indices)) == 3
    assert sum(three.weights) == pytest.approx(1.0)
    assert list(three.similarities) == sorted(three.similarities, reverse=True)
    assert list(three.weights) == sorted(three.weights, reverse=True)
    assert three.label.count(" + ") == 2 and " x0." in three.label
    assert min(three.similarities) <= three.similarity <= max(three.similarities)


def test_template_sets_come_from_open_clip():
    assert len(template_texts("openai")) == 80 and len(template_texts("simple")) == 7
    assert template_texts("photo") == ["a photo of a {}."]


# --- end to end --------------------------------------------------------------------------------


def test_prompt_to_class_to_image_to_clip_score_to_parquet(tmp_path, monkeypatch, classmap):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--suite", suite_file(tmp_path, "tiny-biggan")]) == 0
    gens = store.read(Path("data"), "generations")
    scores = store.read(Path("data"), "scores")
    assert len(gens) == 4 and set(gens["status"]) == {"ok"}
    assert gens["scheduler"].isna().all() and set(gens["family"]) == {"gan"}
    for _, row in gens.iterrows():
        choice = classmap.choose(row["prompt"])
        assert row["class_label"] == choice.label
        assert row["class_similarity"] == pytest.approx(choice.similarity, abs=1e-5)
        with Image.open(Path("images") / row["image_path"]) as im:
            assert im.size == (64, 64)
    assert set(scores["cell_id"]) == set(gens["cell_id"]) and set(scores["metric"]) == {"clip_tiny"}
    assert np.isfinite(scores["value"]).all()


def test_a_nan_model_is_recorded_as_nan_and_never_scored(tmp_path, tiny_copy, register):
    state = torch.load(tiny_copy / "pytorch_model.bin", weights_only=True)
    state["generator.bn.weight"][:] = float("nan")
    torch.save(state, tiny_copy / "pytorch_model.bin")
    register(tiny_copy, weights_sha256=sha256(tiny_copy / "pytorch_model.bin"))
    report = sweep.run(load_suite(suite_file(tmp_path, "test-gan")), tmp_path / "data", tmp_path / "images")
    gens = store.read(tmp_path / "data", "generations")
    assert report.other == 4 and set(gens["status"]) == {"nan"}
    assert gens["image_path"].isna().all() and gens["class_label"].notna().all()
    assert store.read(tmp_path / "data", "scores").empty
    assert not (tmp_path / "images").exists() or not any((tmp_path / "images").rglob("*.png"))


# --- weights: where from, and pinned ----------------------------------------------------------


def test_pinned_local_weights_load_and_their_hash_is_recorded(tiny_copy, register):
    digest = sha256(tiny_copy / "pytorch_model.bin")
    spec = register(tiny_copy, weights_sha256=digest)
    weights_folder(spec)
    suite = load_suite("tiny", {"models": "test-gan"})
    info = BigGANBackend(spec, BigGANBackend.resolve(suite.runtime)).load()
    assert info.revision == f"sha256:{digest}"


def test_a_pickle_that_does_not_match_its_pin_is_refused(tiny_copy, register):
    spec = register(tiny_copy, weights_sha256="0" * 64)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        weights_folder(spec)
    (line,) = missing([spec])  # what the sweep's preflight prints
    assert "sha256 mismatch" in line and sha256(tiny_copy / "pytorch_model.bin") in line


def test_trusting_an_unpinned_pickle_is_said_out_loud(tmp_path, tiny_copy, register, capsys):
    register(tiny_copy, trust_unpinned_weights=True)
    argv = ["run", "--suite", suite_file(tmp_path, "test-gan"), "--data-dir", str(tmp_path / "d")]
    assert main([*argv, "--images-dir", str(tmp_path / "i")]) == 0
    err = capsys.readouterr().err
    assert "loading unpinned pickle weights" in err and sha256(tiny_copy / "pytorch_model.bin") in err


def test_an_unpinned_pickle_is_refused_unless_trusted_explicitly(tiny_copy, register):
    digest = sha256(tiny_copy / "pytorch_model.bin")
    with pytest.raises(WeightsError) as refused:
        weights_folder(register(tiny_copy))
    first_line = str(refused.value).splitlines()[0]
    assert digest in first_line and "weights_sha256" in first_line and len(first_line) < 200
    assert weights_folder(register(tiny_copy, trust_unpinned_weights=True)) == (tiny_copy, digest)


def test_package_weights_download_from_the_url_then_verify(tiny_copy, monkeypatch):
    url = tiny_copy.as_uri() + "/{name}"  # file:// stands in for the package's S3 URL
    digest = sha256(tiny_copy / "pytorch_model.bin")
    spec = ModelSpec(
        "test-gan",
        "gan",
        "biggan-test",
        "test",
        width=64,
        height=64,
        weights_url=url,
        weights_sha256=digest,
        class_clip="clip_tiny",
    )
    with pytest.raises(WeightsError, match="bench fetch"):
        weights_folder(spec)  # the tests run with HF_HUB_OFFLINE=1: nothing is downloaded
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    folder, got = weights_folder(spec)
    assert folder == url_folder(spec) and got == digest
    assert (folder / "config.json").read_bytes() == (tiny_copy / "config.json").read_bytes()
    with pytest.raises(WeightsError, match="mismatch"):
        weights_folder(replace(spec, weights_sha256="f" * 64))
    assert not (folder / "pytorch_model.bin").exists()  # a wrong download is not kept


def test_a_download_cut_short_is_not_kept(tmp_path):
    """Python's HTTP client hands back a body shorter than its Content-Length without an error:
    a dropped connection must not leave a truncated pickle (nor its hash, offered for pinning)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from bench.weights import pickles

    class CutShort(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 500)  # then the connection closes

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), CutShort)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(WeightsError, match="stopped at 500 of 1,000 bytes: run `bench fetch` again"):
            pickles._download(f"http://127.0.0.1:{server.server_address[1]}/pytorch_model.bin", tmp_path / "w.bin")
    finally:
        server.shutdown()
        server.server_close()
    assert list(tmp_path.iterdir()) == []  # nothing kept, no temporary left


def test_a_full_disk_while_downloading_is_said_as_such(tiny_copy, monkeypatch):
    """Not "could not download ...; run bench fetch where it can be reached"."""
    from bench.errors import StorageError
    from bench.weights import pickles

    def full(url, dest):
        raise StorageError(f"cannot write {dest}: No space left on device")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(pickles, "_download", full)
    spec = ModelSpec("test-gan", "gan", "biggan-test", "test", width=64, height=64, weights_url="http://x/{name}")
    with pytest.raises(StorageError, match="No space left on device"):
        pickles.weights_folder(spec)


def test_weights_from_a_hub_repo_come_through_the_hf_cache(tiny_copy, tmp_path, monkeypatch):
    import huggingface_hub.constants

    commit = "a" * 40
    repo = tmp_path / "hub" / "models--someone--biggan-copy"
    shutil.copytree(tiny_copy, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    spec = ModelSpec(
        "test-gan",
        "gan",
        "someone/biggan-copy",
        "test",
        width=64,
        height=64,
        weights_sha256=sha256(tiny_copy / "pytorch_model.bin"),
        class_clip="clip_tiny",
    )
    folder, _ = weights_folder(spec)
    assert folder == repo / "snapshots" / commit


def test_a_hub_id_that_names_nothing_fails_clearly():
    spec = replace(MODELS["biggan-deep-256"], weights_url=None)
    with pytest.raises(WeightsError, match="not a folder, not a hub repo"):
        weights_folder(spec)


def test_offline_preflight_names_the_missing_real_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))  # an empty cache: nothing fetched
    (line,) = missing([MODELS["biggan-deep-256"]])
    assert line.startswith("biggan-deep-256") and "bench fetch" in line
    assert os.environ["HF_HUB_OFFLINE"] == "1"
