"""Stream mode: a trial reads its batches from the prepared shards through Ray Data, so no
process holds the dataset; only the shards in flight are in memory.

On the driver, `stream_data` resolves the splits once per split setting (row indices written
next to the shards, a few bytes per sample), with the same DataReport and fingerprint as
memory mode and the training split's normalization from the per-sample sums stored at
preparation. What goes to the trials is that small description, not the pixels.

In a trial, `stream_batches.StreamBatches` reads the batches through Ray Data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from nagexp.core.errors import DataError
from nagexp.data.bundle import DataReport, check_clean, data_report
from nagexp.data.prepared.load import clean_counts
from nagexp.data.prepared.location import Location
from nagexp.data.prepared.store import Prepared, open_prepared
from nagexp.data.prepared.stream_batches import DATA_CPUS, StreamBatches
from nagexp.data.splits import Splits, split_rows

__all__ = ["DATA_CPUS", "StreamedData", "stream_data"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class StreamedData:
    """A prepared dataset's splits, as trials stream them (small: no pixels)."""

    folder: str  # the prepared dataset
    split_folder: str  # its train/val/test row files for these split settings
    test_part: str  # "test" (the source's own) or "pool" (held out here)
    shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fingerprint: str
    report: DataReport
    scale: float  # 255 for uint8 pixels, 1 for float ones
    data_group: str = ""  # data-parallel workers: the placement group (hex) their Ray Data tasks run in
    mode: Literal["stream"] = "stream"  # see nagexp.data.batches.TrainData

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.shape

    @property
    def train_size(self) -> int:
        return self.report.train

    def part_of(self, split: str) -> str:
        return self.test_part if split == "test" else "pool"

    def rows(self, split: str) -> np.ndarray:
        return Location(self.split_folder).load_npy(f"{split}.npy", mmap=True)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)[None, :, None, None]
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)[None, :, None, None]
        return (x.float() / self.scale - mean) / std

    def example_batch(self, n: int) -> torch.Tensor:
        """The first `n` normalized validation images, on the CPU (model checks, signatures)."""
        prepared = open_prepared(self.folder)
        rows = np.asarray(self.rows("val")[:n])
        return self.normalize(torch.from_numpy(_gather(prepared, "pool", rows)))

    def to(self, device: torch.device | str) -> StreamedData:
        return self  # batches move to the device as they are streamed

    def batches(self, seed: int, batch_size: int, eval_batch_size: int, device: torch.device, rank: int = 0,
                world_size: int = 1) -> StreamBatches:  # fmt: skip
        return StreamBatches(self, device, seed, min(batch_size, self.train_size), eval_batch_size, rank, world_size)


def _gather(prepared: Prepared, part: str, rows: np.ndarray) -> np.ndarray:
    """The samples at sorted `rows` of `part`, one shard mapped at a time."""
    out = []
    for start, shard in prepared.iter_rows(part):
        lo, hi = np.searchsorted(rows, [start, start + len(shard)])
        if hi > lo:
            out.append(np.asarray(shard[rows[lo:hi] - start]))
    return np.concatenate(out) if out else np.zeros((0, *prepared.shape), prepared.manifest["dtype"])


def _settings_key(val_fraction: float, test_fraction: float, split_seed: int) -> str:
    text = json.dumps([val_fraction, test_fraction, split_seed])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def stream_data(prepared: Prepared, dataset: str, *, val_fraction: float, test_fraction: float,
                split_seed: int) -> StreamedData:  # fmt: skip
    """The splits of `prepared` for these settings: made once (row files, normalization,
    fingerprint) and reused by every later sweep with the same settings."""
    counts, unreadable = clean_counts(prepared)
    check_clean(counts, int(prepared.manifest["parts"]["pool"]["rows"]), dataset, prepared.num_classes)
    pool_y = prepared.labels("pool")
    test_rows = int(prepared.manifest["parts"]["test"]["rows"]) if prepared.has_part("test") else None
    splits = split_rows(pool_y, test_rows, val_fraction, test_fraction, split_seed)
    if len(splits.test) == 0:
        raise DataError(f"no usable test samples left in '{dataset}' after cleaning")
    folder = prepared.folder.child(f"splits/{_settings_key(val_fraction, test_fraction, split_seed)}")
    if not folder.exists("stats.json"):  # written last
        for name, rows in zip(SPLITS, (splits.train, splits.val, splits.test), strict=True):
            folder.save_npy(f"{name}.npy", rows.astype(np.int64))
        folder.write_bytes("stats.json", (json.dumps(_stats(prepared, splits, pool_y)) + "\n").encode())
    stats = json.loads(folder.read_text("stats.json"))
    return StreamedData(
        folder=str(prepared.folder),
        split_folder=str(folder),
        test_part=splits.test_part,
        shape=prepared.shape,
        num_classes=prepared.num_classes,
        class_names=tuple(prepared.manifest["class_names"]),
        mean=tuple(stats["mean"]),
        std=tuple(stats["std"]),
        fingerprint=stats["fingerprint"],
        report=data_report(dataset, counts, unreadable, splits),
        scale=255.0 if prepared.manifest["dtype"] == "uint8" else 1.0,
    )


def _stats(prepared: Prepared, splits: Splits, pool_y: np.ndarray) -> dict[str, Any]:
    """Normalization of the training split from the per-sample sums, and the fingerprint of
    the split arrays, hashed as memory mode hashes them (one shard mapped at a time)."""
    sums = prepared.pool_sums()[splits.train]  # n x C x 2
    pixels = len(splits.train) * prepared.shape[1] * prepared.shape[2]
    mean = sums[..., 0].sum(axis=0) / pixels
    std = np.sqrt(np.maximum(sums[..., 1].sum(axis=0) / pixels - mean**2, 0.0))
    std[std == 0] = 1.0
    test_y = pool_y if splits.test_part == "pool" else prepared.labels("test")
    digest = hashlib.sha256()
    dtype = np.dtype(prepared.manifest["dtype"])
    for part, rows, labels in (("pool", splits.train, pool_y), ("pool", splits.val, pool_y),
                               (splits.test_part, splits.test, test_y)):  # fmt: skip
        digest.update(str((dtype.str, (len(rows), *prepared.shape))).encode())
        for start, shard in prepared.iter_rows(part):
            lo, hi = np.searchsorted(rows, [start, start + len(shard)])
            if hi > lo:
                digest.update(np.ascontiguousarray(shard[rows[lo:hi] - start]).tobytes())
        y = labels[rows]
        digest.update(str((y.dtype.str, y.shape)).encode())
        digest.update(np.ascontiguousarray(y).tobytes())
    return {"mean": mean.tolist(), "std": std.tolist(), "fingerprint": digest.hexdigest()[:16]}
