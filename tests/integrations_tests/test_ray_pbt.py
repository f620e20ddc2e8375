"""nagexp's PBT (integrations/ray_pbt.py), played without Ray's runtime: the scheduler as
nagexp builds it, Tune's Trial objects, and the loop Tune runs (pick a member, feed it results
until the scheduler pauses it).

- Members restored at different epochs (a driver killed while one lagged) take up the rounds,
  not all wait for one that never comes.
- Each round runs through nagexp's seeded override: Ray's exploit step is intercepted *below*
  it, and sees the scheduler's own generators, whatever the global ones hold.
- What the override relies on in Ray: PBT draws whom to copy and how to perturb from Python's
  global generator (if Ray stops doing so, the sweep's seed stops deciding them, silently).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pbt import _explore

from nagexp.integrations.ray_pbt import OwnIdentityPBT
from nagexp.results.trial_report import IDENTITY_KEYS, is_last_epoch

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


def play(monkeypatch: pytest.MonkeyPatch, restored_epochs: list[int], retry_at: int | None = None,
         seed: int = 0, draws: list[float] | None = None) -> list[tuple[int, int]]:  # fmt: skip
    """Run the members to the end; the rounds as (epoch, members in the round). With
    `retry_at`, member 0's worker dies after that epoch and Tune adds it again (a retry).
    `draws`: one draw from Python's global generator per round member, as Ray's exploit step
    (intercepted here, below nagexp's override) would draw."""
    scheduler = OwnIdentityPBT(time_attr="epoch", metric="val_loss", mode="min", perturbation_interval=INTERVAL,
                               hyperparam_mutations={"lr": [0.01, 0.1]}, synch=True, seed=seed,
                               identity_keys=IDENTITY_KEYS, is_last_epoch=is_last_epoch)  # fmt: skip
    rounds: list[tuple[int, Trial]] = []

    def in_round(self: PopulationBasedTraining, trial: Trial, *args: Any) -> None:  # Ray's own step, not played
        rounds.append((self._trial_state[trial].last_perturbation_time, trial))
        if draws is not None:
            draws.append(random.random())

    monkeypatch.setattr(PopulationBasedTraining, "_checkpoint_or_exploit", in_round)
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
def test_resumed_members_take_up_the_rounds(monkeypatch: pytest.MonkeyPatch, restored: list[int]) -> None:
    done = INTERVAL * (min(restored) // INTERVAL)  # every round up to here ran before the driver died
    assert play(monkeypatch, restored) == [(at, 4) for at in range(done + INTERVAL, EPOCHS, INTERVAL)]


def test_a_fresh_population_has_a_round_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    assert play(monkeypatch, [0, 0, 0, 0]) == [(at, 4) for at in range(INTERVAL, EPOCHS, INTERVAL)]


def test_a_retried_member_keeps_the_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert play(monkeypatch, [0, 0, 0, 0], retry_at=3) == [(at, 4) for at in range(INTERVAL, EPOCHS, INTERVAL)]


def test_rounds_draw_from_the_schedulers_own_seeded_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray's exploit step, run inside nagexp's override, draws the same numbers for the same
    sweep seed whatever the global generator was left at, other numbers for another seed, and
    leaves the global generator as it was."""

    def rounds_draws(global_seed: int, seed: int) -> list[float]:
        random.seed(global_seed)
        draws: list[float] = []
        play(monkeypatch, [0, 0, 0, 0], seed=seed, draws=draws)
        assert random.random() == random.Random(global_seed).random()  # the global generator untouched
        return draws

    first = rounds_draws(global_seed=1, seed=5)
    assert len(first) == 4 * len(range(INTERVAL, EPOCHS, INTERVAL))
    assert rounds_draws(global_seed=2, seed=5) == first
    assert rounds_draws(global_seed=1, seed=6) != first


def test_ray_pbt_draws_from_the_global_generators() -> None:
    """What the override relies on: PBT's explore step (and its choice of a donor) draws from
    Python's global generator. Should Ray move to a generator of its own, this fails, and
    integrations/ray_pbt.py must seed that one instead."""
    config, mutations = {"lr": 0.1}, {"lr": [0.01, 0.02, 0.05, 0.1, 0.2]}

    def explored(global_seed: int) -> list[float]:
        random.seed(global_seed)
        return [_explore(config, mutations, 1.0, (1.2, 0.8), None)[0]["lr"] for _ in range(12)]

    assert explored(3) == explored(3)
    assert explored(3) != explored(4)
