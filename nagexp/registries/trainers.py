"""Trainers by name or import path: one registry, the built-in Nesterov trainer registered by
import path, so a training function of the user's and the built-in take the same path.

A trainer of the user's is a function `run(config: dict, report) -> None` (see
docs/guide/own-trainer.md and `nagexp.training.own_trainer`); the built-in `nag` is
`nagexp.training.trainer:train`, which the sweep layer calls with the data it loaded. Nothing
is imported until a trainer is resolved, so configs can check names without torch.
"""

from __future__ import annotations

from typing import Any

from nagexp.core.imports import is_import_path, resolve_import_path

__all__ = ["BUILTIN_TRAINER", "TRAINERS", "check_trainer_name", "is_builtin_trainer", "trainer_function"]

BUILTIN_TRAINER = "nag"
# name -> import path of the trainer
TRAINERS: dict[str, str] = {
    BUILTIN_TRAINER: "nagexp.training.trainer:train",  # image classifiers with Nesterov SGD and schedules
}


def is_builtin_trainer(trainer: str) -> bool:
    return trainer in TRAINERS


def check_trainer_name(trainer: str) -> str:
    """`trainer` when it names a registered trainer or has the form `package.module:function`
    (whether that imports is checked before a sweep, see `own_trainer.check_trainer`)."""
    if trainer not in TRAINERS and not is_import_path(trainer):
        allowed = ", ".join(TRAINERS)
        raise ValueError(f"unknown trainer '{trainer}'; allowed: {allowed}, or your own as package.module:function")
    return trainer


def trainer_function(trainer: str) -> Any:
    """The function `trainer` names (ConfigError naming the import path when it does not import)."""
    return resolve_import_path(TRAINERS.get(check_trainer_name(trainer), trainer), "trainer")
