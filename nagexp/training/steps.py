"""One optimizer step of the built-in trainer, as the epoch loop and the cooldown probe take it
(training/probe.py): this process's rows of a global batch augmented; the scheduled values
written into the param groups; forward, backward, step. One owner, so a probe's branch trains
exactly as the run would."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from nagexp.training.augment import augment_batch
from nagexp.training.optim import GROUP_LR_SCALE, GROUP_WEIGHT_DECAY_SCALE

if TYPE_CHECKING:
    from nagexp.config.train import TrainConfig
    from nagexp.training.run_setup import Run

__all__ = ["optimizer_step", "set_hyperparameters", "training_input"]


def training_input(run: Run, cfg: TrainConfig, xb: torch.Tensor, gen: torch.Generator | None,
                   epoch: int) -> torch.Tensor:  # fmt: skip
    """A training batch (this process's rows of it) as the model takes it: augmented from `gen`
    (None: no augmentation) with the draws the whole global batch gets, so K processes train
    what one does. `epoch`: the epoch the batch is of (alternating flips depend on it)."""
    rows = run.source.rows
    if gen is not None:
        xb = augment_batch(xb, gen, cfg.augment_pad, rows=rows, total=run.batch_size if rows is not None else None,
                           pad_mode=cfg.augment_pad_mode,  # alternate flips: seeded apart from the draws
                           alternate=(epoch, cfg.seed + 2) if cfg.augment_flip == "alternate" else None)  # fmt: skip
    return xb.contiguous(memory_format=run.memory_format)


def set_hyperparameters(opt: torch.optim.Optimizer, lr: float, momentum: float, weight_decay: float | None) -> None:
    """The scheduled values of one step, x each param group's scales (`weight_decay` None: the
    groups keep theirs)."""
    for g in opt.param_groups:
        g["lr"] = lr * g.get(GROUP_LR_SCALE, 1.0)
        g["momentum"] = momentum
        if weight_decay is not None:
            g["weight_decay"] = weight_decay * g.get(GROUP_WEIGHT_DECAY_SCALE, 1.0)


def optimizer_step(run: Run, cfg: TrainConfig, xb: torch.Tensor, yb: torch.Tensor,
                   frozen: list[torch.nn.Parameter]) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Forward, backward and step on this process's part of a batch; (its share of the global
    batch's mean loss, the logits), both detached. `frozen`: parameters that take no step."""
    dist = run.dist
    with run.autocast():
        out = run.trained(xb)
        if dist.world_size > 1:
            # this part's loss scaled so that DDP's average of the K gradients is the
            # gradient of the global batch's mean loss, however the batch was split
            loss = F.cross_entropy(out, yb, reduction="sum", label_smoothing=cfg.label_smoothing) * (
                dist.world_size / run.batch_size
            )
        else:
            loss = F.cross_entropy(out, yb, label_smoothing=cfg.label_smoothing)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    for p in frozen:
        p.grad = None
    run.opt.step()
    return loss.detach() / dist.world_size, out.detach()  # summed over processes: the global batch's mean
