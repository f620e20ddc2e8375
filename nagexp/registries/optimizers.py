"""The optimizers under comparison, by name: all torch.optim.SGD on one code path
(`nagexp.training.optim.build_optimizer`)."""

from __future__ import annotations

__all__ = ["OPTIMIZERS", "OPTIMIZER_NAMES"]

# name -> what it is
OPTIMIZERS: dict[str, str] = {
    "nag": "Nesterov: SGD(nesterov=True)",
    "momentum": "heavy-ball SGD",
    "sgd": "plain SGD (momentum 0)",
}
OPTIMIZER_NAMES: tuple[str, ...] = tuple(OPTIMIZERS)
