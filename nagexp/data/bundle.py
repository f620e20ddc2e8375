"""Memory mode's data: raw arrays cleaned, split and normalized into a bundle of tensors.

Pipeline: read (sources.py) -> clean (drop non-finite, bad labels, duplicates, test leaks)
-> split (stratified, seeded) -> normalize (train statistics only) -> tensors.
Every count lands in a DataReport; a content fingerprint records exactly what was used.
`nagexp.data.loading.load_train_data` is the entry point that decides which source and mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from nagexp.core.errors import DataError
from nagexp.data.batches import BatchSource, epoch_permutation
from nagexp.data.cleaning import Cleaner, CleaningCounts
from nagexp.data.report import DataReport
from nagexp.data.sources import RawData
from nagexp.data.splits import Splits, split_rows

__all__ = ["CleanData", "DataBundle", "DataReport", "MemoryBatches", "build_bundle", "bundle_from_clean", "check_clean",
           "data_report"]


@dataclass(frozen=True)
class DataBundle:
    """Normalized float32 images (N x C x H x W) and int64 labels for each split."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, of the training split before normalization
    std: tuple[float, ...]
    fingerprint: str  # sha256 prefix of the cleaned, split arrays
    report: DataReport
    mode: Literal["memory"] = "memory"  # see nagexp.data.batches.TrainData

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def train_size(self) -> int:
        return len(self.y_train)

    def example_batch(self, n: int) -> torch.Tensor:
        """The first `n` normalized validation images, on the CPU (model checks, signatures)."""
        return self.x_val[:n].cpu()

    def batches(self, seed: int, batch_size: int, eval_batch_size: int, device: torch.device, rank: int = 0,
                world_size: int = 1) -> BatchSource:  # fmt: skip
        """Whole global batches in every process (each data-parallel worker holds the data and
        takes its part of each batch: see `nagexp.data.batches.rank_rows`)."""
        return MemoryBatches(self, device, seed, min(batch_size, self.train_size), eval_batch_size)

    def to(self, device: torch.device | str) -> DataBundle:
        device = torch.device(device)
        if self.x_train.device == device:
            return self
        moved = {
            name: getattr(self, name).to(device, non_blocking=True)
            for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        }
        return replace(self, **moved)


class MemoryBatches:
    """Batches of a DataBundle held on the trial's device (memory mode): each epoch a seeded
    permutation, sliced; evaluation in order."""

    def __init__(self, data: DataBundle, device: torch.device, seed: int, batch_size: int,
                 eval_batch_size: int) -> None:  # fmt: skip
        self.data = data.to(device)
        self.device, self.seed = device, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.steps_per_epoch = len(self.data.y_train) // batch_size  # the partial last batch is dropped
        self.rows: slice | None = None  # whole batches

    def train_epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = epoch_permutation(len(self.data.y_train), self.seed, epoch, self.device)
        xs, ys = self.data.x_train[perm], self.data.y_train[perm]
        bs = self.batch_size
        for i in range(self.steps_per_epoch):
            yield xs[i * bs : (i + 1) * bs], ys[i * bs : (i + 1) * bs]

    def eval_batches(self, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
        for i in range(0, len(y), self.eval_batch_size):
            yield x[i : i + self.eval_batch_size], y[i : i + self.eval_batch_size]


def _fingerprint(arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str((a.dtype.str, a.shape)).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def _normalized(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    out = x.astype(np.float32) / scale
    out -= mean[None, :, None, None]
    out /= std[None, :, None, None]
    return torch.from_numpy(out)


# ---- the pipeline -----------------------------------------------------------------------


def build_bundle(
    raw: RawData,
    dataset: str,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> DataBundle:
    """Clean, split and normalize arrays already read from a source."""
    if raw.num_classes < 2:
        raise DataError(f"'{dataset}' has {raw.num_classes} classes; at least 2 are needed")
    cleaner = Cleaner(raw.num_classes)
    x, y = cleaner.train(raw.x_train, raw.y_train)
    x_test = y_test = None
    if raw.x_test is not None and raw.y_test is not None:
        x_test, y_test = cleaner.test(raw.x_test, raw.y_test)
    clean = CleanData(x, y, x_test, y_test, cleaner.counts, raw.unreadable, raw.num_classes, raw.class_names)
    return bundle_from_clean(clean, dataset, val_fraction=val_fraction, test_fraction=test_fraction,
                             split_seed=split_seed)  # fmt: skip


@dataclass(frozen=True)
class CleanData:
    """A source after cleaning: the kept training pool and test part, and what was dropped."""

    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray | None  # None: the source has no test part
    y_test: np.ndarray | None
    counts: CleaningCounts
    unreadable: int
    num_classes: int
    class_names: tuple[str, ...]


def check_clean(clean_counts: CleaningCounts, kept_pool: int, dataset: str, num_classes: int) -> None:
    """One line when cleaning left no training sample."""
    if kept_pool == 0:
        c = clean_counts
        raise DataError(
            f"no training sample of '{dataset}' is left after cleaning: all {c.read_train} were dropped "
            f"({c.dropped_nonfinite} with non-finite pixels, {c.dropped_bad_label} with a label outside "
            f"0..{num_classes - 1}); check the data"
        )


def data_report(dataset: str, clean: CleaningCounts, unreadable: int, splits: Splits) -> DataReport:
    return DataReport(
        dataset=dataset,
        read_train=clean.read_train,
        read_test=clean.read_test,
        unreadable_files=unreadable,
        dropped_nonfinite=clean.dropped_nonfinite,
        dropped_bad_label=clean.dropped_bad_label,
        dropped_duplicates=clean.dropped_duplicates,
        dropped_test_leaks=clean.dropped_test_leaks,
        train=len(splits.train),
        val=len(splits.val),
        test=len(splits.test),
        test_source="dataset" if splits.test_part == "test" else "held-out",
        stratified=splits.stratified,
    )


def bundle_from_clean(
    clean: CleanData, dataset: str, *, val_fraction: float, test_fraction: float, split_seed: int
) -> DataBundle:
    """Split and normalize cleaned arrays (read whole, or from prepared shards)."""
    check_clean(clean.counts, len(clean.x_pool), dataset, clean.num_classes)
    test_rows = None if clean.x_test is None else len(clean.x_test)
    splits = split_rows(clean.y_pool, test_rows, val_fraction, test_fraction, split_seed)
    x_test_part = clean.x_pool if splits.test_part == "pool" else clean.x_test
    y_test_part = clean.y_pool if splits.test_part == "pool" else clean.y_test
    assert x_test_part is not None and y_test_part is not None
    if len(splits.test) == 0:
        raise DataError(f"no usable test samples left in '{dataset}' after cleaning")
    x, y = clean.x_pool[splits.train], clean.y_pool[splits.train]
    x_val, y_val = clean.x_pool[splits.val], clean.y_pool[splits.val]
    x_test, y_test = x_test_part[splits.test], y_test_part[splits.test]

    fingerprint = _fingerprint([x, y, x_val, y_val, x_test, y_test])
    # per-channel statistics of the training split only
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    as_float = x.astype(np.float64) / scale
    mean = as_float.mean(axis=(0, 2, 3))
    std = as_float.std(axis=(0, 2, 3))
    std[std == 0] = 1.0
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    return DataBundle(
        x_train=_normalized(x, mean32, std32),
        y_train=torch.from_numpy(y),
        x_val=_normalized(x_val, mean32, std32),
        y_val=torch.from_numpy(y_val),
        x_test=_normalized(x_test, mean32, std32),
        y_test=torch.from_numpy(y_test),
        num_classes=clean.num_classes,
        class_names=clean.class_names,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        fingerprint=fingerprint,
        report=data_report(dataset, clean.counts, clean.unreadable, splits),
    )
