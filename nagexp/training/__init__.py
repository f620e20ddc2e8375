"""Training: data pipeline, models, schedules and the Nesterov trainer.

Names are loaded on first use, so importing a torch-free module of this package (the
schedules, the dataset specs, the model registry) does not import torch.
"""

from __future__ import annotations

from nagexp.lazy import lazy_exports

_EXPORTS = {
    "DataBundle": "nagexp.training.data",
    "DataReport": "nagexp.training.data",
    "load_dataset": "nagexp.training.data",
    "load_dataset_for": "nagexp.training.data",
    "MODELS": "nagexp.training.model_registry",
    "build_model": "nagexp.training.model_registry",
    "LR_SCHEDULES": "nagexp.training.schedules",
    "MOMENTUM_SCHEDULES": "nagexp.training.schedules",
    "TrainCheckpoint": "nagexp.training.trainer",
    "TrainResult": "nagexp.training.trainer",
    "load_checkpoint": "nagexp.training.trainer",
    "train": "nagexp.training.trainer",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
