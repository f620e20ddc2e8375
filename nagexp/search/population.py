"""A population-based sweep's Optuna side. Ray's PBT and PB2 refuse a search algorithm, so
the space's sampler (seeded) draws the whole first population up front into the sweep's
study, and each member's result is told to the study when it ends: optuna.db, the report's
importance and Optuna's dashboard read it as they read any sweep's."""

from __future__ import annotations

import math
from typing import Any

from nagexp.config.sweep import SweepSpec
from nagexp.integrations.optuna_search import storage_id, trial_handle
from nagexp.results.records import TrialRecord, TrialState, is_settled
from nagexp.results.trial_report import EPOCH_KEY

__all__ = ["PopulationStudy", "initial_population"]


def _study(spec: SweepSpec) -> Any:
    import optuna

    from nagexp.search.study import name_objective, storage_url
    from nagexp.space.samplers import make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=spec.name, storage=storage_url(spec), load_if_exists=True,
                                sampler=make_sampler(spec.options.sampler, spec.options.seed, spec.options.trials),
                                direction="maximize" if spec.mode == "max" else "minimize")  # fmt: skip
    name_objective(study, spec)
    return study


def initial_population(spec: SweepSpec) -> list[dict[str, Any]]:
    """`--trials` trial configs, asked from the study (numbers 0..N-1, seeds from the master seed)."""
    from nagexp.space.sampling import define_by_run

    study, space = _study(spec), define_by_run(spec.space, spec.options.seed)
    return [space(study.ask()) for _ in range(spec.options.trials)]


class PopulationStudy:
    """A TrialListener telling the study each member's objective every epoch (its learning
    curve, once per epoch) and its final value (PBT stops no trial; a diverged one is told
    with its value so the sampler's view stays true)."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self._study: Any = None
        self._told: dict[int, tuple[int, set[int]]] = {}  # number -> (storage id, epochs told)

    def _trial(self, number: int) -> tuple[int, set[int]]:
        if self._study is None:
            self._study = _study(self.spec)
            self._told = {t.number: (storage_id(t), set(t.intermediate_values))
                          for t in self._study.get_trials(deepcopy=False)}  # fmt: skip
        return self._told[number]

    def on_trial_start(self, rec: TrialRecord) -> None:
        pass

    def on_trial_epoch(self, rec: TrialRecord, metrics: dict[str, Any]) -> None:
        import optuna

        value, epoch = metrics.get(self.spec.metric), int(metrics.get(EPOCH_KEY, 0))
        trial_id, told = self._trial(rec.number)
        if value is None or not math.isfinite(float(value)) or epoch in told:
            return
        try:
            trial_handle(self._study, trial_id).report(float(value), epoch)
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            return  # already finished in the storage
        told.add(epoch)

    def on_trial_end(self, rec: TrialRecord) -> None:
        import optuna

        self._trial(rec.number)
        # a diverged member is told with its poor value too: the sampler learns where training breaks down
        usable = is_settled(rec.state) and rec.final is not None and math.isfinite(rec.final)
        states = optuna.trial.TrialState
        state = (states.PRUNED if rec.state == TrialState.PRUNED else states.COMPLETE) if usable else states.FAIL
        self._study.tell(rec.number, rec.final if state == states.COMPLETE else None, state=state,
                         skip_if_finished=True)  # fmt: skip
