"""The searches that stay open while the scheduler holds a paused trial
(integrations/ray_actor_reuse.py): what Tune saves of them. That a paused trial's actor goes
on to the next trial: test_deterministic's one-actor test."""

from __future__ import annotations

import pytest
from ray import cloudpickle

from nagexp.integrations.ray_actor_reuse import held_open_population


@pytest.mark.fast
def test_a_resumed_search_asks_the_live_scheduler_not_a_snapshots_copy() -> None:
    scheduler = {"holds_paused": True}
    search = held_open_population([{"lr": 0.1}, {"lr": 0.2}], lambda: scheduler["holds_paused"])
    search.set_finished()  # every member made
    # an experiment snapshot taken during a round (Tune saves the search's state with it) ...
    snapshot = cloudpickle.loads(cloudpickle.dumps(search.get_state()))
    assert "_paused" not in snapshot and search.is_finished() is False  # a member paused: open
    # ... restored on a resume, into the search Tune built from tuner.pkl with the scheduler
    search.set_state(snapshot)
    scheduler["holds_paused"] = False  # the members went on and ended
    assert search.is_finished() is True  # a snapshot's paused member would have kept it open: a hang
