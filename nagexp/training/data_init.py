"""Data-dependent initialization: a model that declares `init_from_data(images)` (fastnet's
whitening stem, or a model of the user's) is given training images before its first step; one
that declares `frozen_parameters(epoch)` names parameters that take no step in an epoch."""

from __future__ import annotations

import torch

from nagexp.core.errors import ConfigError
from nagexp.data.batches import BatchSource

__all__ = ["FROZEN_METHOD", "INIT_METHOD", "frozen_parameters", "initialize_from_data"]

INIT_METHOD = "init_from_data"
FROZEN_METHOD = "frozen_parameters"


def initialize_from_data(model: torch.nn.Module, source: BatchSource, images: int, model_name: str) -> None:
    """Call `model.init_from_data(x)` with the first `images` training images of epoch 0 (in the
    seeded order, so a rerun initializes alike); ConfigError when the model has no such method."""
    init = getattr(model, INIT_METHOD, None)
    if not callable(init):
        raise ConfigError(f"data_init: model '{model_name}' has no method {INIT_METHOD}(images); "
                          "set data_init false, or give your model that method")  # fmt: skip
    taken, seen = [], 0
    for xb, _ in source.train_epoch(0):
        taken.append(xb[: images - seen])
        seen += len(taken[-1])
        if seen >= images:
            break
    init(torch.cat(taken))


def frozen_parameters(model: torch.nn.Module, epoch: int) -> list[torch.nn.Parameter]:
    """The parameters `model.frozen_parameters(epoch)` names (none when it has no such method).
    The trainer drops their gradients after each backward pass (after data-parallel workers
    averaged them), so the optimizer skips them: a run resumed from a checkpoint, whose
    parameters all require gradients again, steps exactly as the uninterrupted one."""
    frozen = getattr(model, FROZEN_METHOD, None)
    return list(frozen(epoch)) if callable(frozen) else []
