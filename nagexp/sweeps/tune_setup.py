"""The Ray Tune objects of a sweep: the trainable with its resources, a new Tuner (Optuna
searcher with sqlite storage, the scheduler, checkpoints, retries), or Tune's restore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nagexp.config.resources import TRIAL_DRIVER_BUNDLE
from nagexp.config.sweep import SweepSpec
from nagexp.data.batches import TrainData
from nagexp.results.folders import SweepFolder
from nagexp.results.records import TrialRecord, is_settled
from nagexp.results.rung_signals import RungSignal
from nagexp.results.trial_report import RUNG_SIGNAL_KEY, TRIAL_NUMBER_KEY
from nagexp.search.warm_start import SearchStart
from nagexp.sweeps.resources import OWN_DATA, concurrent_trials, data_cpus

__all__ = ["JournalHistory", "can_restore", "new_tuner", "restored_tuner", "trial_number_of"]


def trial_number_of(trial: Any) -> int:
    """A Tune trial's nagexp trial number (its config carries it)."""
    return int(trial.config[TRIAL_NUMBER_KEY])


class JournalHistory:
    """Every epoch each trial reported, from the sweep's journal (what a resumed deterministic
    sweep's scheduler decides from). Picklable: Tune saves the scheduler with the experiment."""

    def __init__(self, path: Path, metric: str, mode: str) -> None:
        self.path, self.metric, self.mode = path, metric, mode

    def __call__(self) -> dict[int, Any]:
        from nagexp.integrations.ray_halving import Past
        from nagexp.results.journal import replay

        return {n: Past(list(r.history), is_settled(r.state)) for n, r in replay(self.path, self.metric,
                                                                                 self.mode).items()}  # fmt: skip


def _trainable(spec: SweepSpec, data: TrainData | None, code_dir: Path | None,
               settled: frozenset[int] = frozenset()) -> Any:  # fmt: skip
    import ray
    from ray import tune

    from nagexp.sweeps.trainable import run_trial

    o = spec.options
    resources: Any = {"cpu": o.cpus_per_trial, "gpu": o.gpus_per_trial}
    extra = data_cpus(_mode(data))
    if spec.workers is not None:  # the trial only starts its Ray Train run; the workers hold the resources
        # streaming: a second bundle, whose CPUs every worker's Ray Data tasks share (the first
        # is the trial actor's own)
        resources = tune.PlacementGroupFactory([TRIAL_DRIVER_BUNDLE] + ([{"CPU": extra}] if extra else []))
    elif extra:
        # the trial's own bundle, and one its Ray Data tasks run in (Tune captures child tasks)
        resources = tune.PlacementGroupFactory([{"CPU": o.cpus_per_trial, "GPU": o.gpus_per_trial}, {"CPU": extra}])
    # the data goes in as a reference inside a list (not resolved for each trial), so a worker
    # that runs several trials fetches and moves it to its device once (see trainable)
    trainable = tune.with_parameters(run_trial, data_ref=[ray.put(data)], settled=settled,
                                     code_dir=str(code_dir) if code_dir else None, workers=spec.workers,
                                     train_storage=str(SweepFolder(spec.sweep_dir).train_runs),
                                     population=spec.population, signal=_signal(spec),
                                     required=tuple(o.metric for o in spec.space.objectives))  # fmt: skip
    return tune.with_resources(trainable, resources)


def _signal(spec: SweepSpec) -> RungSignal | None:
    """What the trials report for ASHA to rank them on (None: the metric itself)."""
    from nagexp.space.rungs import rung_signal

    signal = rung_signal(spec.space, spec.epochs) if spec.options.scheduler == "asha" else None
    return None if signal is None or signal.ranks_raw else signal


def _ranked_metric(spec: SweepSpec) -> str:
    return spec.metric if _signal(spec) is None else RUNG_SIGNAL_KEY


def _mode(data: TrainData | None) -> str:
    """memory | stream | own (a function of the user's, which nagexp loads no data for)."""
    return OWN_DATA if data is None else data.mode


def _slots(spec: SweepSpec, data: TrainData | None) -> int:
    return concurrent_trials(spec.options, _mode(data), spec.workers)


def can_restore(spec: SweepSpec) -> bool:
    from ray import tune

    return tune.Tuner.can_restore(str(SweepFolder(spec.sweep_dir).tune_experiment))


def restored_tuner(spec: SweepSpec, data: TrainData | None, records: dict[int, TrialRecord],
                   code_dir: Path | None) -> Any:  # fmt: skip
    """Tune's restore of the experiment: unfinished and errored trials go on from their last
    checkpoints; trials the journal shows finished end at once (Tune's snapshot can be older)."""
    from ray import tune

    settled = frozenset(n for n, r in records.items() if is_settled(r.state))
    experiment = str(SweepFolder(spec.sweep_dir).tune_experiment)
    return tune.Tuner.restore(experiment, _trainable(spec, data, code_dir, settled), resume_unfinished=True,
                              resume_errored=True)  # fmt: skip


def _searcher(spec: SweepSpec, start: SearchStart | None = None) -> Any:
    """Optuna's searcher on the sweep's sqlite study; `start` (a new sweep's): the prior
    trials told to it and the configs enqueued first (see search/warm_start.py)."""
    import optuna

    from nagexp.integrations.optuna_search import PruningAwareOptunaSearch, study_of
    from nagexp.results.trial_report import stopped_early
    from nagexp.search.study import name_objective, storage_url
    from nagexp.space.samplers import SamplerPerTrial, make_sampler
    from nagexp.space.sampling import define_by_run

    o = spec.options
    objectives = spec.space.objectives  # several: a multi-objective study (ASHA stops on the first)
    prior = len(start.priors.trials) if start and start.priors else 0
    searcher = PruningAwareOptunaSearch(
        space=define_by_run(spec.space, o.seed, first_number=prior),
        metric=[x.metric for x in objectives] if len(objectives) > 1 else spec.metric,
        mode=[x.direction for x in objectives] if len(objectives) > 1 else spec.mode,
        sampler=make_sampler(o.sampler, o.seed, o.trials),
        study_name=spec.name,
        storage=optuna.storages.RDBStorage(storage_url(spec)),
        total_trials=o.trials,
        stopped_early=stopped_early,
        batch_size=o.trials_per_batch if o.deterministic else None,
        prior_trials=prior,
        sampler_for_trial=SamplerPerTrial(o.sampler, o.seed, o.trials) if o.deterministic else None,
    )
    study = study_of(searcher)
    name_objective(study, spec)
    if start is not None:
        start.tell(study)
    return searcher


def _population_search(spec: SweepSpec, scheduler: Any) -> tuple[Any, dict[str, Any]]:
    """PBT/PB2: the first population from the sampler, in trial-number order, and a param
    space of the same shape (Tune needs one), the search open while a member is paused."""
    from nagexp.integrations.ray_actor_reuse import held_open_population
    from nagexp.search.population import initial_population

    population = initial_population(spec)
    return held_open_population(population, scheduler.holds_paused_trials), dict(population[0])


def _search(spec: SweepSpec, scheduler: Any, start: SearchStart | None) -> tuple[Any, dict[str, Any] | None]:
    """Tune's search and param space. A search whose scheduler pauses trials (PBT's rounds,
    deterministic mode's held trials and rungs) stays open while one is paused, so a paused
    trial's actor goes on to the next: see integrations/ray_actor_reuse.py."""
    if spec.population:
        return _population_search(spec, scheduler)
    if spec.options.deterministic:
        from nagexp.integrations.ray_actor_reuse import held_open

        return held_open(_searcher(spec, start), scheduler.holds_paused_trials), None
    return _searcher(spec, start), None


def new_tuner(spec: SweepSpec, data: TrainData | None, recorder: Any, code_dir: Path | None,
              start: SearchStart | None = None) -> Any:  # fmt: skip
    from ray import tune

    from nagexp.core.seeds import trial_seed
    from nagexp.space.schedulers import make_scheduler, synchronous_halving
    from nagexp.sweeps.epoch_budget import EpochBudget

    o = spec.options
    slots = _slots(spec, data)
    if o.deterministic:
        # halving on complete rungs, and the cap on trials at once with it: Tune's own limiter
        # counts paused trials as running and would wait for a batch forever
        scheduler = synchronous_halving(o.scheduler, _ranked_metric(spec), spec.mode, spec.epochs, spec.space,
                                        batch_size=o.trials_per_batch, total_trials=o.trials, max_running=slots,
                                        number_of=trial_number_of,
                                        history=JournalHistory(SweepFolder(spec.sweep_dir).journal, spec.metric,
                                                               spec.mode))  # fmt: skip
    else:  # the schedulers' own draws: not the sampler's seed, whose draws would repeat
        scheduler = make_scheduler(o.scheduler, _ranked_metric(spec), spec.mode, spec.epochs, spec.space,
                                   seed=trial_seed(o.seed, -1))  # fmt: skip
    search, param_space = _search(spec, scheduler, start)
    return tune.Tuner(
        _trainable(spec, data, code_dir),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search,
            scheduler=scheduler,
            num_samples=o.trials,
            max_concurrent_trials=None if o.deterministic else slots,
            # a data-parallel trial waits inside its Ray Train run, which only ends with the trial's
            # actor (its owner) when the scheduler stops the trial: such actors cannot be reused
            reuse_actors=spec.workers is None,
            time_budget_s=o.time_budget,
        ),
        run_config=tune.RunConfig(
            name=SweepFolder(spec.sweep_dir).tune_experiment.name,  # Tune's experiment: <storage_path>/<name>
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
