"""A disk that fills during a tracked deterministic sweep: one line that names the folder, says
the disk is full and gives the resume command (exit 1, no traceback, Tune's own logs
included); after space is freed, `--resume` ends with the trials.csv an uninterrupted sweep
writes, the Optuna study and MLflow holding every trial once.

The disk fills by a patched write on the driver, at a chosen point of a real sweep: the
journal's append (OSError ENOSPC), or sqlite's "database or disk is full" raised inside
SQLAlchemy's execute, so it reaches nagexp wrapped as it does from a full disk (Optuna's
StorageInternalError from Tune's searcher call; MLflow's error in its writer thread).
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.results.journal import Journal
from tests.sweeps_tests.test_deterministic import QUICK, deterministic_sweep, sweep_rows
from tests.sweeps_tests.test_resume import check_exact, finished, rows

pytestmark = pytest.mark.usefixtures("ray_runtime")
runner = CliRunner()
TRIALS, EPOCHS = 4, 2  # one batch of --deterministic; a rung after epoch 1


@pytest.fixture(scope="module")
def reference(ray_runtime: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same sweep with room enough."""
    return deterministic_sweep(tmp_path_factory.mktemp("roomy"), "roomy", trials=TRIALS, epochs=EPOCHS)


def journal_full_after(monkeypatch: pytest.MonkeyPatch, ended: int) -> None:
    """The journal's append fails as on a full disk once `ended` trials' ends are written."""
    real = Journal._write
    count = {"end": 0}

    def write(self: Journal, event: dict[str, Any]) -> None:
        if event["event"] == "end":
            count["end"] += 1
        if count["end"] > ended:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, event)

    monkeypatch.setattr(Journal, "_write", write)


def sqlite_full_after(database: str, statement: str, done: int) -> Callable[[pytest.MonkeyPatch], None]:
    """sqlite reports a full disk for `statement` on `database` after `done` of them (and for
    every one after: a full disk stays full)."""

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        from sqlalchemy.engine.default import DefaultDialect

        count = {"n": 0}

        def failing(real: Callable[..., None]) -> Callable[..., None]:
            def execute(self: Any, cursor: Any, sql: str, parameters: Any, context: Any = None) -> None:
                url = context.root_connection.engine.url if context is not None else None
                if sql.startswith(statement) and url is not None and str(url.database).endswith(database):
                    count["n"] += 1
                    if count["n"] > done:
                        raise sqlite3.OperationalError("database or disk is full")  # what SQLITE_FULL says
                real(self, cursor, sql, parameters, context)

            return execute

        for name in ("do_execute", "do_executemany"):  # one row, or several (MLflow's batches)
            monkeypatch.setattr(DefaultDialect, name, failing(getattr(DefaultDialect, name)))

    return patch


@pytest.mark.parametrize("fill", [
    pytest.param(lambda m: journal_full_after(m, ended=1), id="journal-append"),
    pytest.param(sqlite_full_after("optuna.db", "UPDATE trials SET state", done=1), id="optuna-tell"),
    pytest.param(sqlite_full_after("mlflow.db", "INSERT INTO metrics", done=6), id="mlflow-metric"),
])  # fmt: skip
def test_a_full_disk_is_one_line_and_the_sweep_resumes_exactly(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    fill: Callable[[pytest.MonkeyPatch], None],
) -> None:  # fmt: skip
    sweep_dir = tmp_path / "filled"
    capfd.readouterr()
    with monkeypatch.context() as patched:
        fill(patched)
        result = runner.invoke(app, ["sweep", str(QUICK), "--trials", str(TRIALS), "--epochs", str(EPOCHS),
                                     "--seed", "3", "--deterministic", "--name", "filled",
                                     "--results-dir", str(tmp_path)])  # fmt: skip
    shown = capfd.readouterr()  # what Tune and Ray wrote to the terminal meanwhile
    assert result.exit_code == 1, result.output + repr(result.exception)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"error: the disk holding {sweep_dir} is full ("), errors
    assert errors[0].endswith(f"resume with: nagexp sweep --resume filled --results-dir {tmp_path}")
    assert "Traceback" not in result.output + shown.out + shown.err
    assert not (sweep_dir / "summary.json").exists()  # nothing written after the disk filled
    before = finished(rows(sweep_dir)) if (sweep_dir / "trials.csv").exists() else {}
    assert len(before) < TRIALS

    resumed = runner.invoke(app, ["sweep", "--resume", "filled", "--results-dir", str(tmp_path)])
    assert resumed.exit_code == 0, resumed.output + repr(resumed.exception)
    assert sweep_rows(sweep_dir) == sweep_rows(reference)
    check_exact(sweep_dir, before, trials=TRIALS)  # Optuna and MLflow: every trial once, every epoch once


def test_a_trial_tune_ended_as_the_driver_stopped_ends_as_tune_ended_it(reference: Path, tmp_path: Path) -> None:
    """The disk can fill between a rung's stop and the journal's line for it, after Tune saved
    the trial as ended (seen under load): the resume does not run it again, and it ends as Tune
    ended it, not as "stopped when the sweep ended"."""
    import json
    import shutil

    shutil.copytree(reference.parent, tmp_path / "results")  # with its MLflow store
    sweep_dir = tmp_path / "results" / reference.name
    stopped = next(row[0] for row in sweep_rows(reference) if row[1] == "pruned")
    journal = sweep_dir / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    kept = [line for line in lines if (e := json.loads(line))["event"] != "end" or str(e["number"]) != stopped]
    assert len(kept) == len(lines) - 1
    journal.write_text("".join(kept))
    (sweep_dir / "summary.json").unlink()  # the driver stopped before the sweep's end
    resumed = runner.invoke(app, ["sweep", "--resume", str(sweep_dir)])
    assert resumed.exit_code == 0, resumed.output + repr(resumed.exception)
    assert sweep_rows(sweep_dir) == sweep_rows(reference)
