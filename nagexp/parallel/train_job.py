"""`nagexp train --workers-per-trial K`: one Ray Train run of K workers from this process,
returned as the single-process trainer's TrainResult (history and weights from its last
checkpoint)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from nagexp.config.resources import WorkerResources, check_batchnorm, fitting_trials
from nagexp.config.train import TrainConfig
from nagexp.core.errors import NagexpError
from nagexp.core.provenance import KERNELS_KEY
from nagexp.data.batches import TrainData
from nagexp.data.prepared.stream import DATA_CPUS
from nagexp.runtime.ray_session import cluster_nodes, connect_ray, ray_settings, shutdown_ray
from nagexp.training.trainer import TrainResult

__all__ = ["RESTARTS", "train_data_parallel"]

RESTARTS = 2  # worker-group restarts from the last checkpoint when a worker dies


def train_data_parallel(
    cfg: TrainConfig,
    data: TrainData,
    resources: WorkerResources,
    storage: Path,
    *,
    address: str | None = None,
    code_dir: Path | None = None,
    say: Callable[[str], None] = print,
    before: Callable[[], None] | None = None,
) -> TrainResult:
    """Train `cfg` on `resources.workers` workers of the Ray cluster at `address` (default:
    $RAY_ADDRESS, else Ray started here); Ray Train's files go under `storage`. `before` is called once the workers
    are known to fit, just before they start."""
    from nagexp.runtime.user_code import snapshot

    started = time.perf_counter()
    if cfg.num_threads is None:  # each worker as many torch threads as CPUs it holds: no oversubscription
        cfg = cfg.model_copy(update={"num_threads": max(1, int(resources.cpus))})
    with ray_settings():
        connected_here = connect_ray(address, code=snapshot(code_dir) if code_dir is not None else None)
        try:
            return _fit(cfg, data, resources, storage, started, connected_here, code_dir, say, before)
        finally:
            shutdown_ray(connected_here)


def _fit(cfg: TrainConfig, data: TrainData, resources: WorkerResources, storage: Path, started: float,
         connected_here: bool, code_dir: Path | None, say: Callable[[str], None],
         before: Callable[[], None] | None) -> TrainResult:  # fmt: skip
    import ray

    from nagexp.parallel.launch import fit_data_parallel

    check_batchnorm(resources, cfg.sync_batchnorm)
    extra = DATA_CPUS if data.mode == "stream" else 0
    fitting_trials(resources, cluster_nodes(), extra)  # one line when the workers cannot all be placed
    say(f"data-parallel: {resources.describe()}")
    if before is not None:
        before()
    # Ray already running in this process (a notebook): its workers import the code folder itself
    workers_code = str(code_dir) if code_dir is not None and not connected_here else None
    # streamed data: the workers' Ray Data tasks share CPUs reserved here (as a trial reserves them)
    group = ray.util.placement_group([{"CPU": extra}]) if extra else None
    try:
        if group is not None:
            ray.get(group.ready())
        result = fit_data_parallel(cfg, ray.put(data), resources, storage=storage, name="run",
                                   max_failures=RESTARTS, code_dir=workers_code,
                                   data_group=group.id.hex() if group else "")  # fmt: skip
    except ray.train.TrainingFailedError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise NagexpError(f"data-parallel training failed: {lines[-1] if lines else exc}") from None
    finally:
        if group is not None:
            ray.util.remove_placement_group(group)
    return _result_from(cfg, data, result, time.perf_counter() - started)


def _result_from(cfg: TrainConfig, data: TrainData, result: object, seconds: float) -> TrainResult:
    from nagexp.registries.models import build_model
    from nagexp.training.checkpoint import CHECKPOINT_FILE, load_checkpoint

    with result.checkpoint.as_directory() as folder:  # type: ignore[attr-defined]
        state = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
    model = build_model(cfg.model, data.input_shape, data.num_classes, **cfg.model_arguments())
    model.load_state_dict(state["model"])
    history = state["history"]
    last = history[-1] if history else {}
    reason = state.get("diverged_reason")
    kernels = (result.metrics or {}).get(KERNELS_KEY) or None  # type: ignore[attr-defined]  # empty on GPUs
    return TrainResult(history=history, epochs_run=len(history), diverged=reason is not None, diverged_reason=reason,
                       test_loss=last.get("test_loss"), test_acc=last.get("test_acc"), seconds=seconds,
                       data_report=data.report, model=model, cpu_kernels=kernels)  # fmt: skip
