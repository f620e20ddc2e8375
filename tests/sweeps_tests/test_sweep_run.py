"""Real sweeps on the shared local Ray runtime (one CPU: see tests/conftest.py, SHARED_CPUS)."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import ray
import yaml
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.loading import load_train_config
from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.config.sweep import SweepOptions
from nagexp.sweeps.runner import run_sweep
from nagexp.sweeps.spec import resolve_sweep
from nagexp.training.trainer import train
from tests.conftest import load_bundle
from tests.listeners import KillWorkerOnce

pytestmark = pytest.mark.usefixtures("ray_runtime")
runner = CliRunner()
QUICK = SEARCH_SPACES_DIR / "quick.yaml"


def rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "trials.csv").open() as f:
        return list(csv.DictReader(f))


def study(sweep_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=sweep_dir.name, storage=f"sqlite:///{sweep_dir / 'optuna.db'}")


def write_space(path: Path, params: dict, fixed: dict | None = None, asha: dict | None = None) -> Path:
    data = {"fixed": {"dataset": "digits", "model": "cnn", "width": 0.25, "epochs": 3, **(fixed or {})},
            "params": params, "asha": asha or {"grace_period": 1, "reduction_factor": 2}}  # fmt: skip
    path.write_text(yaml.safe_dump(data))
    return path


@contextlib.contextmanager
def warnings_logged_by(name: str) -> Iterator[list[str]]:
    """The messages `name` logs at WARNING or above in the block, as under Ray's default logging
    (the shared runtime's start sets Ray's loggers to ERROR, as `nagexp sweep` does)."""
    logger, seen = logging.getLogger(name), []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.smoke
def test_quick_sweep_files_and_exact_rerun(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", str(QUICK), "--trials", "6", "--seed", "1", "--name", "t1",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = tmp_path / "t1"
    for name in ("sweep.json", "trials.csv", "best.yaml", "optuna.db", "ray", "summary.json"):
        assert (out / name).exists(), name
    assert "best: trial" in result.stdout and "rerun it: nagexp train" in result.stdout

    plan = json.loads((out / "sweep.json").read_text())
    assert plan["seeds"]["master"] == 1 and plan["data"]["fingerprint"]
    assert {"nagexp", "torch", "ray", "optuna", "mlflow"} <= set(plan["versions"])
    assert plan["space"]["fixed"]["num_threads"] == 1

    table = rows(out)
    assert [int(r["number"]) for r in table] == list(range(6))
    assert all(r["state"] in ("completed", "pruned") for r in table)
    assert all(r["seed"] and r["node_id"] for r in table)
    # the live line in a log: a line as each trial ends (done 1/6 ... 6/6, never more running
    # than Ray's CPUs fit), the last one the sweep's counts and best as the files hold them
    progress = [line for line in result.stdout.splitlines() if re.match(r"^\[\d\d:\d\d\] done ", line)]
    done = [int(re.search(r" done (\d+)/6 ", line).group(1)) for line in progress]
    assert done == sorted(done) and set(range(1, 7)) <= set(done), progress
    cpus = ray.cluster_resources()["CPU"]
    assert all(int(re.search(r"\| running (\d+) \|", line).group(1)) <= cpus for line in progress), progress
    best = json.loads((out / "summary.json").read_text())["best_trial"]
    counts = {state: sum(r["state"] == state for r in table) for state in ("completed", "pruned")}
    best_acc = float(next(r for r in table if int(r["number"]) == best)["final_val_acc"])
    assert progress[-1].split("] ", 1)[1] == (
        f"done 6/6 | running 0 | completed {counts['completed']} pruned {counts['pruned']} diverged 0 errored 0 | "
        f"best val_acc {best_acc:.4f} (trial {best})")
    # a finished sweep keeps each trial's last checkpoint only (sweeps/checkpoint_pruning.py)
    kept = {t.name: sorted(c.name for c in t.glob("checkpoint_*")) for t in (out / "ray").glob("run_trial_*")}
    assert len(kept) == 6 and all(len(c) == 1 for c in kept.values()), kept
    # Optuna holds the same trials, with pruned ones told as PRUNED
    trials = study(out).trials
    assert len(trials) == 6
    for r, t in zip(table, trials, strict=True):
        assert t.state.name == ("PRUNED" if r["state"] == "pruned" else "COMPLETE")
        assert len(t.intermediate_values) == int(r["epochs_run"])

    # best.yaml is a full TrainConfig and reruns the best trial exactly (CPU, same seed)
    best_number = json.loads((out / "summary.json").read_text())["best_trial"]
    best_row = next(r for r in table if int(r["number"]) == best_number)
    cfg = load_train_config(out / "best.yaml")
    rerun = train(cfg, load_bundle(cfg.dataset))
    assert rerun.final["val_acc"] == float(best_row["final_val_acc"])
    assert rerun.test_acc == float(best_row["test_acc"])


@pytest.mark.smoke
def test_asha_stops_trials_early_and_the_process_is_left_as_it_was(tmp_path: Path) -> None:
    """A wide lr range: poor trials fall behind at the 1-epoch rung and are stopped. And the
    sweep (tracked: MLflow, its figures, Tune's stop signal) leaves the process's settings as
    they were: a notebook runs several."""
    import matplotlib
    from ray.air._internal import usage

    from nagexp.core.process_settings import snapshot

    space = write_space(tmp_path / "asha.yaml", {"lr": {"type": "float", "low": 1e-4, "high": 0.5, "log": True}},
                        fixed={"epochs": 4})  # fmt: skip
    spec = resolve_sweep(SweepOptions(space=space, trials=8, seed=0, max_concurrent=1, name="asha",
                                      results_dir=tmp_path, sampler="random"))  # fmt: skip
    before, count_callbacks = snapshot(), usage._count_callbacks
    backend, style = matplotlib.get_backend(), dict(matplotlib.rcParams)
    with warnings_logged_by("ray.tune.analysis.experiment_analysis") as warned:  # as a notebook's ray.init() logs
        outcome = run_sweep(spec, emit=lambda _: None)
    after = snapshot()
    # Tune found none of the result files nagexp turns off: not a line per trial in the notebook
    assert not [m for m in warned if "Failed to fetch metrics" in m]
    assert after["environ"] == before["environ"] and after["loggers"] == before["loggers"]
    assert after == before  # signal handlers, Optuna's verbosity, torch's threads too
    assert usage._count_callbacks is count_callbacks
    assert matplotlib.get_backend() == backend and dict(matplotlib.rcParams) == style
    pruned = [r for r in outcome.records if r.state == "pruned"]
    assert pruned and all(r.epochs_run < 4 for r in pruned)
    assert any(r.state == "completed" and r.epochs_run == 4 for r in outcome.records)
    assert sum(t.state.name == "PRUNED" for t in study(tmp_path / "asha").trials) == len(pruned)


def test_diverged_and_errored_trials_do_not_stop_the_sweep(tmp_path: Path) -> None:
    # lr 1e4 diverges; momentum_min above momentum makes the trial's config invalid (it raises)
    space = write_space(
        tmp_path / "mixed.yaml",
        {"lr": {"type": "categorical", "choices": [0.05, 10000.0]},
         "momentum_min": {"type": "categorical", "choices": [0.5, 0.95]}},
        fixed={"momentum_schedule": "cyclical", "momentum": 0.9, "epochs": 2},
    )  # fmt: skip
    result = runner.invoke(app, ["sweep", str(space), "--trials", "8", "--seed", "3", "--sampler", "random",
                                 "--scheduler", "fifo", "--name", "mixed", "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = rows(tmp_path / "mixed")
    assert len(table) == 8
    states = {r["state"] for r in table}
    assert states == {"completed", "diverged", "errored"}
    for r in table:
        if r["state"] == "errored":
            assert float(r["momentum_min"]) == 0.95 and "momentum_min <= momentum" in r["reason"]
        elif r["state"] == "diverged":
            assert float(r["lr"]) == 10000.0 and r["reason"]
        else:
            assert float(r["lr"]) == 0.05
    best = yaml.safe_load((tmp_path / "mixed" / "best.yaml").read_text())
    assert best["lr"] == 0.05


def test_exit_1_when_no_trial_finishes(tmp_path: Path) -> None:
    space = write_space(tmp_path / "broken.yaml", {"momentum_min": {"type": "categorical", "choices": [0.95]}},
                        fixed={"momentum_schedule": "cyclical", "momentum": 0.9})  # fmt: skip
    result = runner.invoke(app, ["sweep", str(space), "--trials", "2", "--name", "broken",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1
    assert "no trial finished" in result.stderr
    assert [r["state"] for r in rows(tmp_path / "broken")] == ["errored", "errored"]
    # no best trial: no best.yaml, and the files it names are those there (no table of no trials)
    assert not (tmp_path / "broken" / "best.yaml").exists()
    assert f"results: {tmp_path / 'broken'}  (sweep.json, trials.csv, optuna.db, ray/)" in result.stdout
    assert not re.search(r"^trial\s+state\s", result.stdout, re.M), result.stdout
    # reproduce says why there is nothing to rerun, and where the reasons are
    for trial, said in (("best", "has no best trial to reproduce: no trial has a result (each diverged, errored"),
                        ("0", "trial 0 errored (")):
        rerun = runner.invoke(app, ["reproduce", "broken", "--trial", trial, "--results-dir", str(tmp_path)])
        assert rerun.exit_code == 2 and said in rerun.stderr, rerun.output
    assert "only a trial with a result reproduces (completed, or pruned after an epoch)" in rerun.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "mnist:/nothere"], "dataset path '/nothere' for 'mnist' does not exist"),
        (["--dataset", "npz:/nothere.npz"], "npz file '/nothere.npz' does not exist"),
        (["--data-mode", "stream"], "data_mode stream needs a dataset read from files"),
    ],
)
def test_dry_run_refuses_the_data_the_sweep_would(tmp_path: Path, args: list[str], message: str) -> None:
    said = []
    for dry in (["--dry-run"], []):  # as the sweep itself does, before anything starts, in its words
        result = runner.invoke(app, ["sweep", str(QUICK), *args, *dry, "--no-track", "--results-dir", str(tmp_path)])
        assert result.exit_code == 2 and message in result.stderr, (dry, result.output)
        said.append(result.stderr.strip())
    assert said[0] == said[1]
    assert not any(tmp_path.iterdir())


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", str(QUICK), "--dry-run", "--trials", "3", "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "dry run" in result.stdout and result.stdout.count("trial ") >= 3
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "0"], "--trials: Input should be greater than or equal to 1"),
        (["--trials", "-3"], "--trials: Input should be greater than or equal to 1"),
        (["--sampler", "grid"], "--sampler: Input should be 'tpe', 'random', 'cmaes', 'gp' or 'qmc'"),
        (["--scheduler", "hyperband"], "--scheduler: Input should be 'asha', 'fifo', 'pbt' or 'pb2'"),
        (["--cpus-per-trial", "5"], "--cpus-per-trial 5 is more than the 1 CPU Ray has; ask for at most 1, or join "
         "a cluster with more (--address)"),
        (["--gpus-per-trial", "1"], "--gpus-per-trial 1 is more than the 0 GPUs Ray has"),
        (["--name", "a/b"], "sweep name 'a/b' may only use"),
        (["--name", ".."], "sweep name '..' may only use"),
        (["--dataset", "imagenet:/x"], "error: --dataset: field 'dataset': unknown dataset kind 'imagenet' in"),
        (["--dataset", "digitz"], "error: --dataset: field 'dataset': unknown dataset kind 'digitz'; allowed:"),
        (["--epochs", "0"], "--epochs: Input should be greater than or equal to 1"),
        (["--code-dir", "/nothere"], "code folder '/nothere' does not exist; pass --code-dir"),  # built-in parts only
        (["--no-track", "--register-model", "m"], "--register-model registers the best model in MLflow, which "
         "--no-track turns off"),
        (["--scheduler", "fifo", "--rung-signal", "curve"], "--rung-signal is what ASHA ranks trials on at its "
         "rungs; --scheduler fifo has none"),
        # given, even at its default, an option the sweep would ignore is named
        (["--trials-per-batch", "4"], "--trials-per-batch sizes the batches --deterministic asks trials in"),
        (["--gpus-per-worker", "1"], "--gpus-per-worker sizes each worker of a data-parallel trial; this sweep's "
         "trials are one process each"),
        (["--workers-per-trial", "2", "--cpus-per-trial", "1"], "--cpus-per-trial sizes a one-process trial; each "
         "of this sweep's trials is 2 workers"),
        (["--name", ""], "sweep name is empty: give one, or leave it out"),
        (["--warm-start-any"], "--warm-start-any lets --warm-start take sweeps of another dataset or objective; "
         "give --warm-start SWEEP too"),
    ],
)
def test_bad_sweep_input_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sweep", str(QUICK), *args, "--results-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    if args[0] == "--dataset":  # the message quotes the value: no "(got 'digitz')" after it
        assert result.stderr.count(f"'{args[1].partition(':')[0]}'") == 1, result.stderr


def test_a_trial_whose_last_epoch_spends_the_epoch_budget_completed(tmp_path: Path) -> None:
    # the budget ends the sweep on the report of trial 0's last epoch, before Tune ends the trial:
    # it ran every epoch (completed, with its test accuracy, its model logged as the best's), and
    # the sweep says why it ended
    result = runner.invoke(app, ["sweep", str(QUICK), "--trials", "3", "--epochs", "2", "--epoch-budget", "2",
                                 "--scheduler", "fifo", "--max-concurrent", "1", "--name", "budget",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    with (tmp_path / "budget" / "trials.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert (row["state"], row["epochs_run"]) == ("completed", "2") and row["test_acc"], row
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (best,) = client.search_runs([client.get_experiment_by_name("nagexp").experiment_id], "tags.best = 'true'")
    assert client.search_logged_models([best.info.experiment_id], filter_string=f"source_run_id = '{best.info.run_id}'")
    assert "--epoch-budget 2 spent (epochs of all trials together): the sweep ended there, 2 of 3 trials never " \
           "started" in result.stdout
    # the Optuna study says so too, with its value (a FAIL would hide it from the sampler and the dashboard)
    study = optuna.load_study(study_name="budget", storage=f"sqlite:///{tmp_path / 'budget' / 'optuna.db'}")
    (told,) = study.trials
    assert told.state == optuna.trial.TrialState.COMPLETE and told.value == float(row["final_val_acc"]), told


def test_trials_left_running_are_told_by_the_sweeps_numbers_after_a_warm_starts_priors(tmp_path: Path) -> None:
    from nagexp.search.study import PRIOR_TRIALS_ATTR, close_running_trials, storage_url

    spec = resolve_sweep(SweepOptions(space=QUICK, name="left", results_dir=tmp_path))
    spec.sweep_dir.mkdir()
    study = optuna.create_study(study_name="left", storage=storage_url(spec), direction="maximize")
    for prior in (0.5, 0.6):  # a warm start's, before the sweep's trial 0
        study.add_trial(optuna.trial.create_trial(value=prior))
    study.set_user_attr(PRIOR_TRIALS_ATTR, 2)
    study.ask(), study.ask()  # the sweep's trials 0 and 1, left RUNNING as the budget ended the sweep
    assert close_running_trials(spec, {0: [0.9]}) == 2
    states = [(t.state.name, t.value) for t in optuna.load_study(study_name="left", storage=storage_url(spec)).trials]
    assert states == [("COMPLETE", 0.5), ("COMPLETE", 0.6), ("COMPLETE", 0.9), ("FAIL", None)]


def test_existing_sweep_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    result = runner.invoke(app, ["sweep", str(QUICK), "--name", "taken", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.stderr


def test_ls_lists_sweeps(tmp_path: Path) -> None:
    spec = resolve_sweep(SweepOptions(space=QUICK, trials=2, epochs=1, name="listed", results_dir=tmp_path))
    # on a runtime a nagexp command started for its sweeps (compare's arms), which ends with it: no cluster
    # recorded (a notebook's runtime is: test_sweep_tracking)
    run_sweep(spec, emit=lambda _: None, own_runtime=True)
    assert json.loads((tmp_path / "listed" / "sweep.json").read_text())["options"]["address"] is None
    result = runner.invoke(app, ["ls", "--results-dir", str(tmp_path)])
    assert result.exit_code == 0
    line = next(line for line in result.stdout.splitlines() if line.startswith("listed"))
    assert "finished" in line and "2/2" in line and "val_acc" in line
    # a finished sweep is not resumed; the report command it gives works from anywhere
    resumed = runner.invoke(app, ["sweep", "--resume", "listed", "--results-dir", str(tmp_path)])
    assert resumed.exit_code == 2 and "sweep 'listed' has finished; nothing to resume" in resumed.stderr
    assert f"`nagexp report listed --results-dir {tmp_path.resolve()}`" in resumed.stderr, resumed.stderr
    (tmp_path / "listed").rename(tmp_path / "renamed")  # ls names what `report NAME` finds
    listed = runner.invoke(app, ["ls", "--results-dir", str(tmp_path)]).stdout
    assert re.search(r"^renamed ", listed, re.M) and not re.search(r"^listed ", listed, re.M), listed
    (tmp_path / "renamed").rename(tmp_path / "listed")
    (tmp_path / "listed" / "trials.csv").write_text("number,state\n0,completed,extra\n")  # which its report reads
    resumed = runner.invoke(app, ["sweep", "--resume", "listed", "--results-dir", str(tmp_path)])
    assert resumed.exit_code == 2 and "trials.csv' is damaged" in resumed.stderr, resumed.output


def test_dead_worker_is_retried_from_its_checkpoint(tmp_path: Path) -> None:
    spec = resolve_sweep(SweepOptions(space=QUICK, trials=2, epochs=8, seed=4, scheduler="fifo", max_concurrent=1,
                                      name="retry", results_dir=tmp_path, track=False))  # fmt: skip
    killer = KillWorkerOnce(epoch=2)
    outcome = run_sweep(spec, emit=lambda _: None, listeners=[killer])
    assert killer.killed
    first = next(r for r in outcome.records if r.number == 0)
    assert first.state == "completed" and first.epochs_run == 8 and first.retries == 1
    # the same metrics as a run that was never interrupted (CPU, same seed and threads)
    cfg = load_train_config(None, first.config)
    uninterrupted = train(cfg, load_bundle(cfg.dataset))
    assert first.final == uninterrupted.final["val_acc"]
    assert first.test_acc == uninterrupted.test_acc
    # epochs replayed after the checkpoint are recorded once, here and in Optuna
    assert [int(h["epoch"]) for h in first.history] == list(range(1, 9))
    assert len(study(tmp_path / "retry").trials[0].intermediate_values) == 8
    assert rows(tmp_path / "retry")[0]["retries"] == "1"
