"""`nagexp train`'s work: load data, train once, write results/train/<name>/.

Files: config.yaml (rerunnable with `nagexp train config.yaml`), metrics.csv (one row per
epoch), model.pt (weights plus what is needed to use them), summary.json (test metrics,
data report and fingerprint, versions, git SHA).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from nagexp.config.loading import rerun_extras, saved_config_text
from nagexp.config.resources import WorkerResources
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError, NagexpError
from nagexp.core.io import atomic_write, atomic_write_text, not_created_because
from nagexp.core.naming import check_name, unique_name
from nagexp.core.process_settings import restored_process_settings
from nagexp.core.provenance import cpu_kernels, git_sha, package_versions
from nagexp.core.wording import counted
from nagexp.data.batches import TrainData
from nagexp.data.loading import load_train_data
from nagexp.data.prepared.store import cache_dir_for, given_cache
from nagexp.registries.trainers import is_builtin_trainer
from nagexp.runtime.user_code import make_importable, snapshot, uses_user_code
from nagexp.tracking.store import TrackingStore
from nagexp.tracking.tracker import Tracker
from nagexp.tracking.train_tracking import TrainTracking
from nagexp.training.model_check import check_model
from nagexp.training.optim import resolve_device
from nagexp.training.schedules import check_schedules
from nagexp.training.trainer import TrainResult, train

__all__ = ["TrainRun", "TrainRunOptions", "metrics_csv", "run_training"]

EpochCallback = Callable[[dict[str, float]], None]


@dataclass
class TrainRun:
    """One training run: where it was written, the trained model and its metrics."""

    out_dir: Path  # config.yaml, metrics.csv, model.pt, summary.json
    result: TrainResult  # .model, .history, .test_acc, .test_loss, .diverged
    data: TrainData
    mlflow: dict[str, str] | None = None  # tracking_uri (credentials masked), experiment, run_id

    @property
    def mlflow_run_id(self) -> str | None:
        return self.mlflow["run_id"] if self.mlflow else None

    @property
    def test_acc(self) -> float | None:
        return self.result.test_acc


def metrics_csv(history: list[dict[str, float]]) -> str:
    if not history:
        return ""
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for row in history for k in row))  # test_* only on the last row
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buf.getvalue()


def model_file_state(cfg: TrainConfig, data: TrainData, model: torch.nn.Module) -> dict:
    """model.pt contents: loadable with torch.load(weights_only=True)."""
    return {
        "format": 1,
        "config": cfg.model_dump(mode="json"),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "mean": list(data.mean),
        "std": list(data.std),
        "data_fingerprint": data.fingerprint,
    }


@dataclass(frozen=True)
class TrainRunOptions:
    """Where and how one training runs, beside its TrainConfig (what `nagexp train` takes)."""

    results_dir: Path = Path("results")  # the run goes to <results_dir>/train/<name>/
    name: str | None = None  # default: <model>-<dataset>-<date>-<time>
    tracking: TrackingStore | None = None  # the MLflow store; None: not logged
    code_dir: Path | None = None  # the user's model/dataset code (default: the current directory)
    cache_dir: str | Path | None = None  # where datasets read from files are prepared once
    memory_budget: str | None = None  # data mode auto: memory mode when the data fits this
    cpus_per_worker: float = 1.0  # workers_per_trial > 1: each worker's CPUs and GPUs
    gpus_per_worker: float = 0.0
    address: str | None = None  # the Ray cluster of a data-parallel or streaming run; None: $RAY_ADDRESS or local


def run_training(
    cfg: TrainConfig,
    options: TrainRunOptions = TrainRunOptions(),  # frozen: one shared default is safe
    on_epoch: EpochCallback | None = None,
    on_data: Callable[[TrainData], None] | None = None,
    say: Callable[[str], None] = print,
) -> TrainRun:
    """Train once and write <results_dir>/train/<name>/; log to MLflow when `options.tracking`
    is given. `cfg.workers_per_trial` > 1: a Ray Train run of that many workers, each with its
    CPUs and GPUs, on Ray started here or on the cluster at `options.address`. The process's
    settings (torch's threads, environment, logging levels) are as before when it returns."""
    if not is_builtin_trainer(cfg.trainer):
        raise ConfigError(f"nagexp train runs the built-in trainer; '{cfg.trainer}' is a function of yours: call it "
                          "yourself, or rerun a sweep's trial with nagexp reproduce")  # fmt: skip
    with restored_process_settings():
        return _run_training(cfg, options, on_epoch, on_data, say)


def _run_training(cfg: TrainConfig, o: TrainRunOptions, on_epoch: EpochCallback | None,
                  on_data: Callable[[TrainData], None] | None, say: Callable[[str], None]) -> TrainRun:  # fmt: skip
    results_dir, name, tracking, code_dir = o.results_dir, o.name, o.tracking, o.code_dir
    root = Path(results_dir).resolve() / "train"
    name = check_name(name, dated_default=True) if name is not None else unique_name(_default_name(cfg), root)
    out_dir = root / name
    if out_dir.exists():
        raise ConfigError(f"'{out_dir}' already exists; pick another --name")
    device = resolve_device(cfg.device)  # an unavailable device fails before anything is written
    code = None
    if uses_user_code([cfg.model], [cfg.dataset], [cfg.lr_schedule], [cfg.momentum_schedule]):
        code = snapshot(code_dir or Path.cwd())
        make_importable(code.root)
    say(f"training {cfg.model} on {cfg.dataset} with {cfg.optimizer} "  # once the name and device are good
        f"(lr {cfg.lr:g} {cfg.lr_schedule}, momentum {cfg.momentum:g} {cfg.momentum_schedule}), "
        f"{counted(cfg.epochs, 'epoch')}, seed {cfg.seed}")  # fmt: skip
    # before creating anything: a bad dataset leaves no empty run
    cache = cache_dir_for(o.cache_dir, Path(results_dir))
    data = load_train_data(cfg, cache, o.memory_budget, say, gpu_share=1.0 if device.type == "cuda" else 0.0)
    cfg = cfg.model_copy(update={"data_mode": data.mode})  # config.yaml names the mode it trained in
    check_model(cfg.model, cfg.model_arguments(), data)  # and a model that cannot train on it
    check_schedules(cfg, data.train_size)  # or a schedule of the user's that gives bad values
    tracker = Tracker(tracking) if tracking else None  # an unusable store fails before training
    if on_data:
        on_data(data)
    user_code = code.record() if code else None
    run_log: TrainTracking | None = None
    listeners: list[EpochCallback] = []

    def save_config(kernels: str | None) -> None:
        saved = cfg.model_dump(mode="json") | rerun_extras(user_code, given_cache(o.cache_dir, Path(results_dir)),
                                                           kernels)  # fmt: skip
        atomic_write_text(out_dir / "config.yaml", saved_config_text(f"train config of run {name}\nrerun: nagexp "
                                                                     f"train {out_dir / 'config.yaml'}", saved))

    def start() -> None:
        """The run's folder, config.yaml and MLflow run: once training can start."""
        nonlocal run_log
        try:
            out_dir.mkdir(parents=True)
        except OSError as exc:
            raise NagexpError(f"cannot create '{out_dir}': {not_created_because(out_dir, exc)}; pass a writable "
                              "--results-dir") from None  # fmt: skip
        # the kernels of this process when it trains on CPU (K Ray Train workers: theirs, once they ran)
        save_config(cpu_kernels() if cfg.workers_per_trial == 1 and device.type == "cpu" else None)
        run_log = TrainTracking(tracker, name, cfg, user_code=user_code) if tracker else None
        listeners.extend(f for f in (on_epoch, run_log.on_epoch if run_log else None) if f is not None)

    def report(metrics: dict[str, float], _checkpoint: object) -> None:
        for listener in listeners:
            listener(metrics)

    if cfg.workers_per_trial > 1:
        from nagexp.parallel.train_job import train_data_parallel

        resources = WorkerResources(cfg.workers_per_trial, o.cpus_per_worker, o.gpus_per_worker)
        # started once the workers can be placed: a request the cluster cannot hold leaves no run
        result = train_data_parallel(cfg, data, resources, out_dir / "ray-train", address=o.address,
                                     code_dir=code.root if code else None, say=say, before=start)  # fmt: skip
        for metrics in result.history:  # Ray Train's reports end with the run: the epochs, now
            report(metrics, None)
        if result.cpu_kernels:  # the workers' kernels (in rank order), known now
            save_config(result.cpu_kernels)
    else:
        start()
        result = _train_here(cfg, data, report, o.address)

    atomic_write_text(out_dir / "metrics.csv", metrics_csv(result.history))
    atomic_write(out_dir / "model.pt", lambda p: torch.save(model_file_state(cfg, data, result.model), p))
    summary = {
        "name": name,
        "epochs_run": result.epochs_run,
        "diverged": result.diverged,
        "diverged_reason": result.diverged_reason,
        "final": result.final,
        "test_loss": result.test_loss,
        "test_acc": result.test_acc,
        "seconds": result.seconds,
        "data_fingerprint": data.fingerprint,
        "data_report": data.report.to_dict(),
        "versions": package_versions(),
        "git_sha": git_sha(),
        "user_code": user_code,
        "mlflow": None,
    }
    if run_log is not None and tracker is not None:
        summary["mlflow"] = {"tracking_uri": tracker.store.shown, "experiment": tracker.store.experiment,
                             "run_id": run_log.run_id}  # fmt: skip
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    if run_log is not None:
        run_log.finish(result, data)
    return TrainRun(out_dir, result, data, summary["mlflow"])


def _train_here(cfg: TrainConfig, data: TrainData, report: Callable, address: str | None) -> TrainResult:
    """One process; stream mode reads its batches through Ray Data (Ray joined or started
    here for the run, and stopped after it when started here)."""
    if data.mode != "stream":
        return train(cfg, data, report)
    from nagexp.runtime.ray_session import connect_ray, ray_settings, shutdown_ray

    with ray_settings():
        started = connect_ray(address)
        try:
            return train(cfg, data, report)
        finally:
            shutdown_ray(started)


def _default_name(cfg: TrainConfig) -> str:
    """<model>-<optimizer>; a model given by import path is named by its callable."""
    return f"{cfg.model.rpartition(':')[2].replace('.', '-')}-{cfg.optimizer}"
