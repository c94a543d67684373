"""The environment of a run, for the `runs` table: versions, hardware, git commit, command."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata

PACKAGES = {
    "torch": "torch",
    "diffusers": "diffusers",
    "transformers": "transformers",
    "optimum": "optimum-onnx",
    "open_clip": "open_clip_torch",
}


def version(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def onnxruntime_version() -> str | None:
    for dist in ("onnxruntime-gpu", "onnxruntime"):
        if v := version(dist):
            return f"{dist} {v}"
    return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """This project's commit: from the package's folder (editable install), else the cwd."""
    for folder in (os.path.dirname(os.path.abspath(__file__)), os.getcwd()):
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=folder)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return None


def describe() -> dict:
    """Columns of a `runs` row that describe this machine (torch is imported by the caller)."""
    env = {col: version(dist) for col, dist in PACKAGES.items()}
    env.update(
        python=platform.python_version(),
        platform=platform.platform(),
        onnxruntime=onnxruntime_version(),
        cpu=_cpu_name(),
        cpu_count=os.cpu_count(),
        ram_gb=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        git_commit=_git_commit(),
        command=shlex.join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
        gpu_name=None,
        gpu_driver=None,
        cuda=None,
    )
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            env["gpu_name"] = torch.cuda.get_device_name(0)
            env["cuda"] = torch.version.cuda
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
                env["gpu_driver"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
            except (OSError, subprocess.SubprocessError):
                pass
    return env
