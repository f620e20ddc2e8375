"""Warm starts: a new sweep's Optuna study told what earlier sweeps learned (`--warm-start`),
and configs run first (`--enqueue`).

The earlier sweeps' completed and pruned trials (from their journals: params, every epoch's
values, the objectives at the last epoch) become finished trials of the new study before its
first trial is asked, marked as prior knowledge; nothing is retrained. Only what fits the new
space is told: a param the new space lacks is left out, and a trial with a value outside the
new bounds (or without a value for one of the new objectives) is left out whole, both counted
in one line. The new sweep's trials keep their own numbers and seeds: Optuna numbers the prior
trials first, and nagexp's trial number is Optuna's minus their count (`define_by_run`'s
`first_number`), which sweep.json keeps for `--resume`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nagexp.config.loading import RERUN_EXTRA_KEYS, read_yaml
from nagexp.config.space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace
from nagexp.config.sweep import SweepSpec
from nagexp.config.train import ARGS_FIELDS, TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.core.wording import counted
from nagexp.results.folders import SweepFolder, sweep_dir_of
from nagexp.results.journal import replay
from nagexp.results.plan import read_plan
from nagexp.results.records import TrialState
from nagexp.search.study import PRIOR_TRIALS_ATTR

__all__ = ["ENQUEUED_ATTR", "PRIOR_ATTR", "Priors", "SearchStart", "enqueued_params", "gather_priors", "search_start",
           "tell_priors"]  # fmt: skip

PRIOR_ATTR = "nagexp.prior"  # on each prior trial: "<sweep>#<trial number>"
_KNOWN_KEYS = {*TrainConfig.model_fields, *RERUN_EXTRA_KEYS}  # of a saved config: the searched params are among them
ENQUEUED_ATTR = "nagexp.enqueued"  # on each enqueued trial: the file it came from


@dataclass
class Priors:
    """The earlier trials to tell the new study (Optuna FrozenTrials), and what was left out."""

    trials: list[Any] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # the earlier sweeps' folders
    dropped_trials: int = 0  # a value outside the new bounds, or no value for a new objective
    dropped_params: int = 0  # params the new space lacks (left out of their trials)

    def record(self) -> dict[str, Any]:
        """What sweep.json keeps (a resume numbers the trials after `told`)."""
        return {"sources": self.sources, "told": len(self.trials), "dropped_trials": self.dropped_trials,
                "dropped_params": self.dropped_params}  # fmt: skip

    def summary(self) -> str:
        names = ", ".join(Path(s).name for s in self.sources)
        left_out = []
        if self.dropped_trials:
            left_out.append(f"{counted(self.dropped_trials, 'trial')} outside this space's bounds or objectives")
        if self.dropped_params:
            left_out.append(f"{self.dropped_params} values of params this space lacks")
        return (f"warm start: {len(self.trials)} finished trials of {names} told to the sampler (not retrained)"
                + (f"; left out: {', '.join(left_out)}" if left_out else ""))  # fmt: skip


def _distribution(param: Param) -> Any:
    import optuna

    if isinstance(param, FloatParam):
        return optuna.distributions.FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, IntParam):
        return optuna.distributions.IntDistribution(param.low, param.high, log=param.log, step=param.step or 1)
    assert isinstance(param, CategoricalParam)
    return optuna.distributions.CategoricalDistribution(param.choices)


def _fits(param: Param, value: Any) -> bool:
    if isinstance(param, FloatParam | IntParam):
        return isinstance(value, int | float) and not isinstance(value, bool) and param.low <= value <= param.high
    return isinstance(param, CategoricalParam) and value in param.choices


def _searched(space: SearchSpace) -> dict[str, Param]:
    return {n: p for n, p in space.params.items() if isinstance(p, FloatParam | IntParam | CategoricalParam)}


def _check_same_task(spec: SweepSpec, folder: Path, any_task: bool) -> Any:
    plan = read_plan(folder)
    if any_task:
        return plan
    theirs, ours = plan.space.fixed.get("dataset"), spec.space.fixed.get("dataset")
    if theirs != ours:
        raise ConfigError(f"--warm-start {folder.name}: it swept dataset {theirs}, this sweep {ours}; its trials "
                          "say little here (give --warm-start-any to use them anyway)")  # fmt: skip
    them = [(o.metric, o.direction) for o in plan.space.objectives]
    us = [(o.metric, o.direction) for o in spec.space.objectives]
    if them != us:
        raise ConfigError(f"--warm-start {folder.name}: its objectives {them} are not this sweep's {us} (give "
                          "--warm-start-any to use its trials anyway)")  # fmt: skip
    return plan


def gather_priors(spec: SweepSpec) -> Priors:
    """The earlier sweeps' trials that fit this sweep's space, as Optuna trials; ConfigError in
    one line for a sweep that is not there, damaged, or (without --warm-start-any) of another
    dataset or objective."""
    import optuna

    o = spec.options
    priors = Priors()
    searched = _searched(spec.space)
    objectives = spec.space.objectives
    several = len(objectives) > 1
    for source in o.warm_start:
        folder = sweep_dir_of(source, spec.results_dir)
        if folder == spec.sweep_dir:
            raise ConfigError(f"--warm-start {source}: that is this sweep")
        plan = _check_same_task(spec, folder, o.warm_start_any)
        priors.sources.append(str(folder))
        for number, rec in sorted(replay(SweepFolder(folder).journal, plan.metric, plan.mode).items()):
            if rec.state not in (TrialState.COMPLETED, TrialState.PRUNED):
                continue
            kept = {n: v for n, v in rec.params.items() if n in searched}
            priors.dropped_params += len(rec.params) - len(kept)
            finals = {plan.metric: rec.final, **rec.finals} if rec.final is not None else dict(rec.finals)
            values = [finals.get(x.metric) for x in objectives]
            curve = {int(h["epoch"]): float(h[objectives[0].metric]) for h in rec.history
                     if "epoch" in h and isinstance(h.get(objectives[0].metric), int | float)}  # fmt: skip
            usable = rec.state == TrialState.PRUNED or all(v is not None and math.isfinite(v) for v in values)
            if not usable or not all(_fits(searched[n], v) for n, v in kept.items()):
                priors.dropped_trials += 1
                continue
            complete = rec.state == TrialState.COMPLETED
            try:  # Optuna checks each value against its distribution (a float param's step grid too)
                trial = optuna.trial.create_trial(
                    params=kept, distributions={n: _distribution(searched[n]) for n in kept},
                    state=optuna.trial.TrialState.COMPLETE if complete else optuna.trial.TrialState.PRUNED,
                    values=[float(v) for v in values] if complete else None,  # type: ignore[arg-type]
                    # a multi-objective study keeps no per-epoch values (Optuna's rule)
                    intermediate_values=None if several else curve,
                    user_attrs={PRIOR_ATTR: f"{folder.name}#{number}"},
                )  # fmt: skip
            except ValueError:
                priors.dropped_trials += 1
                continue
            priors.trials.append(trial)
    return priors


def tell_priors(study: Any, priors: Priors) -> None:
    """The prior trials into a new sweep's (empty) study, before its first trial."""
    study.add_trials(priors.trials)
    study.set_user_attr(PRIOR_TRIALS_ATTR, len(priors.trials))


def _flat(values: Mapping[str, Any]) -> dict[str, Any]:
    """A config's `model_args: {depth: 3}` as `model_args.depth` (how a space names it)."""
    flat = {k: v for k, v in values.items() if k not in ARGS_FIELDS}
    for name in ARGS_FIELDS:
        flat.update({f"{name}.{k}": v for k, v in (values.get(name) or {}).items()})
    return flat


def enqueued_params(path: Path, space: SearchSpace) -> list[dict[str, Any]]:
    """The param sets of `--enqueue FILE` (a best.yaml or config.yaml, or a YAML list of param
    sets), each cut to this space's searched params; ConfigError in one line for a file that is
    not one, a set with none of them, or a value outside their bounds."""
    loaded = read_yaml(path, "--enqueue file")
    sets = loaded if isinstance(loaded, list) else [loaded]
    searched = _searched(space)
    out = []
    for i, values in enumerate(sets, start=1):
        where = f"--enqueue {path}" + (f": entry {i}" if isinstance(loaded, list) else "")
        if not isinstance(values, dict):
            raise ConfigError(f"{where} is not a mapping of params to values (a best.yaml, or a list of them)")
        flat = _flat(values)
        if unknown := [n for n in flat if n not in searched and n.split(".")[0] not in _KNOWN_KEYS]:
            raise ConfigError(f"{where}: {', '.join(map(repr, unknown))}: no param of this space and no TrainConfig "
                              f"field (misspelt?); this space searches {', '.join(searched)}")  # fmt: skip
        kept = {n: v for n, v in flat.items() if n in searched}
        if not kept:
            raise ConfigError(f"{where} sets none of this space's params ({', '.join(searched)})")
        for n, v in kept.items():
            if not _fits(searched[n], v):
                raise ConfigError(f"{where}: {n}={v!r} is outside this space's {n} ({_bounds(searched[n])})")
        out.append(kept)
    return out


def _bounds(param: Param) -> str:
    if isinstance(param, FloatParam | IntParam):
        return f"{param.low} to {param.high}"
    assert isinstance(param, CategoricalParam)
    return f"one of {param.choices}"


@dataclass
class SearchStart:
    """What a new sweep's study starts from: earlier sweeps' trials, and configs run first."""

    priors: Priors | None = None
    enqueued: list[dict[str, Any]] = field(default_factory=list)
    enqueue_file: Path | None = None

    def record(self) -> dict[str, Any]:
        """What sweep.json keeps of it."""
        told = self.priors.record() if self.priors else {"sources": [], "told": 0}
        return {**told, "enqueued": len(self.enqueued), "enqueue_file": str(self.enqueue_file or "") or None}

    def tell(self, study: Any) -> None:
        """Into the new (empty) study: the priors, then the enqueued configs as Optuna's waiting
        trials (asked first, in order)."""
        if self.priors is not None and self.priors.trials:
            tell_priors(study, self.priors)
        for params in self.enqueued:
            study.enqueue_trial(params, user_attrs={ENQUEUED_ATTR: str(self.enqueue_file)})


def search_start(spec: SweepSpec, say: Callable[[str], None]) -> SearchStart | None:
    """A new sweep's `--warm-start` and `--enqueue`, read and checked (nothing written); None
    without them."""
    o = spec.options
    if not o.warm_start and o.enqueue is None:
        return None
    start = SearchStart(enqueue_file=o.enqueue)
    if o.warm_start:
        start.priors = gather_priors(spec)
        say(start.priors.summary())
    if o.enqueue is not None:
        start.enqueued = enqueued_params(o.enqueue, spec.space)
        say(f"enqueued: {counted(len(start.enqueued), 'config')} of {o.enqueue} run first")
        if len(start.enqueued) > o.trials:
            say(f"warning: --trials {o.trials} runs the first {o.trials} of the {len(start.enqueued)} enqueued configs")
    return start
