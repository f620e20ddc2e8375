"""The Ray Tune objects of a sweep: the trainable with its resources, a new Tuner (Optuna
searcher with sqlite storage, the scheduler, checkpoints, retries), or Tune's restore."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from nagexp.config.sweep import SweepOptions, SweepSpec
from nagexp.parallel.placement import TRIAL_DRIVER_BUNDLE, WorkerResources, cluster_nodes, fitting_trials
from nagexp.results.records import TrialRecord
from nagexp.sweeps.ray_runtime import data_cpus
from nagexp.training.data import DataBundle

__all__ = ["can_restore", "new_tuner", "restored_tuner", "trial_slots"]


def _trainable(spec: SweepSpec, data: DataBundle, code_dir: Path | None, settled: frozenset[int] = frozenset()) -> Any:
    import ray
    from ray import tune

    from nagexp.space.schedulers import POPULATION_SCHEDULERS
    from nagexp.sweeps.trainable import run_trial

    o = spec.options
    resources: Any = {"cpu": o.cpus_per_trial, "gpu": o.gpus_per_trial}
    if spec.workers is not None:  # the trial only starts its Ray Train run; the workers hold the resources
        # streaming: a second bundle, whose CPUs every worker's Ray Data tasks share (the first
        # is the trial actor's own)
        extra = data_cpus(_data_mode(spec))
        resources = tune.PlacementGroupFactory([TRIAL_DRIVER_BUNDLE] + ([{"CPU": extra}] if extra else []))
    elif extra := data_cpus(_data_mode(spec)):
        # the trial's own bundle, and one its Ray Data tasks run in (Tune captures child tasks)
        resources = tune.PlacementGroupFactory([{"CPU": o.cpus_per_trial, "GPU": o.gpus_per_trial}, {"CPU": extra}])
    # the data goes in as a reference inside a list (not resolved for each trial), so a worker
    # that runs several trials fetches and moves it to its device once (see trainable)
    trainable = tune.with_parameters(run_trial, data_ref=[ray.put(data)], settled=settled,
                                     code_dir=str(code_dir) if code_dir else None, workers=spec.workers,
                                     train_storage=str(spec.sweep_dir / "train"),
                                     population=spec.options.scheduler in POPULATION_SCHEDULERS)  # fmt: skip
    return tune.with_resources(trainable, resources)


@functools.cache
def _count_callbacks_without_importing_mlflow() -> None:
    """Tune's usage telemetry counts the callbacks a run is given by class (`tag_callbacks`),
    importing Ray's MLflow, Comet and W&B integrations to compare with theirs; the MLflow one
    imports MLflow itself: 1.2 s of CPU here, in every sweep's driver, tracked or not. For
    nagexp's own callbacks the count is known without them: Ray files a plain Callback
    subclass that is none of its built-ins under "CustomCallback" (the same tag is recorded)."""
    from ray.air._internal import usage
    from ray.tune import Callback
    from ray.tune.logger import LoggerCallback

    count_with_imports = getattr(usage, "_count_callbacks", None)
    if count_with_imports is None:  # a Ray that counts another way: leave it as it is
        return

    def count(callbacks: list | None) -> dict[str, int]:
        ours = [c for c in callbacks or [] if type(c).__module__.startswith("nagexp.")]
        if len(ours) < len(callbacks or []) or any(not isinstance(c, Callback) or isinstance(c, LoggerCallback)
                                                   for c in ours):  # fmt: skip
            return count_with_imports(callbacks)
        return {"CustomCallback": len(ours)} if ours else {}

    usage._count_callbacks = count


def can_restore(spec: SweepSpec) -> bool:
    from ray import tune

    return tune.Tuner.can_restore(str(spec.sweep_dir / "ray"))


def restored_tuner(spec: SweepSpec, data: DataBundle, records: dict[int, TrialRecord], code_dir: Path | None) -> Any:
    """Tune's restore of the experiment: unfinished and errored trials go on from their last
    checkpoints; trials the journal shows finished end at once (Tune's snapshot can be older)."""
    from ray import tune

    _count_callbacks_without_importing_mlflow()
    settled = frozenset(n for n, r in records.items() if r.state not in ("running", "errored"))
    return tune.Tuner.restore(str(spec.sweep_dir / "ray"), _trainable(spec, data, code_dir, settled),
                              resume_unfinished=True, resume_errored=True)  # fmt: skip


def _searcher(spec: SweepSpec) -> Any:
    import optuna

    from nagexp.space.samplers import make_sampler
    from nagexp.space.sampling import define_by_run
    from nagexp.sweeps.searcher import PruningAwareOptunaSearch
    from nagexp.sweeps.study import name_objective, storage_url

    o = spec.options
    searcher = PruningAwareOptunaSearch(
        space=define_by_run(spec.space, o.seed),
        metric=spec.metric,
        mode=spec.mode,
        sampler=make_sampler(o.sampler, o.seed),
        study_name=spec.name,
        storage=optuna.storages.RDBStorage(storage_url(spec)),
        total_trials=o.trials,
    )
    name_objective(searcher._ot_study, spec)
    return searcher


def _data_mode(spec: SweepSpec) -> str:
    return str(spec.space.fixed.get("data_mode", "memory"))


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


def _population_search(spec: SweepSpec) -> tuple[Any, dict[str, Any]]:
    """PBT/PB2: the first population from the sampler, in trial-number order, and a param
    space of the same shape (Tune needs one)."""
    from ray.tune.search import BasicVariantGenerator

    from nagexp.sweeps.population import initial_population

    population = initial_population(spec)
    return BasicVariantGenerator(points_to_evaluate=population), dict(population[0])


def new_tuner(spec: SweepSpec, data: DataBundle, recorder: Any, code_dir: Path | None) -> Any:
    from ray import tune

    from nagexp.space.sampling import trial_seed
    from nagexp.space.schedulers import POPULATION_SCHEDULERS, make_scheduler
    from nagexp.sweeps.epoch_budget import EpochBudget

    _count_callbacks_without_importing_mlflow()
    o = spec.options
    population = o.scheduler in POPULATION_SCHEDULERS
    search, param_space = _population_search(spec) if population else (_searcher(spec), None)
    return tune.Tuner(
        _trainable(spec, data, code_dir),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search,
            # the schedulers' own draws: not the sampler's seed, whose draws would repeat
            scheduler=make_scheduler(o.scheduler, spec.metric, spec.mode, spec.epochs, spec.space,
                                     seed=trial_seed(o.seed, -1)),
            num_samples=o.trials,
            max_concurrent_trials=o.max_concurrent or trial_slots(o, data_cpus(_data_mode(spec)), spec.workers),
            # a data-parallel trial waits inside its Ray Train run, which only ends with the trial's
            # actor (its owner) when the scheduler stops the trial: such actors cannot be reused
            reuse_actors=spec.workers is None,
            time_budget_s=o.time_budget,
        ),
        run_config=tune.RunConfig(
            name="ray",
            storage_path=str(spec.sweep_dir),
            callbacks=[recorder],
            stop=EpochBudget(o.epoch_budget) if o.epoch_budget else None,
            verbose=0,
            # Tune keeps every checkpoint: its own num_to_keep deletes one before the snapshot
            # naming the next is written (sweeps/checkpoint_pruning.py deletes them safely)
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
            # a trial whose worker dies is retried from its last epoch's checkpoint
            failure_config=tune.FailureConfig(max_failures=o.max_failures),
        ),
    )
