"""Warm starts: a sweep told what an earlier sweep learned (`--warm-start`) and configs run
first (`--enqueue`): the study holds the prior trials, the new trials keep their own numbers
and seeds, TPE proposes otherwise than cold, what does not fit is left out and counted, a
mismatch is one line, and a killed warm-started sweep resumes to the same files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.config.sweep import SweepOptions
from nagexp.core.seeds import trial_seed
from nagexp.results.journal import replay
from nagexp.search.preview import sample_configs
from nagexp.search.warm_start import PRIOR_ATTR, search_start
from nagexp.sweeps.runner import run_sweep
from nagexp.sweeps.spec import resolve_sweep
from tests.processes import NagexpProcess, trials_ended

runner = CliRunner()
QUICK = SEARCH_SPACES_DIR / "quick.yaml"
SEARCHED = ("lr", "momentum", "lr_schedule", "onecycle_pct_start")


def table(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "trials.csv").open() as f:
        return [{k: v for k, v in r.items() if k not in ("seconds", "node_id", "trial_id")} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def earlier(ray_runtime: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An earlier sweep of quick.yaml: 12 trials (more than TPE's 10 random start-up trials)."""
    results = tmp_path_factory.mktemp("warm")
    spec = resolve_sweep(SweepOptions(space=QUICK, trials=12, seed=0, epochs=2, track=False, name="earlier",
                                      results_dir=results))  # fmt: skip
    run_sweep(spec, emit=lambda _: None)
    return spec.sweep_dir


def options(earlier: Path, **given: object) -> SweepOptions:
    return SweepOptions(**{"space": QUICK, "trials": 4, "seed": 1, "epochs": 2, "track": False,
                           "results_dir": earlier.parent, **given})  # fmt: skip


def test_the_study_holds_the_prior_trials_and_the_sweep_its_own(earlier: Path) -> None:
    lines: list[str] = []
    spec = resolve_sweep(options(earlier, name="warm", warm_start=("earlier",)))
    outcome = run_sweep(spec, emit=lines.append)
    assert not outcome.interrupted
    done = {n: r.state for n, r in replay(earlier / "journal.jsonl", "val_acc", "max").items()
            if r.state in ("completed", "pruned")}  # fmt: skip
    assert f"warm start: {len(done)} finished trials of earlier told to the sampler (not retrained)" in lines
    study = optuna.load_study(study_name="warm", storage=f"sqlite:///{spec.sweep_dir / 'optuna.db'}")
    prior = [t for t in study.trials if PRIOR_ATTR in t.user_attrs]
    assert [t.number for t in prior] == list(range(len(done)))  # told first
    assert {int(t.user_attrs[PRIOR_ATTR].split("#")[1]): t.state.name.lower() for t in prior} == {
        n: {"completed": "complete", "pruned": "pruned"}[s] for n, s in done.items()}
    assert all(t.intermediate_values for t in prior)  # every epoch's value, pruned ones' too
    rows = table(spec.sweep_dir)
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3]  # the sweep's own numbers and seeds
    assert [int(r["seed"]) for r in rows] == [trial_seed(1, n) for n in range(4)]
    assert len(study.trials) == len(done) + 4
    plan = json.loads((spec.sweep_dir / "sweep.json").read_text())
    assert plan["warm_start"]["told"] == len(done) and plan["warm_start"]["sources"] == [str(earlier)]


def test_tpe_proposes_otherwise_than_cold_and_what_does_not_fit_is_counted(earlier: Path, tmp_path: Path) -> None:
    cold = resolve_sweep(options(earlier, name="cold"))
    warm = resolve_sweep(options(earlier, name="warm2", warm_start=("earlier",)))
    start = search_start(warm, lambda _: None)
    assert start is not None and start.priors is not None and len(start.priors.trials) >= 10
    cold_first = [{k: c.get(k) for k in SEARCHED} for c in sample_configs(cold, 4)]
    warm_first = [{k: c.get(k) for k in SEARCHED} for c in sample_configs(warm, 4, start)]
    assert cold_first != warm_first
    assert [c["trial_number"] for c in sample_configs(warm, 4, start)] == [0, 1, 2, 3]
    # a narrower lr range: the earlier trials outside it are left out, whole, and counted
    narrow = tmp_path / "narrow.yaml"
    space = yaml.safe_load(QUICK.read_text())
    space["params"]["lr"] = {"type": "float", "low": 0.05, "high": 1.0, "log": True}
    space["params"]["weight_decay"] = {"type": "float", "low": 0.0, "high": 0.01}  # one the earlier lacks
    narrow.write_text(yaml.safe_dump(space))
    start = search_start(resolve_sweep(options(earlier, space=narrow, name="n", warm_start=("earlier",))),
                         lambda _: None)  # fmt: skip
    assert start is not None and start.priors is not None
    lrs = [r.params["lr"] for r in replay(earlier / "journal.jsonl", "val_acc", "max").values()
           if r.state in ("completed", "pruned")]  # fmt: skip
    assert start.priors.dropped_trials == sum(lr < 0.05 for lr in lrs) > 0
    assert len(start.priors.trials) == sum(lr >= 0.05 for lr in lrs)


@pytest.mark.parametrize(("change", "message"), [
    ({"dataset": "imagefolder:tests/data/cifar10-slice"}, "--warm-start earlier: it swept dataset digits, this "
                                                          "sweep imagefolder:{slice}"),  # the path made absolute
    ({"objective": {"metric": "val_loss"}}, "--warm-start earlier: its objectives [('val_acc', 'max')] are not "
                                            "this sweep's [('val_loss', 'min')]"),
])  # fmt: skip
def test_a_mismatched_warm_start_is_one_line_nothing_written(earlier: Path, tmp_path: Path, change: dict,
                                                            message: str) -> None:  # fmt: skip
    space = yaml.safe_load(QUICK.read_text())
    if "dataset" in change:
        space["fixed"]["dataset"] = change["dataset"]
    if "objective" in change:
        space["objective"] = change["objective"]
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(space))
    result = runner.invoke(app, ["sweep", str(other), "--warm-start", "earlier", "--results-dir",
                                 str(earlier.parent), "--name", "mismatch", "--no-track"])  # fmt: skip
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    message = message.format(slice=Path("tests/data/cifar10-slice").resolve())
    assert line.startswith(f"error: {message}") and "give --warm-start-any" in line
    assert not (earlier.parent / "mismatch").exists()


def test_enqueued_configs_run_first(earlier: Path, tmp_path: Path) -> None:
    best = yaml.safe_load((earlier / "best.yaml").read_text())
    listed = tmp_path / "first.yaml"
    listed.write_text(yaml.safe_dump([{"lr": 0.01, "momentum": 0.9, "lr_schedule": "cosine"}]))
    spec = resolve_sweep(options(earlier, name="enq", enqueue=earlier / "best.yaml", trials=2))
    run_sweep(spec, emit=lambda _: None)
    first = table(spec.sweep_dir)[0]
    for name in ("lr", "momentum", "lr_schedule"):
        assert str(best[name]) == first[name] or float(first[name]) == pytest.approx(best[name])
    spec = resolve_sweep(options(earlier, name="enq2", enqueue=listed, trials=1))
    run_sweep(spec, emit=lambda _: None)
    assert (table(spec.sweep_dir)[0]["lr"], table(spec.sweep_dir)[0]["lr_schedule"]) == ("0.01", "cosine")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([{"lr": 5.0}]))
    result = runner.invoke(app, ["sweep", str(QUICK), "--enqueue", str(bad), "--results-dir", str(tmp_path),
                                 "--no-track", "--dry-run"])  # fmt: skip
    assert result.exit_code == 2 and "lr=5.0 is outside this space's lr (0.003 to 1.0)" in result.stderr
    # a misspelt key is named (a best.yaml's other TrainConfig fields are not: they are dropped)
    bad.write_text(yaml.safe_dump([{"lr": 0.1, "momentun": 0.9}]))
    result = runner.invoke(app, ["sweep", str(QUICK), "--enqueue", str(bad), "--results-dir", str(tmp_path),
                                 "--no-track", "--dry-run"])  # fmt: skip
    assert result.exit_code == 2 and "entry 1: 'momentun': no param of this space" in result.stderr, result.output
    # more configs than trials: the ones that never run are said
    bad.write_text(yaml.safe_dump([{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]))
    result = runner.invoke(app, ["sweep", str(QUICK), "--enqueue", str(bad), "--trials", "2", "--results-dir",
                                 str(tmp_path), "--no-track", "--dry-run"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"enqueued: 3 configs of {bad} run first" in result.stdout
    assert "warning: --trials 2 runs the first 2 of the 3 enqueued configs" in result.stdout


def test_a_killed_warm_started_sweep_resumes_to_the_same_files(earlier: Path,
                                                               nagexp_process: NagexpProcess) -> None:  # fmt: skip
    """--deterministic, so the uninterrupted and the resumed sweep can be compared file to file."""
    whole = resolve_sweep(options(earlier, name="whole", trials=6, deterministic=True, max_concurrent=1,
                                  warm_start=("earlier",)))  # fmt: skip
    run_sweep(whole, emit=lambda _: None)
    results = earlier.parent
    nagexp_process.run_until("sweep", str(QUICK), "--trials", "6", "--seed", "1", "--epochs", "2", "--deterministic",
                             "--max-concurrent", "2", "--warm-start", "earlier", "--no-track", "--name", "killed",
                             "--results-dir", str(results), until=lambda: trials_ended(results / "killed") >= 3,
                             what="3 trials ended")  # fmt: skip
    assert not (results / "killed" / "summary.json").exists()  # died mid-sweep
    result = runner.invoke(app, ["sweep", "--resume", "killed", "--results-dir", str(results)])
    assert result.exit_code == 0, result.output
    assert table(results / "killed") == table(whole.sweep_dir)

    def values(name: str) -> list[tuple]:
        s = optuna.load_study(study_name=name, storage=f"sqlite:///{results / name / 'optuna.db'}")
        return [(t.number, t.state.name, t.params, t.values, sorted(t.intermediate_values.items())) for t in s.trials]

    assert values("killed") == values("whole")
