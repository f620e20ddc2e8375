"""The Ray Tune trainable: a trial's config dict -> TrainConfig -> trainer.train().

Runs in Ray worker processes. It only reports to Tune (metrics + a checkpoint per epoch);
the driver is the single writer of every store.

A trial that fails in its own code (an invalid sampled config, a model that raises)
reports the error as its last result and ends: Tune retries only trials whose *worker*
died, which a rerun of the same code cannot fix otherwise.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.space.sampling import TRIAL_NUMBER_KEY
from nagexp.training.data import DataBundle
from nagexp.training.trainer import TrainCheckpoint, load_checkpoint, train

__all__ = ["CHECKPOINT_FILE", "TRIAL_ERROR_KEY", "error_line", "run_trial", "train_config_of"]

CHECKPOINT_FILE = "state.pt"
TRIAL_ERROR_KEY = "trial_error"  # in a trial's last result when its own code raised


def train_config_of(config: dict[str, Any]) -> TrainConfig:
    """The TrainConfig inside a trial's config (which also carries the trial number)."""
    return TrainConfig(**{k: v for k, v in config.items() if k != TRIAL_NUMBER_KEY})


def error_line(exc: BaseException) -> str:
    """One line naming what a trial raised."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from nagexp.config.loading import describe_validation_error

        return f"invalid trial config: {describe_validation_error(exc, TrainConfig)}"[:500]
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:500]


_ON_DEVICE: dict[tuple[str, str], DataBundle] = {}  # this worker's copy of the sweep's data


def _data_on(device: str, data_ref: Any) -> DataBundle:
    """The sweep's data on `device`, fetched from the object store and moved once per worker
    (Tune reuses a worker for the next trials): on a GPU, each trial would otherwise copy the
    whole dataset from host memory again."""
    import ray

    from nagexp.training.optim import resolve_device

    key = (data_ref.hex(), str(resolve_device(device)))
    if key not in _ON_DEVICE:
        _ON_DEVICE.clear()  # one dataset at a time: a new sweep's data replaces the last one's
        _ON_DEVICE[key] = ray.get(data_ref).to(key[1])
    return _ON_DEVICE[key]


def run_trial(config: dict[str, Any], data_ref: list[Any], settled: frozenset[int] = frozenset(),
              code_dir: str | None = None) -> None:  # fmt: skip
    """Train one trial. `data_ref`: [the object ref of the sweep's DataBundle]. `settled`: trial
    numbers that finished before the sweep was resumed, which Tune's older snapshot may still
    list as running; they end at once. `code_dir`: the user's code folder, importable here
    when Ray's runtime environment did not bring it."""
    from ray import tune

    number = config[TRIAL_NUMBER_KEY]
    if number in settled:
        return
    try:
        if code_dir is not None:
            from nagexp.user_code import make_importable

            make_importable(code_dir)
        _train_trial(config, data_ref[0])
    except Exception as exc:
        if type(exc).__module__.startswith("ray"):
            raise  # Tune's own control flow and Ray's failures: Tune handles them
        tune.report({TRIAL_ERROR_KEY: error_line(exc), TRIAL_NUMBER_KEY: number})


def _train_trial(config: dict[str, Any], data_ref: Any) -> None:
    import ray
    from ray import tune

    cfg = train_config_of(config)
    data = _data_on(cfg.device, data_ref)
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
