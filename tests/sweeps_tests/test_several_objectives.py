"""A two-objective sweep end to end on the shipped accuracy_vs_size.yaml: Optuna's
multi-objective study, ASHA on the first objective, the front in trials.csv, summary.json,
`nagexp ls`; and a killed sweep resumed gives the same files (with --deterministic, as a
one-objective sweep does)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.config.sweep import SweepOptions
from nagexp.results.files import read_trials
from nagexp.results.ranking import Ranking, pareto_front
from nagexp.sweeps.runner import run_sweep
from nagexp.sweeps.spec import resolve_sweep
from tests.processes import NagexpProcess, trials_ended

runner = CliRunner()
SPACE = SEARCH_SPACES_DIR / "accuracy_vs_size.yaml"
VOLATILE = {"seconds", "node_id", "trial_id"}


def rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "trials.csv").open() as f:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in csv.DictReader(f)]


def study(sweep_dir: Path) -> list[tuple]:
    s = optuna.load_study(study_name=sweep_dir.name, storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    return [(t.number, t.state.name, t.params, t.values) for t in s.trials]


def test_a_two_objective_sweep_resumed_after_a_kill_is_the_uninterrupted_one(
        ray_runtime: None, tmp_path: Path, nagexp_process: NagexpProcess) -> None:  # fmt: skip
    options = SweepOptions(space=SPACE, trials=6, seed=2, deterministic=True, track=False, max_concurrent=1,
                           name="whole", results_dir=tmp_path)  # fmt: skip
    run_sweep(resolve_sweep(options), emit=lambda _: None)
    whole = tmp_path / "whole"
    table = rows(whole)
    assert {"final_val_acc", "final_param_count", "pareto"} <= set(table[0])
    states = {r["state"] for r in table}
    assert "pruned" in states and "completed" in states  # ASHA stopped trials on val_acc
    # the study is Optuna's multi-objective one: both values of each completed trial
    s = optuna.load_study(study_name="whole", storage=f"sqlite:///{whole / 'optuna.db'}")
    assert [d.name for d in s.directions] == ["MAXIMIZE", "MINIMIZE"] and s.metric_names == ["val_acc", "param_count"]
    done = [t for t in s.trials if t.state.name == "COMPLETE"]
    assert done and all(len(t.values) == 2 for t in done)
    assert {t.number for t in s.best_trials} == {int(r["number"]) for r in table if r["pareto"] == "true"}
    records = read_trials(whole / "trials.csv", ["width", "lr", "momentum"], "val_acc")
    front = [t.number for t in pareto_front(records, Ranking(("val_acc", "param_count"), ("max", "min")))]
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["pareto_front"] == front and summary["best_trial"] in front
    listed = runner.invoke(app, ["ls", "--results-dir", str(tmp_path)])
    assert f"Pareto front: {', '.join(map(str, front))}" in listed.stdout

    # the same sweep, two trials at once, SIGKILLed after three trials ended, then resumed
    killed = tmp_path / "killed"
    nagexp_process.run_until("sweep", str(SPACE), "--trials", "6", "--seed", "2", "--deterministic",
                             "--max-concurrent", "2", "--no-track", "--name", "killed", "--results-dir", str(tmp_path),
                             until=lambda: trials_ended(killed) >= 3, what="3 trials ended")  # fmt: skip
    result = runner.invoke(app, ["sweep", "--resume", "killed", "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert rows(killed) == table
    assert study(killed) == study(whole)
    assert json.loads((killed / "summary.json").read_text())["pareto_front"] == front


def test_the_header_and_the_dry_run_name_every_objective_and_the_pick(tmp_path: Path) -> None:
    from nagexp.sweeps.dry_run import preview
    from nagexp.sweeps.header import sweep_header

    spec = resolve_sweep(SweepOptions(space=SEARCH_SPACES_DIR / "accuracy_vs_size.yaml", trials=2, track=False,
                                      pick="param_count<=5000", name="h", results_dir=tmp_path))  # fmt: skip
    said = "objective max val_acc, min param_count (--pick param_count<=5000)"
    assert f", {said}, seed 0" in sweep_header(spec)[0]
    assert f"  {said.replace('objective', 'objective ')}" in preview(spec)
