"""The Ray Tune trainable: a trial's config dict -> TrainConfig -> trainer.train().

Runs in Ray worker processes. It only reports to Tune (metrics + a checkpoint per epoch);
the driver is the single writer of every store.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.space.define_by_run import TRIAL_NUMBER_KEY
from nagexp.train.data import DataBundle
from nagexp.train.trainer import TrainCheckpoint, load_checkpoint, train

__all__ = ["CHECKPOINT_FILE", "run_trial", "train_config_of"]

CHECKPOINT_FILE = "state.pt"


def train_config_of(config: dict[str, Any]) -> TrainConfig:
    """The TrainConfig inside a trial's config (which also carries the trial number)."""
    return TrainConfig(**{k: v for k, v in config.items() if k != TRIAL_NUMBER_KEY})


def run_trial(config: dict[str, Any], data: DataBundle, settled: frozenset[int] = frozenset()) -> None:
    """Train one trial. `settled`: trial numbers that finished before the sweep was resumed,
    which Tune's older snapshot may still list as running; they end at once."""
    import ray
    from ray import tune

    if config[TRIAL_NUMBER_KEY] in settled:
        return
    cfg = train_config_of(config)
    node_id = ray.get_runtime_context().get_node_id()
    pid = os.getpid()
    resume = None
    if (previous := tune.get_checkpoint()) is not None:  # a retried or restored trial
        with previous.as_directory() as folder:
            resume = load_checkpoint(Path(folder) / CHECKPOINT_FILE)

    def report(metrics: dict[str, float], checkpoint: TrainCheckpoint) -> None:
        reason = checkpoint.state().get("diverged_reason")
        extra = {
            "epochs_total": cfg.epochs,
            "diverged": reason is not None,
            "diverged_reason": reason or "",
            "node_id": node_id,
            "pid": pid,
            TRIAL_NUMBER_KEY: config[TRIAL_NUMBER_KEY],
        }
        with tempfile.TemporaryDirectory() as folder:
            checkpoint.save(Path(folder) / CHECKPOINT_FILE)
            tune.report({**metrics, **extra}, checkpoint=tune.Checkpoint.from_directory(folder))

    train(cfg, data, report, resume=resume)
