"""Shared test setup: one folder per test run for every cache, an offline hub, quiet libraries.

Hermetic: whatever caches the machine holds (torch inductor's compiled kernels, the HF hub,
matplotlib's font list, bench's tiny models and ONNX exports), a run starts from empty ones of
its own, so it passes the same twice in a row, in any order. The run's folder is made once, by
the process that starts pytest; xdist workers and every subprocess a test starts inherit it
through the environment, so the tiny models are built once per run (bench.files.staged_dir
publishes each whole, so two workers that build one at once are safe: the first rename wins).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import pytest

# Set before anything imports huggingface_hub: nothing in the tests may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# One thread per process for torch (OpenMP, MKL) and ONNX Runtime's default pools: the tests
# run several processes at once (xdist workers, sweeps in subprocesses, Ray workers), and on a
# small, busy machine OpenMP threads that wait for each other at every operator make a tiny
# model's 64 px image take seconds instead of a fraction of one. One thread also makes every
# image the same whatever the machine's core count (a reduction splits by threads).
for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_threads] = "1"

# Inductor's C++ kernels without SIMD intrinsics: g++ builds the ~50 kernels of test_compile's
# graphs about a fifth faster (its whole cost is that build, the cache being the run's own), and
# what the tests check (a compile happens once per shape, its time apart, its images the eager
# ones' within two levels) holds for either kind of kernel.
os.environ.setdefault("TORCHINDUCTOR_VEC_ISA_OK", "0")

# Variables naming caches, and the sub-folder of the run's folder each one gets. Caches the
# caller points elsewhere on purpose (BENCH_CACHE: a tiny-model cache kept between runs) are
# left alone; every other cache is the run's own.
RUN_CACHES = {
    "TORCHINDUCTOR_CACHE_DIR": "inductor",  # compiled graphs and kernels (test_compile)
    "TRITON_CACHE_DIR": "triton",
    "TORCH_HOME": "torch",  # torch.hub downloads
    "CUDA_CACHE_PATH": "cuda",  # the driver's JIT cache
    "HF_HOME": "hf",  # the HF hub cache, token and datasets: empty, so no test sees real weights
    "MPLCONFIGDIR": "matplotlib",  # the font cache
    "XDG_CACHE_HOME": "xdg",  # everything else that follows the XDG rules
    # Ray's sessions, and the file through which `ray.init()` would join a cluster that a
    # `ray start` on this machine once made instead of starting the local one the tests ask for
    "RAY_TMPDIR": "ray",
}
# Set by the process that made the run's folder; its workers and subprocesses find it here.
RUN_DIR_ENV = "BENCH_TEST_RUN_DIR"
# Older names that would take precedence over HF_HOME for parts of the HF cache.
HF_OVERRIDES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_DATASETS_CACHE", "HF_XET_CACHE")

_OWN_RUN_DIR = None
if RUN_DIR_ENV not in os.environ:
    _OWN_RUN_DIR = tempfile.mkdtemp(prefix="bench-tests-")
    os.environ[RUN_DIR_ENV] = _OWN_RUN_DIR
    for name, folder in RUN_CACHES.items():
        os.environ[name] = os.path.join(_OWN_RUN_DIR, folder)
        os.mkdir(os.environ[name])
    for name in HF_OVERRIDES:
        os.environ.pop(name, None)
    os.environ.setdefault("BENCH_CACHE", os.path.join(_OWN_RUN_DIR, "bench"))


def pytest_unconfigure(config):
    if _OWN_RUN_DIR:
        shutil.rmtree(_OWN_RUN_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def run_dir():
    """The run's own folder (all of its caches live under it)."""
    from pathlib import Path

    return Path(os.environ[RUN_DIR_ENV])


# The modules whose tests take longest in one worker (a compile with inductor's cache empty,
# the scale-out processes and Ray workers, ONNX exports, sweeps in processes): they start first,
# so that the other workers share out everything else meanwhile instead of waiting at the end.
LONGEST_FIRST = (
    "test_compile",
    "test_scaleout_ray",
    "test_scaleout",
    "test_onnxruntime",
    "test_sweep_processes",
    "test_sweep",
)
# A fixture made once for a whole module (a tiny sweep, ONNX exports, a Ray cluster, a built
# site): its module's tests must all run in one xdist worker, or each worker makes it again.
SHARED_FIXTURE = re.compile(r"@pytest\.fixture\([^)]*scope=[\"'](?:module|session|package|class)[\"']")


def pytest_collection_modifyitems(config, items):
    """The longest modules first (LONGEST_FIRST), then the rest in their usual order."""

    def rank(item) -> int:
        name = item.module.__name__.rpartition(".")[2]
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup`, with a module's tests as one group where the module makes a fixture
    once for all of them (SHARED_FIXTURE), and every other test on its own, sent to whichever
    worker is free. (pytest-xdist 3.8 marks its groups in a way pytest 9.2 no longer reads, so
    the groups are decided here, from the source.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath
    shared: dict[str, bool] = {}

    def module_shares(module: str) -> bool:
        if module not in shared:
            try:
                shared[module] = bool(SHARED_FIXTURE.search((root / module).read_text(encoding="utf-8")))
            except OSError:
                shared[module] = False
        return shared[module]

    class ByModuleFixtures(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):  # an explicit xdist_group, should it work again
                return nodeid.rsplit("@", 1)[-1]
            module = nodeid.split("::", 1)[0]
            return module if module_shares(module) else nodeid

    return ByModuleFixtures(config, log)
