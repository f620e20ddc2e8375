"""A paused trial's actor kept for the next trial to run (tested on Ray 2.60).

With `reuse_actors`, Tune keeps the actor of a trial that pauses or ends for the next trial,
except once its search has made every trial: then, unless another trial is already staged, it
ends the actor (`TuneController._maybe_cache_trial_actor`: "the search is over and no more
trials are staged"). nagexp's deterministic mode pauses trials (held before their start,
waiting at a rung for their batch), and so do synchronous PBT rounds; the scheduler resumes
one only after a pause has ended, when nothing is staged. So every resume in a sweep's last
batch, and every member of every PBT round, started a new actor: 3-4 CPU-seconds of imports
on CPU (a CUDA context too on a GPU), six actors for a deterministic sweep of four trials that
one actor can run.

The searches here tell Tune they are not finished while the scheduler holds a paused trial:
Tune then keeps one actor (its cache keeps one when none is expected elsewhere) and gives it
to the next trial it starts. Nothing else changes: Tune ends an experiment only when every
trial has finished as well, and no trial is made beyond the sweep's count (checked before the
searcher is asked). `paused` is the scheduler's own view, which Tune also builds for the trials
it restores on a resume; it is not part of the state Tune saves with the search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.search import BasicVariantGenerator, Searcher, SearchGenerator

from nagexp.integrations.versions import Tested

__all__ = ["TESTED", "held_open", "held_open_population", "paused_among"]

TESTED = Tested("ray", "2.60", "2.61", "Tune ending a pausing trial's actor once its search is finished (the "
                "actor is kept while the search says it is not)")  # fmt: skip
TESTED.check()

Paused = Callable[[], bool]  # the scheduler holds a paused trial


class _HeldOpen:
    """Unfinished while `paused()`; no trial made once the search itself has made them all."""

    _paused: Paused

    def _made_all(self) -> bool:
        return super().is_finished()  # type: ignore[misc]

    def next_trial(self) -> Trial | None:
        return None if self._made_all() else super().next_trial()  # type: ignore[misc]

    def is_finished(self) -> bool:
        return self._made_all() and not self._paused()

    # Tune saves a search's state with every experiment snapshot and restores it on a resume:
    # `paused` is the live scheduler's, never a snapshot's copy (whose paused trials stay paused)
    def get_state(self) -> Any:
        state = super().get_state()  # type: ignore[misc]
        if isinstance(state, dict):  # False: a search Tune cannot save
            state.pop("_paused", None)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        paused = self._paused
        super().set_state(state)  # type: ignore[misc]
        self._paused = paused


class _SearcherHeldOpen(_HeldOpen, SearchGenerator):
    def __init__(self, searcher: Searcher, paused: Paused) -> None:
        super().__init__(searcher)
        self._paused = paused


class _PopulationHeldOpen(_HeldOpen, BasicVariantGenerator):
    def __init__(self, population: list[dict[str, Any]], paused: Paused) -> None:
        super().__init__(points_to_evaluate=population)
        self._paused = paused


def held_open(searcher: Searcher, paused: Paused) -> SearchGenerator:
    """`searcher` as Tune's search, unfinished while `paused()` (see above)."""
    return _SearcherHeldOpen(searcher, paused)


def held_open_population(population: list[dict[str, Any]], paused: Paused) -> BasicVariantGenerator:
    """Tune's search over the configs of a population, in order, unfinished while `paused()`."""
    return _PopulationHeldOpen(population, paused)


def paused_among(trials: Iterable[Trial]) -> bool:
    """A trial among `trials` is paused (Tune's status)."""
    return any(t.status == Trial.PAUSED for t in trials)
