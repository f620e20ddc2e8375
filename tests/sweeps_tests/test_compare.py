"""`nagexp compare`: arms' spaces, a real three-arm comparison, its verdict, report and MLflow runs."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR, load_space
from nagexp.results.comparison import ArmResult
from nagexp.results.comparison import paired_verdict as _paired
from nagexp.results.profiles import epochs_to_target
from nagexp.runs.compare import MOMENTUM_PARAMS, arm_space
from tests.processes import NagexpProcess, trials_ended

runner = CliRunner()


def test_sgd_arm_drops_momentum_params_and_their_children() -> None:
    space = load_space(SEARCH_SPACES_DIR / "nag_default.yaml")
    sgd = arm_space(space, "sgd")
    assert sgd.fixed["optimizer"] == "sgd"
    assert not set(sgd.params) & MOMENTUM_PARAMS
    assert {"lr", "lr_schedule", "warmup_fraction", "weight_decay"} <= set(sgd.params)
    nag = arm_space(space, "nag")
    assert set(nag.params) == set(space.params)


def test_conditions_on_the_optimizer_are_resolved_per_arm() -> None:
    space = load_space(SEARCH_SPACES_DIR / "optimizers.yaml")  # momentum when optimizer in [nag, momentum]
    heavy = arm_space(space, "momentum")
    assert "optimizer" not in heavy.params and heavy.params["momentum"].when is None
    assert "momentum" not in arm_space(space, "sgd").params


def test_a_schedule_free_arm_has_no_schedule() -> None:
    space = load_space(SEARCH_SPACES_DIR / "quick.yaml")  # searches lr_schedule, onecycle_pct_start under it
    free = arm_space(space, "sgd_schedulefree")
    assert free.fixed["lr_schedule"] == free.fixed["momentum_schedule"] == "constant"
    assert set(free.params) == {"lr", "momentum"}
    free.train_config({"lr": 0.5, "momentum": 0.9})  # a valid config: schedule-free takes constant schedules


def arm(name: str, values: list[float]) -> ArmResult:
    return ArmResult(name, f"s-{name}", 0, max(values), {}, seed_values=values)


def test_paired_t_test_values() -> None:
    """The paired statistics against a hand computation: t = mean(d) / (sd(d) / sqrt(n))."""
    import math
    import statistics

    from scipy import stats

    a, b = [0.91, 0.93, 0.92, 0.94], [0.89, 0.92, 0.90, 0.91]
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    mean, sd, n = statistics.fmean(diffs), statistics.stdev(diffs), len(diffs)
    t = mean / (sd / math.sqrt(n))
    p = 2 * stats.t.sf(abs(t), n - 1)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)

    row, verdict = _paired(arm("nag", a), arm("momentum", b), "val_acc", "max")
    assert row["a"] == "nag" and row["b"] == "momentum"
    assert row["mean_diff"] == pytest.approx(mean, abs=1e-12) and row["p_value"] == pytest.approx(p, rel=1e-9)
    assert row["ci95"] == pytest.approx([mean - half, mean + half], abs=1e-12)
    assert p < 0.05
    assert verdict.startswith(f"nag beats momentum by {mean * 100:.2f} ± {half * 100:.2f} points of val_acc")
    assert f"p = {p:.3g}" in verdict

    # the loser first: the verdict still names the winner; for a loss (mode min) lower is better
    _, flipped = _paired(arm("momentum", b), arm("nag", a), "val_acc", "max")
    assert flipped.startswith("nag beats momentum")
    _, as_loss = _paired(arm("nag", a), arm("momentum", b), "val_loss", "min")
    assert as_loss.startswith("momentum beats nag")


def test_no_difference_is_not_a_win() -> None:
    row, verdict = _paired(arm("nag", [0.9, 0.8, 0.85]), arm("sgd", [0.8, 0.9, 0.85]), "val_acc", "max")
    assert row["mean_diff"] == pytest.approx(0.0, abs=1e-12) and row["p_value"] > 0.05
    assert verdict.startswith("no significant difference between nag and sgd")
    row, _ = _paired(arm("nag", [0.9, 0.9]), arm("sgd", [0.9, 0.9]), "val_acc", "max")
    assert row["p_value"] == 1.0  # identical results: no spread, no test needed


def test_an_accuracy_interval_stays_inside_0_and_1() -> None:
    """The Student-t interval of [0.96, 1.0, 1.0] reaches above 1 ([0.917, 1.056]); an
    accuracy's interval is cut at 1 (and at 0), a loss's at 0; an unbounded value's is not."""
    from nagexp.results.statistics import mean_ci95

    values = [0.96, 1.0, 1.0]
    mean, low, high = mean_ci95(values)
    assert high > 1.0  # the unbounded t-interval
    with_metric = ArmResult("nag", "s", 0, 1.0, {}, seed_values=values, metric="val_acc")
    assert with_metric.ci == (mean, low, 1.0)
    assert ArmResult("nag", "s", 0, 1.0, {}, seed_values=[0.0, 0.04, 0.0], metric="val_acc").ci[1] == 0.0
    assert ArmResult("nag", "s", 0, 0.1, {}, seed_values=[0.01, 0.2, 0.01], metric="val_loss").ci[1] == 0.0
    assert ArmResult("nag", "s", 0, 0.1, {}, seed_values=[0.01, 0.2, 0.01], metric="custom").ci[1] < 0.0


def test_counts_read_in_the_singular_for_one() -> None:
    from nagexp.core.wording import counted

    assert [counted(n, "trial") for n in (0, 1, 2)] == ["0 trials", "1 trial", "2 trials"]
    assert counted(1, "fresh seed") == "1 fresh seed" and counted(3, "datum", "data") == "3 data"


@pytest.mark.usefixtures("ray_runtime")
def test_three_arm_comparison(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(SEARCH_SPACES_DIR / "quick.yaml"), "--optimizers", "nag,momentum,sgd",
                                 "--trials", "3", "--epochs", "2", "--seeds", "3", "--name", "cmp",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.count("verdict: ") == 2
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    for pair in data["paired"]:  # the stored statistics are those of the stored seed values
        a = next(x for x in data["arms"] if x["arm"] == pair["a"])["seed_values"]
        b = next(x for x in data["arms"] if x["arm"] == pair["b"])["seed_values"]
        expected, verdict = _paired(arm(pair["a"], a), arm(pair["b"], b), "val_acc", "max")
        assert pair["p_value"] == pytest.approx(expected["p_value"]) and f"verdict: {verdict}" in result.stdout
        assert pair["ci95"] == pytest.approx(expected["ci95"]) and pair["mean_diff"] == pytest.approx(
            expected["mean_diff"])
    assert data["axis"] == "optimizer" and [a["arm"] for a in data["arms"]] == ["nag", "momentum", "sgd"]
    assert all(len(a["seed_values"]) == 3 for a in data["arms"])
    assert len(set(data["seeds"])) == 3
    for name in ("nag", "momentum", "sgd"):
        plan = json.loads((tmp_path / f"cmp-{name}" / "sweep.json").read_text())
        assert plan["space"]["fixed"]["optimizer"] == name and plan["options"]["trials"] == 3
        assert plan["command"].startswith("nagexp compare ") and "--optimizers nag,momentum,sgd" in plan["command"]
        assert plan["seeds"]["master"] == 0  # the same sampler seed for every arm
    assert "momentum" not in json.loads((tmp_path / "cmp-sgd" / "sweep.json").read_text())["space"]["params"]
    assert (tmp_path / "cmp" / "report" / "index.html").exists() and (
        tmp_path / "cmp" / "report" / "report.md"
    ).exists()
    # the time-to-target profile: each retrained run's curve, the worst arm's mean final as target
    ttt = data["time_to_target"]
    curves = {a["arm"]: a["seed_curves"] for a in data["arms"]}
    assert all(len(c) == 2 and c[-1] == v for a in data["arms"] for c, v in zip(a["seed_curves"], a["seed_values"],
                                                                                 strict=True))  # fmt: skip
    assert ttt["target"] == pytest.approx(min(sum(c[-1] for c in cs) / 3 for cs in curves.values()))
    assert ttt["epochs_to_target"] == {arm: [epochs_to_target(c, ttt["target"], "max") for c in cs]
                                       for arm, cs in curves.items()}  # fmt: skip
    for name, shares in ttt["profile"].items():  # the share of seeds, growing with tau
        reached = sum(h is not None for h in ttt["epochs_to_target"][name]) / 3
        assert shares == sorted(shares) and shares[-1] <= reached
    report = (tmp_path / "cmp" / "report" / "report.md").read_text()
    assert "## Time to target" in report and (tmp_path / "cmp" / "report" / "figures" / "profile.svg").exists()

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    (parent,) = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'cmp'")
    arms = client.search_runs([exp.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")  # fmt: skip
    assert sorted(r.info.run_name for r in arms) == ["cmp-momentum", "cmp-nag", "cmp-sgd"]
    assert "verdict_0" in parent.data.tags
    # the comparison's folder is no sweep: `report` says where its report is and which sweeps its arms are
    again = runner.invoke(app, ["report", "cmp", "--results-dir", str(tmp_path)])
    assert again.exit_code == 2 and "is a comparison (nagexp compare), not a sweep: its report is in" in again.stderr
    assert again.stderr.rstrip().endswith("a sweep of its own: cmp-nag, cmp-momentum, cmp-sgd"), again.stderr


@pytest.mark.usefixtures("ray_runtime")
def test_nesterov_against_schedule_free_says_which_wins(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(SEARCH_SPACES_DIR / "quick.yaml"), "--optimizers",
                                 "nag,sgd_schedulefree", "--trials", "2", "--epochs", "2", "--seeds", "2", "--name",
                                 "sf", "--no-track", "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "sf" / "compare.json").read_text())
    (verdict,) = [line for line in result.stdout.splitlines() if "verdict: " in line]
    assert "sgd_schedulefree" in verdict and "nag" in verdict
    assert verdict.split("verdict: ")[1] in (tmp_path / "sf" / "report" / "report.md").read_text()
    free = json.loads((tmp_path / "sf-sgd_schedulefree" / "sweep.json").read_text())["space"]
    assert free["fixed"]["optimizer"] == "sgd_schedulefree" and free["fixed"]["lr_schedule"] == "constant"
    assert [a["arm"] for a in data["arms"]] == ["nag", "sgd_schedulefree"]


@pytest.mark.usefixtures("two_cpus")  # PBT: see two_cpu_runtime
def test_search_methods_at_equal_epochs_replay_the_pbt_winner(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(SEARCH_SPACES_DIR / "pbt.yaml"), "--methods", "tpe-asha,pbt",
                                 "--trials", "4", "--epochs", "4", "--seeds", "2", "--name", "m", "--no-track",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "m" / "compare.json").read_text())
    assert data["axis"] == "method" and [a["arm"] for a in data["arms"]] == ["tpe-asha", "pbt"]
    tpe, pbt = data["arms"]
    # the same cost: the population's 4 x 4 epochs, spent by TPE + ASHA on as many trials as it
    # takes (an epoch of the second concurrent trial may land as the budget runs out)
    assert pbt["epochs_trained"] == 16 and 16 <= tpe["epochs_trained"] <= 17
    tpe_rows = list(csv.DictReader((tmp_path / "m-tpe-asha" / "trials.csv").open()))
    assert sum(int(r["epochs_run"]) for r in tpe_rows) == tpe["epochs_trained"] and len(tpe_rows) > 4
    plans = {arm: json.loads((tmp_path / f"m-{arm}" / "sweep.json").read_text())["options"]
             for arm in ("tpe-asha", "pbt")}
    assert (plans["tpe-asha"]["sampler"], plans["tpe-asha"]["scheduler"]) == ("tpe", "asha")
    assert (plans["pbt"]["sampler"], plans["pbt"]["scheduler"]) == ("tpe", "pbt")
    # the PBT arm's best config is its winner's exported schedule, replayed from scratch
    best = pbt["best_config"]
    assert best["lr_schedule"] == "piecewise" and best["lr_knots"] == pbt["schedule"]["lr"]
    assert tpe["best_config"]["lr_schedule"] == "constant" and len(tpe["schedule"]["lr"]) == 1
    assert "verdict: " in result.stdout and f"p = {data['paired'][0]['p_value']:.3g}" in result.stdout
    figures = {p.name for p in (tmp_path / "m" / "report" / "figures").iterdir()}
    assert {"schedules.svg", "population-pbt.svg"} <= figures


def test_compare_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", "quick.yaml", "--optimizers", "nag,adam", "--no-track",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "--optimizers needs two or more distinct" in result.stderr
    result = runner.invoke(app, ["compare", "quick.yaml", "--seeds", "1", "--no-track", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--seeds must be at least 2" in result.stderr
    result = runner.invoke(app, ["compare", "quick.yaml", "--methods", "tpe-asha,gradient", "--no-track",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "unknown method 'gradient': use SAMPLER-SCHEDULER" in result.stderr
    result = runner.invoke(app, ["compare", "quick.yaml", "--methods", "tpe-asha,pbt", "--optimizers", "nag,sgd",
                                 "--no-track", "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "give one" in result.stderr
    # an arm that cannot run stops the comparison before any arm ran, and leaves nothing behind
    result = runner.invoke(app, ["compare", "quick.yaml", "--methods", "tpe-asha,pbt", "--name", "bad", "--no-track",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "arm 'pbt':" in result.stderr and "`when` conditions" in result.stderr
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad-tpe-asha").exists()
    # the data options `nagexp sweep` takes reach every arm's sweep options (declared once for both)
    result = runner.invoke(app, ["compare", "quick.yaml", "--data-mode", "disk", "--no-track",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "--data-mode" in result.stderr and "'disk'" in result.stderr, result.stderr


@pytest.mark.slow
def test_ctrl_c_stops_the_whole_comparison(tmp_path: Path, nagexp_process: NagexpProcess) -> None:
    """Not only the arm that runs: the others would get a budget the first never had."""
    proc = nagexp_process.start("compare", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", "30", "--epochs", "3",
                                "--seeds", "2", "--name", "cut", "--results-dir", str(tmp_path))  # fmt: skip
    nagexp_process.wait_until(proc, lambda: trials_ended(tmp_path / "cut-nag") >= 1, "the first arm's first trial")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "error: interrupted in arm 'nag': the comparison stopped" in err and "Traceback" not in err, err
    assert "resume this one with: nagexp sweep --resume cut-nag" in err
    assert not (tmp_path / "cut-momentum").exists() and not (tmp_path / "cut" / "compare.json").exists()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (parent,) = client.search_runs([client.get_experiment_by_name("nagexp").experiment_id],
                                   filter_string="attributes.run_name = 'cut'")  # fmt: skip
    assert parent.info.status == "KILLED"  # not RUNNING for good
