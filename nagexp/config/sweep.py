"""SweepOptions (what the user asked) and SweepSpec (what will run: the options with defaults
filled and the space with the options' overrides applied; see `nagexp.sweeps.spec`)."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nagexp.config.resources import WorkerResources
from nagexp.config.sizes import parse_size
from nagexp.config.space import SEARCH_SPACES_DIR, SearchSpace
from nagexp.config.space_sections import RungSignalName
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.registries.samplers import SAMPLER_NAMES
from nagexp.registries.schedulers import POPULATION_SCHEDULERS, SCHEDULER_NAMES

__all__ = ["DEFAULT_SPACE", "SweepOptions", "SweepSpec"]

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
    trainer: str | None = None  # overrides the space's fixed trainer: nag, or your own package.module:function
    data_mode: Literal["memory", "stream", "auto"] | None = None  # overrides the space's fixed data_mode
    seed: int = 0  # master seed: sampler and every trial's seed
    sampler: SamplerName = "tpe"
    scheduler: SchedulerName = "asha"
    rung_signal: RungSignalName | None = None  # overrides the space's asha.signal (what ASHA ranks on)
    max_concurrent: int | None = Field(None, ge=1)  # default: as many as resources allow
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)  # fractions share a GPU
    workers_per_trial: int | None = Field(None, ge=1)  # overrides the space's fixed workers_per_trial
    cpus_per_worker: float = Field(1.0, gt=0)  # workers_per_trial > 1: each worker's CPUs ...
    gpus_per_worker: float = Field(0.0, ge=0)  # ... and GPUs (replacing --cpus/gpus-per-trial)
    time_budget: float | None = Field(None, gt=0)  # seconds for the whole sweep
    epoch_budget: int | None = Field(None, ge=1)  # epochs trained by all trials together; then the sweep ends
    max_failures: int = Field(2, ge=0)  # retries of a trial whose worker died, from its last checkpoint
    # the sweep's trials, states and metrics depend on the seed and the space only, not on timing
    # or on how many trials run at once: trials asked in batches, halving on complete rungs
    deterministic: bool = False
    trials_per_batch: int = Field(4, ge=1)  # deterministic: trials asked (and halved) together
    # several objectives: which trial of the Pareto front is the best (results/ranking.py)
    pick: str = "knee"  # knee | primary | METRIC<=VALUE | METRIC>=VALUE
    # warm starts (search/warm_start.py): earlier sweeps whose finished trials the new study is
    # told first (names in results_dir, or folders), even of another dataset or objective with
    # warm_start_any; a file of configs run first (a best.yaml, or a YAML list of param sets)
    warm_start: tuple[str, ...] = ()
    warm_start_any: bool = False
    enqueue: Path | None = None
    address: str | None = None  # existing Ray cluster; None: $RAY_ADDRESS if set, else Ray started here
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

    @field_validator("warm_start", mode="before")
    @classmethod
    def _sweeps_listed(cls, value: Any) -> Any:
        """`--warm-start a,b --warm-start c` -> (a, b, c)."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            return tuple(part.strip() for item in value for part in str(item).split(",") if part.strip())
        return value

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
        """A model, dataset or schedule of the sweep (fixed, or a choice of a searched one) is the user's."""
        from nagexp.runtime.user_code import uses_user_code

        values = self.space.values_of
        return self.own_trainer or uses_user_code(values("model"), values("dataset"), values("lr_schedule"),
                                                  values("momentum_schedule"))  # fmt: skip

    @property
    def trainer(self) -> str:
        """The trainer every trial runs (fixed: a sweep does not search it)."""
        return str(self.space.fixed.get("trainer", TrainConfig.model_fields["trainer"].default))

    @property
    def own_trainer(self) -> bool:
        """The trials run a training function of the user's: nagexp loads and checks no data or model."""
        from nagexp.registries.trainers import is_builtin_trainer

        return not is_builtin_trainer(self.trainer)

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

    @property
    def population(self) -> bool:
        """Population-based training (PBT / PB2): the trials are one population."""
        return self.options.scheduler in POPULATION_SCHEDULERS

    @property
    def data_mode(self) -> str:
        """memory | stream once the sweep's data is loaded (auto before)."""
        return str(self.space.fixed.get("data_mode", TrainConfig.model_fields["data_mode"].default))
