"""Sweeps of your own model and data: checked before anything runs, errors end one trial,
the shipped example runs as a user would run it, and the Python API matches the CLI."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import nagexp
from nagexp.cli import app

pytestmark = pytest.mark.usefixtures("ray_runtime")
runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_model"

MODELS = """
    from torch import nn

    def net(input_shape, num_classes, hidden=16, fail=False):
        if fail:
            return Broken()
        c, h, w = input_shape
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0
            self.layer = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

        def forward(self, x):
            if self.training:  # the driver's check runs in eval mode: this fails in the trial only
                raise ValueError("user model refuses to train")
            return self.layer(x)

    VALUE = 3

    def not_a_module(input_shape, num_classes):
        return "a string"

    def three_logits(input_shape, num_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))

    def nan_late(step, total_steps, blow=0.5):
        return float("nan") if step > blow * total_steps else 0.05

    def mu_up(step, total_steps, end=0.9):
        return 0.5 + (end - 0.5) * step / total_steps

    def halving(step, total_steps, peak, at=0.5):
        return peak if step < at * total_steps else peak / 2

    def mismatched(n=50):
        import numpy as np
        return {"x": np.zeros((n, 8, 8), np.float32), "y": np.zeros(n - 1)}
"""


def code_folder(tmp_path: Path, module: str) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / f"{module}.py").write_text(textwrap.dedent(MODELS))
    return folder


def write_space(path: Path, fixed: dict, params: dict | None = None) -> Path:
    data = {"fixed": {"dataset": "digits", "epochs": 1, **fixed},
            "params": params or {"lr": {"type": "float", "low": 0.01, "high": 0.1}}}  # fmt: skip
    path.write_text(yaml.safe_dump(data))
    return path


CATALOGUE = {
    "module missing": ({"model": "absent_pkg_q.models:net"}, "module 'absent_pkg_q' not found"),
    "attribute missing": ({"model": "{mod}:nett"}, "module '{mod}' has no attribute 'nett'"),
    "not callable": ({"model": "{mod}:VALUE"}, "model '{mod}:VALUE' is a int, not a callable"),
    "not a module": ({"model": "{mod}:not_a_module"}, "returned a str, not a torch.nn.Module"),
    "wrong logits": ({"model": "{mod}:three_logits"}, "it must return logits of shape [4, 10]"),
    "dataset lengths": ({"model": "cnn", "dataset": "python:{mod}:mismatched"}, "'x' has 50 samples but 'y' has 49"),
    "schedule missing": ({"lr_schedule": "{mod}:absent"}, "lr_schedule '{mod}:absent': module '{mod}' has no "
                         "attribute 'absent'"),
    "schedule nan": ({"lr_schedule": "{mod}:nan_late"}, "lr_schedule '{mod}:nan_late' gave nan at step 11 of 20"),
    # a searched argument's high end: the driver checks both ends of the range
    "schedule range": ({"momentum_schedule": "{mod}:mu_up"}, "momentum_schedule '{mod}:mu_up' with "
                       "momentum_schedule_args {{'end': 1.5}} gave 1.0 at step 10 of 20; momentum values must be "
                       "in [0, 1)", {"momentum_schedule_args.end": {"type": "float", "low": 0.6, "high": 1.5}}),
}


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_bad_user_code_is_one_line_exit_2_nothing_written(case: str, tmp_path: Path) -> None:
    module = f"catalogue_{case.replace(' ', '_')}"
    folder = code_folder(tmp_path, module)
    fixed, message, *params = CATALOGUE[case]
    space = write_space(tmp_path / "space.yaml", {k: v.format(mod=module) for k, v in fixed.items()}, *params)
    results = tmp_path / "results"
    result = runner.invoke(app, ["sweep", str(space), "--trials", "2", "--results-dir", str(results),
                                 "--code-dir", str(folder), "--name", "bad"])  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message.format(mod=module) in lines[0]
    assert "Traceback" not in result.output
    assert not results.exists() or not any(results.iterdir())


def test_user_model_error_ends_its_trial_and_the_sweep_goes_on(tmp_path: Path) -> None:
    folder = code_folder(tmp_path, "sometimes_broken")
    space = write_space(tmp_path / "space.yaml", {"model": "sometimes_broken:net"},
                        {"model_args.fail": {"type": "categorical", "choices": [False, True]},
                         "lr": {"type": "float", "low": 0.01, "high": 0.1}})  # fmt: skip
    result = nagexp.sweep(space, trials=4, seed=3, name="mixed", results_dir=tmp_path / "results", track=False,
                          code_dir=folder, scheduler="fifo", echo=None)  # fmt: skip
    table = result.trials
    assert set(table["state"]) == {"completed", "errored"}, table[["state", "model_args.fail"]]
    broken = table[table["state"] == "errored"]
    assert (broken["model_args.fail"] == True).all()  # noqa: E712
    assert broken["reason"].str.contains("ValueError: user model refuses to train").all()
    assert result.best is not None and result.best_config is not None
    assert result.best_config.model_args["fail"] is False
    plan = json.loads((result.sweep_dir / "sweep.json").read_text())
    assert plan["user_code"]["dir"] == str(folder) and len(plan["user_code"]["hash"]) == 16


def test_a_submitted_job_keeps_its_working_dir_and_variables(tmp_path: Path, joined_env: dict[str, str]) -> None:
    # as `ray job submit --working-dir FOLDER -- nagexp sweep ...` starts its entrypoint: in the
    # folder, first on PYTHONPATH, with the job's variables set and its runtime env in a variable;
    # Ray refuses a driver that sets a field or a variable of it again, so the job's are used
    folder = code_folder(tmp_path, "job_models")
    space = write_space(folder / "space.yaml", {"model": "job_models:net"})
    job_vars = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5"}
    job = {"runtime_env": {"working_dir": str(folder), "env_vars": job_vars}}
    env = {**joined_env, **job_vars, "RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps(job), "PYTHONPATH": str(folder)}
    sweep = [sys.executable, "-m", "nagexp", "sweep", str(space), "--trials", "1", "--no-track", "--name", "job",
             "--results-dir", str(tmp_path / "results")]  # fmt: skip
    ran = subprocess.run(sweep, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with (tmp_path / "results" / "job" / "trials.csv").open() as f:
        assert [r["state"] for r in csv.DictReader(f)] == ["completed"]
    # sweep.json names the cluster the job ran on, which $RAY_ADDRESS gave
    recorded = json.loads((tmp_path / "results" / "job" / "sweep.json").read_text())["options"]["address"]
    assert recorded == joined_env["RAY_ADDRESS"]
    # code outside the job's working_dir would import on the driver only: one line that says what to change
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    elsewhere = subprocess.run([*sweep[:-2], "--results-dir", str(tmp_path / "elsewhere")], cwd=other, env=env,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
    assert elsewhere.returncode == 1, elsewhere.stdout + elsewhere.stderr
    assert elsewhere.stderr.strip().splitlines() == [
        f"error: this Ray job was submitted with its own working_dir, so the code in '{other}' cannot be shipped "
        "beside it: run nagexp in the job's working_dir (the entrypoint's folder, without cd) with the code there, "
        "or submit the job without --working-dir"]
    # unless the job lets the driver's runtime env win: then nagexp ships the code as it does outside a job
    override = {**env, "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1"}
    shipped = subprocess.run([*sweep[:-2], "--results-dir", str(tmp_path / "shipped")], cwd=other, env=override,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr

    # a later job gets a copy of its own (Ray deletes the first): resume and reproduce take its code
    sweep_dir = tmp_path / "results" / "job"
    (sweep_dir / "summary.json").unlink()  # as a driver killed before it wrote its end
    later = tmp_path / "later_job"
    shutil.copytree(folder, later, ignore=shutil.ignore_patterns("__pycache__"))
    with (later / "job_models.py").open("a") as f:
        f.write("\n# changed\n")
    shutil.rmtree(folder)
    results = ["--results-dir", str(tmp_path / "results")]
    plain = {k: v for k, v in joined_env.items() if k != "PYTHONPATH"}
    resume = [sys.executable, "-m", "nagexp", "sweep", "--resume", "job", *results]
    gone = subprocess.run(resume, cwd=later, env=plain, capture_output=True, text=True, timeout=300)
    assert gone.returncode == 2 and gone.stderr.strip().splitlines() == [
        f"error: code folder '{folder}' does not exist; pass --code-dir with the folder of your code"], gone.stderr
    moved = subprocess.run([*resume, "--code-dir", str(later), "--dry-run"], cwd=tmp_path, env=plain,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert moved.returncode == 0 and f"warning: your code in {later} changed since" in moved.stdout, moved.stderr
    later_job = {**env, "RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"runtime_env": {"working_dir": str(later)}}),
                 "PYTHONPATH": str(later)}  # fmt: skip
    resumed = subprocess.run(resume, cwd=later, env=later_job, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"warning: your code in {later} changed since" in resumed.stdout
    assert json.loads((sweep_dir / "summary.json").read_text())["state"] == "finished"
    again = subprocess.run([sys.executable, "-m", "nagexp", "reproduce", str(sweep_dir)], cwd=later, env=later_job,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0 and f"warning: your code in {later} changed since" in again.stdout, again.stderr
    elsewhere = subprocess.run([sys.executable, "-m", "nagexp", "reproduce", str(sweep_dir)], cwd=tmp_path,
                               env=plain, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert elsewhere.returncode == 2 and elsewhere.stderr.strip().splitlines() == [
        f"error: the code folder '{folder}' this sweep ran is gone; pass --code-dir with the folder of that code"]
    wrong = subprocess.run([sys.executable, "-m", "nagexp", "reproduce", str(sweep_dir), "--code-dir", "nowhere"],
                           cwd=tmp_path, env=plain, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert wrong.returncode == 2 and wrong.stderr.strip().splitlines() == [
        f"error: code folder '{tmp_path / 'nowhere'}' does not exist; pass --code-dir with the folder of your code"]


def test_example_runs_from_its_folder_and_warns_when_the_code_changed(tmp_path: Path,
                                                                    joined_env: dict[str, str]) -> None:  # fmt: skip
    env = {k: v for k, v in joined_env.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the example folder as it is
    nagexp_bin = [sys.executable, "-m", "nagexp"]
    sweep = subprocess.run(
        [*nagexp_bin, "sweep", "space.yaml", "--trials", "2", "--epochs", "1", "--name", "own",
         "--results-dir", str(tmp_path / "results"), "--seed", "0"],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    out = tmp_path / "results" / "own"
    with (out / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["state"] for r in rows] == ["completed", "completed"]
    assert {"model_args.depth", "model_args.channels"} <= set(rows[0])
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["model"] == "own_model.networks:ResNet" and set(best["model_args"]) == {"depth", "channels"}
    assert best["user_code"]["dir"] == str(EXAMPLE)
    # MLflow: the code's hash and folder as tags, each model argument as a param, the best
    # model logged (as a torch.export graph: it loads without the example's code)
    import mlflow

    ended = json.loads((out / "summary.json").read_text())
    summary = ended["mlflow"]
    client = mlflow.MlflowClient(summary["tracking_uri"])
    trial_run = client.get_run(summary["trial_run_ids"]["0"])
    assert trial_run.data.tags["nagexp.code_hash"] == best["user_code"]["hash"]
    assert trial_run.data.params["model"] == "own_model.networks:ResNet"
    assert {"model_args.depth", "model_args.channels"} <= set(trial_run.data.params)
    experiment = client.get_experiment_by_name("nagexp").experiment_id
    logged = client.search_logged_models([experiment])
    assert [m.source_run_id for m in logged] == [summary["trial_run_ids"][str(ended["best_trial"])]]

    # the same best.yaml, trained from a copy of the example whose network changed: one warning
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "own_model" / "networks.py").open("a") as f:
        f.write("\n# changed\n")
    rerun = subprocess.run(
        [*nagexp_bin, "train", str(out / "best.yaml"), "--epochs", "1", "--no-track", "--results-dir",
         str(tmp_path / "results")],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    warnings = [line for line in rerun.stdout.splitlines() if line.startswith("warning: your code in")]
    assert len(warnings) == 1 and f"code hash {best['user_code']['hash']} then" in warnings[0]
    # `nagexp reproduce` imports the code from the folder sweep.json names (or --code-dir)
    again = subprocess.run(
        [*nagexp_bin, "reproduce", "own", "--results-dir", str(tmp_path / "results"), "--no-track",
         "--code-dir", str(copy)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "warning: your code in" in again.stdout and "reproduced exactly" in again.stdout


def test_a_user_schedule_trains_is_recorded_and_drawn_in_the_report(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`lr_schedule: mod:fn` with a searched argument: the trials train under it (the lr they
    report), best.yaml names it, and the report's schedule figure draws it from the code (from
    `nagexp report --code-dir` once the recorded folder moved; without it, a warning)."""
    from nagexp.report.data import collect
    from nagexp.report.figures import schedule_curves

    folder = code_folder(tmp_path, "my_schedules")
    space = write_space(tmp_path / "space.yaml", {"lr_schedule": "my_schedules:halving", "epochs": 2},
                        {"lr": {"type": "float", "low": 0.02, "high": 0.1},
                         "lr_schedule_args.at": {"type": "float", "low": 0.3, "high": 0.7}})  # fmt: skip
    result = nagexp.sweep(space, trials=2, seed=1, name="own-schedule", results_dir=tmp_path / "results",
                          track=False, code_dir=folder, scheduler="fifo", echo=None)  # fmt: skip
    table = result.trials
    assert list(table["state"]) == ["completed"] * 2
    # every epoch reports the lr of its last step; digits' 1295 training samples: 20 steps an epoch
    journal = [json.loads(line) for line in (result.sweep_dir / "journal.jsonl").open()]
    peak = dict(zip(table["number"], table["lr"], strict=True))
    at = dict(zip(table["number"], table["lr_schedule_args.at"], strict=True))
    for e in (e for e in journal if e["event"] == "epoch"):
        n, epoch = e["number"], e["metrics"]["epoch"]
        halved = epoch * 20 - 1 >= at[n] * 40
        assert e["metrics"]["lr"] == pytest.approx(peak[n] / 2 if halved else peak[n])
    assert result.best_config is not None and result.best_config.lr_schedule == "my_schedules:halving"
    curves = schedule_curves(collect(result.sweep_dir))
    assert not isinstance(curves, str), curves
    label, lrs, _ = curves[0]
    best = table[table["number"] == result.best.number].iloc[0]
    switch = next(i for i, v in enumerate(lrs) if v < lrs[0])
    assert "my_schedules:halving" in label and lrs[0] == pytest.approx(best["lr"])
    assert switch == math.ceil(best["lr_schedule_args.at"] * len(lrs))
    # the code moved, and this process forgets it had imported it
    moved = folder.rename(tmp_path / "moved")
    monkeypatch.delitem(sys.modules, "my_schedules")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(folder.resolve())])
    report = ["report", "own-schedule", "--results-dir", str(tmp_path / "results"), "--format", "md"]
    gone = runner.invoke(app, report)
    assert gone.exit_code == 0, gone.output
    assert f"warning: the code folder '{folder.resolve()}' this sweep ran is gone; pass --code-dir" in gone.output
    assert "module 'my_schedules' not found" in schedule_curves(collect(result.sweep_dir))
    named = runner.invoke(app, [*report, "--code-dir", str(moved)])
    assert named.exit_code == 0 and "warning" not in named.output, named.output
    assert schedule_curves(collect(result.sweep_dir))[0][1] == lrs
    missing = runner.invoke(app, [*report, "--code-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "does not exist; pass --code-dir" in missing.output, missing.output


def test_python_api_writes_what_the_cli_writes(tmp_path: Path) -> None:
    """The same seed gives the same trials.csv from `nagexp sweep` and `nagexp.sweep(...)`."""
    common = {"trials": 4, "seed": 5, "max_concurrent": 1, "epochs": 2, "track": False}
    cli = runner.invoke(app, ["sweep", "quick.yaml", "--trials", "4", "--seed", "5", "--max-concurrent", "1",
                              "--epochs", "2", "--no-track", "--name", "cli",
                              "--results-dir", str(tmp_path)])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    result = nagexp.sweep("quick.yaml", name="api", results_dir=tmp_path, echo=None, **common)
    assert result.sweep_dir == tmp_path / "api" and result.mlflow_run_id is None

    def rows(name: str) -> list[dict[str, str]]:
        with (tmp_path / name / "trials.csv").open() as f:
            volatile = {"seconds", "node_id", "trial_id"}
            return [{k: v for k, v in r.items() if k not in volatile} for r in csv.DictReader(f)]

    assert rows("cli") == rows("api")
    assert len({r["lr"] for r in rows("api")}) == 4  # and the trials differ from one another
    assert list(result.trials["number"]) == [0, 1, 2, 3]
    plan = json.loads((tmp_path / "api" / "sweep.json").read_text())
    assert plan["command"].startswith("nagexp.sweep('quick.yaml', name='api'")
    assert plan["user_code"] is None  # built-ins only


def test_python_api_refuses_unknown_options(tmp_path: Path) -> None:
    with pytest.raises(nagexp.ConfigError, match="unknown option 'trails'"):
        nagexp.sweep("quick.yaml", trails=3, results_dir=tmp_path, echo=None)
    with pytest.raises(nagexp.ConfigError, match="drop trials"):
        nagexp.sweep(resume="x", trials=3, results_dir=tmp_path, echo=None)
    # an option the sweep would ignore is named, as the CLI names it
    with pytest.raises(nagexp.ConfigError, match="--trials-per-batch sizes the batches --deterministic asks"):
        nagexp.sweep("quick.yaml", trials_per_batch=2, results_dir=tmp_path, echo=None)
    assert nagexp.api.resolve_spec("quick.yaml", trials_per_batch=2, deterministic=True).options.trials_per_batch == 2
