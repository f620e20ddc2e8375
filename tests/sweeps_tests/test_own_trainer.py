"""Sweeps of a training function of the user's (`trainer: package.module:function`): the same
trial around it as around the built-in trainer (ASHA, trials.csv, MLflow, resume after a
killed driver, reproduce), and a bad function refused in one line first. Those that need two
CPUs (--deterministic at two at once, PBT) are in test_own_trainer_pbt_objectives."""

from __future__ import annotations

import csv
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml
from typer.testing import CliRunner

import nagexp
from nagexp.api import reproduce
from nagexp.cli import app
from nagexp.config.space import load_space
from nagexp.registries.samplers import SAMPLER_NAMES
from nagexp.space.samplers import make_sampler
from nagexp.space.sampling import define_by_run
from tests.processes import NagexpProcess, trials_ended

pytestmark = pytest.mark.usefixtures("ray_runtime")

# epoch by epoch a value that depends on x and the seed only; each epoch begun and each report
# returned is written to `log`; state is saved with every report unless `save` is false
TRAINER = """
    import time

    def run(config, report):
        x, seed, log = config["x"], config["seed"], config.get("log")
        for epoch in range(report.epoch, config["epochs"]):
            if log:
                with open(log, "a") as f:
                    f.write(f"{seed} begin {epoch + 1}\\n")
            time.sleep(config.get("pause", 0.0))
            loss = (x - 0.3) ** 2 + 1.0 / (epoch + 1) + (seed % 97) * 1e-4
            report({"val_loss": loss, "train_loss": 2 * loss},
                   state={"epoch": epoch + 1} if config.get("save", True) else None)
            if log:
                with open(log, "a") as f:
                    f.write(f"{seed} reported {epoch + 1}\\n")

    def scored(config, report):  # a metric of its own: higher is better
        for epoch in range(config["epochs"]):
            report({"val_f1": 1.0 - abs(config["x"] - 0.3) - 0.1 / (epoch + 1)})

    NOT_A_FUNCTION = 3

    def two_configs(config, report, extra):
        pass
"""


def code_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir(exist_ok=True)
    (folder / "mytrainer.py").write_text(textwrap.dedent(TRAINER))
    return folder


def write_space(tmp_path: Path, epochs: int = 4, trainer: str = "mytrainer:run", **args: object) -> Path:
    space = {"fixed": {"trainer": trainer, "epochs": epochs, **{f"trainer_args.{k}": v for k, v in args.items()}},
             "params": {"trainer_args.x": {"type": "float", "low": 0.0, "high": 1.0}},
             "objective": {"metric": "val_loss"}, "asha": {"grace_period": 1, "reduction_factor": 2}}  # fmt: skip
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "trials.csv").open() as f:
        return list(csv.DictReader(f))


def test_asha_stops_an_own_function_at_its_next_report_and_mlflow_has_every_epoch(tmp_path: Path) -> None:
    code, log = code_folder(tmp_path), tmp_path / "epochs.log"
    result = nagexp.sweep(write_space(tmp_path, log=str(log)), trials=6, seed=1, sampler="random", max_concurrent=1,
                          code_dir=code, results_dir=tmp_path / "results", name="own", echo=None)  # fmt: skip
    table = rows(result.sweep_dir)
    assert len(table) == 6 and {r["state"] for r in table} <= {"completed", "pruned"}
    pruned = [r for r in table if r["state"] == "pruned"]
    assert pruned, table  # ASHA stopped some after an early rung
    lines = log.read_text().split()
    for r in pruned:  # it began at most the epoch after its last report, and no report of it returned past it
        seed, ran = r["seed"], int(r["epochs_run"])
        events = [(lines[i + 1], int(lines[i + 2])) for i in range(0, len(lines), 3) if lines[i] == seed]
        begun = [epoch for what, epoch in events if what == "begin"]
        returned = [epoch for what, epoch in events if what == "reported"]
        assert ran < 4 and max(begun) <= ran + 1 and max(returned, default=0) < ran + 1, (r, begun, returned)
    best = yaml.safe_load((result.sweep_dir / "best.yaml").read_text())
    assert best["trainer"] == "mytrainer:run" and "x" in best["trainer_args"]
    # MLflow: a child run per trial, with the function's metrics at every epoch it ran
    summary = result.outcome.mlflow
    client = mlflow.MlflowClient(summary["tracking_uri"])
    for r in table:
        run_id = summary["trial_run_ids"][r["number"]]
        steps = [m.step for m in client.get_metric_history(run_id, "val_loss")]
        assert steps == list(range(1, int(r["epochs_run"]) + 1))
        assert client.get_run(run_id).data.params["trainer"] == "mytrainer:run"


def test_reproduce_reruns_the_function_with_other_seeds_and_logs_each_rerun(tmp_path: Path) -> None:
    code = code_folder(tmp_path)
    done = nagexp.sweep(write_space(tmp_path, epochs=2), trials=2, seed=0, scheduler="fifo", code_dir=code,
                        results_dir=tmp_path / "results", name="rep", echo=None)  # fmt: skip
    rep = reproduce(done.sweep_dir, "best", seeds=2, results_dir=tmp_path / "results")
    assert rep.exact and len(rep.seed_values) == 2 and rep.ci is not None
    assert len(set(rep.seed_values)) == 2  # other seeds, other values
    # each rerun is an MLflow run under the sweep's, with the function's metrics at every epoch
    client = mlflow.MlflowClient(done.tracking_uri)
    children = client.search_runs([client.get_run(done.mlflow_run_id).info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{done.mlflow_run_id}' and "
                                                "tags.`nagexp.kind` = 'reproduce'")  # fmt: skip
    names = sorted(r.info.run_name for r in children)
    number = done.best.number if done.best else -1
    assert len(names) == 3 and names[0] == f"reproduce-trial-{number}-rerun", names
    assert all(n.startswith(f"reproduce-trial-{number}-seed-") for n in names[1:]), names
    for run in children:
        assert run.info.status == "FINISHED" and run.data.tags["state"] == "completed"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
    values = sorted(client.get_metric_history(r.info.run_id, "val_loss")[-1].value for r in children
                    if "seed" in r.info.run_name)  # fmt: skip
    assert values == sorted(rep.seed_values)


def killed_sweep_args(code: Path, results: Path) -> list[str]:
    return ["--trials", "4", "--scheduler", "fifo", "--deterministic", "--max-concurrent", "2", "--code-dir",
            str(code), "--results-dir", str(results), "--no-track"]  # fmt: skip


UNTIMED = ("seconds", "node_id", "trial_id", "retries")  # retries: a trial the kill cut short counts one


@pytest.fixture(scope="module")
def uninterrupted(ray_runtime: None, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    """The killed sweeps' trials.csv had nothing stopped them: the same space and seed (its
    pause and saving are not searched, so they are not in the table), run once for both."""
    tmp_path = tmp_path_factory.mktemp("whole")
    space, results = write_space(tmp_path, epochs=6), tmp_path / "results"
    whole = CliRunner().invoke(app, ["sweep", str(space), *killed_sweep_args(code_folder(tmp_path), results),
                                     "--name", "whole"])  # fmt: skip
    assert whole.exit_code == 0, whole.output
    return [{k: v for k, v in r.items() if k not in UNTIMED} for r in rows(results / "whole")]


@pytest.mark.parametrize("save", [True, False], ids=["saves-state", "no-state"])
def test_resume_after_the_driver_is_killed(tmp_path: Path, nagexp_process: NagexpProcess, save: bool,
                                           uninterrupted: list[dict[str, str]]) -> None:  # fmt: skip
    code, results = code_folder(tmp_path), tmp_path / "results"
    space = write_space(tmp_path, epochs=6, pause=0.3, save=save)
    args = killed_sweep_args(code, results)
    nagexp_process.run_until("sweep", str(space), *args, "--name", "killed",
                             until=lambda: trials_ended(results / "killed") >= 1, what="a trial ended")  # fmt: skip
    lines: list[str] = []
    done = nagexp.sweep(resume="killed", results_dir=results, echo=lines.append)
    table = rows(done.sweep_dir)
    assert sorted(int(r["number"]) for r in table) == [0, 1, 2, 3]
    assert {r["state"] for r in table} == {"completed"} and {r["epochs_run"] for r in table} == {"6"}
    assert not any("Traceback" in line for line in lines)
    if any("unfinished trials" in line for line in lines):  # a trial was mid-run: said how it goes on
        assert any("from epoch 0" in line for line in lines)
    assert [{k: v for k, v in r.items() if k not in UNTIMED} for r in table] == uninterrupted


@pytest.mark.parametrize(
    ("trainer", "says"),
    [("missing_module:run", "module 'missing_module' not found"), ("mytrainer:NOT_A_FUNCTION", "not a function"),
     ("mytrainer:two_configs", "cannot be called as run(config, report)")],
    ids=["import-error", "not-callable", "wrong-signature"],
)  # fmt: skip
def test_a_bad_function_is_one_line_and_exit_2(tmp_path: Path, trainer: str, says: str) -> None:
    code = code_folder(tmp_path)
    out = subprocess.run([sys.executable, "-m", "nagexp", "sweep", str(write_space(tmp_path)), "--trainer", trainer,
                          "--code-dir", str(code), "--trials", "2", "--results-dir", str(tmp_path / "results"),
                          "--no-track"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 2, out.stdout + out.stderr
    assert says in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_the_examples_function_goes_on_from_its_saved_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/own_trainer: 3 epochs, then 3 more from the state saved at epoch 3, are the 6
    epochs of one run (what a resumed or retried trial gets)."""
    from nagexp.config.space import load_space
    from nagexp.training.own_trainer import OwnState, run_own_trainer

    example = Path(__file__).resolve().parents[2] / "examples" / "own_trainer"
    monkeypatch.syspath_prepend(str(example))
    cfg = load_space(example / "space.yaml").train_config({"lr": 0.1, "momentum": 0.9, "trainer_args.l2": 1e-3})
    saved: list[bytes] = []

    def keep(metrics: dict, state: OwnState, diverged: str | None) -> None:
        saved.append(pickle.dumps(state))  # as a trial saves it: at the report, not later

    whole = run_own_trainer(cfg, keep, ("val_loss",))
    halfway = pickle.loads(saved[2])
    assert halfway.has_state and halfway.epoch == 3
    resumed = run_own_trainer(cfg, keep, ("val_loss",), start=halfway)
    assert resumed == whole


def test_an_own_function_is_not_given_data_parallel_workers(tmp_path: Path) -> None:
    """Workers per trial run nagexp's trainer under Ray Train; an own function is one process."""
    args = ["sweep", str(write_space(tmp_path)), "--code-dir", str(code_folder(tmp_path)), "--workers-per-trial", "2",
            "--dry-run", "--results-dir", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "your own trainer 'mytrainer:run' runs as one process" in result.output


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
def test_every_sampler_proposes_for_an_own_function(tmp_path: Path, sampler: str) -> None:
    """The sampler works on the driver only, in Optuna's study: a trial trains the config it is
    given whichever sampler proposed it (sweeps of own functions: random and TPE above, GP below)."""
    space = load_space(write_space(tmp_path, epochs=1))
    study = optuna.create_study(sampler=make_sampler(sampler, 0, 3), direction="minimize")
    propose, proposed = define_by_run(space, 0), []
    for _ in range(3):
        trial = study.ask()
        config = propose(trial)
        assert config["trainer"] == "mytrainer:run" and config["epochs"] == 1, config
        proposed.append(config["trainer_args.x"])
        study.tell(trial, (config["trainer_args.x"] - 0.3) ** 2)
    assert len(set(proposed)) == 3 and all(0.0 <= x <= 1.0 for x in proposed), proposed


def test_a_gaussian_process_sweep_trains_an_own_function(tmp_path: Path) -> None:
    done = nagexp.sweep(write_space(tmp_path, epochs=1), trials=3, seed=0, sampler="gp", scheduler="fifo",
                        code_dir=code_folder(tmp_path), results_dir=tmp_path / "results", name="gp", track=False,
                        echo=None)  # fmt: skip
    table = rows(done.sweep_dir)
    assert [r["state"] for r in table] == ["completed"] * 3, table
    assert len({r["trainer_args.x"] for r in table}) == 3  # three proposals, each trained


def test_an_epoch_budget_ends_an_own_functions_sweep(tmp_path: Path) -> None:
    code, said = code_folder(tmp_path), []
    done = nagexp.sweep(write_space(tmp_path, epochs=2), trials=8, seed=0, scheduler="fifo", epoch_budget=5,
                        max_concurrent=1, code_dir=code, results_dir=tmp_path / "results", name="budget",
                        track=False, echo=said.append)  # fmt: skip
    # the header names the function, not the built-in trainer's model and data
    assert said[0].startswith("sweep budget: 8 trials of mytrainer:run, tpe + fifo"), said[0]
    assert said[2].startswith("at most 1 trial at a time: --max-concurrent"), said[:3]
    table = rows(done.sweep_dir)
    # one trial at a time, 2 epochs each: two complete, the third is stopped at the 5th epoch (each
    # epoch counts once, though Tune hands a finished trial's last result to stoppers twice)
    assert [(r["state"], r["epochs_run"]) for r in table] == [("completed", "2"), ("completed", "2"), ("pruned", "1")]
