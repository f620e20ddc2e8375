"""Sweeps that survive their driver: SIGKILL or Ctrl-C, then `nagexp sweep --resume`.

The interrupted sweep runs in a subprocess with its own Ray runtime; the resume runs here on
the shared one. Afterwards trials.csv, the Optuna study and MLflow must each hold exactly the
planned trials, none twice, none left running, and every trial that had finished unchanged.
"""

from __future__ import annotations

import csv
import json
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR
from tests.processes import NagexpProcess, journal_events, trials_ended

pytestmark = pytest.mark.usefixtures("ray_runtime")
runner = CliRunner()
TRIALS = 6
FIFO = ("--scheduler", "fifo")  # every trial runs its 10 epochs: none ends early at a rung


def rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "trials.csv").open() as f:
        return list(csv.DictReader(f))


def finished(table: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r["number"]: r for r in table if r["state"] != "running"}


def sweep_args(results: Path, name: str, *extra: str, trials: int = TRIALS) -> tuple[str, ...]:
    # 10-epoch trials (seconds each): long enough that some are mid-training when the signal comes
    return ("sweep", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", str(trials), "--epochs", "10", "--name", name,
            "--results-dir", str(results), *extra)  # fmt: skip


def finished_at_least(sweep_dir: Path, count: int) -> Callable[[], bool]:
    """trials.csv (rewritten as each trial ends) lists `count` finished trials."""
    return lambda: (sweep_dir / "trials.csv").exists() and len(finished(rows(sweep_dir))) >= count


def mid_run(sweep_dir: Path, at_most: int) -> set[int]:
    """Trials the journal shows between their first and their end, with at most `at_most` epochs
    reported."""
    events = journal_events(sweep_dir)
    ended = {e["number"] for e in events if e["event"] == "end"}
    epochs = Counter(e["number"] for e in events if e["event"] == "epoch" and e["number"] not in ended)
    return {number for number, done in epochs.items() if done <= at_most}


def ls_state(results: Path, name: str) -> str:
    """The state `nagexp ls` shows for sweep `name`."""
    listed = runner.invoke(app, ["ls", "--results-dir", str(results)])
    assert listed.exit_code == 0, listed.output
    return next(line.split()[1] for line in listed.stdout.splitlines() if line.split()[0] == name)


def resume(name: str, results: Path) -> None:
    result = runner.invoke(app, ["sweep", "--resume", name, "--results-dir", str(results)])
    assert result.exit_code == 0, result.output + str(result.exception)
    assert f"resuming sweep {name}" in result.output


def check_exact(sweep_dir: Path, before: dict[str, dict[str, str]], trials: int = TRIALS) -> None:
    table = rows(sweep_dir)
    assert sorted(int(r["number"]) for r in table) == list(range(trials))
    assert all(r["state"] in ("completed", "pruned", "diverged") for r in table)
    after = finished(table)
    for number, row in before.items():  # finished before the interruption: untouched
        assert after[number] == row

    study = optuna.load_study(study_name=sweep_dir.name, storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert sorted(t.number for t in study.trials) == list(range(trials))
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    for t in study.trials:  # every epoch told once: as many values as the trial ran epochs
        assert len(t.intermediate_values) == int(after[str(t.number)]["epochs_run"])

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{sweep_dir.parent / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    parents = client.search_runs([exp.experiment_id], "tags.`nagexp.kind` = 'sweep'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'")
    numbers = sorted(int(r.data.tags["trial_number"]) for r in children)
    assert numbers == list(range(trials))  # one run per trial: continued, never made twice
    for run in children:
        assert run.info.status == "FINISHED"
        epochs = int(after[run.data.tags["trial_number"]]["epochs_run"])
        assert len(client.get_metric_history(run.info.run_id, "val_acc")) == epochs


@pytest.mark.slow
def test_sigkilled_driver_resumes_exactly(tmp_path: Path, nagexp_process: NagexpProcess) -> None:
    sweep_dir = tmp_path / "killed"
    two_ended = finished_at_least(sweep_dir, 2)

    def then_one_mid_run() -> bool:  # five epochs (seconds) before its end: it dies mid-run
        return two_ended() and bool(mid_run(sweep_dir, 5))

    nagexp_process.run_until(*sweep_args(tmp_path, "killed", *FIFO, trials=4), until=then_one_mid_run,
                             what="2 trials finished and another reported its first epochs")  # fmt: skip
    assert mid_run(sweep_dir, 9)
    before = finished(rows(sweep_dir))
    assert 2 <= len(before) < 4
    assert not (sweep_dir / "summary.json").exists()
    assert ls_state(tmp_path, "killed") == "incomplete"

    resume("killed", tmp_path)
    check_exact(sweep_dir, before, trials=4)
    assert json.loads((sweep_dir / "summary.json").read_text())["state"] == "finished"


@pytest.mark.slow
def test_sigkilled_driver_of_data_parallel_trials_resumes_exactly(tmp_path: Path,
                                                                 nagexp_process: NagexpProcess) -> None:  # fmt: skip
    # trials of 2 Ray Train workers (0.5 CPU each), one at a time, the driver killed with its own
    # runtime while the second is mid-run: the resumed sweep's Tune restore starts that trial's
    # Ray Train run again by name, from its checkpoint, on a fresh runtime
    sweep_dir = tmp_path / "dp"
    dp = ("--workers-per-trial", "2", "--cpus-per-worker", "0.5", "--epochs", "4", "--scheduler", "fifo",
          "--max-concurrent", "1")  # fmt: skip

    def started_after_an_end(at_most: int) -> set[int]:
        return mid_run(sweep_dir, at_most) if trials_ended(sweep_dir) else set()

    # killed two epochs (seconds) from that trial's end, so the kill cannot come after it
    nagexp_process.run_until(*sweep_args(tmp_path, "dp", *dp, trials=2), until=lambda: bool(started_after_an_end(2)),
                             what="a trial finished and another reported its first epochs")  # fmt: skip
    assert started_after_an_end(3)  # the driver died with a trial between its first and its last epoch
    before = finished(rows(sweep_dir))
    assert len(before) == 1

    resume("dp", tmp_path)
    check_exact(sweep_dir, before, trials=2)
    table = rows(sweep_dir)
    # every trial ran its 4 epochs, recorded (a run's checkpoint may be ahead of the dead driver)
    assert [(r["state"], r["epochs_run"]) for r in table] == [("completed", "4")] * 2
    assert all(len(r["node_id"].split(",")) == 2 for r in table)  # each trial ran on 2 workers


@pytest.mark.slow
def test_ctrl_c_saves_state_refuses_a_second_driver_and_resumes(tmp_path: Path, nagexp_process: NagexpProcess) -> None:
    sweep_dir = tmp_path / "stopped"
    proc = nagexp_process.start(*sweep_args(tmp_path, "stopped", *FIFO))
    nagexp_process.wait_until(proc, finished_at_least(sweep_dir, 2), "2 trials finished")
    # a second driver on the same sweep is refused while the first one lives
    second = runner.invoke(app, ["sweep", "--resume", "stopped", "--results-dir", str(tmp_path)])
    assert second.exit_code == 1, second.output
    assert f"sweep 'stopped' is being run by nagexp driver pid {proc.pid}" in second.output
    assert ls_state(tmp_path, "stopped") == "running"
    # a trial five epochs (seconds) from its end at the earliest: the sweep cannot end before the signal
    nagexp_process.wait_until(proc, lambda: bool(mid_run(sweep_dir, 5)), "a trial reported its first epochs")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert f"resume with: nagexp sweep --resume stopped --results-dir {tmp_path}" in err
    assert json.loads((sweep_dir / "summary.json").read_text())["state"] == "interrupted"
    assert ls_state(tmp_path, "stopped") == "interrupted"  # not "finished": it has a summary.json
    before = finished(rows(sweep_dir))

    resume("stopped", tmp_path)
    check_exact(sweep_dir, before)
    assert ls_state(tmp_path, "stopped") == "finished"


def test_resume_errors_are_one_line(tmp_path: Path) -> None:
    def fails(*args: str) -> str:
        result = runner.invoke(app, ["sweep", *args, "--results-dir", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        return result.output

    assert "no sweep 'ghost' in" in fails("--resume", "ghost")
    assert "sweep name '../up' may only use letters" in fails("--resume", "../up")
    sweep_dir = tmp_path / "half"
    sweep_dir.mkdir()
    (sweep_dir / "sweep.json").write_text("{}")
    # a name that exists is refused, with the way to continue it
    out = fails(str(SEARCH_SPACES_DIR / "quick.yaml"), "--name", "half")
    assert "sweep 'half' already exists" in out and "nagexp sweep --resume half" in out
    assert "drop --trials, --seed" in fails("--resume", "half", "--trials", "3", "--seed", "4")
    # an option given at its default value is still a change the resume would ignore
    assert "drop --trials" in fails("--resume", "half", "--trials", "20")
    assert "drop --no-track" in fails("--resume", "half", "--no-track")  # as written, not "--track"
    assert "drop SPACE" in fails(str(SEARCH_SPACES_DIR / "quick.yaml"), "--resume", "half")
    assert "half/sweep.json' is damaged (no 'name'" in fails("--resume", "half")
    (sweep_dir / "summary.json").write_text(json.dumps({"state": "finished"}))
    # finished, but its plan is damaged: that is said (its report could not be made either)
    assert "half/sweep.json' is damaged (no 'name'" in fails("--resume", "half")
    out = fails(str(SEARCH_SPACES_DIR / "quick.yaml"), "--name", "half")
    assert "already exists" in out and "--resume" not in out


def test_results_dir_not_writable_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["sweep", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", "1", "--no-track",
                                 "--results-dir", str(blocker / "results")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"cannot create '{blocker / 'results'}" in result.output
    assert f"'{blocker}' is a file, not a folder; pass a writable --results-dir" in result.output  # not "File exists"
    assert "digits: read" not in result.output  # said before the data is read or Ray starts (--dry-run too)
    dry = runner.invoke(app, ["sweep", "--trials", "1", "--no-track", "--dry-run", "--results-dir", str(blocker)])
    assert dry.exit_code == 1 and f"'{blocker}' is a file, not a folder" in dry.stderr, dry.output
    # the MLflow store's folder (a tracked sweep, and `nagexp train`) is the first to be made there
    for command in (["sweep", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", "1"], ["train", "--epochs", "1"]):
        result = runner.invoke(app, [*command, "--results-dir", str(blocker)])
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: cannot create '{blocker}' for the MLflow store: '{blocker}' is a file, not a folder; pass a "
            "writable --results-dir or --tracking-uri")  # fmt: skip
    assert blocker.read_text() == "not a folder"


def test_unknown_option_and_unusable_space_files(tmp_path: Path) -> None:
    unknown = runner.invoke(app, ["sweep", "--bogus"])
    assert unknown.exit_code == 2 and "No such option: --bogus" in unknown.output
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("params:\n  lr: {type: float, low: 1, high: [\n")
    cases = {
        str(tmp_path / "missing.yaml"): f"space file '{tmp_path / 'missing.yaml'}' not found",
        str(tmp_path): f"space file '{tmp_path}' cannot be read",
        str(bad_yaml): f"{bad_yaml}: YAML syntax error at line 3",
    }
    for space, message in cases.items():
        result = runner.invoke(app, ["sweep", space, "--results-dir", str(tmp_path / "out")])
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
        assert not (tmp_path / "out").exists()
