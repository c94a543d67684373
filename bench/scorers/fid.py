"""FID and KID of an image set (set metrics, bench.metrics kind "set"), on bench.fid.

A set scorer sees a whole image set at once, not one image at a time: `features(images)` runs
pytorch-fid's FID Inception over the set, and `value(features)` gives the metric (FID, or KID's
mean and spread) against the reference statistics. bench.set_scoring computes a set's features
once for every set metric on the same network (FID and KID share them).
"""

from __future__ import annotations

from pathlib import Path

from bench.files import sha256_file
from bench.scorers.batching import check_pin, describe, package_versions, resolve_device, weight_files

STATISTICS = ("fid", "kid")


def load_network(inception, dims: int, device: str = "auto"):
    """(model, weights file, what to record) of a metric's FID Inception: its pickle checked
    against its pin before it is read (tiny twins are our own build: not pinned)."""
    from bench import fid

    path = weight_files(inception)[inception.files[0]]
    recorded = "tiny random weights" if inception.tiny else check_pin(path, inception.sha256)
    return fid.load_inception(path, resolve_device(device), dims), path, recorded


class SetScorer:
    """`weights`: (FID Inception weights, reference statistics), as bench.metrics gives them;
    `reference`: another statistics file (a suite's `fid_reference`), in place of the metric's."""

    def __init__(self, weights, statistic: str, dims: int = 2048, reference: Path | None = None, device: str = "auto"):
        from bench import fid

        if statistic not in STATISTICS:
            raise ValueError(f"statistic: {statistic!r} is not one of {', '.join(STATISTICS)}")
        inception, stats = weights
        self.statistic = statistic
        self.device = resolve_device(device)
        # 1. the network, its pickle checked against its pin before it is read
        self.model, network, recorded = load_network(inception, dims, self.device)
        self.network = (network, dims)  # what a set's features depend on: shared by metrics alike
        # 2. the reference statistics: the suite's own file, or the metric's pinned one (a plain
        # .npz, read without pickles)
        path = Path(reference) if reference is not None else weight_files(stats)[stats.files[0]]
        self.reference = fid.load_reference(path)
        self.reference_sha256 = sha256_file(path)
        if self.reference.mu.shape != (dims,):
            raise ValueError(
                f"{str(path)!r}: statistics of {len(self.reference.mu)}-dim features; this metric reads {dims}"
            )
        if statistic == "kid" and self.reference.features is None:
            raise ValueError(
                f"kid: the reference statistics {str(path)!r} hold mu and sigma only; KID needs the reference "
                "images' features (make them with `bench fid-stats FOLDER --out FILE.npz`)"
            )
        where = f"{dims}-dim features; reference {path.name} sha256 {self.reference_sha256[:16]}"
        self.version = f"{package_versions('pytorch-fid', 'torch')}; {describe(inception, network, recorded)}; {where}"

    def features(self, images: list) -> object:
        """Pool3 features (n, 2048) of PIL images."""
        from bench import fid

        return fid.activations(self.model, images, device=self.device)

    def value(self, features) -> tuple[float, float | None]:
        """(value, spread): FID and None, or KID's mean and standard deviation over its subsets."""
        from bench import fid

        if self.statistic == "fid":
            return fid.fid(features, self.reference), None
        return fid.kid(features, self.reference)
