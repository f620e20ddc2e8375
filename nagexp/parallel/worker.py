"""One worker of a data-parallel run (runs in a Ray Train worker): the trainer with a
`TorchProcessGroup`, resumed from the run's last checkpoint, reporting every epoch."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any, TypedDict

from nagexp.results.rung_signals import RungSignal, RungTracker

__all__ = ["WorkerConfig", "worker_loop"]


class WorkerConfig(TypedDict):
    """What every worker of a run gets (Ray Train's `train_loop_config`)."""

    train: dict[str, Any]  # TrainConfig fields
    data_ref: list[Any]  # [the object ref of the run's data]: in a list, so Ray does not resolve it
    trial_number: int | None  # the sweep trial it is; None: `nagexp train`
    code_dir: str | None  # the user's code folder, when Ray's runtime environment did not ship it
    data_group: str  # streamed data: the placement group (hex) whose CPUs the Ray Data tasks use
    run_dir: str  # the run's folder: rank 0 writes the worker group there (see `worker_group_id`)
    rung_signal: RungSignal | None  # a sweep's: what ASHA ranks the trial on, reported beside the metric


def _every_worker(value: str) -> str:
    """`value` (its node, its CPU kernels) of every worker, in rank order, comma-separated (rank 0
    reports them)."""
    import torch.distributed as dist

    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return ",".join(values)


def worker_loop(config: WorkerConfig) -> None:
    import ray
    import ray.train
    import ray.train.torch
    import torch

    from nagexp.config.train import TrainConfig
    from nagexp.core.provenance import cpu_kernels
    from nagexp.results.trial_report import trial_report
    from nagexp.runtime.ray_session import worker_group_id
    from nagexp.training.checkpoint import CHECKPOINT_FILE, TrainCheckpoint, load_checkpoint
    from nagexp.training.distributed import TorchProcessGroup
    from nagexp.training.trainer import train

    if config.get("code_dir"):
        from nagexp.runtime.user_code import make_importable

        make_importable(config["code_dir"])
    cfg = TrainConfig(**config["train"])
    on_gpu = torch.cuda.is_available() and cfg.device != "cpu"
    device = ray.train.torch.get_device() if on_gpu else torch.device("cpu")
    dist = TorchProcessGroup(device, cfg.sync_batchnorm)
    data = ray.get(config["data_ref"][0])
    if config.get("data_group") and data.mode == "stream":  # Ray Data tasks in the CPUs the trial reserved
        data = dataclasses.replace(data, data_group=config["data_group"])
    nodes = _every_worker(ray.get_runtime_context().get_node_id())
    kernels = "" if on_gpu else _every_worker(cpu_kernels())
    group = worker_group_id(config.get("run_dir") if dist.is_main else None)
    resume = None
    if (previous := ray.train.get_checkpoint()) is not None:  # a restarted worker group
        with previous.as_directory() as folder:
            resume = load_checkpoint(Path(folder) / CHECKPOINT_FILE)

    rung = RungTracker(config.get("rung_signal"))  # sees the replayed epochs below, then the new ones

    def report(metrics: dict[str, float], checkpoint: TrainCheckpoint | None, reason: str | None = None) -> None:
        reason = checkpoint.state().get("diverged_reason") if checkpoint is not None else reason
        row = trial_report(metrics, number=config["trial_number"], epochs_total=cfg.epochs, diverged_reason=reason,
                           node_id=nodes, cpu_kernels=kernels, pid=os.getpid(), workers=dist.world_size,
                           worker_group=group, rung_signal=rung(metrics))  # fmt: skip
        if checkpoint is None or not dist.is_main:  # every worker reports (Ray Train waits for all); rank 0 writes
            ray.train.report(dict(row), checkpoint=None)
            return
        with tempfile.TemporaryDirectory() as folder:
            checkpoint.save(Path(folder) / CHECKPOINT_FILE)
            ray.train.report(dict(row), checkpoint=ray.train.Checkpoint.from_directory(folder))

    if resume is not None and resume["history"]:
        # The run's checkpoint can be ahead of what the sweep recorded (its driver died between
        # the two): report the epochs it holds again, the last one with it; the driver keeps
        # the epochs it lacks and drops the ones it has.
        *earlier, last = resume["history"]
        for metrics in earlier:
            report(metrics, None)
        report(last, TrainCheckpoint(resume))
    train(cfg, data, report, resume=resume, dist=dist)
