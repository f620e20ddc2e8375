"""Start one data-parallel run: a Ray Train `TorchTrainer` of K workers (Train V2), from a
Tune trial (its reports reach Tune through `TuneReportCallback`) or from `nagexp train`.

A run has a fixed name under its storage folder, so a run started again under the same name
(a retried trial, a resumed sweep) goes on from its last checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nagexp.config.resources import WorkerResources
from nagexp.config.train import TrainConfig
from nagexp.results.rung_signals import RungSignal

__all__ = ["fit_data_parallel"]


def fit_data_parallel(
    cfg: TrainConfig,
    data_ref: Any,
    resources: WorkerResources,
    *,
    storage: Path,
    name: str,
    trial_number: int | None = None,
    code_dir: str | None = None,
    max_failures: int = 0,
    in_tune: bool = False,
    data_group: str = "",
    signal: RungSignal | None = None,
) -> Any:
    """Train `cfg` on K workers; returns Ray Train's Result (its checkpoint: the last epoch's).
    `trial_number`: the sweep trial it is (its reports say so), or None for `nagexp train`.

    `max_failures`: restarts of the worker group from the last checkpoint when a worker dies
    (0 in a sweep: the trial fails, and Tune's retry starts the run again by name, counted
    in the trial's retries). Raises Ray Train's TrainingFailedError when they run out.
    `data_group`: the placement group (hex) whose CPUs streaming workers' Ray Data tasks use.
    `signal`: the sweep's rung signal, which the workers report beside the metric.
    """
    import ray.train

    callbacks = []
    if in_tune:
        from ray.tune.integration.ray_train import TuneReportCallback

        callbacks.append(TuneReportCallback())  # rank 0's reports -> Tune, epoch by epoch
    from nagexp.integrations.ray_train import trainer_class
    from nagexp.parallel.worker import WorkerConfig

    loop_config = WorkerConfig(train=cfg.model_dump(mode="json"), data_ref=[data_ref], trial_number=trial_number,
                               code_dir=code_dir, data_group=data_group, run_dir=str(storage / name),
                               rung_signal=signal)  # fmt: skip
    trainer = trainer_class()(
        _worker_loop,
        train_loop_config=loop_config,
        scaling_config=ray.train.ScalingConfig(
            num_workers=resources.workers, use_gpu=resources.gpus > 0, resources_per_worker=resources.bundle
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=str(storage),
            callbacks=callbacks,
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
        ),
    )
    return trainer.fit()


def _worker_loop(config: dict[str, Any]) -> None:
    from nagexp.integrations.ray_tune import quiet_per_checkpoint_logs
    from nagexp.parallel.worker import worker_loop

    quiet_per_checkpoint_logs()
    worker_loop(config)
