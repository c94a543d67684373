"""Sessions by purpose: `nox -l` lists them. Arguments after `--` pass through.

The ML stack is a 6 GB environment (torch with CUDA libraries), so the sessions that need it
(demo, tests, bench, benchmark) share one: `.nox/_ml`, rebuilt only when pyproject.toml or
constraints.txt change. The docs session stays light (no torch).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
CONSTRAINTS = ROOT / "constraints.txt"
ML_ENV = ROOT / ".nox" / "_ml"


def _has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None


def ml_env(session: nox.Session) -> Path:
    """The shared heavy environment's bin folder, created or refreshed when its inputs change."""
    # Exactly one ONNX Runtime build may be installed: the GPU one where there is a GPU.
    ort = "onnxruntime-gpu" if _has_gpu() else "onnxruntime"
    extras = f"torch,{ort},ray,site,test"
    stamp = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes() + extras.encode()
    ).hexdigest()
    bin_dir = ML_ENV / "bin"
    stamp_file = ML_ENV / ".stamp"
    if not stamp_file.exists() or stamp_file.read_text() != stamp:
        session.log(f"building the shared ML environment in {ML_ENV} (extras: {extras})")
        shutil.rmtree(ML_ENV, ignore_errors=True)
        session.run(sys.executable, "-m", "venv", str(ML_ENV), external=True)
        session.run(
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "-c",
            str(CONSTRAINTS),
            "-e",
            f".[{extras}]",
            external=True,
        )
        stamp_file.write_text(stamp)
    return bin_dir


DEMO_SUITES = ["tiny", "steps-tiny", "mlperf-tiny", "hpdv2-tiny"]


@nox.session(venv_backend="none")
def demo(session: nox.Session) -> None:
    """Offline demo: build tiny models, run the tiny suite on both backends and the tiny twins of
    the steps, MLPerf and HPS v2 suites (the Steps and Published tables pages), build the site."""
    bin_dir = ml_env(session)
    for suite in DEMO_SUITES:
        session.run(str(bin_dir / "bench"), "run", "--suite", suite, *session.posargs, external=True)
    session.run(str(bin_dir / "mkdocs"), "build", "--strict", external=True, env={"NO_MKDOCS_2_WARNING": "1"})
    session.log("report built in public/; browse it with: .nox/_ml/bin/mkdocs serve (not as a file)")
    session.log(f'bench is {bin_dir / "bench"}; put it on your PATH: export PATH="{bin_dir}:$PATH"')


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The whole test suite, offline, on a CPU (pytest arguments pass through)."""
    bin_dir = ml_env(session)
    session.run(str(bin_dir / "python"), "-m", "pytest", *(session.posargs or ["-q"]), external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """The real sweep (seed suite by default): `nox -s bench -- --models sd15 --seeds 0-3`."""
    bin_dir = ml_env(session)
    args = list(session.posargs)
    if "--suite" not in args:
        args = ["--suite", "seed", *args]
    session.run(str(bin_dir / "bench"), "run", *args, external=True)


@nox.session(venv_backend="none")
def benchmark(session: nox.Session) -> None:
    """Speed figures: harness vs bare diffusers, PyTorch vs ONNX Runtime, site build time."""
    bin_dir = ml_env(session)
    for script in sorted((ROOT / "scripts").glob("bench_*.py")):
        session.run(str(bin_dir / "python"), str(script), *session.posargs, external=True)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the report site into public/ with `mkdocs build --strict` (no torch installed)."""
    session.install("-c", str(CONSTRAINTS), "-e", ".[site]")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks: ruff lint and format, and the import contracts (all set in pyproject.toml)."""
    session.install("-c", str(CONSTRAINTS), "ruff", "import-linter")
    paths = ["bench", "tests", "scripts", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    # Layers, forbidden imports and no loops; reads the source, imports none of it.
    session.run("lint-imports")
