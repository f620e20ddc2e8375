"""Population-based training (PBT) sweeps: a real Ray Tune PBT run on digits whose winner's
schedule is exported piecewise and replayed from scratch, logged to a real MLflow server."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from mlflow import MlflowClient
from torch.optim.optimizer import register_optimizer_step_pre_hook
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.loading import load_train_config
from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.training.schedules import lr_values, momentum_values, piecewise_value
from nagexp.training.trainer import train
from tests.conftest import without_timing
from tests.processes import NagexpProcess, journal_events
from tests.tracking_tests.test_sweep_tracking import check_sweep_in_mlflow

# a runtime of their own with two CPUs (see two_cpu_runtime)
pytestmark = pytest.mark.usefixtures("two_cpu_runtime")
runner = CliRunner()
PBT = str(SEARCH_SPACES_DIR / "pbt.yaml")


class StepRecorder:
    """What torch's SGD was given at every step (a global optimizer hook: the real values)."""

    def __init__(self) -> None:
        self.lr: list[float] = []
        self.momentum: list[float] = []

    def __enter__(self) -> StepRecorder:
        def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            self.lr.append(opt.param_groups[0]["lr"])
            self.momentum.append(opt.param_groups[0]["momentum"])

        self.handle = register_optimizer_step_pre_hook(hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


@pytest.fixture(scope="module")
def pbt_sweep(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("pbt")
    result = runner.invoke(app, ["sweep", PBT, "--scheduler", "pbt", "--trials", "4", "--epochs", "6", "--name",
                                 "pbt", "--results-dir", str(results), "--tracking-uri", mlflow_server])  # fmt: skip
    assert result.exit_code == 0, result.output
    return results / "pbt"


def _journal(sweep: Path) -> dict[int, list[dict[str, Any]]]:
    epochs: dict[int, list[dict[str, Any]]] = {}
    for event in journal_events(sweep):
        if event["event"] == "epoch":
            epochs.setdefault(event["number"], []).append(event["metrics"])
    return epochs


def test_pbt_members_copy_the_best_and_export_their_lineage(pbt_sweep: Path) -> None:
    rows = {int(r["number"]): r for r in csv.DictReader((pbt_sweep / "trials.csv").open())}
    assert [r["state"] for r in rows.values()] == ["completed"] * 4
    exploits = {n: json.loads(r["exploits"]) for n, r in rows.items()}
    # rounds after epochs 2 and 4 (not after the last, 6); the worst quarter (1 of 4) copies each time
    assert sorted(e["epoch"] for events in exploits.values() for e in events) == [2, 4]
    epochs = _journal(pbt_sweep)
    steps = 1295 // 64  # digits' training split, batches of 64
    for number, events in exploits.items():
        reported = epochs[number]
        assert [m["epoch"] for m in reported] == [1, 2, 3, 4, 5, 6]
        lr_knots = json.loads(rows[number]["lr_knots"])
        lr_at = [piecewise_value(lr_knots, e * steps) for e in range(6)]
        # after its last copy, the member's own reported lr; before it, the donor's at that epoch
        last = events[-1]["epoch"] if events else 0
        assert lr_at[last:] == [m["lr"] for m in reported[last:]]
        if events:
            donor = epochs[events[-1]["from"]]
            assert lr_at[last - 1] == donor[last - 1]["lr"]
            assert reported[last]["exploit_from"] == events[-1]["from"]


def test_best_yaml_replays_the_exported_schedule_exactly(pbt_sweep: Path, digits: Any) -> None:
    text = (pbt_sweep / "best.yaml").read_text()
    assert "population-based training" in text
    cfg = load_train_config(pbt_sweep / "best.yaml").model_copy(update={"device": "cpu"})
    assert cfg.lr_schedule == cfg.momentum_schedule == "piecewise"
    replays = []
    for _ in range(2):
        with StepRecorder() as seen:
            replays.append(train(cfg, digits))
        total = len(seen.lr)
        assert total == cfg.epochs * (1295 // 64)
        # every step's lr and momentum are the exported knots' values
        assert seen.lr == lr_values(cfg, total) == [piecewise_value(cfg.lr_knots, s) for s in range(total)]
        assert seen.momentum == momentum_values(cfg, total)
    first, second = (without_timing(r.history) for r in replays)
    assert first == second  # bit-identical on CPU
    for a, b in zip(replays[0].model.state_dict().values(), replays[1].model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_reproduce_replays_every_member_exactly(pbt_sweep: Path) -> None:
    """A member's weights are a lineage: a donor's epochs (its seed, data order, config), then
    its own. `nagexp reproduce` replays it segment by segment and matches exactly on CPU, for
    the members that copied a donor as for the one that never did."""
    rows = {int(r["number"]): r for r in csv.DictReader((pbt_sweep / "trials.csv").open())}
    copied = {n for n, r in rows.items() if len({e["label"] for e in json.loads(r["lineage"])}) > 1}
    assert copied and len(copied) < 4  # some members' weights came from another member, not all
    for number in rows:
        result = runner.invoke(app, ["reproduce", str(pbt_sweep), "--trial", str(number), "--no-track"])
        assert result.exit_code == 0, result.output
        assert "reproduced exactly" in result.stdout
        assert ("lineage replayed" in result.stdout) == (number in copied)


def test_mlflow_shows_lr_momentum_curves_and_exploits(pbt_sweep: Path, mlflow_server: str) -> None:
    check_sweep_in_mlflow(mlflow_server, pbt_sweep)  # the usual layout; params never change
    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("nagexp")
    rows = {r["number"]: r for r in csv.DictReader((pbt_sweep / "trials.csv").open())}
    parent = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'pbt'")[0]
    children = client.search_runs([exp.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")  # fmt: skip
    epochs = _journal(pbt_sweep)
    for child in children:
        number = child.data.tags["trial_number"]
        for name in ("lr", "momentum"):
            curve = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, name))
            assert curve == [(m["epoch"], m[name]) for m in epochs[int(number)]]
        events = json.loads(rows[number]["exploits"])
        copied = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, "exploit_from"))
        assert copied == [(e["epoch"] + 1, e["from"]) for e in events]
        assert child.data.tags["pbt.exploits"] == ("; ".join(f"after epoch {e['epoch']}: copied trial {e['from']}"
                                                             for e in events) or "none")  # fmt: skip
        assert "schedule.yaml" in {a.path for a in client.list_artifacts(child.info.run_id)}


def test_a_dead_member_is_retried_and_the_sweep_repeats_itself(tmp_path: Path, pbt_sweep: Path) -> None:
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep
    from tests.listeners import KillWorkerOnce

    spec = resolve_sweep(SweepOptions(space=PBT, scheduler="pbt", trials=4, epochs=6, name="retry",
                                      results_dir=tmp_path, track=False))  # fmt: skip
    killer = KillWorkerOnce(epoch=3)  # between two rounds (after epochs 2 and 4)
    outcome = run_sweep(spec, emit=lambda _: None, listeners=[killer])
    assert killer.killed
    assert [(r.state, r.epochs_run) for r in outcome.records] == [("completed", 6)] * 4
    first = outcome.records[0]
    assert first.retries == 1 and [int(h["epoch"]) for h in first.history] == [1, 2, 3, 4, 5, 6]
    assert sorted(e["epoch"] for r in outcome.records for e in r.exploits) == [2, 4]
    # the same seed, the same sweep: every member's result, copies and schedule (CPU)
    rows = {int(r["number"]): r for r in csv.DictReader((pbt_sweep / "trials.csv").open())}
    for r in outcome.records:
        assert r.final == float(rows[r.number]["final_val_loss"])
        assert r.exploits == json.loads(rows[r.number]["exploits"])
        assert r.schedule["lr_knots"] == json.loads(rows[r.number]["lr_knots"])


@pytest.mark.slow
def test_a_killed_pbt_driver_resumes(tmp_path: Path, nagexp_process: NagexpProcess) -> None:
    import optuna

    from tests.sweeps_tests.test_resume import resume

    sweep = tmp_path / "pbt"

    def mid_population() -> bool:  # every member has reported, 12 of the 32 epochs in all
        epochs = _journal(sweep)
        return len(epochs) == 4 and sum(map(len, epochs.values())) >= 12

    nagexp_process.run_until("sweep", PBT, "--scheduler", "pbt", "--trials", "4", "--epochs", "8", "--name", "pbt",
                             "--results-dir", str(tmp_path), until=mid_population,
                             what="12 epochs reported by all 4 members")  # fmt: skip
    assert not (sweep / "summary.json").exists()

    resume("pbt", tmp_path)
    rows = {int(r["number"]): r for r in csv.DictReader((sweep / "trials.csv").open())}
    assert [(r["state"], r["epochs_run"]) for r in rows.values()] == [("completed", "8")] * 4
    epochs = _journal(sweep)
    for number, row in rows.items():  # every epoch recorded once; the exported schedule covers all steps
        assert sorted({int(m["epoch"]) for m in epochs[number]}) == list(range(1, 9))
        assert json.loads(row["lr_knots"])[0][0] == 0
        assert len({e["epoch"] for e in json.loads(row["exploits"])}) == len(json.loads(row["exploits"]))
    study = optuna.load_study(study_name="pbt", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert [t.value for t in study.trials] == [float(rows[n]["final_val_loss"]) for n in range(4)]


def _within_bounds(rows: dict[int, dict[str, str]]) -> None:
    """Every value a member trained with stays inside its param's bounds (pbt.yaml)."""
    for row in rows.values():
        assert all(0.003 <= v <= 1.0 for _, v in json.loads(row["lr_knots"]))
        assert all(0.5 <= v <= 0.99 for _, v in json.loads(row["momentum_knots"]))


def test_pbt_mutations_stay_inside_the_bounds(pbt_sweep: Path) -> None:
    _within_bounds({int(r["number"]): r for r in csv.DictReader((pbt_sweep / "trials.csv").open())})


def test_pb2_sweep_exports_a_replayable_schedule(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", PBT, "--scheduler", "pb2", "--trials", "4", "--epochs", "6", "--name",
                                 "pb2", "--results-dir", str(tmp_path), "--no-track"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {int(r["number"]): r for r in csv.DictReader((tmp_path / "pb2" / "trials.csv").open())}
    assert [r["state"] for r in rows.values()] == ["completed"] * 4
    assert sorted(e["epoch"] for r in rows.values() for e in json.loads(r["exploits"])) == [2, 4]
    _within_bounds(rows)
    cfg = load_train_config(tmp_path / "pb2" / "best.yaml")
    best = json.loads((tmp_path / "pb2" / "summary.json").read_text())["best_trial"]
    assert [list(k) for k in cfg.lr_knots] == json.loads(rows[best]["lr_knots"])


def test_the_report_draws_the_population_and_the_exported_schedules(pbt_sweep: Path) -> None:
    from nagexp.report.build import build_report
    from nagexp.report.data import collect

    data = collect(pbt_sweep)
    rows = {int(r["number"]): r for r in csv.DictReader((pbt_sweep / "trials.csv").open())}
    epochs = _journal(pbt_sweep)
    # the population as the members reported it, and their copies
    assert data.population == {n: [(m["epoch"], m["lr"], m["momentum"]) for m in epochs[n]] for n in rows}
    assert {t.number: list(t.exploits) for t in data.trials} == {n: json.loads(r["exploits"]) for n, r in rows.items()}
    best = data.best
    assert best is not None
    assert [list(k) for k in data.config_of(best).lr_knots] == json.loads(rows[best.number]["lr_knots"])
    assert all(t.curve for t in data.trials)  # learning curves from the study, epoch by epoch
    build_report(pbt_sweep)
    figure = (pbt_sweep / "report" / "figures" / "population.svg").read_text()
    assert figure.count("<path") > 8  # each member drawn
    assert "population-based training" in (pbt_sweep / "report" / "report.md").read_text().lower()
