"""The synchronous PBT rounds of a resumed sweep, played without Ray's runtime: the scheduler
as nagexp builds it, Tune's Trial objects, and the loop Tune runs (pick a member, feed it
results until the scheduler pauses it). Members restored at different epochs (a driver killed
while one lagged) must take up the rounds, not all wait for one that never comes."""

from __future__ import annotations

from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from nagexp.space.population_schedulers import OwnIdentityPBT

EPOCHS, INTERVAL = 12, 2


class Controller:
    search_alg = None

    def __init__(self, trials: list[Trial]) -> None:
        self.trials = trials

    def get_trials(self) -> list[Trial]:
        return self.trials

    def get_live_trials(self) -> list[Trial]:
        return [t for t in self.trials if not t.is_finished()]


def member(number: int, epoch: int) -> Trial:
    trial = Trial("run_trial", config={"lr": 0.1, "trial_number": number, "seed": number}, stub=True)
    if epoch:  # restored from the experiment's snapshot
        trial.run_metadata.last_result = {"epoch": epoch, "epochs_total": EPOCHS, "val_loss": 1.0 / (number + 1)}
    trial.set_status(Trial.PAUSED if epoch else Trial.PENDING)
    return trial


def play(restored_epochs: list[int], retry_at: int | None = None) -> list[tuple[int, int]]:
    """Run the members to the end; the rounds as (epoch, members in the round). With
    `retry_at`, member 0's worker dies after that epoch and Tune adds it again (a retry)."""
    scheduler = OwnIdentityPBT(time_attr="epoch", metric="val_loss", mode="min", perturbation_interval=INTERVAL,
                               hyperparam_mutations={"lr": [0.01, 0.1]}, synch=True, seed=0)  # fmt: skip
    rounds: list[tuple[int, Trial]] = []

    def in_round(trial: Trial, *args: Any) -> None:  # Tune's exploit itself is not played here
        rounds.append((scheduler._trial_state[trial].last_perturbation_time, trial))

    scheduler._checkpoint_or_exploit = in_round  # type: ignore[method-assign]
    trials = [member(n, epoch) for n, epoch in enumerate(restored_epochs)]
    controller = Controller(trials)
    for trial in trials:
        scheduler.on_trial_add(controller, trial)
    epoch = {t: int((t.last_result or {}).get("epoch", 0)) for t in trials}
    while controller.get_live_trials():
        trial = scheduler.choose_trial_to_run(controller)
        assert trial is not None, f"every member waits, none is chosen: epochs {list(epoch.values())}"
        trial.set_status(Trial.RUNNING)
        while True:
            epoch[trial] += 1
            number = trial.config["trial_number"]
            result = {"epoch": epoch[trial], "epochs_total": EPOCHS, "val_loss": 1.0 / (number + epoch[trial])}
            decision = scheduler.on_trial_result(controller, trial, result)
            if epoch[trial] == EPOCHS:
                trial.set_status(Trial.TERMINATED)
                break
            if number == 0 and epoch[trial] == retry_at:
                retry_at = None
                trial.run_metadata.last_result = result
                trial.set_status(Trial.PENDING)
                scheduler.on_trial_add(controller, trial)  # what Tune's requeue of a failed trial does
                break
            if decision in (TrialScheduler.PAUSE, TrialScheduler.NOOP):
                trial.set_status(Trial.PAUSED)
                break
    members = {}
    for at, trial in rounds:
        members.setdefault(at, set()).add(trial.config["trial_number"])
    return sorted((at, len(numbers)) for at, numbers in members.items())


@pytest.mark.parametrize("restored", [[2, 4, 4, 4], [5, 5, 6, 5], [4, 7, 4, 4], [3, 2, 2, 2]])
def test_resumed_members_take_up_the_rounds(restored: list[int]) -> None:
    done = INTERVAL * (min(restored) // INTERVAL)  # every round up to here ran before the driver died
    assert play(restored) == [(at, 4) for at in range(done + INTERVAL, EPOCHS, INTERVAL)]


def test_a_fresh_population_has_a_round_every_interval() -> None:
    assert play([0, 0, 0, 0]) == [(at, 4) for at in range(INTERVAL, EPOCHS, INTERVAL)]


def test_a_retried_member_keeps_the_rounds() -> None:
    assert play([0, 0, 0, 0], retry_at=3) == [(at, 4) for at in range(INTERVAL, EPOCHS, INTERVAL)]
