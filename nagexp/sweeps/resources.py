"""What a sweep's trials ask of the cluster, checked against what Ray has, and how many run
at once."""

from __future__ import annotations

from typing import Any

from nagexp.config.resources import WorkerResources, check_batchnorm, fitting_trials
from nagexp.config.sweep import SweepOptions
from nagexp.errors import ConfigError
from nagexp.ray_runtime import cluster_nodes

__all__ = ["check_resources", "data_cpus", "trial_slots"]


def data_cpus(mode: str) -> int:
    """CPUs a trial reserves beside its own for its data pipeline: a streaming trial's Ray
    Data tasks would otherwise wait for CPUs that running trials hold (ray#24304)."""
    if mode != "stream":
        return 0
    from nagexp.data.prepared.stream import DATA_CPUS

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


def trial_slots(options: SweepOptions, extra_cpus: int = 0, workers: WorkerResources | None = None) -> int:
    """How many trials fit on the cluster at once. Passed to Tune as max_concurrent_trials, so
    Tune keeps that many trials pending and starts their workers together: with Tune's default
    for custom searchers (one pending trial), short trials run one after another. Data-parallel
    trials: as many as whole worker groups fit, node by node (none waits half-placed)."""
    import ray

    if workers is not None:
        return max(1, min(fitting_trials(workers, cluster_nodes(), extra_cpus), options.trials))
    total = ray.cluster_resources()
    slots = int(total.get("CPU", 1.0) // (options.cpus_per_trial + extra_cpus))
    if options.gpus_per_trial:
        slots = min(slots, int(total.get("GPU", 0.0) // options.gpus_per_trial))
    return max(1, min(slots, options.trials))
