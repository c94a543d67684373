"""FID and KID on pytorch-fid's own network and arithmetic, checked against independent routes:
pytorch-fid's get_activations on image files, its calculate_frechet_distance, torchmetrics' KID."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench import fid
from bench.tiny import tiny_path
from bench.tiny_scorers import FID_INCEPTION_FILE, FID_REFERENCE_FILE, tiny_sd_pictures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_inception():
    folder = tiny_path("tiny-fid-inception")
    return folder, fid.load_inception(folder / FID_INCEPTION_FILE)


@pytest.fixture(scope="module")
def pictures():
    return tiny_sd_pictures((0, 1, 2))


def test_our_activations_are_pytorch_fids_on_the_same_image_files(tiny_inception, pictures, tmp_path):
    from pytorch_fid.fid_score import get_activations

    _, model = tiny_inception
    files = []
    for i, picture in enumerate(pictures):
        files.append(tmp_path / f"{i}.png")
        picture.save(files[-1])
    theirs = get_activations(files, model, batch_size=2, dims=2048, num_workers=0)
    ours = fid.activations(model, pictures, batch_size=3)
    assert ours.shape == (3, 2048) and np.abs(ours).max() > 0
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_the_tiny_twin_is_pytorch_fids_architecture_in_its_file_format(tiny_inception):
    """pytorch-fid's InceptionV3 loads the file strictly: one key off, and it would raise."""
    folder, model = tiny_inception
    state = torch.load(folder / FID_INCEPTION_FILE, map_location="cpu", weights_only=True)
    assert "Mixed_7c.branch_pool.conv.weight" in state and state["fc.weight"].shape == (1008, 2048)
    reference = fid.load_reference(folder / FID_REFERENCE_FILE)
    assert reference.mu.shape == (2048,) and reference.sigma.shape == (2048, 2048) and reference.n_images == 6


def test_our_fid_is_pytorch_fids_frechet_distance_on_the_same_activations():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    ours, ref = rng.normal(size=(40, 16)), rng.normal(0.3, 1.2, size=(50, 16))
    expected = calculate_frechet_distance(ours.mean(0), np.cov(ours.T), ref.mean(0), np.cov(ref.T))
    assert fid.fid(ours, fid.make_reference(ref)) == pytest.approx(expected, rel=1e-9)
    assert expected > 0.5  # far apart: the check above compares a real number
    assert fid.fid(ref, fid.make_reference(ref)) == pytest.approx(0.0, abs=1e-6)


def test_a_reference_file_round_trips_and_a_bad_one_fails_with_one_line(tmp_path):
    ref = fid.make_reference(np.random.default_rng(1).normal(size=(10, 4)))
    fid.save_reference(tmp_path / "ref.npz", ref)
    back = fid.load_reference(tmp_path / "ref.npz")
    np.testing.assert_array_equal(back.sigma, ref.sigma)
    np.testing.assert_array_equal(back.features, ref.features)
    np.savez(tmp_path / "bad.npz", mu=np.zeros(3), sigma=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="do not fit together"):
        fid.load_reference(tmp_path / "bad.npz")
    np.savez(tmp_path / "nomu.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a reference statistics file"):
        fid.load_reference(tmp_path / "nomu.npz")


def test_kid_is_torchmetrics_unbiased_polynomial_mmd():
    from torchmetrics.image.kid import poly_mmd

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 8)), rng.normal(0.5, 1.0, size=(30, 8))
    expected = poly_mmd(torch.from_numpy(x), torch.from_numpy(y), degree=3, gamma=1 / 8, coef=1.0).item()
    assert fid.poly_mmd2(x, y) == pytest.approx(expected, rel=1e-9)
    # whole sets as the one subset: KID's mean is that MMD, its spread 0
    mean, std = fid.kid(x, fid.make_reference(y), subsets=3, subset_size=30)
    assert mean == pytest.approx(expected, rel=1e-9) and std == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="needs the reference set's features"):
        fid.kid(x, fid.Reference(y.mean(0), np.cov(y.T)))
