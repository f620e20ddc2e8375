"""Stream mode in the trial: batches read from the prepared shards through Ray Data in a
seeded order, normalized on the trial's device (see `StreamBatches`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import torch

from nagexp.data.batches import part_of
from nagexp.data.prepared.location import Location
from nagexp.data.prepared.store import Prepared, open_prepared

__all__ = ["DATA_CPUS", "StreamBatches", "StreamedSplits"]

DATA_CPUS = 1  # a streaming trial's reservation for its Ray Data tasks, beside its own CPUs


class StreamedSplits(Protocol):
    """What the batches read (a `nagexp.data.prepared.stream.StreamedData`)."""

    folder: str  # the prepared dataset
    split_folder: str  # its row files for the run's split settings
    data_group: str  # data-parallel workers: the placement group (hex) their Ray Data tasks run in

    @property
    def input_shape(self) -> tuple[int, int, int]: ...

    @property
    def train_size(self) -> int: ...

    def part_of(self, split: str) -> str: ...

    def rows(self, split: str) -> np.ndarray: ...

    def normalize(self, x: torch.Tensor) -> torch.Tensor: ...


def _read_blocks(batch: dict[str, np.ndarray], folder: str, split_folder: str, part: str, split: str,
                 seed: int, epoch: int, shuffle: bool) -> dict[str, np.ndarray]:  # fmt: skip
    """A Ray Data task: the rows of `split` in one block (a run of BLOCK_ROWS rows of a
    shard), permuted by (seed, epoch, block) when shuffling."""
    prepared = _OPENED.get(folder) or _OPENED.setdefault(folder, open_prepared(folder))
    shard_index, lo, hi, block = (int(batch[k][0]) for k in ("shard", "lo", "hi", "block"))
    shard = prepared.shards(part)[shard_index]
    start = int(batch["start"][0])  # the shard's first row in the part
    rows = _small_file(Location(split_folder), f"{split}.npy")
    first, last = np.searchsorted(rows, [start + lo, start + hi])
    local = np.asarray(rows[first:last]) - start
    if shuffle:
        local = np.random.default_rng([seed, epoch, block]).permutation(local)
    pixels = prepared.shard_rows(shard, local)  # only the picked rows are read (and decoded, if encoded)
    labels = _small_file(prepared.folder, f"{part}-labels.npy")
    return {"x": np.ascontiguousarray(pixels), "y": np.asarray(labels[start + local], dtype=np.int64)}


_OPENED: dict[str, Prepared] = {}  # per Ray worker: manifests already checked
_SMALL: dict[tuple[str, str], np.ndarray] = {}  # per Ray worker: a remote cache's row and label files


def _small_file(folder: Location, name: str) -> np.ndarray:
    """A split's rows or a part's labels (8 bytes a sample): mapped when local; a remote
    one is fetched once per worker, not once per read task."""
    if folder.local is not None:
        return folder.load_npy(name, mmap=True)
    key = (str(folder), name)
    if key not in _SMALL:
        if len(_SMALL) >= 8:  # a worker serves one sweep's few splits at a time
            _SMALL.clear()
        _SMALL[key] = folder.load_npy(name)
    return _SMALL[key]


class StreamBatches:
    """Batches streamed from the shards through Ray Data, normalized on the device.

    The unit of order is a block of BLOCK_ROWS consecutive rows of a shard: each epoch the
    blocks come in a seeded permutation, their rows permuted too, and the trial mixes them
    again in windows of SHUFFLE_ROWS rows (a seeded shuffle buffer) before cutting batches.
    Shards are written in the source's order, which may be sorted by class (image folders
    are): block order and windows give every batch a mix of the whole dataset, with memory
    bounded by the window, not by the dataset.

    A data-parallel worker (`rank` of `world_size`) reads only its own blocks (block b is
    worker b mod K's, every epoch, in that worker's seeded order): the data is split across
    the workers, not read K times. Each yields its part of every global batch
    (`rows`), the same number of steps in every worker."""

    BLOCK_ROWS = 256  # rows a read picks from a shard: the granularity of the epoch's order
    # pixels a Ray Data task reads: its overhead shared over many rows, yet one task's output
    # well inside the read-ahead (a count of blocks would be 300 MB at 224 px, 6 MB at 32 px;
    # CIFAR-10 epoch here: 1.1 s at 6 MB a task, 0.8 s at 24 MB)
    TASK_BYTES = 24 * 2**20
    SHUFFLE_ROWS = 8192  # the trial's shuffle window
    PREFETCH = 2  # Ray Data blocks fetched ahead of the training step
    BUFFER_BYTES = 256 * 2**20  # Ray Data's read-ahead in the object store (64 MB: 0.66x the throughput)

    def __init__(self, data: StreamedSplits, device: torch.device, seed: int, batch_size: int,
                 eval_batch_size: int, rank: int = 0, world_size: int = 1) -> None:  # fmt: skip
        import ray

        if not ray.is_initialized():  # the caller of a stream-mode run starts Ray (see nagexp.runtime.ray_session)
            raise RuntimeError("stream mode reads its batches through Ray Data: start Ray first")
        self.data, self.device, self.seed = data, device, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.rank, self.world_size = rank, world_size
        # a worker's rows of every global batch: what it yields (read from its own blocks)
        self.rows = part_of(batch_size, rank, world_size) if world_size > 1 else None
        self.prepared = open_prepared(data.folder)
        self.steps_per_epoch = data.train_size // batch_size
        if self.rows is not None:  # every worker stops after the steps the one with fewest rows can make
            blocks = self._blocks(data.part_of("train"))
            rows = self._rows_per_block(blocks, "train")
            self.batch_size = len(range(batch_size)[self.rows])
            self.steps_per_epoch = min(self.steps_per_epoch, *(
                int(rows[r::world_size].sum()) // len(range(batch_size)[part_of(batch_size, r, world_size)])
                for r in range(world_size)))  # fmt: skip
            if self.steps_per_epoch == 0:
                raise ValueError(f"{world_size} workers: a worker's share of the {data.train_size} training rows "
                                 f"is less than its part of a batch of {batch_size}; use fewer workers")  # fmt: skip

    def _blocks(self, part: str) -> list[dict[str, int]]:
        shards = self.prepared.shards(part)
        size = self.BLOCK_ROWS
        if self.world_size > 1:  # at least 8 blocks per worker, so a small dataset splits evenly too
            size = max(1, min(size, sum(s.rows for s in shards) // (8 * self.world_size)))
        blocks, start = [], 0
        for index, shard in enumerate(shards):
            for lo in range(0, shard.rows, size):
                blocks.append({"shard": index, "start": start, "lo": lo, "hi": min(lo + size, shard.rows),
                               "block": len(blocks)})  # fmt: skip
            start += shard.rows
        return blocks

    def _rows_per_block(self, blocks: list[dict[str, int]], split: str) -> np.ndarray:
        rows = self.data.rows(split)
        starts = [b["start"] + b["lo"] for b in blocks]
        ends = [b["start"] + b["hi"] for b in blocks]
        return np.searchsorted(rows, ends) - np.searchsorted(rows, starts)

    def _dataset(self, split: str, epoch: int, shuffle: bool) -> Any:
        import ray.data

        from nagexp.integrations.ray_data import dataset_settings

        # bounded read-ahead: the blocks in flight, not the dataset, decide the memory used
        limits: dict[str, float] = {"object_store_memory": self.BUFFER_BYTES}
        group = ray.util.get_current_placement_group()
        if self.data.data_group:  # a data-parallel worker: its trial reserved the CPUs for data tasks
            from nagexp.integrations.ray_placement import placement_group_of

            group = placement_group_of(self.data.data_group)
        strategy = None
        if group is not None:
            # In a Tune trial: read tasks run in the bundle the trial reserved for them (Ray
            # Data's default SPREAD would ask the cluster for CPUs the trials hold: a deadlock).
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            strategy = PlacementGroupSchedulingStrategy(group)
            limits["cpu"] = DATA_CPUS
        part = self.data.part_of(split)
        blocks = self._blocks(part)[self.rank :: self.world_size]  # this worker's blocks
        if shuffle:
            blocks = [blocks[i] for i in np.random.default_rng([self.seed, epoch]).permutation(len(blocks))]
        where = {"folder": self.data.folder, "split_folder": self.data.split_folder, "part": part, "split": split}
        order_by = {"seed": self.seed, "epoch": epoch, "shuffle": shuffle}
        blocks_per_task = max(1, self.TASK_BYTES // (self.BLOCK_ROWS * int(np.prod(self.data.input_shape))))
        tasks = max(1, -(-len(blocks) // blocks_per_task))
        # the seeded order is the order trials see (order preserved)
        with dataset_settings(preserve_order=True, scheduling_strategy=strategy, resource_limits=limits):
            dataset = ray.data.from_items(blocks, override_num_blocks=tasks)
            return dataset.map_batches(_read_blocks, batch_size=1, fn_kwargs={**where, **order_by})

    def _arrays(self, split: str, epoch: int, shuffle: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        from nagexp.integrations.ray_data import quiet_ray_data

        with quiet_ray_data():  # a line per epoch (and per setting) is noise here
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
                if emitted == self.steps_per_epoch:
                    return
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
