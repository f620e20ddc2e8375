"""Sweeps whose ASHA ranks trials on a rung signal (results/rung_signals.py): the signal reaches
the scheduler, decides who goes on, and is shown beside the raw metric in trials.csv and MLflow."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.results.journal import replay
from nagexp.results.rung_signals import extrapolate_curve
from nagexp.results.trial_report import RUNG_SIGNAL_KEY

pytestmark = pytest.mark.usefixtures("ray_runtime")
runner = CliRunner()
EPOCHS, RUNG = 6, 3


def write_space(path: Path) -> Path:
    data = {"fixed": {"dataset": "digits", "model": "cnn", "width": 0.25, "epochs": EPOCHS, "lr_schedule": "cosine"},
            "params": {"lr": {"type": "float", "low": 0.003, "high": 1.0, "log": True},
                       "momentum": {"type": "float", "low": 0.5, "high": 0.95}},
            "asha": {"grace_period": RUNG, "reduction_factor": 2}}  # fmt: skip
    path.write_text(yaml.safe_dump(data))
    return path


def expected_signal(signal: str, history: list[dict[str, float]]) -> float:
    """The signal at the rung, computed here from the trial's own epochs (not by the code under test's tracker)."""
    at_rung = history[RUNG - 1]
    if signal == "cooldown":
        return at_rung["cooldown_val_acc"]
    return extrapolate_curve([h["val_acc"] for h in history[:RUNG]], EPOCHS, (0.0, 1.0))


@pytest.mark.parametrize("signal", ["curve", "cooldown"])
def test_asha_ranks_on_the_signal_and_shows_it_beside_the_metric(tmp_path: Path, signal: str) -> None:
    space = write_space(tmp_path / "space.yaml")
    result = runner.invoke(app, ["sweep", str(space), "--trials", "4", "--seed", "3", "--deterministic",
                                 "--rung-signal", signal, "--name", "s", "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"ASHA: rungs at epoch {RUNG} (grace period {RUNG}), reduction 2, ranked on val_acc " in result.output
    sweep = tmp_path / "s"
    records = replay(sweep / "journal.jsonl", "val_acc", "max")
    at_rung = {n: r.history[RUNG - 1] for n, r in records.items()}
    for n, metrics in at_rung.items():  # what the trials reported is the signal of their own epochs
        assert metrics[RUNG_SIGNAL_KEY] == pytest.approx(expected_signal(signal, records[n].history), abs=1e-9)
    # halving on complete rungs keeps the top half by the signal, not by the raw metric
    by_signal = sorted(at_rung, key=lambda n: -at_rung[n][RUNG_SIGNAL_KEY])
    kept = {n for n, r in records.items() if r.epochs_run == EPOCHS}
    assert kept == set(by_signal[:2])
    # trials.csv: a pruned trial's signal beside its raw final value; the finished ones end on the metric
    with (sweep / "trials.csv").open() as f:
        rows = {int(r["number"]): r for r in csv.DictReader(f)}
    for n, row in rows.items():
        if row["state"] == "pruned":
            assert float(row["ranked_on"]) == pytest.approx(at_rung[n][RUNG_SIGNAL_KEY])
            assert float(row["final_val_acc"]) == pytest.approx(at_rung[n]["val_acc"])
        else:
            assert row["ranked_on"] == ""
    for r in records.values():  # the signal is reported at the rung only: nothing else is ranked
        assert [h["epoch"] for h in r.history if RUNG_SIGNAL_KEY in h] == [RUNG]
    # MLflow: every child run has the signal at its rung beside val_acc
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("nagexp")
    children = client.search_runs([experiment.experiment_id], filter_string="tags.mlflow.parentRunId != ''")
    assert len(children) == 4
    for run in children:
        logged = client.get_metric_history(run.info.run_id, RUNG_SIGNAL_KEY)
        assert [m.step for m in logged] == [RUNG]
