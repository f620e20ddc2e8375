"""PruningAwareOptunaSearch tells Optuna what actually happened to each trial."""

from __future__ import annotations

import functools

import optuna
import pytest

from nagexp.config.space import SEARCH_SPACES_DIR, load_space
from nagexp.integrations.optuna_search import PruningAwareOptunaSearch
from nagexp.results.trial_report import stopped_early
from nagexp.space.sampling import define_by_run, suggest

State = optuna.trial.TrialState


@pytest.fixture
def searcher() -> PruningAwareOptunaSearch:
    space = load_space(SEARCH_SPACES_DIR / "quick.yaml")
    return PruningAwareOptunaSearch(space=define_by_run(space, 0), metric="val_acc", mode="max",
                                    sampler=optuna.samplers.RandomSampler(seed=0),
                                    stopped_early=stopped_early)  # fmt: skip


def result(epoch: int, value: float, total: int = 4, **extra: object) -> dict:
    return {"val_acc": value, "epoch": epoch, "epochs_total": total, "training_iteration": epoch, **extra}


def run(searcher: PruningAwareOptunaSearch, trial_id: str, results: list[dict], error: bool = False) -> None:
    assert searcher.suggest(trial_id) is not None
    for r in results[:-1]:
        searcher.on_trial_result(trial_id, r)
    searcher.on_trial_complete(trial_id, results[-1], error=error)  # Tune passes the last result here only


def test_states_and_intermediate_values(searcher: PruningAwareOptunaSearch) -> None:
    run(searcher, "full", [result(e, 0.5 + 0.1 * e) for e in range(1, 5)])
    run(searcher, "asha", [result(1, 0.3), result(2, 0.4)])
    run(searcher, "diverged", [result(1, 0.1, diverged=True)])
    run(searcher, "nan", [result(1, float("nan"), diverged=True)])
    run(searcher, "error", [result(1, 0.2)], error=True)
    trials = searcher._ot_study.trials
    full, asha, diverged, nan, error = trials
    assert full.state == State.COMPLETE and full.value == pytest.approx(0.9)
    assert full.intermediate_values == pytest.approx({1: 0.6, 2: 0.7, 3: 0.8, 4: 0.9})
    assert asha.state == State.PRUNED  # plain OptunaSearch would say COMPLETE with 0.4
    assert asha.intermediate_values == {1: 0.3, 2: 0.4} and asha.value == 0.4
    assert diverged.state == State.COMPLETE and diverged.value == 0.1  # still teaches the sampler
    assert nan.state == State.FAIL
    assert error.state == State.FAIL


def test_stopped_early() -> None:
    assert stopped_early(result(2, 0.5))
    assert not stopped_early(result(4, 0.5))
    assert not stopped_early(result(1, 0.5, diverged=True))
    assert not stopped_early(None)


def test_restore_from_an_older_snapshot_loses_and_duplicates_nothing(tmp_path) -> None:
    """A driver killed between Tune snapshots: the Optuna storage is ahead of the searcher's
    saved state. The restored searcher must not tell a finished trial again, must hand the
    orphaned RUNNING trial to the next Tune trial, and must stop at the sweep's total."""
    from ray.tune.search import ConcurrencyLimiter, Searcher

    space = load_space(SEARCH_SPACES_DIR / "quick.yaml")

    def make() -> PruningAwareOptunaSearch:
        storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
        return PruningAwareOptunaSearch(space=define_by_run(space, 0), metric="val_acc", mode="max",
                                        sampler=optuna.samplers.RandomSampler(seed=0), study_name="s",
                                        storage=storage, total_trials=4, stopped_early=stopped_early)  # fmt: skip

    first = make()
    first.suggest("a")
    first.suggest("b")
    first.save_to_dir(str(tmp_path), "snap")  # Tune's last snapshot: a and b running
    orphan = first.suggest("c")  # asked after the snapshot, then the driver died
    first.on_trial_complete("a", result(4, 0.9))  # finished after the snapshot

    restored = make()
    restored.restore_from_dir(str(tmp_path))
    # the same through Tune's ConcurrencyLimiter, which wraps the searcher in every sweep
    via_limiter = make()
    ConcurrencyLimiter(via_limiter, max_concurrent=2).restore_from_dir(str(tmp_path))
    assert via_limiter._closed == restored._closed == {"a"}
    assert via_limiter._orphans == restored._orphans and len(restored._orphans) == 1
    restored.on_trial_complete("a", result(2, 0.1))  # Tune's stale view of a: must not be told again
    adopted = restored.suggest("d")  # a new Tune trial takes over the orphan
    assert adopted == orphan  # same number (so same seed) and same params
    assert restored.suggest("e") is not None  # the 4th and last trial
    assert restored.suggest("f") == Searcher.FINISHED

    trials = restored._ot_study.trials
    assert len(trials) == 4
    assert trials[0].state == State.COMPLETE and trials[0].value == 0.9
    assert [t.state for t in trials[1:]] == [State.RUNNING] * 3  # b, c (now d), e: still to run


def _deterministic_searcher(folder, name: str) -> PruningAwareOptunaSearch:
    """A deterministic mode searcher (batches of 4, a fresh sampler per trial) over quick.yaml."""
    from nagexp.space.samplers import SamplerPerTrial

    space = load_space(SEARCH_SPACES_DIR / "quick.yaml")
    return PruningAwareOptunaSearch(space=define_by_run(space, 0), metric="val_acc", mode="max",
                                    sampler=optuna.samplers.TPESampler(seed=0), stopped_early=stopped_early,
                                    study_name=name, total_trials=8,
                                    storage=optuna.storages.RDBStorage(f"sqlite:///{folder / name}.db"),
                                    batch_size=4, sampler_for_trial=SamplerPerTrial("tpe", 0, 8))  # fmt: skip


def _first_batch(s: PruningAwareOptunaSearch) -> None:
    for i in range(4):
        run(s, f"t{i}", [result(4, 0.5 + 0.1 * i)])


def test_batches_after_a_resume_are_the_uninterrupted_batches(tmp_path) -> None:
    """Deterministic mode: a driver killed after asking one trial of its second batch, restored
    from a snapshot taken before that batch, completes the batch at once (trials 4-7, not
    waiting on trial 4 alone) with the same proposals as the uninterrupted searcher."""
    from nagexp.space.samplers import SamplerPerTrial

    space = load_space(SEARCH_SPACES_DIR / "quick.yaml")
    searcher = functools.partial(_deterministic_searcher, tmp_path)
    first_batch = _first_batch
    whole = searcher("whole")
    first_batch(whole)
    second = [whole.suggest(f"t{i}") for i in range(4, 8)]
    assert whole.suggest("t8") is None  # the second batch runs: nothing more yet

    dead = searcher("killed")
    first_batch(dead)
    dead.save(str(tmp_path / "snapshot.pkl"))  # Tune's snapshot, before the second batch
    study = dead._ot_study  # the dead driver asked trial 4 only, then was killed
    study.sampler = SamplerPerTrial("tpe", 0, 8)(4)
    dead._suggest_from_define_by_run_func(define_by_run(space, 0), study.ask())
    resumed = searcher("killed")
    resumed.restore(str(tmp_path / "snapshot.pkl"))
    assert [resumed.suggest(f"r{i}") for i in range(4)] == second
    assert resumed.suggest("r4") is None


@pytest.mark.parametrize("stored", [["lr"], []], ids=["some-params", "no-params"])
def test_a_trial_asked_when_the_driver_died_gets_the_params_it_would_have(tmp_path, stored: list[str]) -> None:
    """Deterministic mode: the driver dies while it asks the second batch, after trial 4 and
    part of trial 5 (each param is a storage write). The resumed searcher gives trial 5 all the
    params the uninterrupted one gave it (not the stored ones alone, drawn by another sampler)."""
    from nagexp.space.samplers import SamplerPerTrial

    space = load_space(SEARCH_SPACES_DIR / "quick.yaml")
    searcher = functools.partial(_deterministic_searcher, tmp_path)
    first_batch = _first_batch
    whole = searcher("whole")
    first_batch(whole)
    second = [whole.suggest(f"t{i}") for i in range(4, 8)]

    dead = searcher("killed")
    first_batch(dead)
    dead.save(str(tmp_path / "snapshot.pkl"))
    study = dead._ot_study
    study.sampler = SamplerPerTrial("tpe", 0, 8)(4)
    dead._suggest_from_define_by_run_func(define_by_run(space, 0), study.ask())
    study.sampler = SamplerPerTrial("tpe", 0, 8)(5)
    cut_short = study.ask()
    for name in stored:  # then the driver was killed
        suggest(cut_short, name, space.params[name])
    resumed = searcher("killed")
    resumed.restore(str(tmp_path / "snapshot.pkl"))
    assert [resumed.suggest(f"r{i}") for i in range(4)] == second
