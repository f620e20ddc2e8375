"""A training run's state after an epoch: one typed definition (`CheckpointState`), one
builder (`checkpoint_state`), one reader (`load_checkpoint`, which says in one line what is
wrong with a damaged file). The trainer writes it; a retried or restored trial, a data-parallel
worker group, the driver's logged model, `nagexp reproduce` and `nagexp compare` read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, TypedDict

import torch

from nagexp.core.errors import DataError, first_line

__all__ = ["CHECKPOINT_FILE", "CHECKPOINT_FORMAT", "CheckpointState", "LineageEntry", "TrainCheckpoint",
           "checkpoint_state", "load_checkpoint"]  # fmt: skip

CHECKPOINT_FORMAT = 1
CHECKPOINT_FILE = "state.pt"  # the file a checkpoint folder (Tune's or Ray Train's) holds


class LineageEntry(TypedDict):
    epoch: int  # the epoch from which `label` trained these weights
    label: int | None  # who: a sweep's trial number (None outside a sweep)
    config: NotRequired[dict[str, Any]]  # with which TrainConfig values (checkpoints before it lack it)


class CheckpointState(TypedDict):
    format: int
    epoch: int  # epochs trained
    model: dict[str, torch.Tensor]  # the plain model's state_dict
    optimizer: dict[str, Any]  # the SGD state: the velocity (lr and momentum are set every step)
    torch_rng: torch.Tensor  # torch's CPU generator after the epoch
    history: list[dict[str, float]]  # every epoch's metrics so far
    initial_loss: float | None  # the first step's loss (the divergence guard's reference)
    diverged_reason: str | None
    schedule: dict[str, list[float]]  # lr (as scheduled), momentum, weight_decay: a value per step trained
    lineage: list[LineageEntry]


def checkpoint_state(*, epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     history: list[dict[str, float]], initial_loss: float | None, diverged_reason: str | None,
                     schedule: dict[str, list[float]], lineage: list[LineageEntry]) -> CheckpointState:  # fmt: skip
    """The state after `epoch` (it references live tensors: save it before training goes on)."""
    return CheckpointState(format=CHECKPOINT_FORMAT, epoch=epoch, model=model.state_dict(),
                           optimizer=optimizer.state_dict(), torch_rng=torch.get_rng_state(), history=history,
                           initial_loss=initial_loss, diverged_reason=diverged_reason, schedule=schedule,
                           lineage=lineage)  # fmt: skip


class TrainCheckpoint:
    """The state after an epoch, as `report` receives it. Save it inside the `report` call."""

    def __init__(self, state: CheckpointState) -> None:
        self._state = state

    @property
    def epoch(self) -> int:
        return int(self._state["epoch"])

    def state(self) -> CheckpointState:
        return self._state

    def save(self, path: str | Path) -> None:
        torch.save(self._state, path)


# what every checkpoint of this format holds (`schedule` and `lineage` came later: read as absent)
_REQUIRED = ("format", "epoch", "model", "optimizer", "torch_rng", "history")


def load_checkpoint(path: str | Path) -> CheckpointState:
    """A checkpoint saved by TrainCheckpoint.save, loaded safely (weights_only); DataError
    naming the file when it is missing, cut short or not a checkpoint of this format."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"checkpoint '{path}' is missing") from None
    except Exception as exc:  # torch raises RuntimeError, pickle and zip errors for a damaged file
        raise DataError(f"checkpoint '{path}' cannot be read ({first_line(exc, 200)}); it is damaged") from None
    missing = [k for k in _REQUIRED if not isinstance(state, dict) or k not in state]
    if missing or state.get("format") != CHECKPOINT_FORMAT:
        found = f"format {state.get('format')}" if isinstance(state, dict) else type(state).__name__
        raise DataError(f"checkpoint '{path}' is not a nagexp checkpoint of format {CHECKPOINT_FORMAT} ({found}"
                        + (f"; missing {', '.join(missing)}" if missing else "") + ")")  # fmt: skip
    return state
