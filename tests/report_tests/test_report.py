"""`nagexp report` on a real sweep: data, self-containment, byte-identical rebuilds, MLflow."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import math
import re
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.report.data import IMPORTANCE_EVALUATOR, collect
from nagexp.report.figures import FIGURES

pytestmark = pytest.mark.usefixtures("ray_runtime")
runner = CliRunner()


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 6-trial sweep with --report (MLflow on its default sqlite store). Ranked raw: with
    the cooldown probe the trials that finish here all end at one val_acc, which leaves fANOVA
    no variance to split (the report then says so instead of an importance)."""
    root = tmp_path_factory.mktemp("report")
    result = runner.invoke(app, ["sweep", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", "6", "--seed", "3",
                                 "--rung-signal", "raw", "--name", "rep", "--results-dir", str(root),
                                 "--report"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "report: " in result.stdout and "report attached to MLflow run" in result.stdout
    return root


# figures a one-objective, ASHA sweep has nothing to draw in: no front, no population
NOT_HERE = ("pareto", "population")


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_report_files_and_rebuild_is_byte_identical(swept: Path) -> None:
    report = swept / "rep" / "report"
    first = digests(report)
    assert "index.html" in first and "report.md" in first
    assert {f"figures/{stem}.svg" for stem in FIGURES if stem not in NOT_HERE} <= set(first)
    assert not {f"figures/{stem}.svg" for stem in NOT_HERE} & set(first)
    (report / "figures" / "population.svg").write_text("<svg/>")  # as an earlier nagexp drew for every sweep
    result = runner.invoke(app, ["report", "rep", "--results-dir", str(swept)])
    assert result.exit_code == 0, result.output
    assert digests(report) == first  # the stale figure is gone


def test_html_is_self_contained(swept: Path) -> None:
    page = (swept / "rep" / "report" / "index.html").read_text()
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r'(src|href)="https?://', page)
    assert page.count("<svg") == len(FIGURES) - len(NOT_HERE)
    for heading in ("Summary", "How to reproduce", "Top trials", "Figures"):
        assert f"<h2>{heading}</h2>" in page
    plan = json.loads((swept / "rep" / "sweep.json").read_text())
    quick = SEARCH_SPACES_DIR / "quick.yaml"
    # the command as given (rebuilt from the parsed options), and the space file as written
    assert plan["command"] == (f"nagexp sweep {quick} --name rep --trials 6 --report --seed 3 --rung-signal raw "
                               f"--results-dir {swept}")
    assert html.escape(plan["command"]) in page
    assert html.escape(quick.read_text()) in page
    # the rerun command names the sweep's folder, wherever the report is read from
    assert f"nagexp train {(swept / 'rep').resolve()}/best.yaml" in page
    # the hardware the sweep had, counted as read ("1 CPU", "0 GPUs")
    cpus, gpus = plan["ray_resources"]["CPU"], plan["ray_resources"].get("GPU", 0.0)
    assert f"Ray: {cpus:g} CPU{'' if cpus == 1 else 's'}, {gpus:g} GPU{'' if gpus == 1 else 's'};" in page


def test_report_data_matches_the_results(swept: Path) -> None:
    data = collect(swept / "rep")
    with (swept / "rep" / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(data.trials) == len(rows) == 6
    counts = data.counts()
    assert counts["completed"] == sum(r["state"] == "completed" for r in rows)
    completed = [r for r in rows if r["state"] == "completed"]
    best_row = max(completed, key=lambda r: (float(r["final_val_acc"]), -int(r["number"])))
    assert data.best is not None and data.best.number == int(best_row["number"])
    assert all(len(t.curve) == t.epochs_run for t in data.trials)
    completed = [t for t in data.trials if t.state == "completed"]
    assert len(completed) >= 2  # enough for fANOVA: the importance must really be computed
    assert data.importance_note == IMPORTANCE_EVALUATOR
    assert "lr" in data.importance and set(data.importance) <= set(data.param_names)
    assert sum(data.importance.values()) == pytest.approx(1.0, abs=1e-3)
    assert data.rungs[0] == (2, 6)  # every trial reached the first rung: epoch 2, after quick.yaml's longest warmup
    best_values = [v for _, v in data.best_so_far()]
    assert best_values == sorted(best_values)  # never gets worse (mode max)


def test_report_is_attached_to_the_parent_run(swept: Path) -> None:

    summary = json.loads((swept / "rep" / "summary.json").read_text())
    client = MlflowClient(f"sqlite:///{swept / 'mlflow.db'}")
    paths = {a.path for a in client.list_artifacts(summary["mlflow"]["parent_run_id"], "report")}
    assert "report/index.html" in paths and "report/report.md" in paths


def test_report_on_a_missing_sweep(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "nothing", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no sweep 'nothing'" in result.stderr and "Traceback" not in result.output
    assert f"`nagexp ls --results-dir {tmp_path}` lists the sweeps" in result.stderr  # a command that works as given
    # an empty name is no sweep's; no "leave it out" advice where a name must be given
    empty = runner.invoke(app, ["report", "", "--results-dir", str(tmp_path)])
    assert empty.exit_code == 2 and empty.stderr.strip() == "error: sweep name is empty: give one", empty.output


def test_reproduce_best_exactly_with_seeds(swept: Path) -> None:
    result = runner.invoke(app, ["reproduce", "rep", "--results-dir", str(swept), "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "reproduced exactly" in result.stdout
    line = next(s for s in result.stdout.splitlines() if s.startswith("2 fresh seeds: mean"))
    low, high, original = map(float, re.findall(r"\[(\S+), (\S+)\]; the original (\S+) lies", line)[0])
    verdict = "inside it" if low <= original <= high else "above it: a lucky" if original > high else "below it: an"
    assert f"lies {verdict}" in line, line  # val_acc: higher is better, so below it is an unlucky seed

    summary = json.loads((swept / "rep" / "summary.json").read_text())
    client = MlflowClient(f"sqlite:///{swept / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`nagexp.kind` = 'reproduce'")
    assert len(runs) == 3  # the rerun and two fresh seeds
    assert all(r.data.tags["mlflow.parentRunId"] == summary["mlflow"]["parent_run_id"] for r in runs)
    # one fresh seed: its value, and no interval or verdict (one seed gives none)
    one = runner.invoke(app, ["reproduce", "rep", "--results-dir", str(swept), "--seeds", "1", "--no-track"])
    assert one.exit_code == 0, one.output
    assert re.search(r"^1 fresh seed: \S+ \(one seed gives no interval", one.stdout, re.M), one.stdout
    assert "CI" not in one.stdout and "lies" not in one.stdout


@pytest.mark.parametrize(("mode", "original", "luck"), [("max", 0.95, "lucky"), ("max", 0.85, "unlucky"),
                                                       ("min", 0.95, "unlucky"), ("min", 0.85, "lucky"),
                                                       ("max", 0.9, "typical")])  # fmt: skip
def test_a_seed_beyond_the_fresh_seeds_is_lucky_on_the_objectives_better_side(mode: str, original: float,
                                                                             luck: str) -> None:  # fmt: skip
    from nagexp.runs.reproduce import Reproduction

    rep = Reproduction(0, "m", 3, original, original, True, True, [0.89, 0.91], ci=(0.9, 0.88, 0.92), mode=mode)
    assert rep.seed_luck == luck
    assert Reproduction(0, "m", 3, original, original, True, True, mode=mode).seed_luck is None  # no fresh seeds
    # one fresh seed gives no interval (mean_ci95's is the value three times): none, so no verdict
    from nagexp.results.statistics import seeds_interval

    assert seeds_interval([0.9]) is None and seeds_interval([0.89, 0.91]) is not None
    assert Reproduction(0, "m", 3, original, original, True, True, [0.9], ci=None, mode=mode).seed_luck is None
    # a fresh seed that diverged has no value to average: left out (statistics.stdev raised on a NaN)
    assert seeds_interval([0.89, 0.91, math.nan]) == seeds_interval([0.89, 0.91])
    assert seeds_interval([0.9, math.inf]) is None


def test_reproduce_a_pruned_trial(swept: Path) -> None:
    with (swept / "rep" / "trials.csv").open() as f:
        pruned = [r for r in csv.DictReader(f) if r["state"] == "pruned"]
    assert pruned
    result = runner.invoke(app, ["reproduce", "rep", "--trial", pruned[0]["number"], "--no-track",
                                 "--results-dir", str(swept)])  # fmt: skip
    assert result.exit_code == 0, result.output
    epochs = int(pruned[0]["epochs_run"])
    assert f"after {epochs} epoch{'s' if epochs != 1 else ''}:" in result.stdout
    assert "reproduced exactly" in result.stdout


def tampered_copy(swept: Path, tmp_path: Path, **cells: str) -> Path:
    """A copy of the sweep whose trial 0 records another result than its config gives (and
    `cells`: other cells of its row in trials.csv)."""
    import shutil

    copy = tmp_path / "rep"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(swept / "rep", copy)
    with (copy / "trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0].update({"final_val_acc": "0.123", **cells})  # tamper with trial 0's stored result
    with (copy / "trials.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return copy


def test_reproduce_fails_when_the_result_differs(swept: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["reproduce", str(tampered_copy(swept, tmp_path)), "--trial", "0", "--no-track"])
    assert result.exit_code == 1
    assert "not reproduced" in result.stderr and "CPU kernels" not in result.stderr  # the same kernels here


def test_reproduce_names_other_cpu_kernels_when_it_differs(swept: Path, tmp_path: Path) -> None:
    """torch picks its CPU kernels by the CPU (AVX2 on one VM, AVX-512 on another), and they round
    differently: each trial records the kernels it ran on (trials.csv, its MLflow run), sweep.json
    the driver's, and a rerun that differs where they were others says so, and how to pin them."""
    import torch

    here = torch.backends.cpu.get_cpu_capability()
    with (swept / "rep" / "trials.csv").open(newline="") as f:
        assert {row["cpu_kernels"] for row in csv.DictReader(f)} == {here}
    client = MlflowClient(f"sqlite:///{swept / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    trial_runs = client.search_runs([exp.experiment_id], "tags.trial_number != ''")
    assert trial_runs and {r.data.tags["cpu_kernels"] for r in trial_runs} == {here}
    plan = json.loads((swept / "rep" / "sweep.json").read_text())
    assert plan["versions"]["torch_cpu_kernels"] == here
    assert yaml.safe_load((swept / "rep" / "best.yaml").read_text())["cpu_kernels"] == here  # `nagexp train` reads it

    def fails_saying(copy: Path) -> str:
        result = runner.invoke(app, ["reproduce", str(copy), "--trial", "0", "--no-track"])
        assert result.exit_code == 1
        line, = result.stderr.strip().splitlines()
        assert line.startswith("error: not reproduced: val_acc "), line
        return line.split(" on CPU with the same seed: ", 1)[1]

    # the trial's own kernels, as on another kind of CPU: narrower ones than these can be pinned
    # here; a trial run on two kinds (its workers, or a retry on another node) cannot be repeated on one
    assert fails_saying(tampered_copy(swept, tmp_path, cpu_kernels="NO AVX")) == (
        f"it ran on torch's NO AVX CPU kernels and this process runs {here}, which round differently: rerun with "
        "ATEN_CPU_CAPABILITY=default in the environment")  # fmt: skip
    assert fails_saying(tampered_copy(swept, tmp_path, cpu_kernels="AVX2,AVX512")) == (
        "it ran on torch's AVX2 and AVX512 CPU kernels (CPUs of more than one kind), which round differently: a "
        "rerun on one kind of CPU cannot repeat that")  # fmt: skip
    # a sweep from before trials recorded theirs: the driver's; wider ones run only on a wider CPU
    old = tampered_copy(swept, tmp_path, cpu_kernels="")
    plan["versions"]["torch_cpu_kernels"] = "SVE256"
    (old / "sweep.json").write_text(json.dumps(plan))
    assert fails_saying(old) == (f"it ran on torch's SVE256 CPU kernels and this process runs {here}, which round "
                                 "differently: rerun on a CPU where torch runs SVE256")  # fmt: skip


def test_reproduce_bad_input(swept: Path) -> None:
    result = runner.invoke(app, ["reproduce", "rep", "--trial", "99", "--results-dir", str(swept)])
    assert result.exit_code == 2 and "has no trial '99'" in result.stderr
    result = runner.invoke(app, ["reproduce", "ghost", "--results-dir", str(swept)])
    assert result.exit_code == 2 and "no sweep 'ghost'" in result.stderr


def test_every_surface_names_the_same_best_trial(swept: Path) -> None:
    """summary.json, best.yaml, `nagexp ls`, the report and MLflow's best=true on a real sweep."""
    summary = json.loads((swept / "rep" / "summary.json").read_text())
    best = summary["best_trial"]
    assert (swept / "rep" / "best.yaml").read_text().startswith(f"# nagexp best trial {best}:")
    listed = runner.invoke(app, ["ls", "--results-dir", str(swept)])
    assert f"(trial {best})" in listed.stdout and " finished " in listed.stdout
    assert collect(swept / "rep").best.number == best
    client = MlflowClient(f"sqlite:///{swept / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    tagged = client.search_runs([exp.experiment_id], "tags.best = 'true'")
    assert [r.data.tags["trial_number"] for r in tagged] == [str(best)]


def test_the_report_imports_the_users_code_only_for_a_schedule_of_theirs() -> None:
    """Only a sweep that can have run a schedule of the user's (fixed, or among the choices)
    makes `nagexp report` import their code; one of their model alone draws nothing of it."""
    from nagexp.config.space import SearchSpace
    from nagexp.report.build import _own_schedules

    builtin = {"type": "categorical", "choices": ["constant", "sutskever"]}
    model_only = SearchSpace(fixed={"model": "mine:net", "lr_schedule": "cosine"},
                             params={"momentum_schedule": builtin})
    assert _own_schedules(model_only) == []
    fixed = SearchSpace(fixed={"lr_schedule": "mine:halving"})
    chosen = SearchSpace(params={"momentum_schedule": {"type": "categorical", "choices": ["constant", "mine:ramp"]},
                                 "lr_schedule": {"type": "fixed", "value": "mine:warm"}})
    assert _own_schedules(fixed) == ["mine:halving"]
    assert _own_schedules(chosen) == ["mine:warm", "mine:ramp"]
