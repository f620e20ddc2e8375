"""Training: data pipeline, models, schedules and the Nesterov trainer (torch only)."""

from __future__ import annotations

from nagexp.train.data import DataBundle, DataReport, load_dataset, load_dataset_for
from nagexp.train.models import MODELS, build_model
from nagexp.train.schedules import LR_SCHEDULES, MOMENTUM_SCHEDULES
from nagexp.train.trainer import TrainCheckpoint, TrainResult, load_checkpoint, train

__all__ = [
    "LR_SCHEDULES",
    "MODELS",
    "MOMENTUM_SCHEDULES",
    "DataBundle",
    "DataReport",
    "TrainCheckpoint",
    "TrainResult",
    "build_model",
    "load_checkpoint",
    "load_dataset",
    "load_dataset_for",
    "train",
]
