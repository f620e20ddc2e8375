"""Ray for a sweep: joined (`--address`) or started locally, and checked against what the
trials will ask for."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from nagexp.config.sweep import SweepOptions
from nagexp.errors import ConfigError, NagexpError
from nagexp.parallel.placement import WorkerResources, check_batchnorm, cluster_nodes, fitting_trials

__all__ = ["RAY_ENV", "check_resources", "connect_ray", "data_cpus", "shutdown_ray"]

# Ray Tune settings that cost time per trial and that nagexp replaces: its own result files
# (trials.csv) instead of Ray's CSV/JSON/TensorBoard loggers, and experiment snapshots
# every 10 s instead of after every result.
RAY_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_GLOBAL_CHECKPOINT_S": "10",
    "RAY_AIR_NEW_OUTPUT": "0",  # the legacy reporter honours verbose=0; nagexp prints its own view
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "100",
    "RAY_DEDUP_LOGS": "0",
    # a trial that fails in its own code reports the error instead of a metric (it is not retried)
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
    # Ray Train's controller polls its workers every 2 s by default: seconds of every
    # data-parallel run's start and end (measured: 18.8 s -> 12.8 s for a 3-epoch digits run)
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25",
}
TRAIN_POLL = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a dead `host:port` (ray.init would retry for minutes)."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or address == "auto":
        return  # "auto" and other forms: let Ray resolve them
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise NagexpError(
            f"cannot connect to the Ray cluster at '{address}': {exc.strerror or exc}; "
            "check --address and that the cluster is up (`ray status` on its head node)"
        ) from None


def connect_ray(address: str | None, num_cpus: int | None = None, working_dir: Path | None = None) -> bool:
    """Join `address` or start Ray locally; returns True when this call connected (False:
    Ray was already initialized in this process, by its caller). `working_dir` (the user's
    code) is shipped to every worker on every node through Ray's runtime environment."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                              "configure_logging": True}  # fmt: skip
    # on a cluster joined by address, Ray Train's controller sees this process's settings only
    # through the job's runtime environment
    runtime_env: dict[str, Any] = {"env_vars": {TRAIN_POLL: os.environ[TRAIN_POLL]}}
    if working_dir is not None:
        runtime_env["working_dir"] = str(working_dir)
    kwargs["runtime_env"] = runtime_env
    try:
        if address:
            _check_reachable(address)
            ray.init(address=address, **kwargs)
        else:
            # "local" always starts a fresh runtime; a bare ray.init() would join any cluster
            # that `ray start` left running on this machine.
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at '{address}'" if address else "a local Ray runtime"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NagexpError(f"cannot connect to {where}: {first}; check --address and that the cluster is up") from None
    return True


def shutdown_ray(started_here: bool) -> None:
    if started_here:
        import ray

        ray.shutdown()


def data_cpus(mode: str) -> int:
    """CPUs a trial reserves beside its own for its data pipeline: a streaming trial's Ray
    Data tasks would otherwise wait for CPUs that running trials hold (ray#24304)."""
    if mode != "stream":
        return 0
    from nagexp.prepared.stream import DATA_CPUS

    return DATA_CPUS


def check_resources(options: SweepOptions, extra_cpus: int = 0, workers: WorkerResources | None = None,
                    fixed: dict[str, Any] | None = None) -> dict[str, float]:  # fmt: skip
    """Ray's CPUs and GPUs; ConfigError when one trial asks for more than the cluster has."""
    import ray

    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    if workers is not None:
        check_batchnorm(workers, bool((fixed or {}).get("sync_batchnorm")))
        fitting_trials(workers, cluster_nodes(), extra_cpus)  # at least one trial fits, or one line why not
        return {"CPU": cpus, "GPU": gpus}
    if options.cpus_per_trial + extra_cpus > cpus:
        stream = f" plus {extra_cpus} for streaming its data" if extra_cpus else ""
        raise ConfigError(f"--cpus-per-trial {options.cpus_per_trial:g}{stream} is more than the {cpus:g} CPUs "
                          "Ray has")  # fmt: skip
    if options.gpus_per_trial > gpus:
        raise ConfigError(
            f"--gpus-per-trial {options.gpus_per_trial:g} is more than the {gpus:g} GPUs Ray has"
            + ("; leave it at 0 on a machine without GPUs" if gpus == 0 else "")
        )
    return {"CPU": cpus, "GPU": gpus}
