"""SweepOptions (what the user asked) + SearchSpace -> SweepSpec (what will run)."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nagexp.config.loading import describe_validation_error
from nagexp.config.sizes import parse_size
from nagexp.config.space import SEARCH_SPACES_DIR, FloatParam, SearchSpace, find_space_file, load_space
from nagexp.config.train import TrainConfig
from nagexp.errors import ConfigError
from nagexp.naming import check_name, unique_name
from nagexp.parallel.placement import WorkerResources
from nagexp.space.samplers import SAMPLER_NAMES
from nagexp.space.schedulers import POPULATION_SCHEDULERS, SCHEDULER_NAMES

__all__ = ["DEFAULT_SPACE", "SweepOptions", "SweepSpec", "resolve_sweep"]

DEFAULT_SPACE = SEARCH_SPACES_DIR / "nag_default.yaml"

SamplerName = Literal[SAMPLER_NAMES]  # type: ignore[valid-type]  # from the registry
SchedulerName = Literal[SCHEDULER_NAMES]  # type: ignore[valid-type]


class SweepOptions(BaseModel):
    """Everything `nagexp sweep` accepts; defaults match the CLI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space: Path = DEFAULT_SPACE
    name: str | None = None  # default: <space>-<date>-<time>
    trials: int = Field(20, ge=1)  # trials to run in total
    epochs: int | None = Field(None, ge=1)  # overrides the space's fixed epochs
    dataset: str | None = None  # overrides the space's fixed dataset
    data_mode: Literal["memory", "stream", "auto"] | None = None  # overrides the space's fixed data_mode
    seed: int = 0  # master seed: sampler and every trial's seed
    sampler: SamplerName = "tpe"
    scheduler: SchedulerName = "asha"
    max_concurrent: int | None = Field(None, ge=1)  # default: as many as resources allow
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)  # fractions share a GPU
    workers_per_trial: int | None = Field(None, ge=1)  # overrides the space's fixed workers_per_trial
    cpus_per_worker: float = Field(1.0, gt=0)  # workers_per_trial > 1: each worker's CPUs ...
    gpus_per_worker: float = Field(0.0, ge=0)  # ... and GPUs (replacing --cpus/gpus-per-trial)
    time_budget: float | None = Field(None, gt=0)  # seconds for the whole sweep
    epoch_budget: int | None = Field(None, ge=1)  # epochs trained by all trials together; then the sweep ends
    max_failures: int = Field(2, ge=0)  # retries of a trial whose worker died, from its last checkpoint
    address: str | None = None  # existing Ray cluster; None starts Ray locally
    results_dir: Path = Path("results")
    track: bool = True  # MLflow tracking of the sweep and its trials
    experiment: str = "nagexp"  # MLflow experiment
    tracking_uri: str | None = None  # default: MLFLOW_TRACKING_URI, else sqlite in results_dir
    log_models: Literal["best", "all", "none"] = "best"
    register_model: str | None = None  # register the best model under this name
    mlflow_parent_run: str | None = None  # nest the sweep's run under this one (a comparison's arms)
    code_dir: Path | None = None  # folder of your own model/dataset code; default: the current directory
    cache_dir: str | None = None  # prepared datasets (a folder or a URI: s3://...); default: <results_dir>/data-cache
    memory_budget: str | None = None  # data_mode auto: memory mode when the data fits (default: 1/4 of RAM)

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _a_folder_or_uri(cls, value: object) -> object:
        return str(value) if isinstance(value, PurePath) else value  # a Path from Python callers

    @field_validator("memory_budget")
    @classmethod
    def _a_size(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_size(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value


class SweepSpec(BaseModel):
    """The resolved, frozen plan: options with defaults filled, the space with overrides applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    options: SweepOptions
    space: SearchSpace
    space_text: str  # the space file as written, stored next to the results
    results_dir: Path  # absolute
    sweep_dir: Path  # absolute: <results_dir>/<name>

    @property
    def epochs(self) -> int:
        return int(self.space.fixed.get("epochs", TrainConfig.model_fields["epochs"].default))

    @property
    def uses_user_code(self) -> bool:
        """A model or dataset of the sweep (fixed, or a choice of a searched one) is the user's."""
        from nagexp.user_code import uses_user_code

        def values(name: str) -> list[str]:
            param = self.space.params.get(name)
            found = [self.space.fixed.get(name, TrainConfig.model_fields[name].default)]
            return found + [str(c) for c in getattr(param, "choices", [getattr(param, "value", found[0])])]

        return uses_user_code(values("model"), values("dataset"))

    @property
    def workers(self) -> WorkerResources | None:
        """Each trial's data-parallel workers; None: a trial is one process (K = 1)."""
        k = int(self.space.fixed.get("workers_per_trial", 1))
        if k == 1:
            return None
        return WorkerResources(k, self.options.cpus_per_worker, self.options.gpus_per_worker)

    @property
    def metric(self) -> str:
        return self.space.objective.metric

    @property
    def mode(self) -> str:
        return self.space.objective.direction


def _check_population(space: SearchSpace, scheduler: str, source: Path) -> None:
    """What population-based training needs of the space, said before anything starts."""
    fixed, problems = TrainConfig(**space.fixed), []
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


def resolve_sweep(options: SweepOptions) -> SweepSpec:
    """Load and check the space, apply the option overrides, name the sweep."""
    space_path = find_space_file(options.space)  # `quick.yaml` finds the shipped file
    space = load_space(space_path)
    overrides: dict[str, Any] = {}
    if options.epochs is not None:
        overrides["epochs"] = options.epochs
    if options.dataset is not None:
        overrides["dataset"] = options.dataset
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
    try:
        TrainConfig(**fixed)
    except ValidationError as err:
        raise ConfigError(f"{space_path}: {describe_validation_error(err, TrainConfig)}") from None
    space = space.model_copy(update={"fixed": fixed})
    if options.scheduler in POPULATION_SCHEDULERS:
        _check_population(space, options.scheduler, space_path)
    results_dir = options.results_dir.expanduser().resolve()
    name = check_name(options.name, "sweep name") if options.name else unique_name(space_path.stem, results_dir)
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
