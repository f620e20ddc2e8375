"""Stream mode: a trial reads its batches from the prepared shards through Ray Data, so no
process holds the dataset; only the shards in flight are in memory.

On the driver, `stream_data` resolves the splits once per split setting (row indices written
next to the shards, a few bytes per sample), with the same DataReport and fingerprint as
memory mode and the training split's normalization from the per-sample sums stored at
preparation. What goes to the trials is that small description, not the pixels.

In a trial, an epoch is a Ray Data pipeline over the training shards: the shard order is a
permutation seeded by (seed, epoch), each shard's rows are permuted by (seed, epoch, shard),
and Ray Data keeps that order (`preserve_order`), so a rerun with the same seed sees the same
batches in the same order. Decoding is done: shards hold pixels, so a read task only maps
its shard and picks rows. Pixels are normalized (and augmented) on the trial's device.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nagexp.io import atomic_write, atomic_write_text
from nagexp.prepared.load import clean_counts
from nagexp.prepared.store import Prepared, open_prepared
from nagexp.training.data import DataReport, Splits, check_clean, data_report, split_rows

__all__ = ["StreamBatches", "StreamedData", "stream_data"]

SPLITS = ("train", "val", "test")
DATA_CPUS = 1  # a streaming trial's reservation for its Ray Data tasks, beside its own CPUs


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

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.shape

    @property
    def train_size(self) -> int:
        return self.report.train

    def part_of(self, split: str) -> str:
        return self.test_part if split == "test" else "pool"

    def rows(self, split: str) -> np.ndarray:
        return np.load(Path(self.split_folder) / f"{split}.npy", mmap_mode="r")

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)[None, :, None, None]
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)[None, :, None, None]
        return (x.float() / self.scale - mean) / std

    def example_batch(self, n: int) -> torch.Tensor:
        """The first `n` normalized validation images, on the CPU (model checks, signatures)."""
        prepared = open_prepared(Path(self.folder))
        rows = np.asarray(self.rows("val")[:n])
        return self.normalize(torch.from_numpy(_gather(prepared, "pool", rows)))

    def to(self, device: torch.device | str) -> StreamedData:
        return self  # batches move to the device as they are streamed

    def batches(self, cfg: Any, device: torch.device) -> StreamBatches:
        return StreamBatches(self, device, cfg.seed, min(cfg.batch_size, self.train_size), cfg.eval_batch_size)


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
        from nagexp.errors import DataError

        raise DataError(f"no usable test samples left in '{dataset}' after cleaning")
    folder = prepared.folder / "splits" / _settings_key(val_fraction, test_fraction, split_seed)
    stats_file = folder / "stats.json"
    if not stats_file.exists():
        for name, rows in zip(SPLITS, (splits.train, splits.val, splits.test), strict=True):
            atomic_write(folder / f"{name}.npy", lambda p, rows=rows: _save(p, rows.astype(np.int64)))
        atomic_write_text(stats_file, json.dumps(_stats(prepared, splits, pool_y)) + "\n")
    stats = json.loads(stats_file.read_text())
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


def _save(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:
        np.save(f, array)


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


# ---- in the trial -------------------------------------------------------------------------


def _read_blocks(batch: dict[str, np.ndarray], folder: str, split_folder: str, part: str, split: str,
                 seed: int, epoch: int, shuffle: bool) -> dict[str, np.ndarray]:  # fmt: skip
    """A Ray Data task: the rows of `split` in one block (a run of BLOCK_ROWS rows of a
    shard), permuted by (seed, epoch, block) when shuffling."""
    prepared = _OPENED.get(folder) or _OPENED.setdefault(folder, open_prepared(Path(folder)))
    shard_index, lo, hi, block = (int(batch[k][0]) for k in ("shard", "lo", "hi", "block"))
    shard = prepared.shards(part)[shard_index]
    start = int(batch["start"][0])  # the shard's first row in the part
    rows = np.load(Path(split_folder) / f"{split}.npy", mmap_mode="r")
    first, last = np.searchsorted(rows, [start + lo, start + hi])
    local = np.asarray(rows[first:last]) - start
    if shuffle:
        local = np.random.default_rng([seed, epoch, block]).permutation(local)
    pixels = prepared.shard_array(shard)  # memory-mapped: only the picked rows are read
    labels = np.load(prepared.folder / f"{part}-labels.npy", mmap_mode="r")
    return {"x": np.ascontiguousarray(pixels[local]), "y": np.asarray(labels[start + local], dtype=np.int64)}


_OPENED: dict[str, Prepared] = {}  # per Ray worker: manifests already checked


class StreamBatches:
    """Batches streamed from the shards through Ray Data, normalized on the device.

    The unit of order is a block of BLOCK_ROWS consecutive rows of a shard: each epoch the
    blocks come in a seeded permutation, their rows permuted too, and the trial mixes them
    again in windows of SHUFFLE_ROWS rows (a seeded shuffle buffer) before cutting batches.
    Shards are written in the source's order, which may be sorted by class (image folders
    are): block order and windows give every batch a mix of the whole dataset, with memory
    bounded by the window, not by the dataset."""

    BLOCK_ROWS = 256  # rows a read picks from a shard: the granularity of the epoch's order
    BLOCKS_PER_TASK = 8  # blocks a Ray Data task reads (its overhead shared)
    SHUFFLE_ROWS = 8192  # the trial's shuffle window
    PREFETCH = 2  # Ray Data blocks fetched ahead of the training step
    BUFFER_BYTES = 256 * 2**20  # Ray Data's read-ahead in the object store (64 MB: 0.66x the throughput)

    def __init__(self, data: StreamedData, device: torch.device, seed: int, batch_size: int,
                 eval_batch_size: int) -> None:  # fmt: skip
        import ray

        if not ray.is_initialized():  # `nagexp train --data-mode stream` outside a sweep
            ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        self.data, self.device, self.seed = data, device, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.steps_per_epoch = data.train_size // batch_size
        self.prepared = open_prepared(Path(data.folder))

    def _blocks(self, part: str) -> list[dict[str, int]]:
        blocks, start = [], 0
        for index, shard in enumerate(self.prepared.shards(part)):
            for lo in range(0, shard.rows, self.BLOCK_ROWS):
                blocks.append({"shard": index, "start": start, "lo": lo, "hi": min(lo + self.BLOCK_ROWS, shard.rows),
                               "block": len(blocks)})  # fmt: skip
            start += shard.rows
        return blocks

    def _dataset(self, split: str, epoch: int, shuffle: bool) -> Any:
        import ray.data

        logging.getLogger("ray.data").setLevel(logging.ERROR)  # a line per epoch (and per setting) is noise here
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # the seeded order is the order trials see
        ctx.enable_progress_bars = False
        # bounded read-ahead: the blocks in flight, not the dataset, decide the memory used
        limits = {"object_store_memory": self.BUFFER_BYTES}
        group = ray.util.get_current_placement_group()
        if group is not None:
            # In a Tune trial: read tasks run in the bundle the trial reserved for them (Ray
            # Data's default SPREAD would ask the cluster for CPUs the trials hold: a deadlock).
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            ctx.scheduling_strategy = ctx.scheduling_strategy_large_args = PlacementGroupSchedulingStrategy(group)
            limits["cpu"] = DATA_CPUS
        ctx.execution_options.resource_limits = ray.data.ExecutionResources(**limits)
        part = self.data.part_of(split)
        blocks = self._blocks(part)
        if shuffle:
            blocks = [blocks[i] for i in np.random.default_rng([self.seed, epoch]).permutation(len(blocks))]
        where = {"folder": self.data.folder, "split_folder": self.data.split_folder, "part": part, "split": split}
        order_by = {"seed": self.seed, "epoch": epoch, "shuffle": shuffle}
        tasks = max(1, -(-len(blocks) // self.BLOCKS_PER_TASK))
        dataset = ray.data.from_items(blocks, override_num_blocks=tasks)
        return dataset.map_batches(_read_blocks, batch_size=1, fn_kwargs={**where, **order_by})

    def _arrays(self, split: str, epoch: int, shuffle: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for block in self._dataset(split, epoch, shuffle).iter_batches(
            batch_size=None, batch_format="numpy", prefetch_batches=self.PREFETCH
        ):
            if len(block["y"]):
                yield block["x"], block["y"]

    def _to_device(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        if self.device.type == "cuda":
            xt, yt = xt.pin_memory(), yt.pin_memory()
        return self.data.normalize(xt.to(self.device, non_blocking=True)), yt.to(self.device, non_blocking=True)

    def train_epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng([self.seed, epoch, 1])
        bs, xs, ys, held = self.batch_size, [], [], 0
        emitted = 0
        for x, y in self._arrays("train", epoch, shuffle=True):
            xs.append(x)
            ys.append(y)
            held += len(y)
            if held < self.SHUFFLE_ROWS:
                continue
            x_all, y_all = np.concatenate(xs), np.concatenate(ys)
            order = rng.permutation(held)
            full = held // bs * bs
            for i in range(0, full, bs):
                yield self._to_device(x_all[order[i : i + bs]], y_all[order[i : i + bs]])
                emitted += 1
            xs, ys, held = [x_all[order[full:]]], [y_all[order[full:]]], held - full
        if held:
            x_all, y_all = np.concatenate(xs), np.concatenate(ys)
            order = rng.permutation(held)
            for i in range(0, held - bs + 1, bs):
                if emitted == self.steps_per_epoch:
                    break
                yield self._to_device(x_all[order[i : i + bs]], y_all[order[i : i + bs]])
                emitted += 1

    def eval_batches(self, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        bs, xs, ys, held = self.eval_batch_size, [], [], 0
        for x, y in self._arrays(split, 0, shuffle=False):
            xs.append(x)
            ys.append(y)
            held += len(y)
            if held >= bs:
                x_all, y_all = np.concatenate(xs), np.concatenate(ys)
                full = held // bs * bs
                for i in range(0, full, bs):
                    yield self._to_device(x_all[i : i + bs], y_all[i : i + bs])
                xs, ys, held = [x_all[full:]], [y_all[full:]], held - full
        if held:
            yield self._to_device(np.concatenate(xs), np.concatenate(ys))
