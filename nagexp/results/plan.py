"""sweep.json, the plan of a sweep written before any trial runs (everything to rerun it):
one typed definition (`SweepPlan`), written by `write_plan`, read by `read_plan`, which says in
one line what is wrong with a missing, truncated or garbled file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from nagexp.config.space import SearchSpace
from nagexp.config.sweep import SweepOptions
from nagexp.core.errors import ConfigError
from nagexp.core.io import atomic_write_text
from nagexp.results.folders import PLAN_FILE, SweepFolder
from nagexp.results.ranking import Ranking

__all__ = ["PLAN_FILE", "PlanData", "PlanObjective", "PlanSeeds", "SweepPlan", "read_plan", "write_plan"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PlanObjective(_Part):
    metric: str
    mode: Literal["max", "min"]


class PlanSeeds(_Part):
    master: int  # the sweep's --seed
    sampler: int
    trial_seed_rule: str
    first_trial_seeds: list[int] = []


class PlanData(_Part):
    """The data every trial trained on, as loaded on the driver."""

    fingerprint: str
    report: dict[str, Any]  # nagexp.data.bundle.DataReport
    input_shape: list[int]
    num_classes: int


class SweepPlan(_Part):
    name: str
    command: str | None = None  # how the sweep was started (the CLI: its command line)
    options: SweepOptions  # the tracking URI with credentials masked
    space_file: str
    space: SearchSpace  # with the options' overrides applied (epochs, dataset, the resolved data mode)
    space_text: str  # the space file as written
    objective: PlanObjective
    seeds: PlanSeeds
    versions: dict[str, str] = {}
    git_sha: str | None = None
    user_code: dict[str, Any] | None = None  # the user's model/dataset code: folder and content hash
    data: PlanData | None = None
    ray_resources: dict[str, float] | None = None
    # the study's start (search/warm_start.py): earlier sweeps' trials told first, configs enqueued
    warm_start: dict[str, Any] | None = None

    @property
    def metric(self) -> str:
        return self.objective.metric

    @property
    def mode(self) -> str:
        return self.objective.mode

    @property
    def param_names(self) -> list[str]:
        return list(self.space.params)

    @property
    def ranking(self) -> Ranking:
        """How this sweep's trials rank (several objectives: the Pareto front and --pick)."""
        return Ranking.of(self.space, self.options.pick)


def write_plan(sweep_dir: Path, plan: SweepPlan) -> None:
    atomic_write_text(SweepFolder(sweep_dir).plan, json.dumps(plan.model_dump(mode="json"), indent=2) + "\n")


def read_plan(sweep_dir: str | Path) -> SweepPlan:
    """The plan of the sweep in `sweep_dir`; ConfigError (one line naming the file and what to
    do) when it is missing, cut short or not a plan."""
    path = SweepFolder(Path(sweep_dir)).plan
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"no sweep at '{path.parent}' ({path.name} missing); `nagexp ls` lists the sweeps") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"'{path}' cannot be read ({type(exc).__name__}); check the file's permissions") from None
    damaged = (f"'{path}' is damaged ({{}}); it cannot be rebuilt from the other files: restore it from a copy, "
               "or start a new sweep")  # fmt: skip
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        why = "cut short" if exc.pos >= len(text.rstrip()) else f"not JSON at line {exc.lineno}, column {exc.colno}"
        raise ConfigError(damaged.format(why)) from None
    if not isinstance(raw, dict):
        raise ConfigError(damaged.format(f"a JSON {type(raw).__name__}, not the plan's mapping"))
    try:
        return SweepPlan.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(damaged.format(_problems(err))) from None


def _problems(err: ValidationError, shown: int = 3) -> str:
    """The first few problems, each naming its field (no echo of the file's content)."""
    parts = []
    for e in err.errors()[:shown]:
        field = ".".join(str(p) for p in e["loc"]) or "the plan"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            parts.append(f"no '{field}'")
        elif e["type"] == "extra_forbidden":
            parts.append(f"'{field}' is not known to this nagexp (written by another version?)")
        else:
            parts.append(f"'{field}': {msg}")
    more = len(err.errors()) - shown
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
