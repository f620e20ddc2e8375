"""The optimizers under comparison, by name: torch.optim.SGD for three of them, on one code
path, and schedule-free SGD, the challenger to a tuned schedule
(`nagexp.training.optim.build_optimizer`)."""

from __future__ import annotations

__all__ = ["COMPARED_BY_DEFAULT", "OPTIMIZERS", "OPTIMIZER_NAMES", "SCHEDULE_FREE"]

# name -> what it is
OPTIMIZERS: dict[str, str] = {
    "nag": "Nesterov: SGD(nesterov=True)",
    "momentum": "heavy-ball SGD",
    "sgd": "plain SGD (momentum 0)",
    "sgd_schedulefree": "schedule-free SGD (schedulefree.SGDScheduleFree): constant lr and momentum, "
                        "warmup over warmup_fraction",
}
OPTIMIZER_NAMES: tuple[str, ...] = tuple(OPTIMIZERS)
SCHEDULE_FREE = frozenset({"sgd_schedulefree"})  # no lr or momentum schedule: constant ones only
COMPARED_BY_DEFAULT: tuple[str, ...] = ("nag", "momentum", "sgd")  # `nagexp compare` without --optimizers
