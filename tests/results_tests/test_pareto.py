"""Several objectives: the Pareto front and the pick rule that names its best, the same on
every surface (trials.csv, summary.json, best.yaml, `nagexp ls`, the live view and printed
table, the report, MLflow's tags); and what a two-objective sweep refuses. No Ray."""

from __future__ import annotations

import csv
import json
from concurrent.futures import Future
from pathlib import Path

import pytest

from nagexp.config.space import SEARCH_SPACES_DIR, load_space
from nagexp.config.sweep import SweepOptions
from nagexp.core.errors import ConfigError
from nagexp.report.build import build_report
from nagexp.report.data import collect
from nagexp.results.files import read_trials
from nagexp.results.listing import list_sweeps
from nagexp.results.ranking import Ranking, best_trial, check_pick, pareto_front, ranked_trials
from nagexp.results.records import TrialRecord
from nagexp.runs.reproduce import trial_to_rerun
from nagexp.sweeps.outcome import write_outcome, write_summary_of
from nagexp.sweeps.plan import write_sweep_plan
from nagexp.sweeps.progress import LiveView, top_table
from nagexp.sweeps.spec import resolve_sweep

SPACE = SEARCH_SPACES_DIR / "accuracy_vs_size.yaml"


def record(number: int, state: str, acc: float | None, params: float | None) -> TrialRecord:
    finals = {"val_acc": acc, "param_count": float(params)} if acc is not None and params is not None else {}
    searched = {"width": 0.25 + 0.1 * number, "lr": 0.05, "momentum": 0.9}
    return TrialRecord(number=number, trial_id=f"t{number}", state=state, params=searched, final=acc, best=acc,
                       finals=finals, epochs_run=4 if state == "completed" else 1, seed=number)  # fmt: skip


RECORDS = [
    record(0, "completed", 0.90, 40_000),  # on the front
    record(1, "completed", 0.95, 90_000),  # on the front: the most accurate
    record(2, "completed", 0.85, 10_000),  # on the front: the smallest
    record(3, "completed", 0.88, 50_000),  # dominated by 0 (less accurate and larger)
    record(4, "pruned", 0.80, 5_000),  # smaller than all, but part of a run: never on the front
    record(5, "diverged", None, None),
]
RANKING = Ranking(("val_acc", "param_count"), ("max", "min"))


def test_the_front_and_each_pick_rule() -> None:
    assert [t.number for t in pareto_front(RECORDS, RANKING)] == [0, 1, 2]
    # knee: scaled to the front, 0 is (0.5, 0.375) from the ideal point, 1 (0, 1), 2 (1, 0)
    assert best_trial(RECORDS, RANKING).number == 0
    assert [t.number for t in ranked_trials(RECORDS, RANKING)] == [0, 1, 2, 3, 4]  # the front first, then the rest
    assert best_trial(RECORDS, Ranking(RANKING.metrics, RANKING.modes, "primary")).number == 1
    assert best_trial(RECORDS, Ranking(RANKING.metrics, RANKING.modes, "param_count<=45000")).number == 0
    assert best_trial(RECORDS, Ranking(RANKING.metrics, RANKING.modes, "param_count<=1000")).number == 0  # none: knee
    assert best_trial(RECORDS, Ranking(RANKING.metrics, RANKING.modes, "val_acc>=0.93")).number == 1
    # no completed trial: the one-objective rule among the others
    assert best_trial([RECORDS[4], RECORDS[5]], RANKING).number == 4
    # whether the best meets the pick's constraint (the sweep says so when none on the front does)
    assert Ranking(RANKING.metrics, RANKING.modes, "param_count<=45000").meets_pick(RECORDS[0]) is True
    assert Ranking(RANKING.metrics, RANKING.modes, "param_count<=1000").meets_pick(RECORDS[0]) is False
    assert Ranking(RANKING.metrics, RANKING.modes, "val_acc>=0.93").meets_pick(RECORDS[1]) is True
    assert Ranking(RANKING.metrics, RANKING.modes, "val_acc>=0.93").meets_pick(RECORDS[0]) is False
    assert RANKING.meets_pick(RECORDS[0]) is None and RANKING.meets_pick(RECORDS[5]) is None  # knee; no values


@pytest.mark.parametrize(("pick", "message"), [
    ("best", "use knee, primary or a constraint such as train_seconds<=120"),
    ("train_seconds<=10", "'train_seconds' is not an objective of this sweep (val_acc, param_count)"),
])  # fmt: skip
def test_a_bad_pick_is_one_line(pick: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_pick(pick, ["val_acc", "param_count"])


@pytest.mark.parametrize(("options", "message"), [
    ({"scheduler": "pbt"}, "--scheduler pbt ranks a population by one metric"),
    ({"sampler": "cmaes"}, "--sampler cmaes optimizes one objective"),
    ({"pick": "knee", "space": SEARCH_SPACES_DIR / "quick.yaml", "epochs": 2}, None),  # the default: fine
    ({"pick": "primary", "space": SEARCH_SPACES_DIR / "quick.yaml"}, "--pick chooses among the Pareto front"),
])  # fmt: skip
def test_what_several_objectives_refuse(tmp_path: Path, options: dict, message: str | None) -> None:
    given = SweepOptions(**{"space": SPACE, "results_dir": tmp_path, **options})
    if message is None:
        resolve_sweep(given)
        return
    with pytest.raises(ConfigError, match=message):
        resolve_sweep(given)


def test_an_objective_list_is_parsed_and_checked(tmp_path: Path) -> None:
    space = load_space(SPACE)
    assert [o.metric for o in space.objectives] == ["val_acc", "param_count"] and space.objective.metric == "val_acc"
    bad = tmp_path / "bad.yaml"
    bad.write_text("params: {lr: {type: float, low: 0.01, high: 0.1}}\n"
                   "objective: [{metric: val_acc}, {metric: val_acc, mode: min}]\n")  # fmt: skip
    with pytest.raises(ConfigError, match="each metric once"):
        load_space(bad)


@pytest.fixture
def sweep_dir(tmp_path: Path, digits) -> Path:
    spec = resolve_sweep(SweepOptions(space=SPACE, name="s", results_dir=tmp_path))
    spec.sweep_dir.mkdir(parents=True)
    write_sweep_plan(spec, digits, {"CPU": 2.0, "GPU": 0.0}, "nagexp sweep accuracy_vs_size.yaml --name s", None)
    write_summary_of(write_outcome(spec, RECORDS, 1.0, interrupted=False))
    import optuna

    optuna.create_study(study_name="s", storage=f"sqlite:///{spec.sweep_dir / 'optuna.db'}",
                        directions=["maximize", "minimize"])  # fmt: skip
    return spec.sweep_dir


def test_every_surface_names_the_same_front_and_best(sweep_dir: Path) -> None:
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["pareto_front"] == [0, 1, 2] and summary["best_trial"] == 0 and summary["pick"] == "knee"
    assert summary["objectives"] == [{"metric": "val_acc", "mode": "max"}, {"metric": "param_count", "mode": "min"}]
    with (sweep_dir / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["pareto"] for r in rows] == ["true", "true", "true", "false", "false", "false"]
    assert rows[1]["final_param_count"] == "90000.0"
    back = read_trials(sweep_dir / "trials.csv", ["width", "lr", "momentum"], "val_acc")
    assert [t.number for t in pareto_front(back, RANKING)] == [0, 1, 2]  # the values come back from the file
    assert (sweep_dir / "best.yaml").read_text().startswith("# nagexp best trial 0:")
    (listing,) = list_sweeps(sweep_dir.parent).sweeps
    assert listing.best_number == 0 and listing.front == [0, 1, 2]
    data = collect(sweep_dir)
    assert data.best.number == 0 and [t.number for t in data.front()] == [0, 1, 2]
    assert trial_to_rerun(sweep_dir, "best")[0].number == 0
    written = build_report(sweep_dir)
    markdown = next(p for p in written if p.name == "report.md").read_text()
    assert "## Pareto front" in markdown and "figures/pareto.svg" in markdown
    assert "| Pareto front | trials 0, 1, 2; the best of it by --pick knee |" in markdown
    assert (sweep_dir / "report" / "figures" / "pareto.svg").exists()


def test_the_live_view_and_printed_table_mark_the_front() -> None:
    assert "best val_acc 0.9000 (trial 0)" in LiveView(6, "val_acc", RANKING, emit=lambda _: None).line(RECORDS)
    table = top_table(RECORDS, ["width"], "val_acc", RANKING).splitlines()
    assert table[0].split()[:5] == ["trial", "state", "val_acc", "param_count", "pareto"]
    assert [line.split()[0] for line in table[1:]] == ["0", "1", "2", "3", "4"]
    assert [line.split()[4] for line in table[1:]] == ["yes", "yes", "yes", "-", "-"]


def test_mlflow_tags_the_front(tmp_path: Path, digits) -> None:
    from mlflow import MlflowClient

    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.sweep_tracking import SweepTracking
    from nagexp.tracking.tracker import Tracker

    spec = resolve_sweep(SweepOptions(space=SPACE, name="m", results_dir=tmp_path, log_models="none"))
    spec.sweep_dir.mkdir(parents=True)
    write_sweep_plan(spec, digits, {"CPU": 2.0}, None, None)
    ready: Future = Future()
    ready.set_result(Tracker(resolve_store(None, tmp_path)))
    tracking = SweepTracking(ready, spec, digits, warn=print)
    for r in RECORDS:
        tracking.on_trial_start(r)
        tracking.on_trial_end(r)
    tracking.finish(RECORDS, 1.0)
    assert tracking.failed is None
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    front = client.search_runs([exp.experiment_id], "tags.pareto_front = 'true'")
    assert sorted(r.data.tags["trial_number"] for r in front) == ["0", "1", "2"]
    assert client.get_run(tracking.parent_id).data.tags["pareto_front"] == "0,1,2"
    (best,) = client.search_runs([exp.experiment_id], "tags.best = 'true'")
    assert best.data.tags["trial_number"] == "0"


@pytest.mark.parametrize(("pick", "said"), [("param_count<=1000", True), ("param_count<=45000", False)])
def test_the_sweep_says_when_no_trial_on_the_front_meets_the_pick(tmp_path: Path, digits, capsys: pytest.CaptureFixture,
                                                                  pick: str, said: bool) -> None:  # fmt: skip
    from nagexp.cli.sweep_output import print_outcome

    spec = resolve_sweep(SweepOptions(space=SPACE, name="p", results_dir=tmp_path, pick=pick, track=False))
    spec.sweep_dir.mkdir(parents=True)
    write_sweep_plan(spec, digits, {"CPU": 2.0, "GPU": 0.0}, "nagexp sweep", None)
    print_outcome(write_outcome(spec, RECORDS, 1.0, interrupted=False))
    out = capsys.readouterr().out
    assert "best: trial 0," in out
    assert (f"(no trial on the Pareto front meets --pick {pick}: the knee is the best)" in out) is said, out
