"""`nagexp sweep --dry-run`: exactly `--trials` sampled configurations, the same driver checks
a real sweep runs before it starts anything, and nothing written. No Ray."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR

runner = CliRunner()
QUICK = str(SEARCH_SPACES_DIR / "quick.yaml")


@pytest.mark.parametrize("trials", [1, 2, 5])
def test_prints_exactly_the_trials_it_would_run(tmp_path: Path, trials: int) -> None:
    result = runner.invoke(app, ["sweep", QUICK, "--trials", str(trials), "--dry-run", "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if re.match(r"\s+trial \d+: seed \d+", line)]
    assert [int(line.split()[1].rstrip(":")) for line in lines] == list(range(trials))
    assert list(tmp_path.iterdir()) == []  # nothing written: no sweep folder, no MLflow store


def test_the_sampled_configs_are_the_sweeps_first_trials(tmp_path: Path) -> None:
    """What --dry-run prints is what the sweep's sampler proposes first: the same seed, the same
    configurations, and another seed, others."""
    def configs(seed: int) -> list[str]:
        out = runner.invoke(app, ["sweep", QUICK, "--trials", "3", "--seed", str(seed), "--dry-run", "--results-dir",
                                  str(tmp_path)]).stdout  # fmt: skip
        return [line for line in out.splitlines() if line.strip().startswith("trial ")]

    assert configs(4) == configs(4) != configs(5)


def test_a_user_model_that_does_not_import_fails_the_dry_run_as_the_sweep(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "broken.py").write_text("import no_such_module_here\n")
    space = tmp_path / "space.yaml"
    space.write_text(textwrap.dedent("""\
        fixed: {dataset: digits, model: "broken:net", epochs: 1}
        params: {lr: {type: float, low: 0.01, high: 0.1, log: true}}
    """))
    args = ["sweep", str(space), "--trials", "2", "--code-dir", str(code), "--results-dir", str(tmp_path / "results"),
            "--no-track"]  # fmt: skip
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 2 and "no_such_module_here" in dry.stderr and "Traceback" not in dry.output
    assert not (tmp_path / "results").exists()


def test_a_taken_name_and_an_unusable_store_fail_the_dry_run(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    taken = runner.invoke(app, ["sweep", QUICK, "--name", "taken", "--results-dir", str(tmp_path), "--dry-run"])
    assert taken.exit_code == 2 and "already exists" in taken.stderr
    dead = runner.invoke(app, ["sweep", QUICK, "--results-dir", str(tmp_path), "--dry-run", "--tracking-uri",
                               "http://127.0.0.1:9"])  # fmt: skip
    assert dead.exit_code == 1 and "unreachable" in dead.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cpus-per-trial", "4096"], "--cpus-per-trial 4096 is more than the"),
        (["--gpus-per-trial", "4096"], "--gpus-per-trial 4096 is more than the"),
        (["--workers-per-trial", "2", "--cpus-per-worker", "4096"], "--workers-per-trial 2 with 4096 CPU per worker "
         "needs 2 such bundles"),
    ],
)
def test_a_trial_bigger_than_where_it_would_run_fails_the_dry_run(tmp_path: Path, args: list[str],
                                                                  message: str) -> None:  # fmt: skip
    """As the sweep would, against this machine (or the Ray runtime this process runs)."""
    result = runner.invoke(app, ["sweep", QUICK, *args, "--dry-run", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and message in result.stderr, result.output
    # a cluster to join is sized once joined: its plan is shown
    planned = runner.invoke(app, ["sweep", QUICK, *args, "--dry-run", "--results-dir", str(tmp_path), "--address",
                                  "10.1.2.3:6379"])  # fmt: skip
    assert planned.exit_code == 0 and re.search(r"resources .*4096 [CG]PU", planned.stdout), planned.output


def test_a_relative_dataset_path_is_kept_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sweep.json and best.yaml name the data the sweep read, from wherever they are used later;
    the CIFAR-10 spaces' default folder is relative to where the command runs."""
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.spec import resolve_sweep

    monkeypatch.chdir(tmp_path)
    given = resolve_sweep(SweepOptions(space=QUICK, dataset="npz:sub/x.npz", results_dir=tmp_path))
    assert given.space.fixed["dataset"] == f"npz:{tmp_path.resolve() / 'sub' / 'x.npz'}"
    default = resolve_sweep(SweepOptions(space="cifar10.yaml", results_dir=tmp_path))
    assert default.space.fixed["dataset"] == f"cifar10:{tmp_path.resolve() / 'data' / 'cifar-10-batches-py'}"
    plain = resolve_sweep(SweepOptions(space=QUICK, results_dir=tmp_path))
    assert plain.space.fixed.get("dataset", "digits") == "digits"
