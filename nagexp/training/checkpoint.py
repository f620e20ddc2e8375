"""A training run's state after an epoch: what `report` receives, and how it is loaded back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FILE", "CHECKPOINT_FORMAT", "TrainCheckpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = 1
CHECKPOINT_FILE = "state.pt"  # the file a checkpoint folder (Tune's or Ray Train's) holds


class TrainCheckpoint:
    """The state after an epoch. Save it inside the `report` call: it references live tensors."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    @property
    def epoch(self) -> int:
        return int(self._state["epoch"])

    def state(self) -> dict[str, Any]:
        return self._state

    def save(self, path: str | Path) -> None:
        torch.save(self._state, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint saved by TrainCheckpoint.save, loaded safely (weights_only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
