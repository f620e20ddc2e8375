"""Search-space YAML files: fixed TrainConfig values, searched params, and the sections in
config/space_sections.py (objective, asha, pbt).

Validated completely on load; every error names the file, the param and the rule broken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nagexp.config.loading import describe_validation_error, read_yaml_mapping
from nagexp.config.space_fields import is_config_key, unknown_fields
from nagexp.config.space_sections import MUTABLE_PARAMS, OBJECTIVE_METRICS, AshaSettings, Objective, PbtSettings
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError

__all__ = [
    "MUTABLE_PARAMS",
    "OBJECTIVE_METRICS",
    "SEARCH_SPACES_DIR",
    "AshaSettings",
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "Objective",
    "PbtSettings",
    "SearchSpace",
    "find_space_file",
    "is_config_key",
    "load_space",
]

SEARCH_SPACES_DIR = Path(__file__).resolve().parents[2] / "search_spaces"

Scalar = float | int | str | bool


class _Param(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    # only sampled when every named param took one of the listed values
    when: dict[str, Scalar | list[Scalar]] | None = None

    def conditions(self) -> dict[str, list[Scalar]]:
        return {k: v if isinstance(v, list) else [v] for k, v in (self.when or {}).items()}


def _check_range(low: float, high: float, log: bool) -> None:
    """The rules every numeric param shares (Optuna's own wording)."""
    if not low <= high:
        raise ValueError(f"`low <= high` must hold, but got (low={low}, high={high})")
    if log and low <= 0:
        raise ValueError(f"log scale needs low > 0, but got low={low}")


class FloatParam(_Param):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step is not None:
            raise ValueError("`step` and `log` cannot both be set")
        return self


class IntParam(_Param):
    type: Literal["int"]
    low: int
    high: int
    step: int = 1
    log: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        if self.step < 1 or (self.log and self.step != 1):
            raise ValueError(f"step must be >= 1 (and 1 with log), but got step={self.step}")
        return self


class CategoricalParam(_Param):
    type: Literal["categorical"]
    choices: list[Scalar]

    @field_validator("choices")
    @classmethod
    def _not_empty(cls, value: list[Scalar]) -> list[Scalar]:
        if not value:
            raise ValueError("choices must not be empty")
        if len(set(map(repr, value))) != len(value):
            raise ValueError(f"choices must be distinct (got {value})")
        return value


class FixedParam(_Param):
    type: Literal["fixed"]
    value: Any


Param = Annotated[FloatParam | IntParam | CategoricalParam | FixedParam, Field(discriminator="type")]


class SearchSpace(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    description: str = ""
    fixed: dict[str, Any] = {}
    params: dict[str, Param] = {}
    objective: Objective = Objective()  # the primary objective: ASHA's, and the one of single-objective sweeps
    secondary_objectives: tuple[Objective, ...] = ()  # `objective:` a list: its second and later entries
    asha: AshaSettings = AshaSettings()
    pbt: PbtSettings = PbtSettings()

    @model_validator(mode="before")
    @classmethod
    def _objective_list(cls, values: Any) -> Any:
        """`objective: [{metric: val_acc}, {metric: param_count}]`: several objectives, the first primary."""
        if not isinstance(values, dict) or not isinstance(values.get("objective"), list):
            return values
        listed = values["objective"]
        if not listed:
            raise ValueError("objective: an empty list; give one metric, or a list of two or more")
        return {**values, "objective": listed[0], "secondary_objectives": listed[1:]}

    @model_validator(mode="after")
    def _distinct_objectives(self) -> SearchSpace:
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"objective: each metric once (got {metrics})")
        return self

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """Every objective, the primary first."""
        return (self.objective, *self.secondary_objectives)

    @field_validator("params", mode="before")
    @classmethod
    def _plain_values_are_fixed(cls, value: Any) -> Any:
        # `width: 1.0` in params is shorthand for {type: fixed, value: 1.0}
        if isinstance(value, dict):
            return {
                k: v if isinstance(v, dict) and "type" in v else {"type": "fixed", "value": v} for k, v in value.items()
            }
        return value

    def ordered_params(self) -> list[tuple[str, Param]]:
        """Params with every `when` parent before its children (file order otherwise)."""
        done: dict[str, Param] = {}
        pending = dict(self.params)
        while pending:
            ready = [n for n, p in pending.items() if all(k in done for k in p.conditions())]
            if not ready:  # a cycle of `when` conditions; validation reports it
                break
            for n in ready:
                done[n] = pending.pop(n)
        return list(done.items())

    def values_of(self, field: str) -> list[str]:
        """Every value TrainConfig `field` can take in a sweep over this space: the fixed one (or
        the default), and a searched param's choices (or its value)."""
        param = self.params.get(field)
        found = [self.fixed.get(field, TrainConfig.model_fields[field].default)]
        values = found + list(getattr(param, "choices", [getattr(param, "value", found[0])]))
        return list(dict.fromkeys(str(v) for v in values))  # each once, in order

    def train_config(self, values: dict[str, Any]) -> TrainConfig:
        return TrainConfig(**{**self.fixed, **values})


def _field_error(field: str, value: Any, fixed: dict[str, Any]) -> str | None:
    """Why `value` is not allowed for TrainConfig `field` (None when it is)."""
    try:
        TrainConfig.model_validate({**fixed, field: value})
    except ValidationError as err:
        own = [e for e in err.errors() if e["loc"] and e["loc"][0] == field.split(".")[0]]
        if own:
            return own[0]["msg"].removeprefix("Value error, ")
    return None


def _check_against_train_config(space: SearchSpace) -> list[str]:
    problems = unknown_fields(list(space.fixed), list(space.params))
    try:  # the known fields' values (an unknown one is said once, above)
        TrainConfig(**{k: v for k, v in space.fixed.items() if is_config_key(k)})
    except ValidationError as err:
        problems.append(f"fixed: {describe_validation_error(err, TrainConfig)}")
    for name, p in space.params.items():
        if not is_config_key(name):
            continue
        candidates: list[tuple[str, Any]] = []
        if isinstance(p, FloatParam | IntParam):
            candidates = [("low", p.low), ("high", p.high)]
        elif isinstance(p, CategoricalParam):
            candidates = [("choice", c) for c in p.choices]
        else:
            candidates = [("value", p.value)]
        for what, value in candidates:
            why = _field_error(name, value, space.fixed)
            if why:
                problems.append(f"param '{name}': {what} {value!r} is not allowed: {why}")
    return problems


def _check_conditions(space: SearchSpace) -> list[str]:
    problems = []
    for name, p in space.params.items():
        for parent, allowed in p.conditions().items():
            if parent == name:
                problems.append(f"param '{name}': `when` names the param itself")
            elif parent not in space.params and parent in space.fixed:  # (a `type: fixed` param is in both)
                value = space.fixed[parent]
                fix = ("drop the `when`: it always holds" if value in allowed
                       else f"drop the param: it is never searched, or search '{parent}' under params")  # fmt: skip
                problems.append(f"param '{name}': `when` names '{parent}', which is fixed ({value!r}), not searched: "
                                f"{fix}")  # fmt: skip
            elif parent not in space.params:
                problems.append(f"param '{name}': `when` names unknown param '{parent}'")
            else:
                q = space.params[parent]
                domain = (
                    q.choices if isinstance(q, CategoricalParam) else [q.value] if isinstance(q, FixedParam) else None
                )
                if domain is None:
                    problems.append(
                        f"param '{name}': `when` must name a categorical or fixed param ('{parent}' is {q.type})"
                    )
                    continue
                for v in allowed:
                    if v not in domain:
                        problems.append(f"param '{name}': `when` value {v!r} is not a choice of '{parent}' ({domain})")
    if not problems:  # cycles: a param whose parents never become ready
        ordered = {n for n, _ in space.ordered_params()}
        stuck = sorted(set(space.params) - ordered)
        if stuck:
            problems.append(f"params {stuck}: their `when` conditions form a cycle")
    return problems


def parse_space(data: dict[str, Any], source: str) -> SearchSpace:
    """A validated SearchSpace from a YAML mapping; ConfigError listing every problem."""
    try:
        space = SearchSpace.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {_describe_space_error(err)}") from None
    problems = _check_conditions(space) + _check_against_train_config(space)
    if not any(not isinstance(p, FixedParam) for p in space.params.values()):
        problems.append("no param to search: add a float, int or categorical param under `params` "
                        "(a sweep of fixed values has nothing to compare)")  # fmt: skip
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return space


def _describe_space_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = [str(x) for x in e["loc"]]
        msg = e["msg"].removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] == "params":
            name = loc[1]
            if e["type"] == "union_tag_invalid":
                parts.append(
                    f"param '{name}': unknown type {e['input'].get('type')!r} (allowed: float, int, categorical, fixed)"
                )
            elif e["type"] == "extra_forbidden":
                parts.append(f"param '{name}': unknown key '{loc[-1]}'")
            else:
                parts.append(f"param '{name}': {msg}")
        elif e["type"] == "extra_forbidden":
            allowed = "description, fixed, params, objective, asha, pbt"
            parts.append(f"unknown section '{'.'.join(loc)}' (allowed: {allowed})")
        else:
            parts.append(f"{'.'.join(loc) or 'space'}: {msg}")
    return "; ".join(parts)


def find_space_file(path: str | Path) -> Path:
    """`path` itself, or the shipped file of that name (`quick.yaml`) when `path` is missing."""
    path = Path(path)
    if not path.exists() and not path.is_absolute() and (SEARCH_SPACES_DIR / path.name).exists():
        return SEARCH_SPACES_DIR / path.name
    return path


def load_space(path: str | Path) -> SearchSpace:
    return parse_space(read_yaml_mapping(path, "space file"), str(path))
