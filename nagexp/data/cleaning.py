"""The cleaning rules, applied chunk by chunk: the same result on a dataset read whole as on
one prepared in pieces far larger than memory.

Training part: drop samples with non-finite pixels or a label outside 0..classes-1, then
exact duplicates of an earlier kept image (the first copy stays). Test part: the same
invalid samples, then images identical to a kept training image (leaks). Only a 16-byte
hash per kept training image is held.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Cleaner", "CleaningCounts", "row_hashes"]


def row_hashes(x: np.ndarray) -> list[bytes]:
    flat = np.ascontiguousarray(x.reshape(len(x), int(np.prod(x.shape[1:]))))
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def _valid_mask(x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(finite pixels, valid label) masks, one entry per sample."""
    flat = x.reshape(len(x), int(np.prod(x.shape[1:])))
    finite = np.isfinite(flat).all(axis=1) if x.dtype.kind == "f" else np.ones(len(x), bool)
    yf = y.astype(np.float64)
    with np.errstate(invalid="ignore"):
        good_label = np.isfinite(yf) & (yf == np.round(yf)) & (yf >= 0) & (yf < num_classes)
    return finite, good_label


@dataclass
class CleaningCounts:
    read_train: int = 0
    read_test: int = 0
    dropped_nonfinite: int = 0
    dropped_bad_label: int = 0
    dropped_duplicates: int = 0
    dropped_test_leaks: int = 0


class Cleaner:
    """Feed the training part first, then the test part, in source order."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.counts = CleaningCounts()
        self._train_hashes: set[bytes] = set()

    def _valid(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        finite, good_label = _valid_mask(x, y, self.num_classes)
        self.counts.dropped_nonfinite += int((~finite).sum())
        self.counts.dropped_bad_label += int((finite & ~good_label).sum())
        return finite & good_label

    def train_kept(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which training samples of this chunk are kept (a mask)."""
        self.counts.read_train += len(x)
        keep = self._valid(x, y)
        for i, h in zip(np.flatnonzero(keep), row_hashes(x[keep]), strict=True):
            if h in self._train_hashes:
                keep[i] = False
                self.counts.dropped_duplicates += 1
            else:
                self._train_hashes.add(h)
        return keep

    def test_kept(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which test samples of this chunk are kept (call after every training chunk)."""
        self.counts.read_test += len(x)
        keep = self._valid(x, y)
        for i, h in zip(np.flatnonzero(keep), row_hashes(x[keep]), strict=True):
            if h in self._train_hashes:
                keep[i] = False
                self.counts.dropped_test_leaks += 1
        return keep

    def train(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kept training samples of this chunk."""
        keep = self.train_kept(x, y)
        return x[keep], y[keep].astype(np.int64)

    def test(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kept test samples of this chunk."""
        keep = self.test_kept(x, y)
        return x[keep], y[keep].astype(np.int64)
