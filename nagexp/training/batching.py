"""The batch-source seam of the trainer, the memory-mode source, seeded batch order and
batched on-device augmentation.

Each epoch's randomness comes from its own generator seeded by (seed, epoch), so a run
resumed at epoch k draws exactly what an uninterrupted run draws (no RNG state to carry).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from nagexp.training.data import DataBundle

__all__ = ["BatchSource", "MemoryBatches", "augment_batch", "epoch_generator", "epoch_permutation"]


class BatchSource(Protocol):
    """What the trainer asks its data for: normalized batches on the trial's device. Memory
    mode slices tensors held on the device; stream mode reads prepared shards through Ray Data."""

    steps_per_epoch: int  # full training batches per epoch (the partial last one is dropped)
    # True: a data-parallel worker's source that already yields only this worker's part of
    # each batch (stream mode); False: whole batches, the worker takes its part
    yields_parts: bool

    def train_epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This epoch's training batches, in a seeded order (the same for the same seed and epoch)."""
        ...

    def eval_batches(self, split: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """`val` or `test`, in order."""
        ...


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return gen


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    # Drawn on the CPU so the order is the same on every device, then moved.
    return torch.randperm(n, generator=epoch_generator(seed, epoch, torch.device("cpu"))).to(device)


def augment_batch(x: torch.Tensor, gen: torch.Generator, pad: int = 4, rows: slice | None = None,
                  total: int | None = None) -> torch.Tensor:  # fmt: skip
    """Random crop after zero padding by `pad` pixels, and a random horizontal flip.

    `rows`: a data-parallel worker's part of a global batch of `total` rows (default: x's
    rows, of which only `rows` are augmented; else `x` is that part already), augmented with
    the draws the whole batch would get, as one process would."""
    n = total or x.shape[0]
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(x.device)
    if rows is not None:
        dy, dx, flip = dy[rows], dx[rows], flip[rows]
        if total is None:
            x = x[rows]
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows_at = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # n,1,h,1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # n,1,1,w
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    cropped = padded[batch, chans, rows_at, cols]
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


class MemoryBatches:
    """Batches of a DataBundle held on the trial's device (memory mode): each epoch a seeded
    permutation, sliced; evaluation in order."""

    def __init__(self, data: DataBundle, device: torch.device, seed: int, batch_size: int,
                 eval_batch_size: int) -> None:  # fmt: skip
        self.data = data.to(device)
        self.device, self.seed = device, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.steps_per_epoch = len(self.data.y_train) // batch_size  # the partial last batch is dropped
        self.yields_parts = False

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
