"""Cleaning counts, stratified splits, normalization and fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import read_bundle
from tests.data_tests.formats import random_images, write_mnist


def planted_npz(path: Path) -> Path:
    """60 clean float images in 3 classes + 4 NaN, 3 bad labels, 5 duplicates."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 1, 6, 6)).astype(np.float32)
    y = (np.arange(60) % 3).astype(np.float64)
    nan_x = rng.normal(size=(4, 1, 6, 6)).astype(np.float32)
    nan_x[:, 0, 0, 0] = np.nan
    nan_x[1, 0, 2, 2] = np.inf
    bad_x = rng.normal(size=(3, 1, 6, 6)).astype(np.float32)
    bad_y = np.array([-1, 1.5, np.nan])
    dup_x, dup_y = x[:5].copy(), y[:5].copy()
    num_classes = 3
    xs = np.concatenate([x, nan_x, bad_x, dup_x])
    ys = np.concatenate([y, [0, 1, 2, 0], bad_y, dup_y])
    np.savez(path, x=xs, y=ys, num_classes=num_classes)
    return path


def test_cleaning_counts_planted_problems(tmp_path: Path) -> None:
    b = read_bundle(f"npz:{planted_npz(tmp_path / 'p.npz')}", test_fraction=0.2, val_fraction=0.1)
    r = b.report
    assert r.read_train == 72
    assert r.dropped_nonfinite == 4
    assert r.dropped_bad_label == 3
    assert r.dropped_duplicates == 5
    assert r.train + r.val + r.test == 60
    for x in (b.x_train, b.x_val, b.x_test):
        assert torch.isfinite(x).all()


def test_labels_above_class_count_dropped(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = random_images(rng, 40, (6, 6))
    y = np.arange(40) % 4
    y[:3] = 7  # out of range for num_classes=4
    np.savez(tmp_path / "l.npz", x=x, y=y, num_classes=4)
    assert read_bundle(f"npz:{tmp_path / 'l.npz'}").report.dropped_bad_label == 3


def test_test_images_duplicating_training_images_are_dropped(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x_train, x_test = random_images(rng, 100, (28, 28)), random_images(rng, 30, (28, 28))
    x_test[:7] = x_train[10:17]  # leakage
    x_train[50:52] = x_train[0]  # two duplicates inside train
    labels = (np.arange(100) % 10).astype(np.uint8)
    root = write_mnist(tmp_path, x_train, labels, x_test, (np.arange(30) % 10).astype(np.uint8))
    r = read_bundle(f"mnist:{root}").report
    assert r.dropped_test_leaks == 7
    assert r.dropped_duplicates == 2
    assert r.test == 23


def test_stratified_split_proportions(digits) -> None:
    r = digits.report
    total = r.train + r.val + r.test
    assert r.stratified
    assert r.test == pytest.approx(0.2 * total, abs=1)
    assert r.val == pytest.approx(0.1 * (total - r.test), abs=1)
    full = torch.cat([digits.y_train, digits.y_val, digits.y_test]).bincount(minlength=10).double()
    for part in (digits.y_train, digits.y_val, digits.y_test):
        share = part.bincount(minlength=10).double() / len(part)
        # each class's share in every split within one sample of its overall share
        assert torch.all((share - full / full.sum()).abs() <= 1.0 / len(part) + 1e-9)


def test_splits_are_disjoint_and_seeded() -> None:
    a = read_bundle("digits", split_seed=0)
    b = read_bundle("digits", split_seed=0)
    c = read_bundle("digits", split_seed=1)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint
    assert torch.equal(a.x_val, b.x_val)
    rows = {tuple(r.tolist()) for r in a.x_train.flatten(1)}
    assert not any(tuple(r.tolist()) in rows for r in a.x_test.flatten(1))


def test_normalization_uses_train_statistics(digits) -> None:
    x = digits.x_train
    assert x.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert x.std().item() == pytest.approx(1.0, abs=1e-3)
    assert digits.x_val.mean().item() != pytest.approx(0.0, abs=1e-6)  # not renormalized on its own


def test_bundle_moves_between_devices(digits) -> None:
    assert digits.to("cpu") is digits  # already there: no copy
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    # the meta device stands in for an accelerator: every split moves, nothing else changes
    moved = digits.to("meta")
    for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        tensor = getattr(moved, split)
        assert tensor.device.type == "meta", split
        assert tensor.shape == getattr(digits, split).shape and tensor.dtype == getattr(digits, split).dtype
    assert moved.device.type == "meta" and digits.device.type == "cpu"
    assert (moved.fingerprint, moved.input_shape, moved.report) == (digits.fingerprint, digits.input_shape,
                                                                    digits.report)  # fmt: skip
