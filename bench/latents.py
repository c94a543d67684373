"""Fixed initial latents: a suite's `.npy` file of the noise every image starts from, instead of
noise drawn from each seed.

A suite names a shipped latent (`latents = "mlperf-sdxl"`, MLPerf's one fixed SDXL latent) or a
path to a `.npy` file, read with `allow_pickle=False` (a .npy may hold pickled objects: code).
The file holds one latent used for every prompt, shape (1, C, H, W), or one per prompt of the
suite, in the suite's prompt order, shape (N, C, H, W). Its sha256 enters the id of every cell
made from it (bench.plan), and each row records it. Light: numpy only, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from bench.files import sha256_file

# Latents shipped inside the package (bench/data/), by the name a suite gives them, with the
# sha256 their provenance README gives (bench/data/mlperf-sdxl/README.md).
SHIPPED = {
    "mlperf-sdxl": (
        "mlperf-sdxl/latents.npy",
        "78cac10a20ea287f88b5851382e21504a755338d3f8ba8ffd2bcf9e9bf2404f9",
    ),
    # its tiny twin, for tiny SDXL at 64 px (bench/data/mlperf-tiny/README.md)
    "mlperf-tiny": (
        "mlperf-tiny/latents.npy",
        "dc7e04bdf9e62278b3418f21c6e1105c77ec268b46009aac5012cbfef3b50a3d",
    ),
}
FLOAT_KINDS = ("float16", "float32", "float64")


@dataclass(frozen=True)
class LatentsFile:
    """A suite's latents file, as read and checked: where it is, its hash, its shape."""

    source: str  # the shipped name or the path the suite gave
    path: str  # the file itself (a shipped one inside the installed package)
    sha256: str
    shape: tuple[int, int, int, int]  # (N, C, H, W)

    @property
    def count(self) -> int:
        return self.shape[0]

    def index_for(self, position: int) -> int:
        """The latent the suite's `position`-th prompt starts from."""
        return 0 if self.count == 1 else position


def is_path(source: str) -> bool:
    """A file path rather than a shipped latent's name: it has a suffix or a slash."""
    return bool(Path(source).suffix) or "/" in source or "\\" in source


def shipped_path(name: str) -> Path:
    return Path(str(resources.files("bench").joinpath("data", *SHIPPED[name][0].split("/"))))


def read(source: str) -> LatentsFile:
    """Check a suite's latents file; a ValueError's one line says what is wrong."""
    if not is_path(source):
        if source not in SHIPPED:
            raise ValueError(f"unknown latents {source!r}; shipped: {', '.join(SHIPPED)}, or a path to a .npy file")
        path, pinned = shipped_path(source), SHIPPED[source][1]
    else:
        path, pinned = Path(source), None
        if path.suffix.lower() != ".npy":
            raise ValueError(f"{source!r}: must be a .npy file (numpy.save)")
    try:
        sha256 = sha256_file(path)
    except FileNotFoundError:
        raise ValueError(f"no such file {str(path)!r}") from None
    except OSError as e:
        raise ValueError(f"cannot read {str(path)!r}: {e.strerror}") from None
    if pinned is not None and sha256 != pinned:
        raise ValueError(f"the shipped file {str(path)!r} has sha256 {sha256}, not its pinned {pinned}")
    array = _load(str(path), sha256)
    return LatentsFile(source, str(path), sha256, tuple(int(n) for n in array.shape))


def load(path: str, sha256: str) -> np.ndarray:
    """The latents of a file read by `read` (float32, (N, C, H, W)); a file changed since then
    is refused rather than silently used under the old hash."""
    found = sha256_file(Path(path))
    if found != sha256:
        raise ValueError(f"latents {path!r} changed since the plan was made (sha256 {found}, expected {sha256})")
    return _load(path, sha256)


@lru_cache(maxsize=8)
def _load(path: str, _sha256: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as e:  # pickled objects, or not a .npy at all
        raise ValueError(f"{path!r}: not a plain .npy array ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise ValueError(f"cannot read {path!r}: {e}") from None
    if not isinstance(array, np.ndarray) or array.dtype.name not in FLOAT_KINDS:
        raise ValueError(f"{path!r}: must hold floats ({', '.join(FLOAT_KINDS)}); got {getattr(array, 'dtype', '?')}")
    if array.ndim != 4 or array.shape[0] < 1:
        raise ValueError(f"{path!r}: must have shape (N, C, H, W) with N >= 1; got {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{path!r}: holds non-finite values")
    array = array.astype(np.float32)
    array.flags.writeable = False  # one cached array, shared by every call
    return array


def latent_shape(channels: int, vae_scale_factor: int, width: int, height: int) -> tuple[int, int, int]:
    """The (C, H, W) of one latent of a model at a size: what diffusers' prepare_latents makes."""
    return (channels, height // vae_scale_factor, width // vae_scale_factor)
