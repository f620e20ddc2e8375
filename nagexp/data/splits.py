"""Stratified, seeded splits from labels alone: the held-out test part (when the source has
none) and the validation part. Rows only, so data of any size can be split without its pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Splits", "split_rows"]


def _split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Indices (keep, held) with `fraction` held out, stratified by label and seeded.

    Each class gives round(fraction * its size) samples (at least one when it has two or
    more), so every split keeps the class proportions. Falls back to a plain seeded split
    when some class has a single sample (it cannot be in both parts).
    """
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        order = rng.permutation(len(y))
        n_held = max(1, round(fraction * len(y)))
        return np.sort(order[n_held:]), np.sort(order[:n_held]), False
    held = []
    for c, n in zip(classes, counts, strict=True):
        members = np.flatnonzero(y == c)
        n_held = min(n - 1, max(1, round(fraction * n)))
        held.append(rng.permutation(members)[:n_held])
    held_idx = np.sort(np.concatenate(held))
    keep = np.ones(len(y), bool)
    keep[held_idx] = False
    return np.flatnonzero(keep), held_idx, True


@dataclass(frozen=True)
class Splits:
    """Which kept samples form each split: rows of the training pool (`pool`) or of the
    source's own test part (`test`), in the order the arrays take them."""

    train: np.ndarray  # pool rows
    val: np.ndarray  # pool rows
    test: np.ndarray  # rows of `test_part`
    test_part: str  # "test" (the source's own) or "pool" (held out here)
    stratified: bool


def split_rows(pool_y: np.ndarray, test_rows: int | None, val_fraction: float, test_fraction: float,
               seed: int) -> Splits:  # fmt: skip
    """Held-out test (when the source has no test part: `test_rows` None), then validation:
    stratified and seeded."""
    rows = np.arange(len(pool_y))
    if test_rows is None:
        rest, held, stratified = _split(pool_y, test_fraction, seed)
        test, rows, test_part = rows[held], rows[rest], "pool"
    else:
        test, test_part, stratified = np.arange(test_rows), "test", True
    train_idx, val_idx, val_stratified = _split(pool_y[rows], val_fraction, seed + 1)
    return Splits(rows[train_idx], rows[val_idx], test, test_part, stratified and val_stratified)
