"""The distributed seam of the trainer: which process of how many this is (its batch source
yields its rows of every batch: see `nagexp.data.batches.rank_rows`), how its model is wrapped,
how metrics are summed across processes, who writes.

`SingleProcess` is the trivial one (`nagexp train`, a K=1 trial). `TorchProcessGroup` runs
inside a data-parallel worker whose `torch.distributed` process group someone else (Ray
Train) has started; it knows nothing of Ray.
"""

from __future__ import annotations

from typing import Protocol

import torch

__all__ = ["Distributed", "SingleProcess", "TorchProcessGroup"]


class Distributed(Protocol):
    rank: int
    world_size: int
    device: torch.device | None  # this process's device (None: the config's `device` decides)

    @property
    def is_main(self) -> bool:
        """The one process that writes checkpoints and files."""
        ...

    def wrap(self, model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
        """(the module to train, with gradients averaged across processes in backward; the
        plain module it trains, to evaluate and save)."""
        ...

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """`values` summed over every process (every process calls it, in the same order)."""
        ...

    def share_buffers(self, model: torch.nn.Module) -> None:
        """Give every process rank 0's buffers (BatchNorm statistics, which each process
        updates from its own part of a batch): all evaluate, save and resume the same model."""
        ...


class SingleProcess:
    """One process: its part is the whole batch, nothing to wrap or sum."""

    rank, world_size = 0, 1
    device = None

    @property
    def is_main(self) -> bool:
        return True

    def wrap(self, model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
        return model, model

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        return values

    def share_buffers(self, model: torch.nn.Module) -> None:
        pass


class TorchProcessGroup:
    """A process of an initialized `torch.distributed` group (gloo on CPUs, NCCL on GPUs).

    `sync_batchnorm`: BatchNorm layers share batch statistics across processes, so K
    processes compute what one computes on the global batch (slower: one all-reduce per layer).
    """

    def __init__(self, device: torch.device, sync_batchnorm: bool = False) -> None:
        import torch.distributed as dist

        if not dist.is_initialized():
            raise RuntimeError("TorchProcessGroup needs an initialized torch.distributed process group")
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.device, self.sync_batchnorm = device, sync_batchnorm

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
        from torch.nn.parallel import DistributedDataParallel

        if self.sync_batchnorm:
            if self.device.type != "cuda":  # torch's SyncBatchNorm runs on GPUs only
                raise ValueError("sync_batchnorm needs GPU workers (torch's SyncBatchNorm has no CPU kernel)")
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids), model

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        summed = values.clone()
        dist.all_reduce(summed, op=dist.ReduceOp.SUM)
        return summed

    def share_buffers(self, model: torch.nn.Module) -> None:
        import torch.distributed as dist

        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
