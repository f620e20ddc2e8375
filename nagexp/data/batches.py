"""The data seams of the trainer: what a run's data is (`TrainData`: a DataBundle in memory
mode, a StreamedData in stream mode), the batch source it hands the trainer (`BatchSource`),
seeded batch order, and which rows of a global batch a data-parallel process takes (`RankRows`:
a source of whole batches seen by one process of K yields that process's rows, so the training
loop never asks which rows are its own).

Each epoch's randomness comes from its own generator seeded by (seed, epoch), so a run
resumed at epoch k draws exactly what an uninterrupted run draws (no RNG state to carry).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol

import torch

from nagexp.data.report import DataReport

__all__ = ["BatchSource", "DataMode", "RankRows", "TrainData", "epoch_generator", "epoch_permutation", "part_of",
           "rank_rows"]  # fmt: skip

DataMode = Literal["memory", "stream"]


def part_of(n: int, rank: int, world_size: int) -> slice:
    """Rank `rank`'s rows of a global batch of `n`: contiguous, sizes differing by at most one,
    so any global batch size splits (the loss is scaled to the global batch, see trainer)."""
    return slice(n * rank // world_size, n * (rank + 1) // world_size)


class BatchSource(Protocol):
    """What the trainer asks its data for: normalized batches on the trial's device. Memory
    mode slices tensors held on the device; stream mode reads prepared shards through Ray Data."""

    steps_per_epoch: int  # full training batches per epoch (the partial last one is dropped)
    # a data-parallel process's rows of every global training batch (`part_of`), which is all it
    # yields (augmentation draws for the whole batch and keeps these rows); None: whole batches
    rows: slice | None

    def train_epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This epoch's training batches, in a seeded order (the same for the same seed and epoch)."""
        ...

    def eval_batches(self, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """`val` or `test`, in order."""
        ...


class TrainData(Protocol):
    """A run's data as the trainer, the driver's checks and the trackers see it."""

    mode: DataMode  # memory: tensors on the device; stream: batches from prepared shards (the one place this is said)
    report: DataReport
    fingerprint: str
    num_classes: int
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]: ...

    @property
    def train_size(self) -> int: ...

    def example_batch(self, n: int) -> torch.Tensor:
        """The first `n` normalized validation images, on the CPU (model checks, signatures)."""
        ...

    def batches(self, seed: int, batch_size: int, eval_batch_size: int, device: torch.device, rank: int = 0,
                world_size: int = 1) -> BatchSource:  # fmt: skip
        """This process's batch source for a run with this seed and batch sizes."""
        ...


class RankRows:
    """A source of whole batches as process `rank` of `world_size` sees it: its rows of every
    training batch (`part_of` the global batch) and of every evaluation batch."""

    def __init__(self, source: BatchSource, rank: int, world_size: int, batch_size: int) -> None:
        self.source, self.rank, self.world_size = source, rank, world_size
        self.steps_per_epoch = source.steps_per_epoch
        self.rows: slice | None = part_of(batch_size, rank, world_size)

    def train_epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for xb, yb in self.source.train_epoch(epoch):
            yield xb[self.rows], yb[self.rows]

    def eval_batches(self, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for xb, yb in self.source.eval_batches(split):  # the last one may be short: split it too
            rows = part_of(len(yb), self.rank, self.world_size)
            if rows.stop > rows.start:
                yield xb[rows], yb[rows]


def rank_rows(source: BatchSource, rank: int, world_size: int, batch_size: int) -> BatchSource:
    """`source` as process `rank` of `world_size` sees it: as it is when it already yields that
    process's rows (or there is one process), else its rows of every batch (`RankRows`).
    `batch_size`: the global training batch."""
    if world_size == 1 or source.rows is not None:
        return source
    return RankRows(source, rank, world_size, batch_size)


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return gen


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    # Drawn on the CPU so the order is the same on every device, then moved.
    return torch.randperm(n, generator=epoch_generator(seed, epoch, torch.device("cpu"))).to(device)
