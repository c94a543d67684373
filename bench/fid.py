"""FID and KID of an image set against reference statistics, on pytorch-fid's own code.

MLPerf's SDXL accuracy check takes its FID from pytorch-fid (its tools/fid is a copy), so this
module writes none of it again: the network is pytorch_fid.inception.InceptionV3 (the FID
Inception, pool3 features, 2048 dims), each image is fed as pytorch-fid's get_activations feeds
it (torchvision's ToTensor: float in [0, 1]; the network resizes to 299 bilinearly and scales
to [-1, 1] itself), the statistics are numpy's mean and covariance (rowvar=False), and the
distance is pytorch_fid.fid_score.calculate_frechet_distance.

The Inception weights come from a file given here (the pinned, fetched
`pt_inception-2015-12-05-6726825d.pth`, or its tiny twin: the same architecture with random
weights, bench.tiny_scorers), never from torch.hub's download behind pytorch-fid's back.

KID (Binkowski et al. 2018, "Demystifying MMD GANs") is the unbiased MMD^2 estimate with the
polynomial kernel k(x, y) = (x.y / d + 1)^3 on the same pool3 features, averaged over random
subsets, as torchmetrics' KernelInceptionDistance and clean-fid compute it. It needs the
reference set's features, not only their mean and covariance, so a reference file made from
a folder of images keeps them; MLPerf's val2014.npz (mu and sigma only) gives FID alone.

Reference statistics are an .npz with `mu` (d,) and `sigma` (d, d), the layout of pytorch-fid's
--save-stats and of MLPerf's val2014.npz, and optionally `features` (n, d).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.files import atomic_write

DIMS = 2048  # pool3
KID_SUBSETS = 100  # torchmetrics' and clean-fid's defaults
KID_SUBSET_SIZE = 1000


@contextmanager
def _weights_from(path: Path):
    """pytorch-fid's FID Inception loads its weights with torch.hub's load_state_dict_from_url;
    here it gets the state dict of our own file instead (a pickle format read with
    weights_only=True: tensors, no code), so nothing is downloaded."""
    import torch
    from pytorch_fid import inception

    state = torch.load(path, map_location="cpu", weights_only=True)
    real = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        yield
    finally:
        inception.load_state_dict_from_url = real


def load_inception(weights: Path, device: str = "cpu", dims: int = DIMS):
    """pytorch-fid's InceptionV3 (its own resize and normalisation) with `weights`, giving the
    features of the block `dims` names (pytorch-fid's --dims: 64, 192, 768 or 2048 = pool3, the
    FID standard; the tiny twin reads 192, so that its covariance square root takes
    milliseconds, not a minute)."""
    from pytorch_fid.inception import InceptionV3

    if dims not in InceptionV3.BLOCK_INDEX_BY_DIM:
        raise ValueError(f"dims: {dims} is not one of {', '.join(map(str, InceptionV3.BLOCK_INDEX_BY_DIM))}")
    with _weights_from(Path(weights)):
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
    return model.eval().to(device)


def activations(model, images: Iterable, batch_size: int = 50, device: str = "cpu") -> np.ndarray:
    """Features (n, dims; pool3: 2048) of PIL images, fed as pytorch-fid's get_activations feeds files."""
    import torch
    import torchvision.transforms.functional as TF

    to_tensor = [TF.to_tensor(image.convert("RGB")) for image in images]
    out = []
    with torch.no_grad():
        for start in range(0, len(to_tensor), batch_size):
            batch = torch.stack(to_tensor[start : start + batch_size]).to(device)
            pred = model(batch)[0]
            if pred.shape[2:] != (1, 1):  # a block before pool3: pooled as pytorch-fid pools it
                pred = torch.nn.functional.adaptive_avg_pool2d(pred, output_size=(1, 1))
            out.append(pred.squeeze(3).squeeze(2).cpu().numpy().astype(np.float64))
    return np.concatenate(out) if out else np.empty((0, DIMS))


@dataclass(frozen=True)
class Reference:
    """Statistics of a reference image set."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None = None  # KID needs them; a mu/sigma-only file gives FID alone
    n_images: int | None = None


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance, as pytorch-fid's calculate_activation_statistics computes them."""
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def make_reference(features: np.ndarray, keep_features: bool = True) -> Reference:
    mu, sigma = statistics(features)
    return Reference(mu, sigma, features if keep_features else None, len(features))


def save_reference(path: Path, reference: Reference) -> None:
    """An .npz pytorch-fid reads with its own loader (`mu`, `sigma`), plus `features`."""
    arrays = {"mu": reference.mu, "sigma": reference.sigma}
    if reference.features is not None:
        arrays["features"] = reference.features
    with atomic_write(Path(path)) as f:  # whole or not at all: a half-written reference is never read
        np.savez(f, **arrays)


def load_reference(path: Path) -> Reference:
    """A reference .npz (no pickles); ValueError naming the file when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            mu, sigma = data["mu"], data["sigma"]
            features = data["features"] if "features" in data.files else None
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{str(path)!r}: not a reference statistics file with mu and sigma ({e})") from None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"{str(path)!r}: mu {mu.shape} and sigma {sigma.shape} do not fit together")
    return Reference(mu, sigma, features, None if features is None else len(features))


def fid(features: np.ndarray, reference: Reference) -> float:
    """Frechet distance between the Gaussian fitted to `features` and the reference's; lower is
    better, >= 0. pytorch-fid's calculate_frechet_distance does the arithmetic."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    if len(features) < 2:
        raise ValueError(f"FID needs at least 2 images (got {len(features)})")
    mu, sigma = statistics(features)
    return float(calculate_frechet_distance(mu, sigma, reference.mu, reference.sigma))


def poly_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between feature sets x (m, d) and y (n, d) with the cubic polynomial
    kernel (x.y / d + 1)^3: the diagonals of the within-set kernel sums are left out."""
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kid(
    features: np.ndarray,
    reference: Reference,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: mean and standard deviation of poly_mmd2 over `subsets` random subsets of both sets
    (each min(subset_size, smallest set) images, drawn without replacement); lower is better."""
    if reference.features is None:
        raise ValueError("KID needs the reference set's features; this reference holds only mu and sigma")
    size = min(subset_size, len(features), len(reference.features))
    if size < 2:
        raise ValueError(
            f"KID needs at least 2 images on each side (got {len(features)} and {len(reference.features)})"
        )
    rng = np.random.default_rng(seed)
    values = [
        poly_mmd2(
            features[rng.choice(len(features), size, replace=False)],
            reference.features[rng.choice(len(reference.features), size, replace=False)],
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
