"""`evaluate(run, split)`: the model's mean loss and accuracy on the val or test split, summed
across the processes of a data-parallel run (the epoch loop and the cooldown probe both ask it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from nagexp.training.test_time import augmented_logits

if TYPE_CHECKING:
    from nagexp.training.run_setup import Run

__all__ = ["evaluate"]


def evaluate(run: Run, split: str) -> tuple[float, float]:
    """(mean loss, accuracy) on `split` (val or test) in eval mode; each process on its rows."""
    run.model.eval()
    dist = run.dist
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    seen = torch.zeros((), device=run.device, dtype=torch.long)
    with torch.no_grad(), run.autocast():
        for xb, yb in run.source.eval_batches(split):
            out = augmented_logits(run.model, xb.contiguous(memory_format=run.memory_format), run.test_time_augment)
            loss_sum += F.cross_entropy(out.float(), yb, reduction="sum")
            correct += (out.argmax(1) == yb).sum()
            seen += len(yb)
    total = dist.sum(seen).item()
    return dist.sum(loss_sum).item() / total, dist.sum(correct).item() / total
