"""Sweeps of a training function of the user's, continued, on two CPUs: --deterministic at one
and two trials at once, population-based training over its saved state (lineage, replay by
reproduce) and objectives that only the function reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import nagexp
from nagexp.api import reproduce
from nagexp.cli import app
from tests.sweeps_tests.test_own_trainer import code_folder, rows, write_space

# a runtime of their own with two CPUs (see two_cpu_runtime)
pytestmark = pytest.mark.usefixtures("two_cpu_runtime")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_trainer"


def test_deterministic_gives_the_same_trials_at_one_and_two_at_once(tmp_path: Path) -> None:
    code, space = code_folder(tmp_path), write_space(tmp_path, epochs=3)
    tables = []
    for slots in (1, 2):
        done = nagexp.sweep(space, trials=4, seed=3, deterministic=True, trials_per_batch=2, max_concurrent=slots,
                            code_dir=code, results_dir=tmp_path / "results", name=f"det{slots}", track=False,
                            echo=None)  # fmt: skip
        tables.append([{k: v for k, v in r.items() if k not in ("seconds", "node_id", "trial_id")}
                       for r in rows(done.sweep_dir)])  # fmt: skip
    assert tables[0] == tables[1]


def _pbt_space(tmp_path: Path, trainer: str = "own_trainer.softmax:run", **fixed: object) -> Path:
    space = {"fixed": {"trainer": trainer, "epochs": 6, "batch_size": 32, "trainer_args.samples": 300, **fixed},
             "params": {"lr": {"type": "float", "low": 0.005, "high": 0.5, "log": True},
                        "momentum": {"type": "float", "low": 0.5, "high": 0.95},
                        "trainer_args.l2": {"type": "float", "low": 1.0e-5, "high": 1.0e-1, "log": True}},
             "objective": {"metric": "val_loss"},
             "pbt": {"perturbation_interval": 2, "mutate": ["lr", "trainer_args.l2"]}}  # fmt: skip
    path = tmp_path / "pbt.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def test_pbt_members_of_an_own_function_copy_its_state_and_reproduce_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PBT over the example function: the worst member goes on from the best one's saved state
    (weights, velocity, generator) under a perturbed lr and l2; its lineage replays it exactly,
    which its final config trained from scratch does not."""
    from nagexp.config.train import TrainConfig
    from nagexp.training.own_trainer import run_own_trainer

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = nagexp.sweep(_pbt_space(tmp_path), scheduler="pbt", trials=4, seed=0, code_dir=EXAMPLE,
                        results_dir=tmp_path / "results", name="pbt", tracking_uri=uri, echo=None)  # fmt: skip
    table = {int(r["number"]): r for r in rows(done.sweep_dir)}
    assert [r["state"] for r in table.values()] == ["completed"] * 4
    exploits = {n: json.loads(r["exploits"]) for n, r in table.items()}
    assert sorted(e["epoch"] for events in exploits.values() for e in events) == [2, 4]  # synchronous rounds
    member = max(table, key=lambda n: (max((e["epoch"] for e in exploits[n]), default=0), n))
    lineage = json.loads(table[member]["lineage"])
    event = max(exploits[member], key=lambda e: e["epoch"])
    assert lineage[-1]["label"] == member and lineage[-1]["epoch"] == event["epoch"]
    assert lineage[-2]["label"] == event["from"]
    assert lineage[-1]["config"]["lr"] != lineage[-2]["config"]["lr"]  # perturbed, not a plain copy
    runs = {int(r.data.tags["trial_number"]): r for r in _child_runs(uri)}
    assert runs[member].data.tags["pbt.exploits"] == "; ".join(
        f"after epoch {e['epoch']}: copied trial {e['from']}" for e in exploits[member])  # as trials.csv says
    rep = reproduce(done.sweep_dir, str(member), seeds=1, results_dir=tmp_path / "results", track=False,
                    code_dir=EXAMPLE, echo=None)  # fmt: skip
    assert rep.exact and rep.segments == len(lineage), (rep.original, rep.rerun, rep.segments)
    assert len(rep.seed_values) == 1 and rep.seed_values[0] != rep.original  # the same lineage, another seed
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from_scratch = run_own_trainer(TrainConfig(**lineage[-1]["config"]), lambda *_: None, ("val_loss",))
    assert from_scratch[-1]["val_loss"] != rep.original  # the state it went on from mattered
    from nagexp.report.build import build_report

    build_report(done.sweep_dir)  # the population figure says why it draws no lr (the function reports none)
    figure = (done.sweep_dir / "report" / "figures" / "population.svg").read_text()
    assert "no lr reported (your own trainer)" in figure


def _child_runs(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("nagexp")
    return [r for r in client.search_runs([experiment.experiment_id]) if "trial_number" in r.data.tags]


def test_pbt_over_a_function_that_saves_no_state_errors_each_trial_in_one_line(tmp_path: Path) -> None:
    space = _pbt_space(tmp_path, trainer="mytrainer:run", **{"trainer_args.x": 0.5, "trainer_args.save": False})
    done = nagexp.sweep(space, scheduler="pbt", trials=2, seed=0, code_dir=code_folder(tmp_path),
                        results_dir=tmp_path / "results", name="nostate", track=False, echo=None)  # fmt: skip
    table = rows(done.sweep_dir)
    assert [r["state"] for r in table] == ["errored"] * 2
    assert all("reported no state" in r["reason"] and "state=" in r["reason"] for r in table), table


def test_an_objective_of_the_functions_own_is_searched_in_its_mode_and_reported(tmp_path: Path) -> None:
    space = yaml.safe_load(write_space(tmp_path, epochs=3, trainer="mytrainer:scored").read_text())
    space["objective"] = {"metric": "val_f1", "mode": "max"}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    done = nagexp.sweep(tmp_path / "space.yaml", trials=4, seed=2, scheduler="fifo", code_dir=code_folder(tmp_path),
                        results_dir=tmp_path / "results", name="f1", echo=None)  # fmt: skip
    table = rows(done.sweep_dir)
    finals = {int(r["number"]): float(r["final_val_f1"]) for r in table}
    assert len(finals) == 4 and all(r["state"] == "completed" for r in table)
    assert done.best is not None and finals[done.best.number] == max(finals.values())  # max, as the space says
    # in its own process (MLflow caches a run's artifact store in-process): from another folder and
    # without --results-dir, the report goes to the store the sweep logged to; to a store without
    # the sweep's run, a warning, the report kept
    def report(*extra: str) -> str:
        done_ = subprocess.run([sys.executable, "-m", "nagexp", "report", str(done.sweep_dir), *extra],
                               cwd=tmp_path / "code", capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done_.returncode == 0 and "Traceback" not in done_.stderr, done_.stderr
        return done_.stdout + done_.stderr

    assert "report attached to MLflow run" in report()
    assert "warning: report not attached to MLflow" in report("--tracking-uri", f"sqlite:///{tmp_path / 'o.db'}")
    page = (done.sweep_dir / "report" / "report.md").read_text()
    assert "val_f1" in page
    assert f"| rerun the best trial | nagexp reproduce {done.sweep_dir.resolve()} |" in page  # not `nagexp train`


@pytest.mark.parametrize(
    ("trainer", "objective", "says"),
    [("mytrainer:scored", {"metric": "val_f1"}, "give its mode (max or min)"),
     ("nag", {"metric": "val_f1", "mode": "max"}, "needs a training function of your own"),
     ("mytrainer:scored", {"metric": "pid", "mode": "min"}, "what nagexp or Ray Tune writes into each report")],
)  # fmt: skip
def test_an_objective_nagexp_cannot_read_is_one_line_and_exit_2(tmp_path: Path, trainer: str, objective: dict,
                                                                   says: str) -> None:  # fmt: skip
    space = {"fixed": {"trainer": trainer, "epochs": 2, "dataset": "digits"} if trainer == "nag" else
             {"trainer": trainer, "epochs": 2, "trainer_args.x": 0.5},
             "params": {"lr": {"type": "float", "low": 0.01, "high": 0.1}}, "objective": objective}  # fmt: skip
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    args = ["sweep", str(tmp_path / "space.yaml"), "--code-dir", str(code_folder(tmp_path)), "--dry-run",
            "--results-dir", str(tmp_path / "results")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
