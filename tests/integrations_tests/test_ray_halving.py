"""Successive halving on complete rungs (integrations/ray_halving.py), played without Ray's
runtime: Tune's Trial objects and the loop Tune runs. Whatever order the results arrive in and
however many trials run at once, the same trials go on and the same ones stop; a resumed
scheduler, given the journal's history, decides the same."""

from __future__ import annotations

import itertools
import random

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from nagexp.integrations.ray_halving import Past, SynchronousHalving

EPOCHS, BATCH, TOTAL = 6, 4, 8
MILESTONES = [1, 2, 4]  # grace 1, reduction factor 2, below 6 epochs


def value(number: int, epoch: int) -> float:
    """A trial's val_acc at an epoch: ties included (trials 2 and 5, 0 and 6)."""
    base = {0: 0.5, 1: 0.9, 2: 0.7, 3: 0.2, 4: 0.8, 5: 0.7, 6: 0.5, 7: 0.95}[number]
    return round(base + 0.01 * epoch, 6)


class Controller:
    """What the scheduler asks of Tune: the trials, and stopping one."""

    def __init__(self) -> None:
        self.trials: list[Trial] = []

    def get_trials(self) -> list[Trial]:
        return self.trials

    def stop_trial(self, trial: Trial) -> None:
        trial.set_status(Trial.TERMINATED)


def scheduler(max_running: int, history: dict | None = None) -> SynchronousHalving:
    return SynchronousHalving(metric="val_acc", mode="max", milestones=MILESTONES, reduction_factor=2,
                              batch_size=BATCH, total_trials=TOTAL, max_running=max_running,
                              number_of=lambda t: int(t.config["trial_number"]), time_attr="epoch",
                              history=(lambda: history) if history is not None else None)  # fmt: skip


def play(max_running: int, seed: int) -> dict[int, int]:
    """Run the trials as Tune would, a batch at a time (the searcher's batches), each step
    advancing a random running trial; every trial's last epoch."""
    rng = random.Random(seed)
    sched, controller = scheduler(max_running), Controller()
    epochs: dict[int, int] = {}
    for batch in range(TOTAL // BATCH):
        for number in range(batch * BATCH, (batch + 1) * BATCH):
            trial = Trial("run_trial", config={"trial_number": number}, stub=True)
            controller.trials.append(trial)
            sched.on_trial_add(controller, trial)
            epochs[number] = 0
        live = lambda: [t for t in controller.trials if t.status not in (Trial.TERMINATED,)]  # noqa: E731
        while live():
            while (chosen := sched.choose_trial_to_run(controller)) is not None:
                chosen.set_status(Trial.RUNNING)
            running = [t for t in controller.trials if t.status == Trial.RUNNING]
            assert running, "every trial waits, none runs"
            assert len(running) <= max_running
            trial = rng.choice(running)
            number = trial.config["trial_number"]
            epochs[number] += 1
            result = {"epoch": epochs[number], "val_acc": value(number, epochs[number])}
            decision = sched.on_trial_result(controller, trial, result)
            if decision == TrialScheduler.STOP or epochs[number] == EPOCHS:
                trial.set_status(Trial.TERMINATED)
                sched.on_trial_complete(controller, trial, result)
            elif decision == TrialScheduler.PAUSE:
                trial.set_status(Trial.PAUSED)
    return epochs


@pytest.mark.parametrize("max_running", [1, 2, 3, 4])
def test_the_same_trials_go_on_whatever_the_order_and_concurrency(max_running: int) -> None:
    reference = play(max_running=1, seed=0)
    for seed in range(5):
        assert play(max_running, seed) == reference
    # the rule itself: at epoch 1 the best half of batch 0 go on (1 and 2: trial 2 ties 5's
    # value but 5 is not in this batch yet), at 2 the best of those, ...
    assert reference == {0: 1, 1: 6, 2: 2, 3: 1, 4: 2, 5: 1, 6: 1, 7: 6}


def test_a_resumed_scheduler_decides_from_the_journal() -> None:
    """A driver killed while batch 0 waited at epoch 2: the new scheduler, given what the
    journal holds and the trials Tune restores, makes the waiting decision and the same ones."""
    history = {n: Past(epochs(n, reached), ended=n in (0, 3)) for n, reached in {0: 1, 1: 2, 2: 2, 3: 1}.items()}
    sched, controller = scheduler(max_running=2, history=history), Controller()
    for number in range(4):
        trial = Trial("run_trial", config={"trial_number": number}, stub=True)
        reached = len(history[number].epochs)
        trial.run_metadata.last_result = history[number].epochs[-1]
        trial.set_status(Trial.TERMINATED if number in (0, 3) else Trial.PENDING)  # 0, 3 stopped at epoch 1
        controller.trials.append(trial)
        sched.on_trial_add(controller, trial)
        if trial.status == Trial.TERMINATED:
            sched.on_trial_complete(controller, trial, history[number].epochs[-1])
        assert reached >= 1
    chosen = sched.choose_trial_to_run(controller)  # settles epoch 2: of 1 and 2, trial 1 goes on
    assert chosen is not None and chosen.config["trial_number"] == 1
    assert controller.trials[2].status == Trial.TERMINATED


def test_a_trial_started_afresh_after_a_resume_is_not_kept_waiting() -> None:
    """Tune's snapshot older than the journal: of batch 0 only trial 0 is restored (settled, it
    ends at once); trials 1 and 2 had ended and trial 3 (kept at epoch 2) starts afresh, as
    a new Tune trial. It is not held at epoch 2 for trials that ended before it."""
    history = {0: Past(epochs(0, 1), ended=True), 1: Past(epochs(1, 2), ended=True),
               2: Past(epochs(2, 1), ended=True), 3: Past(epochs(3, 2), ended=False)}  # fmt: skip
    for n, v in {0: 0.1, 1: 0.3, 2: 0.2, 3: 0.9}.items():  # 1 and 3 kept at epoch 1, 3 at epoch 2
        for e, metrics in enumerate(history[n].epochs, 1):
            metrics["val_acc"] = v + e / 100
    sched, controller = scheduler(max_running=2, history=history), Controller()
    restored = Trial("run_trial", config={"trial_number": 0}, stub=True)
    restored.run_metadata.last_result = history[0].epochs[-1]
    afresh = Trial("run_trial", config={"trial_number": 3}, stub=True)
    for trial in (restored, afresh):
        controller.trials.append(trial)
        sched.on_trial_add(controller, trial)
    assert sched.choose_trial_to_run(controller) is restored
    restored.set_status(Trial.TERMINATED)
    sched.on_trial_complete(controller, restored, {})
    assert sched.choose_trial_to_run(controller) is afresh
    afresh.set_status(Trial.RUNNING)
    decisions = [sched.on_trial_result(controller, afresh, {"epoch": e, "val_acc": 0.9 + e / 100})
                 for e in range(1, EPOCHS)]  # fmt: skip
    assert decisions == [TrialScheduler.CONTINUE] * (EPOCHS - 1)


def epochs(number: int, reached: int) -> list[dict[str, float]]:
    return [{"epoch": e, "val_acc": value(number, e)} for e in range(1, reached + 1)]


def test_ties_go_to_the_lower_trial_number() -> None:
    sched = scheduler(max_running=1)
    for n in itertools.chain(range(4)):
        sched._values[1][n] = 0.5  # a four-way tie at epoch 1
    assert [sched._keeps(n, 1) for n in range(4)] == [True, True, False, False]
