"""A sweep's folder: the one owner of the paths inside `results/<sweep>/`, and which folder a
sweep named on the command line is (a name in the results directory, or a path)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from nagexp.core.errors import ConfigError
from nagexp.core.naming import check_name

__all__ = ["COMPARISON_FILE", "PLAN_FILE", "SUMMARY_FILE", "TRIALS_FILE", "SweepFolder", "results_dir_option",
           "sweep_dir_of"]


def results_dir_option(results_dir: Path) -> str:
    """` --results-dir DIR` for a command a message gives, unless DIR is the default (./results
    of the folder this runs in), so the command works as printed."""
    if Path(results_dir).resolve() == Path("results").resolve():
        return ""
    return f" --results-dir {shlex.quote(str(results_dir))}"  # a path with a space stays one word


@dataclass(frozen=True)
class SweepFolder:
    """The files and folders of one sweep, `root` being `results/<sweep>/`:

        sweep.json      plan: the resolved spec, seeds, versions, git SHA (what a rerun needs)
        journal.jsonl   the driver's append-only event log (what `--resume` replays)
        trials.csv      one row per trial, rewritten as trials end
        best.yaml       the best trial's full config (`nagexp train best.yaml`)
        summary.json    how the sweep ended (written by its driver when it ends)
        optuna.db       the Optuna study (sqlite)
        .lock           held by the live driver
        ray/            Ray Tune's experiment (its state and trial checkpoints)
        train/          data-parallel trials' Ray Train runs (train/trial-0000, ...)
        report/         `nagexp report`: index.html, report.md, figures/

    Every reader and writer asks here, so no path of a sweep's folder is built anywhere else.
    """

    root: Path

    @property
    def plan(self) -> Path:
        return self.root / "sweep.json"

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"

    @property
    def trials_csv(self) -> Path:
        return self.root / "trials.csv"

    @property
    def best_yaml(self) -> Path:
        return self.root / "best.yaml"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def optuna_db(self) -> Path:
        return self.root / "optuna.db"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def tune_experiment(self) -> Path:
        """Tune's experiment folder: `name` under `storage_path` (the sweep's folder)."""
        return self.root / "ray"

    @property
    def train_runs(self) -> Path:
        return self.root / "train"

    def train_run(self, number: int) -> Path:
        """Where a data-parallel trial's Ray Train run keeps its state (the driver's path)."""
        return self.train_runs / f"trial-{number:04d}"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"


# the file names, for code that names one without a folder (a glob, a message)
PLAN_FILE = SweepFolder(Path()).plan.name
TRIALS_FILE = SweepFolder(Path()).trials_csv.name
SUMMARY_FILE = SweepFolder(Path()).summary.name


COMPARISON_FILE = "compare.json"  # in a `nagexp compare` folder: its arms, paired seeds and verdicts


def _arms_of(comparison: Path) -> str:
    """`: ARM, ARM`: the arms' sweeps a comparison names ("" if it cannot be read)."""
    try:
        arms = [str(a["sweep"]) for a in json.loads((comparison / COMPARISON_FILE).read_text())["arms"]]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f": {', '.join(arms)}" if arms else ""


def sweep_dir_of(sweep: str | Path, results_dir: Path) -> Path:
    """`sweep` as a path when it is a sweep's folder, else the folder of that name in
    `results_dir` (a folder of the same name in the working directory that holds no sweep does
    not hide it); ConfigError when neither holds a sweep (no sweep.json)."""
    path = Path(sweep).expanduser()
    bare_name = path.parent == Path(".")  # `name` (pathlib reads `./name` so too), not `dir/name`
    if path.is_dir() and SweepFolder(path).plan.exists():
        folder = path
    elif path.is_dir() and not (bare_name and (results_dir / str(sweep)).is_dir()):
        folder = path  # a folder given as a path: said below that it holds no sweep
    else:  # a name; a plain folder of that name here (not a sweep) does not hide results_dir's sweep
        folder = results_dir / check_name(str(sweep), "sweep name")
    if not folder.is_dir():
        raise ConfigError(f"no sweep '{sweep}' in {results_dir.resolve()}; `nagexp "
                          f"ls{results_dir_option(results_dir)}` lists the sweeps")  # fmt: skip
    plan = SweepFolder(folder).plan
    if not plan.exists() and (folder / COMPARISON_FILE).exists():
        raise ConfigError(f"'{folder}' is a comparison (nagexp compare), not a sweep: its report is in "
                          f"'{folder / 'report'}'; each of its arms is a sweep of its "
                          f"own{_arms_of(folder)}")  # fmt: skip
    if not plan.exists():
        raise ConfigError(f"'{plan}' is missing: '{folder}' is not a sweep's folder, or its plan was "
                          "deleted (restore it from a copy)")  # fmt: skip
    return folder.resolve()
