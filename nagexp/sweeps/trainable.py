"""The Ray Tune trainable: a trial's config dict -> TrainConfig -> trainer.train().

Runs in Ray worker processes. It only reports to Tune (the typed report of
`nagexp.results.trial_report` and a checkpoint per epoch); the driver is the single writer of
every store.

A trial that fails in its own code (an invalid sampled config, a model that raises)
reports the error as its last result and ends: Tune retries only trials whose *worker*
died, which a rerun of the same code cannot fix otherwise.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from nagexp.config.resources import WorkerResources
from nagexp.config.train import TrainConfig
from nagexp.core.provenance import cpu_kernels
from nagexp.data.batches import TrainData
from nagexp.integrations.ray_tune import quiet_per_checkpoint_logs
from nagexp.registries.trainers import is_builtin_trainer
from nagexp.results.folders import SweepFolder
from nagexp.results.records import trial_config
from nagexp.results.rung_signals import RungSignal, RungTracker
from nagexp.results.trial_report import TRIAL_NUMBER_KEY, error_report, trial_report
from nagexp.training.checkpoint import CHECKPOINT_FILE, CheckpointState, TrainCheckpoint, load_checkpoint
from nagexp.training.lineage import exploit_at, exported_schedule
from nagexp.training.optim import resolve_device
from nagexp.training.trainer import train

__all__ = ["error_line", "run_trial", "train_config_of", "train_run_dir"]

def train_run_dir(sweep_dir: Path, number: int) -> Path:
    """The folder of trial `number`'s Ray Train run (a data-parallel trial's)."""
    return SweepFolder(sweep_dir).train_run(number)


def train_config_of(config: dict[str, Any]) -> TrainConfig:
    """The TrainConfig of a trial's Tune config (its fields, its seed, and the trial number)."""
    fields = {k: v for k, v in config.items() if k not in (TRIAL_NUMBER_KEY, "seed")}
    return trial_config(fields, {}, config.get("seed"))


def error_line(exc: BaseException) -> str:
    """One line naming what a trial raised (an invalid sampled config: which field, and why)."""
    from nagexp.core.errors import NagexpError

    if isinstance(exc, NagexpError):
        return str(exc).replace("trial config: ", "invalid trial config: ", 1)[:500]
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:500]


_ON_DEVICE: dict[tuple[str, str], TrainData] = {}  # this worker's copy of the sweep's data


def _data_on(device: str, data_ref: Any) -> TrainData:
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
              code_dir: str | None = None, workers: WorkerResources | None = None,
              train_storage: str | None = None, population: bool = False,
              signal: RungSignal | None = None, required: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Train one trial. `data_ref`: [the object ref of the sweep's data]. `settled`: trial
    numbers that finished before the sweep was resumed, which Tune's older snapshot may still
    list as running; they end at once. `code_dir`: the user's code folder, importable here
    when Ray's runtime environment did not bring it. `workers`: the resources of each worker
    of a data-parallel trial, whose Ray Train runs are stored under `train_storage`.
    `population`: a PBT/PB2 member, which reports the trial it continued after an exploit
    and, with its last epoch, the schedule and lineage of its weights (see lineage). `signal`:
    what ASHA ranks the trial on, reported beside the metric (None: the metric itself); a
    cooldown signal makes the trainer probe at the rungs. `required`: the metrics a training
    function of the user's must report (the objectives'; see own_trial)."""
    from ray import tune

    number = config[TRIAL_NUMBER_KEY]
    if number in settled:
        return
    quiet_per_checkpoint_logs()
    try:
        if code_dir is not None:
            from nagexp.runtime.user_code import make_importable

            make_importable(code_dir)
        cfg = train_config_of(config)
        if not is_builtin_trainer(cfg.trainer):  # the user's own function: the same trial around it
            from nagexp.sweeps.own_trial import train_own_trial

            train_own_trial(cfg, number, required, signal, population)
            return
        if signal is not None:  # the probes' epochs: the run's own config stays as the sweep stores it
            cfg = cfg.model_copy(update=signal.train_fields())
        if cfg.workers_per_trial > 1 and workers is not None and train_storage is not None:
            _train_data_parallel(cfg, number, data_ref[0], workers, Path(train_storage), code_dir, signal)
        else:
            _train_trial(cfg, number, data_ref[0], population, signal)
    except Exception as exc:
        if (own := _own_error(exc)) is None:
            raise  # Tune's own control flow and Ray's failures (a dead worker): Tune retries them
        tune.report(dict(error_report(number, error_line(own))))


def _own_error(exc: Exception) -> BaseException | None:
    """The trial's own code's exception inside `exc` (None: Ray's or Tune's failure). A
    data-parallel run ends in one WorkerGroupError for a worker that died and for a worker
    whose code raised: only the second is the trial's."""
    from ray.exceptions import RayError
    from ray.train import WorkerGroupError

    if isinstance(exc, WorkerGroupError):
        raised = [e for e in exc.worker_failures.values() if not isinstance(e, RayError)]
        return raised[0] if raised and len(raised) == len(exc.worker_failures) else None
    return None if type(exc).__module__.startswith("ray") else exc


def _train_data_parallel(cfg: TrainConfig, number: int, data_ref: Any, workers: WorkerResources, storage: Path,
                         code_dir: str | None, signal: RungSignal | None) -> None:  # fmt: skip
    """A Ray Train run of K workers named after the trial: a retried or restored trial's run
    starts again from its last checkpoint. Rank 0's reports reach Tune epoch by epoch."""
    import ray

    from nagexp.parallel.launch import fit_data_parallel

    group = ray.util.get_current_placement_group()  # the trial's: streaming workers run their data tasks in it
    run = train_run_dir(storage.parent, number)
    fit_data_parallel(cfg, data_ref, workers, storage=run.parent, name=run.name, trial_number=number,
                      code_dir=code_dir, in_tune=True, data_group=group.id.hex() if group else "",
                      signal=signal)  # fmt: skip


def _lineage_fields(state: CheckpointState, last: bool) -> dict[str, Any]:
    """A population member's epoch: the trial whose weights it continued (first epoch after an
    exploit), and with the last epoch, the replayable schedule and lineage of its weights (JSON)."""
    extra: dict[str, Any] = {}
    if (donor := exploit_at(state.get("lineage", []), int(state["epoch"]))) is not None:
        extra["exploit_from"] = donor
    if last:
        extra["exported_schedule"] = json.dumps(exported_schedule(state["schedule"]))
        extra["exported_lineage"] = json.dumps(state.get("lineage", []))
    return extra  # the keyword arguments of trial_report


def _train_trial(cfg: TrainConfig, number: int, data_ref: Any, population: bool = False,
                 signal: RungSignal | None = None) -> None:  # fmt: skip
    import ray
    from ray import tune

    data = _data_on(cfg.device, data_ref)
    node_id = ray.get_runtime_context().get_node_id()
    kernels = cpu_kernels() if resolve_device(cfg.device).type == "cpu" else ""  # a GPU's result: not theirs
    pid = os.getpid()
    resume = None
    if (previous := tune.get_checkpoint()) is not None:  # a retried or restored trial
        with previous.as_directory() as folder:
            resume = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
    rung = RungTracker(signal, resume["history"] if resume else ())

    def report(metrics: dict[str, float], checkpoint: TrainCheckpoint) -> None:
        state = checkpoint.state()
        reason = state.get("diverged_reason")
        last = reason is not None or checkpoint.epoch == cfg.epochs
        row = trial_report(metrics, number=number, epochs_total=cfg.epochs, diverged_reason=reason, node_id=node_id,
                           cpu_kernels=kernels, pid=pid, rung_signal=rung(metrics),
                           **(_lineage_fields(state, last) if population else {}))  # fmt: skip
        with tempfile.TemporaryDirectory() as folder:
            checkpoint.save(Path(folder) / CHECKPOINT_FILE)
            tune.report(dict(row), checkpoint=tune.Checkpoint.from_directory(folder))

    train(cfg, data, report, resume=resume, label=number)
