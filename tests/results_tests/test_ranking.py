"""One rule names the best trial: records on which the old, separate rules disagreed, and
every surface (summary.json, best.yaml, the live view, the printed table, `nagexp ls`, the
report, `nagexp reproduce`, MLflow's best=true) naming the same trial. No Ray."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path

import pytest

from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.config.sweep import SweepOptions
from nagexp.report.data import collect
from nagexp.results.listing import list_sweeps
from nagexp.results.ranking import best_trial, count_states, ranked_trials
from nagexp.results.records import TrialRecord
from nagexp.runs.reproduce import trial_to_rerun
from nagexp.sweeps.outcome import write_outcome, write_summary_of
from nagexp.sweeps.plan import write_sweep_plan
from nagexp.sweeps.progress import LiveView, top_table
from nagexp.sweeps.spec import resolve_sweep


def record(number: int, state: str, final: float | None, **config: float) -> TrialRecord:
    params = {"lr": 0.01 * (number + 1), "momentum": 0.9}
    config = {"dataset": "digits", "model": "cnn", "width": 0.25, "epochs": 4, **params, **config}
    return TrialRecord(number=number, trial_id=f"t{number}", state=state, params=params, final=final,
                       best=final, epochs_run=4 if state == "completed" else 1, seed=number, config=config)  # fmt: skip


# The old rules: best.yaml took the best completed trial; `nagexp ls` the maximum over
# completed and pruned (trial 1); the live table ranked diverged trials too (trial 2).
RECORDS = [
    record(0, "completed", 0.90),
    record(1, "pruned", 0.95),  # better value, but after fewer epochs
    record(2, "diverged", 0.99),  # never a winner
    record(3, "completed", 0.90),  # ties trial 0: the lower number wins
    record(4, "errored", None),
    record(5, "running", 0.97),  # not finished
]
BEST = 0


def test_the_rule() -> None:
    assert [r.number for r in ranked_trials(RECORDS, "max")] == [0, 3, 1]
    assert best_trial(RECORDS, "max").number == BEST
    assert [r.number for r in ranked_trials(RECORDS, "min")] == [0, 3, 1]  # completed before pruned either way
    assert best_trial([RECORDS[1], RECORDS[2]], "max").number == 1  # pruned only: the best pruned one
    assert best_trial([RECORDS[2], RECORDS[4]], "max") is None
    assert count_states(RECORDS) == {"completed": 2, "pruned": 1, "diverged": 1, "errored": 1, "running": 1}


@pytest.fixture
def sweep_dir(tmp_path: Path, digits) -> Path:
    """A sweep folder written by the real writers from the records above (no Ray)."""
    spec = resolve_sweep(SweepOptions(space=SEARCH_SPACES_DIR / "quick.yaml", name="s", results_dir=tmp_path))
    spec.sweep_dir.mkdir(parents=True)
    write_sweep_plan(spec, digits, {"CPU": 2.0, "GPU": 0.0}, "nagexp sweep quick.yaml --name s", None)
    write_summary_of(write_outcome(spec, [r for r in RECORDS if r.state != "running"], 1.0, interrupted=False))
    import optuna

    optuna.create_study(study_name="s", storage=f"sqlite:///{spec.sweep_dir / 'optuna.db'}")  # the sweep's study
    return spec.sweep_dir


def test_every_file_surface_names_the_same_trial(sweep_dir: Path) -> None:
    assert json.loads((sweep_dir / "summary.json").read_text())["best_trial"] == BEST
    assert (sweep_dir / "best.yaml").read_text().startswith(f"# nagexp best trial {BEST}:")
    (listing,) = list_sweeps(sweep_dir.parent).sweeps
    assert (listing.best_number, listing.best, listing.state) == (BEST, 0.90, "finished")
    data = collect(sweep_dir)
    assert data.best.number == BEST and [t.number for t in data.ranked()] == [0, 3, 1]
    assert data.counts() == {"completed": 2, "pruned": 1, "diverged": 1, "errored": 1}
    rerun, _ = trial_to_rerun(sweep_dir, "best")
    assert rerun.number == BEST


def test_live_view_and_printed_table_name_the_same_trial() -> None:
    view = LiveView(6, "val_acc", "max", emit=lambda _: None)
    assert f"best val_acc 0.9000 (trial {BEST})" in view.line(RECORDS) and "running 1" in view.line(RECORDS)
    table = top_table(RECORDS, ["lr", "momentum"], "val_acc", "max").splitlines()
    assert [line.split()[0] for line in table[1:]] == ["0", "3", "1"]


def test_mlflow_tags_the_same_trial(tmp_path: Path, digits) -> None:
    from mlflow import MlflowClient

    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.sweep_tracking import SweepTracking
    from nagexp.tracking.tracker import Tracker

    spec = resolve_sweep(SweepOptions(space=SEARCH_SPACES_DIR / "quick.yaml", name="m", results_dir=tmp_path,
                                      log_models="none"))  # fmt: skip
    spec.sweep_dir.mkdir(parents=True)
    write_sweep_plan(spec, digits, {"CPU": 2.0}, None, None)
    ready: Future = Future()
    ready.set_result(Tracker(resolve_store(None, tmp_path)))
    tracking = SweepTracking(ready, spec, digits, warn=print)
    finished = [r for r in RECORDS if r.state != "running"]
    for r in finished:
        tracking.on_trial_start(r)
        tracking.on_trial_end(r)
    tracking.finish(finished, 1.0)
    assert tracking.failed is None
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    tagged = client.search_runs([exp.experiment_id], "tags.best = 'true'")
    assert [r.data.tags["trial_number"] for r in tagged] == [str(BEST)]
    assert client.get_run(tracking.parent_id).data.tags["best_trial"] == str(BEST)


def test_trials_a_budget_stopped_end_as_stopped_early_not_errored() -> None:
    """The time/epoch budget ran out: a trial with epochs ranks as pruned; one that had not
    trained an epoch is pruned too (nothing went wrong in it), with no result to rank."""
    from nagexp.sweeps.runner import _end_unfinished

    ended: list[int] = []

    class Listener:
        def on_trial_end(self, rec: TrialRecord) -> None:
            ended.append(rec.number)

    trained = TrialRecord(0, "a", final=0.7, epochs_run=2)
    starting = TrialRecord(1, "b")
    done = TrialRecord(2, "c", state="completed", final=0.6, epochs_run=3)
    _end_unfinished([trained, starting, done], [Listener()])  # type: ignore[list-item]
    assert (trained.state, starting.state, done.state) == ("pruned", "pruned", "completed")
    assert starting.reason == "stopped when the sweep ended, before its first epoch"
    assert ended == [0, 1]
    assert best_trial([trained, starting, done], "max") is done
    assert best_trial([trained, starting], "max") is trained and best_trial([starting], "max") is None
