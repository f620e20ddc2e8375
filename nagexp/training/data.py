"""From a dataset spec to a cleaned, split, normalized bundle of tensors on a device.

Pipeline: read (sources.py) -> clean (drop non-finite, bad labels, duplicates, test leaks)
-> split (stratified, seeded) -> normalize (train statistics only) -> tensors.
Every count lands in a DataReport; a content fingerprint records exactly what was used.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from nagexp.errors import DataError
from nagexp.training.dataset_spec import parse_dataset_spec
from nagexp.training.sources import RawData, read_source

__all__ = ["DataBundle", "DataReport", "load_dataset", "load_dataset_for"]


@dataclass(frozen=True)
class DataReport:
    """What the pipeline read, dropped and kept."""

    dataset: str
    read_train: int  # samples in the source's training part
    read_test: int  # samples in the source's test part (0 when it has none)
    unreadable_files: int  # image files that failed to decode, skipped
    dropped_nonfinite: int  # samples with NaN/inf pixels
    dropped_bad_label: int  # labels not an integer in [0, num_classes)
    dropped_duplicates: int  # exact duplicate images inside the training data
    dropped_test_leaks: int  # test images identical to a training image
    train: int
    val: int
    test: int
    test_source: str  # "dataset" (its own test split) or "held-out" (split here)
    stratified: bool  # False when a class was too small to stratify

    def summary(self) -> str:
        dropped = (
            f"dropped {self.dropped_nonfinite} non-finite, {self.dropped_bad_label} bad-label, "
            f"{self.dropped_duplicates} duplicate, {self.dropped_test_leaks} test-leak"
        )
        unreadable = f", {self.unreadable_files} unreadable files skipped" if self.unreadable_files else ""
        return (
            f"{self.dataset}: read {self.read_train}+{self.read_test}; {dropped}{unreadable}; "
            f"split train {self.train} / val {self.val} / test {self.test} ({self.test_source} test)"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device: torch.device | str) -> DataBundle:
        device = torch.device(device)
        if self.x_train.device == device:
            return self
        moved = {
            name: getattr(self, name).to(device, non_blocking=True)
            for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        }
        return replace(self, **moved)


# ---- cleaning ---------------------------------------------------------------------------


def _valid_mask(x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(finite pixels, valid label) masks, one entry per sample."""
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.dtype.kind == "f" else np.ones(len(x), bool)
    yf = y.astype(np.float64)
    with np.errstate(invalid="ignore"):
        good_label = np.isfinite(yf) & (yf == np.round(yf)) & (yf >= 0) & (yf < num_classes)
    return finite, good_label


def _row_hashes(x: np.ndarray) -> list[bytes]:
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def _first_occurrences(hashes: list[bytes]) -> np.ndarray:
    seen: set[bytes] = set()
    keep = np.zeros(len(hashes), bool)
    for i, h in enumerate(hashes):
        if h not in seen:
            seen.add(h)
            keep[i] = True
    return keep


def _drop_invalid(x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    finite, good_label = _valid_mask(x, y, num_classes)
    keep = finite & good_label
    return x[keep], y[keep].astype(np.int64), int((~finite).sum()), int((finite & ~good_label).sum())


# ---- splitting --------------------------------------------------------------------------


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
    read_train, read_test = len(raw.x_train), 0 if raw.x_test is None else len(raw.x_test)

    # 1. invalid samples
    x, y, nonfinite, bad_label = _drop_invalid(raw.x_train, raw.y_train, raw.num_classes)
    if len(x) == 0:
        raise DataError(
            f"no training sample of '{dataset}' is left after cleaning: all {read_train} were dropped "
            f"({nonfinite} with non-finite pixels, {bad_label} with a label outside 0..{raw.num_classes - 1}); "
            "check the data"
        )
    # 2. exact duplicates inside the training data (the first copy stays)
    hashes = _row_hashes(x)
    keep = _first_occurrences(hashes)
    duplicates = int((~keep).sum())
    x, y = x[keep], y[keep]
    if len(x) == 0:
        raise DataError(f"no usable training samples left in '{dataset}' after cleaning")
    # 3. test data: the source's own split without leaks, or a held-out stratified split
    leaks, stratified = 0, True
    if raw.x_test is not None and raw.y_test is not None:
        x_test, y_test, nf, bl = _drop_invalid(raw.x_test, raw.y_test, raw.num_classes)
        nonfinite, bad_label = nonfinite + nf, bad_label + bl
        train_hashes = {h for h, k in zip(hashes, keep, strict=True) if k}
        fresh = np.array([h not in train_hashes for h in _row_hashes(x_test)], bool)
        leaks = int((~fresh).sum())
        x_test, y_test = x_test[fresh], y_test[fresh]
        test_source = "dataset"
    else:
        rest, held, stratified = _split(y, test_fraction, split_seed)
        x_test, y_test, x, y = x[held], y[held], x[rest], y[rest]
        test_source = "held-out"
    if len(x_test) == 0:
        raise DataError(f"no usable test samples left in '{dataset}' after cleaning")
    # 4. validation split of the training data
    train_idx, val_idx, val_stratified = _split(y, val_fraction, split_seed + 1)
    x_val, y_val, x, y = x[val_idx], y[val_idx], x[train_idx], y[train_idx]

    fingerprint = _fingerprint([x, y, x_val, y_val, x_test, y_test])
    # 5. per-channel statistics of the training split only
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    as_float = x.astype(np.float64) / scale
    mean = as_float.mean(axis=(0, 2, 3))
    std = as_float.std(axis=(0, 2, 3))
    std[std == 0] = 1.0
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)

    report = DataReport(
        dataset=dataset,
        read_train=read_train,
        read_test=read_test,
        unreadable_files=raw.unreadable,
        dropped_nonfinite=nonfinite,
        dropped_bad_label=bad_label,
        dropped_duplicates=duplicates,
        dropped_test_leaks=leaks,
        train=len(x),
        val=len(x_val),
        test=len(x_test),
        test_source=test_source,
        stratified=stratified and val_stratified,
    )
    return DataBundle(
        x_train=_normalized(x, mean32, std32),
        y_train=torch.from_numpy(y),
        x_val=_normalized(x_val, mean32, std32),
        y_val=torch.from_numpy(y_val),
        x_test=_normalized(x_test, mean32, std32),
        y_test=torch.from_numpy(y_test),
        num_classes=raw.num_classes,
        class_names=raw.class_names,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        fingerprint=fingerprint,
        report=report,
    )


def load_dataset(
    spec: str,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    image_size: int = 32,
    device: torch.device | str = "cpu",
) -> DataBundle:
    """Read, clean, split and normalize the dataset named by `spec`; tensors on `device`."""
    try:
        parsed = parse_dataset_spec(spec)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    raw = read_source(parsed, image_size)
    if len(raw.x_train) == 0:
        extra = f" ({raw.unreadable} unreadable files)" if raw.unreadable else ""
        raise DataError(f"dataset '{spec}' holds no samples{extra}")
    bundle = build_bundle(raw, spec, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed)
    return bundle.to(device)


def load_dataset_for(cfg: Any, device: torch.device | str = "cpu") -> DataBundle:
    """The bundle a TrainConfig asks for (its data fields only)."""
    return load_dataset(
        cfg.dataset,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        split_seed=cfg.split_seed,
        image_size=cfg.image_size,
        device=device,
    )
