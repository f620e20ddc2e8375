"""`--deterministic`: the same seed and space give the same sweep (params, states, epochs,
metric values, Optuna study) whether one or two trials run at once. (On the 2-node cluster:
test_cluster.py. After a killed driver is resumed: the warm-started and the two-objective
sweeps, test_warm_start.py and test_several_objectives.py, whose kill tests check this and
what those sweeps add.)"""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.config.sweep import SweepOptions
from nagexp.sweeps.runner import run_sweep
from nagexp.sweeps.spec import resolve_sweep
from tests.listeners import TrainingProcesses

runner = CliRunner()
QUICK = SEARCH_SPACES_DIR / "quick.yaml"
# what must repeat: everything but timings, node ids and Tune's trial ids
COLUMNS = ("number", "state", "lr", "momentum", "lr_schedule", "onecycle_pct_start", "final_val_acc",
           "best_val_acc", "test_acc", "epochs_run", "seed", "reason")  # fmt: skip
OPTIONS = {"space": QUICK, "trials": 8, "seed": 3, "deterministic": True, "track": False}


def sweep_rows(sweep_dir: Path) -> list[tuple[str, ...]]:
    with (sweep_dir / "trials.csv").open() as f:
        return [tuple(row[c] for c in COLUMNS) for row in csv.DictReader(f)]


def study_of(sweep_dir: Path) -> list[tuple]:
    study = optuna.load_study(study_name=sweep_dir.name, storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    return [(t.number, t.state.name, t.params, t.value, sorted(t.intermediate_values.items())) for t in study.trials]


def deterministic_sweep(results: Path, name: str, **options: object) -> Path:
    spec = resolve_sweep(SweepOptions(**{**OPTIONS, **options, "name": name, "results_dir": results}))
    outcome = run_sweep(spec, emit=lambda _: None)
    assert not outcome.interrupted
    return spec.sweep_dir


@pytest.fixture(scope="module")
def reference(two_cpu_runtime: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweep run one trial at a time (on two CPUs: the test runs it two at a time too)."""
    return deterministic_sweep(tmp_path_factory.mktemp("det"), "one-at-a-time", max_concurrent=1)


def test_one_or_two_trials_at_once_give_the_same_sweep(reference: Path, tmp_path: Path) -> None:
    two = deterministic_sweep(tmp_path, "two-at-a-time", max_concurrent=2)
    rows = sweep_rows(reference)
    assert sweep_rows(two) == rows
    assert study_of(two) == study_of(reference)
    states = {row[1] for row in rows}
    assert len(rows) == 8 and "pruned" in states and "completed" in states  # halving decided something
    # Optuna holds the same outcome (a trial stopped while it waited at a rung: pruned too)
    optuna_state = {"pruned": "PRUNED", "completed": "COMPLETE"}
    assert [optuna_state[row[1]] for row in rows] == [state for _, state, *_ in study_of(reference)]


def test_one_process_trains_every_trial_one_at_a_time(two_cpu_runtime: None, tmp_path: Path) -> None:
    """Trials are held and wait at rungs, paused: each one's actor (its process) goes on to the
    next trial to run, also once every trial is made (Tune ended it then: six processes)."""
    processes = TrainingProcesses()
    spec = resolve_sweep(SweepOptions(**{**OPTIONS, "trials": 4, "epochs": 2, "max_concurrent": 1,
                                         "name": "one-process", "results_dir": tmp_path}))  # fmt: skip
    run_sweep(spec, emit=lambda _: None, listeners=[processes])
    assert len(processes.pids) == 1, processes.pids


@pytest.mark.parametrize(("extra", "message"), [
    (["--time-budget", "60"], "--deterministic with --time-budget: a budget ends trials where time falls"),
    (["--epoch-budget", "10"], "--deterministic with --epoch-budget"),
    (["--scheduler", "pbt", str(SEARCH_SPACES_DIR / "pbt.yaml")], "pbt's rounds are synchronous already"),
])  # fmt: skip
def test_what_deterministic_cannot_promise_is_refused(tmp_path: Path, extra: list[str], message: str) -> None:
    space = [] if any(a.endswith(".yaml") for a in extra) else [str(QUICK)]
    result = runner.invoke(app, ["sweep", *space, "--deterministic", *extra, "--results-dir", str(tmp_path),
                                 "--dry-run"])  # fmt: skip
    assert result.exit_code == 2 and message in result.stderr, result.output
