"""What a sweep's trials ask of the cluster, checked against what Ray has, and how many run
at once."""

from __future__ import annotations

from typing import Any

from nagexp.config.resources import WorkerResources, check_batchnorm, fitting_trials
from nagexp.config.sweep import SweepOptions
from nagexp.core.errors import ConfigError
from nagexp.core.wording import counted
from nagexp.registries.schedulers import POPULATION_SCHEDULERS
from nagexp.runtime.ray_session import cluster_nodes
from nagexp.space.samplers import blind_trials

__all__ = ["OWN_DATA", "check_resources", "concurrency_line", "concurrent_trials", "data_cpus", "trial_slots"]


OWN_DATA = "own"  # the data mode of a sweep whose training function loads its own data


def data_cpus(mode: str) -> int:
    """CPUs a trial reserves beside its own for its data pipeline: a streaming trial's Ray
    Data tasks would otherwise wait for CPUs that running trials hold (ray#24304)."""
    if mode != "stream":
        return 0
    from nagexp.data.prepared.stream import DATA_CPUS

    return DATA_CPUS


def check_resources(options: SweepOptions, extra_cpus: int = 0, workers: WorkerResources | None = None,
                    fixed: dict[str, Any] | None = None, nodes: list[dict[str, float]] | None = None,
                    ) -> dict[str, float]:  # fmt: skip
    """Ray's CPUs and GPUs; ConfigError when one trial asks for more than the cluster has.
    `nodes`: each node's total resources (default: those of the Ray cluster this process joined)."""
    nodes = cluster_nodes() if nodes is None else nodes
    cpus, gpus = (sum(n.get(kind, 0.0) for n in nodes) for kind in ("CPU", "GPU"))
    if workers is not None:
        check_batchnorm(workers, bool((fixed or {}).get("sync_batchnorm")))
        fitting_trials(workers, nodes, extra_cpus)  # at least one trial fits, or one line why not
        return {"CPU": cpus, "GPU": gpus}
    if options.cpus_per_trial + extra_cpus > cpus:
        stream = f" plus {extra_cpus} for streaming its data" if extra_cpus else ""
        room = cpus - extra_cpus
        raise ConfigError(f"--cpus-per-trial {options.cpus_per_trial:g}{stream} is more than the "
                          f"{counted(cpus, 'CPU')} Ray has; "
                          + (f"ask for at most {room:g}" if room > 0 else "stream on a machine with more CPUs")
                          + ", or join a cluster with more (--address)")  # fmt: skip
    if options.gpus_per_trial > gpus:
        raise ConfigError(
            f"--gpus-per-trial {options.gpus_per_trial:g} is more than the {counted(gpus, 'GPU')} Ray has"
            + ("; leave it at 0 on a machine without GPUs" if gpus == 0 else f"; ask for at most {gpus:g}")
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


def concurrent_trials(options: SweepOptions, mode: str, workers: WorkerResources | None = None) -> int:
    """Trials at once: as many as fit on the cluster, or --max-concurrent (never more than --trials)."""
    return min(options.max_concurrent, options.trials) if options.max_concurrent else trial_slots(
        options, data_cpus(mode), workers)


def concurrency_line(options: SweepOptions, mode: str, workers: WorkerResources | None = None,
                     resumed: bool = False) -> str:  # fmt: skip
    """The sweep's header line on its data mode and how many trials run at once, and why."""
    import ray

    extra = data_cpus(mode)
    data = {"stream": "data stream mode (prepared shards read by Ray Data each epoch; memory stays flat); ",
            "memory": "data in memory (loaded once, shared with every trial through Ray's object store); ",
            OWN_DATA: ""}[mode]  # an own function's trials load their own data (said on the line before)
    slots = concurrent_trials(options, mode, workers)
    at_once = ("1 trial at a time" if slots == 1 else f"{slots} trials at once")
    if options.max_concurrent:
        why = "--max-concurrent"
    else:
        total = ray.cluster_resources()
        cpus, gpus = (workers.cpus, workers.gpus) if workers else (options.cpus_per_trial, options.gpus_per_trial)
        each = f"{counted(workers.workers, 'worker')} x " if workers else ""
        each += f"{cpus:g} CPU" + (f", {gpus:g} GPU" if gpus else "")
        each += f" + {extra} CPU for its Ray Data tasks" if extra else ""
        has = counted(total.get("CPU", 0.0), "CPU") + (f", {counted(total.get('GPU', 0.0), 'GPU')}" if gpus else "")
        why = f"each takes {each} of Ray's {has}"
    batches = f"; asked in batches of {options.trials_per_batch} (--deterministic)" if options.deterministic else ""
    blind = "" if resumed else _learns_from_none(options, slots)  # a resume keeps its --max-concurrent
    return f"{data}{'at most ' if options.max_concurrent else ''}{at_once}: {why}{batches}{blind}"


def _learns_from_none(options: SweepOptions, slots: int) -> str:
    """Said when every trial is asked for before any has ended (all fit at once, no batches, no
    earlier sweep's trials told first) though the sampler would learn from results after its
    random start-up: it then proposes them all blind, like random search."""
    if slots < options.trials or options.deterministic or options.warm_start:
        return ""
    if options.trials <= blind_trials(options.sampler, options.trials) or options.scheduler in POPULATION_SCHEDULERS:
        return ""
    return (f"; all {options.trials} trials start before any ends, so {options.sampler} learns from none of "
            "them: a lower --max-concurrent lets it")
