"""Resolving a sweep: SweepOptions (what the user asked) + its space file -> the SweepSpec
that will run (the space checked, the options' overrides applied, the sweep named)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nagexp.config.loading import invalid_config
from nagexp.config.space import FloatParam, SearchSpace, find_space_file, load_space
from nagexp.config.space_sections import OBJECTIVE_METRICS, TIMED_METRICS
from nagexp.config.sweep import SweepOptions, SweepSpec
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.core.naming import check_name, unique_name
from nagexp.registries.datasets import parse_dataset_spec
from nagexp.registries.schedulers import POPULATION_SCHEDULERS
from nagexp.registries.trainers import is_builtin_trainer
from nagexp.results.ranking import check_pick

__all__ = ["check_combinations", "resolve_sweep"]


def _check_population(space: SearchSpace, scheduler: str, source: Path) -> None:
    """What population-based training needs of the space, said before anything starts."""
    fixed, problems = TrainConfig(**space.fixed), []
    if is_builtin_trainer(fixed.trainer) and (args := [n for n in space.pbt.mutate if n.startswith("trainer_args.")]):
        problems.append(f"pbt.mutate names {args[0]}: trainer_args go with a training function of your own")
    for name in space.pbt.mutate:
        param = space.params.get(name)
        if not isinstance(param, FloatParam) or param.when:
            problems.append(f"pbt.mutate names '{name}': it must be a float param under `params` without `when` "
                            "(its low and high bound the mutations)")  # fmt: skip
        schedule = {"lr": fixed.lr_schedule, "momentum": fixed.momentum_schedule}.get(name)
        if schedule == "piecewise":
            problems.append(f"pbt.mutate names '{name}', which a piecewise {name}_schedule does not read")
    if conditional := [n for n, p in space.params.items() if p.when]:
        # Tune seeds a population from configs of one shape; every member may become any other
        problems.append(f"params {conditional} have `when` conditions: a population's members share one set "
                        "of params (fix or drop them)")  # fmt: skip
    if "momentum" in space.pbt.mutate and fixed.optimizer == "sgd":
        problems.append("pbt.mutate names 'momentum', which optimizer 'sgd' does not use")
    if fixed.workers_per_trial > 1:
        problems.append(f"--scheduler {scheduler} runs one process per trial (workers_per_trial 1)")
    if fixed.epochs <= space.pbt.perturbation_interval:
        problems.append(f"epochs {fixed.epochs} <= pbt.perturbation_interval {space.pbt.perturbation_interval}: "
                        "no trial would ever copy another")  # fmt: skip
    if problems:
        raise ConfigError(f"{source}: --scheduler {scheduler}: " + "; ".join(problems))


def _check_deterministic(options: SweepOptions) -> None:
    """What --deterministic cannot promise, said before anything starts."""
    if options.scheduler in POPULATION_SCHEDULERS:
        raise ConfigError(f"--deterministic is for a sampler with --scheduler asha or fifo; {options.scheduler}'s "
                          "rounds are synchronous already (every member reaches the same epoch first)")  # fmt: skip
    given = {"--time-budget": options.time_budget, "--epoch-budget": options.epoch_budget}
    budgets = [flag for flag, value in given.items() if value]
    if budgets:
        raise ConfigError(f"--deterministic with {' and '.join(budgets)}: a budget ends trials where time falls, "
                          "which no seed decides; give --trials instead")  # fmt: skip


def check_combinations(spec: SweepSpec, given: Collection[str]) -> None:
    """Options that would be silently ignored beside the others given (`given`: the options the
    user set), named both: for a sweep the user asked for as such (`nagexp compare` gives its
    options to arms of every scheduler)."""
    options = spec.options
    if options.register_model and not options.track:
        raise ConfigError("--register-model registers the best model in MLflow, which --no-track turns off; drop "
                          "one of them")  # fmt: skip
    if options.rung_signal is not None and options.scheduler != "asha":
        raise ConfigError(f"--rung-signal is what ASHA ranks trials on at its rungs; --scheduler {options.scheduler} "
                          "has none (use --scheduler asha, or drop --rung-signal)")  # fmt: skip
    if "trials_per_batch" in given and not options.deterministic:
        raise ConfigError("--trials-per-batch sizes the batches --deterministic asks trials in; without it each trial "
                          "is asked for as a slot frees (add --deterministic, or drop --trials-per-batch)")  # fmt: skip
    if "warm_start_any" in given and options.warm_start_any and not options.warm_start:
        raise ConfigError("--warm-start-any lets --warm-start take sweeps of another dataset or objective; give "
                          "--warm-start SWEEP too, or drop --warm-start-any")  # fmt: skip
    parallel = spec.workers is not None
    ignored = [o for o in (("cpus_per_trial", "gpus_per_trial") if parallel else ("cpus_per_worker", "gpus_per_worker"))
               if o in given]  # fmt: skip
    if ignored and spec.workers is not None:
        raise ConfigError(f"{_flag(ignored[0])} sizes a one-process trial; each of this sweep's trials is "
                          f"{spec.workers.workers} workers, sized by --cpus-per-worker / "
                          "--gpus-per-worker")  # fmt: skip
    if ignored:
        raise ConfigError(f"{_flag(ignored[0])} sizes each worker of a data-parallel trial; this sweep's trials are "
                          "one process each (use --cpus-per-trial / --gpus-per-trial, or give --workers-per-trial "
                          "K > 1)")  # fmt: skip


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _check_objectives(space: SearchSpace, options: SweepOptions, source: Path) -> None:
    """What the objectives need of the trainer and the options, said before anything starts."""
    metrics = [o.metric for o in space.objectives]
    trainer = str(space.fixed.get("trainer", TrainConfig.model_fields["trainer"].default))
    if is_builtin_trainer(trainer) and (own := [o.metric for o in space.objectives if not o.is_builtin_metric]):
        raise ConfigError(f"{source}: objective metric '{own[0]}' is not one nagexp's trainer reports "
                          f"({', '.join(OBJECTIVE_METRICS)}); a metric of your own needs a training function of "
                          "your own (trainer: package.module:function)")  # fmt: skip
    if len(metrics) == 1:
        if options.pick != "knee":
            raise ConfigError(f"--pick chooses among the Pareto front of several objectives; {source} has one "
                              f"({metrics[0]})")  # fmt: skip
        return
    check_pick(options.pick, metrics)
    if options.scheduler in POPULATION_SCHEDULERS:
        raise ConfigError(f"{source}: --scheduler {options.scheduler} ranks a population by one metric; give the "
                          "space one objective, or use --scheduler asha or fifo")  # fmt: skip
    if options.sampler == "cmaes":
        raise ConfigError(f"{source}: --sampler cmaes optimizes one objective; use tpe (Optuna's default for "
                          "several), random, gp or qmc")  # fmt: skip
    timed = [m for m in metrics if m in TIMED_METRICS]
    if options.deterministic and timed:
        raise ConfigError(f"--deterministic with objective {timed[0]}: its values depend on the machine's speed, "
                          "which no seed decides; use param_count, or drop --deterministic")  # fmt: skip


def _absolute_dataset(dataset: str) -> str:
    """A dataset's DIR or FILE made absolute from the folder the command runs in, so that the
    sweep's files (sweep.json, best.yaml) name the same data wherever they are used later."""
    try:
        spec = parse_dataset_spec(dataset)
    except ValueError:
        return dataset  # TrainConfig's check says what is wrong
    if spec.facts.takes not in ("DIR", "FILE") or spec.path is None:
        return dataset
    return f"{spec.kind}:{Path(spec.path).expanduser().resolve()}"


def resolve_sweep(options: SweepOptions) -> SweepSpec:
    """Load and check the space, apply the option overrides, name the sweep."""
    space_path = find_space_file(options.space)  # `quick.yaml` finds the shipped file
    space = load_space(space_path)
    overrides: dict[str, Any] = {}
    if options.epochs is not None:
        overrides["epochs"] = options.epochs
    if options.dataset is not None:
        overrides["dataset"] = options.dataset
    if options.trainer is not None:
        overrides["trainer"] = options.trainer
    if "trainer" in space.params:
        raise ConfigError(f"{space_path}: trainer is what every trial runs; fix it (`fixed:` or --trainer) "
                          "instead of searching it")  # fmt: skip
    if options.data_mode is not None:
        overrides["data_mode"] = options.data_mode
    if options.workers_per_trial is not None:
        overrides["workers_per_trial"] = options.workers_per_trial
    if "workers_per_trial" in space.params:
        raise ConfigError(f"{space_path}: workers_per_trial sets each trial's resources; fix it (`fixed:` or "
                          "--workers-per-trial) instead of searching it")  # fmt: skip
    parallel = int({**space.fixed, **overrides}.get("workers_per_trial", 1)) > 1
    # every process uses as many torch threads as CPUs it holds: reproducible and no oversubscription
    overrides["num_threads"] = max(1, int(options.cpus_per_worker if parallel else options.cpus_per_trial))
    fixed = {**space.fixed, **overrides}
    if isinstance(fixed.get("dataset"), str):
        fixed["dataset"] = _absolute_dataset(fixed["dataset"])
    try:
        TrainConfig(**fixed)
    except ValidationError as err:  # named by where the bad value came from: an option, else the space file
        raise invalid_config(err, str(space_path), set(overrides) - {"num_threads"}) from None
    space = space.model_copy(update={"fixed": fixed})
    trainer = str(fixed.get("trainer", TrainConfig.model_fields["trainer"].default))
    if not is_builtin_trainer(trainer) and int(fixed.get("workers_per_trial", 1)) > 1:
        raise ConfigError(f"{space_path}: workers_per_trial {fixed['workers_per_trial']} runs nagexp's trainer on "
                          f"K Ray Train workers; your own trainer '{trainer}' runs as one process (use 1)")  # fmt: skip
    if options.rung_signal is not None:
        space = space.model_copy(update={"asha": space.asha.model_copy(update={"signal": options.rung_signal})})
    if options.scheduler in POPULATION_SCHEDULERS:
        _check_population(space, options.scheduler, space_path)
    if options.deterministic:
        _check_deterministic(options)
    _check_objectives(space, options, space_path)
    if options.scheduler in POPULATION_SCHEDULERS and (options.warm_start or options.enqueue):
        raise ConfigError(f"--scheduler {options.scheduler} draws its first population from the sampler alone; "
                          "--warm-start and --enqueue are for --scheduler asha or fifo")  # fmt: skip
    results_dir = options.results_dir.expanduser().resolve()
    name = (check_name(options.name, "sweep name", dated_default=True) if options.name is not None
            else unique_name(space_path.stem, results_dir))  # fmt: skip
    return SweepSpec(
        name=name,
        options=options.model_copy(
            update={
                "space": space_path.resolve(),
                "name": name,
                "code_dir": (options.code_dir or Path.cwd()).expanduser().resolve(),
            }
        ),
        space=space,
        space_text=space_path.read_text(),
        results_dir=results_dir,
        sweep_dir=results_dir / name,
    )
