"""What a data-parallel trial's workers ask for: K bundles of the per-worker resources, and
how many such trials a cluster's nodes hold at once (arithmetic only: no Ray)."""

from __future__ import annotations

from dataclasses import dataclass

from nagexp.core.errors import ConfigError
from nagexp.core.wording import counted

__all__ = ["TRIAL_DRIVER_BUNDLE", "WorkerResources", "check_batchnorm", "fitting_trials"]

# The Tune trial of a data-parallel run only starts the Ray Train run and waits; its workers
# hold the CPUs and GPUs. Tune cannot reserve an empty bundle, so the trial holds 1 MB of memory.
TRIAL_DRIVER_BUNDLE = {"memory": 1024 * 1024}


@dataclass(frozen=True)
class WorkerResources:
    workers: int  # K: processes of one trial
    cpus: float = 1.0  # per worker
    gpus: float = 0.0  # per worker

    @property
    def bundle(self) -> dict[str, float]:
        return {"CPU": self.cpus} | ({"GPU": self.gpus} if self.gpus else {})

    def describe(self) -> str:
        gpu = f", {self.gpus:g} GPU" if self.gpus else ""
        backend = "NCCL" if self.gpus else "gloo"
        return f"{self.workers} workers x ({self.cpus:g} CPU{gpu}) per trial, {backend}, packed on as few nodes as fit"


def _bundles_on(node: dict[str, float], bundle: dict[str, float]) -> int:
    return int(min(node.get(key, 0.0) // need for key, need in bundle.items() if need))


def fitting_trials(resources: WorkerResources, nodes: list[dict[str, float]], extra_cpus: float = 0) -> int:
    """How many data-parallel trials the nodes (each node's total resources) hold at once:
    whole worker bundles counted per node, so no trial waits with part of its workers placed,
    and `extra_cpus` per trial beside them (its streaming tasks). ConfigError when not even
    one fits."""
    bundles = sum(_bundles_on(node, resources.bundle) for node in nodes)
    total_cpus = sum(n.get("CPU", 0.0) for n in nodes)
    if extra_cpus and total_cpus < resources.workers * resources.cpus + extra_cpus:
        raise ConfigError(
            f"--workers-per-trial {resources.workers} x {resources.cpus:g} CPU plus {extra_cpus:g} for streaming "
            f"the trial's data is more than the {counted(total_cpus, 'CPU')} Ray has; lower --cpus-per-worker "
            "(fractions are fine) or --workers-per-trial"
        )
    if bundles < resources.workers:
        largest = max((_bundles_on(n, resources.bundle) for n in nodes), default=0)
        cpus = sum(n.get("CPU", 0.0) for n in nodes)
        gpus = sum(n.get("GPU", 0.0) for n in nodes)
        raise ConfigError(
            f"--workers-per-trial {resources.workers} with {resources.cpus:g} CPU"
            + (f" and {resources.gpus:g} GPU" if resources.gpus else "")
            + f" per worker needs {resources.workers} such bundles; the cluster ({counted(cpus, 'CPU')}, "
            f"{counted(gpus, 'GPU')} "
            f"on {len(nodes)} node(s), at most {largest} on one node) holds {bundles}. "
            + ("Leave --gpus-per-worker at 0 on a machine without GPUs" if resources.gpus and not gpus
               else "Lower --workers-per-trial, --cpus-per-worker or --gpus-per-worker")
        )
    fitting = bundles // resources.workers
    if extra_cpus:
        fitting = min(fitting, int(total_cpus // (resources.workers * resources.cpus + extra_cpus)))
    return fitting


def check_batchnorm(resources: WorkerResources, sync_batchnorm: bool) -> None:
    if sync_batchnorm and not resources.gpus:
        raise ConfigError("sync_batchnorm needs GPU workers (torch's SyncBatchNorm has no CPU kernel): "
                          "add --gpus-per-worker, or set sync_batchnorm: false")  # fmt: skip
