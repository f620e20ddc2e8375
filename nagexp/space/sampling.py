"""The define-by-run function Optuna calls for every trial (conditional params included)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nagexp.config.space import CategoricalParam, FixedParam, FloatParam, IntParam, Param, SearchSpace
from nagexp.config.train import MODEL_ARGS_PREFIX, TrainConfig, args_entry
from nagexp.core.seeds import trial_seed
from nagexp.results.trial_report import TRIAL_NUMBER_KEY

if TYPE_CHECKING:
    import optuna

__all__ = ["active_params", "define_by_run", "model_probes", "schedule_probes", "suggest"]


def _is_active(param: Param, values: dict[str, Any]) -> bool:
    return all(parent in values and values[parent] in allowed for parent, allowed in param.conditions().items())


def suggest(trial: optuna.Trial, name: str, param: Param) -> Any:
    if isinstance(param, FloatParam):
        return trial.suggest_float(name, param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, IntParam):
        return trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, CategoricalParam):
        return trial.suggest_categorical(name, param.choices)
    assert isinstance(param, FixedParam)
    return param.value


def active_params(space: SearchSpace, sample: Callable[[str, Param], Any]) -> dict[str, Any]:
    """Values for the params whose `when` conditions hold, parents first."""
    values: dict[str, Any] = {}
    for name, param in space.ordered_params():
        if _is_active(param, values):
            values[name] = sample(name, param)
    return values


class define_by_run:
    """`space(trial)` for OptunaSearch: samples the active params and returns the full trial
    config: fixed values, sampled values, the trial's seed and number. Cheap (no I/O), and
    picklable, since Tune saves the searcher with every experiment snapshot. `first_number`:
    the Optuna number of the sweep's own trial 0 (a warm-started study holds prior trials
    first, see search/warm_start.py)."""

    def __init__(self, space: SearchSpace, master_seed: int, first_number: int = 0) -> None:
        self.space, self.master_seed, self.first_number = space, master_seed, first_number

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        sampled = active_params(self.space, lambda name, param: suggest(trial, name, param))
        number = trial.number - getattr(self, "first_number", 0)
        return {
            **self.space.fixed,
            **sampled,
            "seed": trial_seed(self.master_seed, number),
            TRIAL_NUMBER_KEY: number,
        }


def model_probes(space: SearchSpace) -> list[TrainConfig]:
    """One config per model the sweep can train (each choice of a searched `model`), its
    searched arguments at the low end of their ranges (or first choice): what is checked on
    the driver before any trial starts."""
    model_param = space.params.get("model")
    choices: list[Any] = model_param.choices if isinstance(model_param, CategoricalParam) else [None]
    probes: dict[str, TrainConfig] = {}
    for choice in choices:

        def first(name: str, param: Param, choice: Any = choice) -> Any:
            if name == "model" and choice is not None:
                return choice
            if isinstance(param, FloatParam | IntParam):
                return param.low
            return param.choices[0] if isinstance(param, CategoricalParam) else param.value

        values = active_params(space, first)
        model_part = {k: v for k, v in values.items() if k in ("model", "width") or k.startswith(MODEL_ARGS_PREFIX)}
        cfg = space.train_config(model_part)
        probes.setdefault(f"{cfg.model}{sorted(cfg.model_arguments().items())}", cfg)
    return list(probes.values())


_SCHEDULE_KEYS = ("lr", "momentum", "optimizer", "epochs", "batch_size", "lr_schedule", "momentum_schedule")


def schedule_probes(space: SearchSpace) -> list[TrainConfig]:
    """Configs for the schedules of the user's a sweep can use: each choice of a searched
    schedule, its searched arguments (and lr, momentum) all at the low ends of their ranges,
    then all at the high ends. Only what the schedules read is taken from the space (other
    params at an end might not combine into a valid config)."""
    from pydantic import ValidationError

    from nagexp.registries.schedules import is_builtin_schedule

    probes: dict[str, TrainConfig] = {}
    for kind in ("lr", "momentum"):
        param = space.params.get(f"{kind}_schedule")
        choices: list[Any] = param.choices if isinstance(param, CategoricalParam) else [None]
        for choice, end in itertools.product(choices, ("low", "high")):

            def pick(name: str, param: Param, choice: Any = choice, end: str = end, kind: str = kind) -> Any:
                if name == f"{kind}_schedule" and choice is not None:
                    return choice
                if isinstance(param, FloatParam | IntParam):
                    return getattr(param, end)
                return param.choices[0] if isinstance(param, CategoricalParam) else param.value

            values = active_params(space, pick)
            part = {k: v for k, v in values.items() if k in _SCHEDULE_KEYS or (args_entry(k) or ("",))[0]
                    in ("lr_schedule_args", "momentum_schedule_args")}  # fmt: skip
            try:
                cfg = space.train_config(part)
            except ValidationError:
                continue  # not a config any trial gets: the space's own checks name the problem
            if not is_builtin_schedule(kind, getattr(cfg, f"{kind}_schedule")):  # type: ignore[arg-type]
                probes.setdefault(repr(sorted(part.items())), cfg)
    return list(probes.values())
