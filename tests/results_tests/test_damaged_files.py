"""Damaged and hostile files: every command that reads a sweep folder (report, ls, reproduce,
--resume, train best.yaml) answers a missing, truncated or garbled sweep.json, trials.csv,
journal.jsonl, best.yaml or optuna.db with one line naming the file, exit 2, and the folder
unchanged. The folders are written by the real writers (no Ray)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.config.sweep import SweepOptions
from nagexp.results.journal import Journal
from nagexp.results.records import TrialRecord
from nagexp.sweeps.outcome import write_outcome, write_summary_of
from nagexp.sweeps.plan import write_sweep_plan
from nagexp.sweeps.spec import resolve_sweep

runner = CliRunner()


def _records() -> list[TrialRecord]:
    out = []
    for n, (state, value) in enumerate([("completed", 0.9), ("pruned", 0.8), ("completed", 0.85)]):
        params = {"lr": 0.01 * (n + 1), "momentum": 0.9, "lr_schedule": "cosine"}
        rec = TrialRecord(n, f"t{n}", state=state, params=params, final=value, best=value, seed=100 + n,
                          epochs_run=4 if state == "completed" else 1,
                          config={"dataset": "digits", **params})  # fmt: skip
        rec.history = [{"epoch": e + 1, "val_acc": value} for e in range(rec.epochs_run)]
        out.append(rec)
    return out


def write_sweep(results: Path, name: str, digits, finished: bool = True) -> Path:
    """A sweep folder: sweep.json, its Optuna study, journal.jsonl, trials.csv, best.yaml and
    summary.json, as a sweep writes them."""
    import optuna

    spec = resolve_sweep(SweepOptions(space=SEARCH_SPACES_DIR / "quick.yaml", name=name, trials=3, track=False,
                                      results_dir=results))  # fmt: skip
    spec.sweep_dir.mkdir(parents=True)
    write_sweep_plan(spec, digits, {"CPU": 2.0, "GPU": 0.0}, f"nagexp sweep quick.yaml --name {name}", None)
    records = _records()
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{spec.sweep_dir / 'optuna.db'}",
                                direction="maximize")  # fmt: skip
    journal = Journal(spec.sweep_dir / "journal.jsonl")
    for rec in records:
        trial = study.ask()
        journal.started(rec)
        for h in rec.history:
            trial.report(h["val_acc"], h["epoch"])
            journal.epoch(rec, h)
        done = rec.state == "completed"
        study.tell(trial, rec.final if done else None,
                   state=optuna.trial.TrialState.COMPLETE if done else optuna.trial.TrialState.PRUNED)
        journal.ended(rec)
    journal.close()
    outcome = write_outcome(spec, records, 3.0, interrupted=not finished)
    write_summary_of(outcome)
    return spec.sweep_dir


@pytest.fixture
def sweep(tmp_path: Path, digits) -> Path:
    return write_sweep(tmp_path / "results", "s", digits)


@pytest.fixture
def stopped_sweep(tmp_path: Path, digits) -> Path:
    return write_sweep(tmp_path / "results", "stopped", digits, finished=False)


def missing(path: Path) -> None:
    path.unlink()


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbled(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\x00\xff\xfe{garbled}\x80" * 4 + b"\x00" * (64 - 4 * 14)
    if path.suffix == ".db":
        data[:16] = b"not a database!!"  # sqlite keeps working around a garbled page it never reads
    path.write_bytes(bytes(data))


DAMAGE = {"missing": missing, "truncated": truncated, "garbled": garbled}


def _state(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}  # fmt: skip


def _check(args: list[str], folder: Path, damaged: str, damage: Callable[[Path], None]) -> None:
    damage(folder / damaged)
    before = _state(folder)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and damaged in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert _state(folder) == before  # nothing overwritten, nothing written


@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("damaged", ["sweep.json", "trials.csv", "optuna.db"])
def test_report(sweep: Path, damaged: str, kind: str) -> None:
    _check(["report", str(sweep), "--results-dir", str(sweep.parent)], sweep, damaged, DAMAGE[kind])


@pytest.mark.parametrize("kind", ["truncated", "garbled"])  # a folder without sweep.json is not a sweep
@pytest.mark.parametrize("damaged", ["sweep.json", "trials.csv"])
def test_ls(sweep: Path, damaged: str, kind: str) -> None:
    _check(["ls", "--results-dir", str(sweep.parent)], sweep, damaged, DAMAGE[kind])


@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("damaged", ["sweep.json", "trials.csv"])
def test_reproduce(sweep: Path, damaged: str, kind: str) -> None:
    _check(["reproduce", "s", "--results-dir", str(sweep.parent), "--no-track"], sweep, damaged, DAMAGE[kind])


@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("damaged", ["sweep.json", "journal.jsonl", "optuna.db"])
def test_resume(stopped_sweep: Path, damaged: str, kind: str) -> None:
    if (damaged, kind) == ("journal.jsonl", "missing"):
        pytest.skip("a sweep whose driver died before its first trial has no journal: that resumes")
    if (damaged, kind) == ("journal.jsonl", "truncated"):
        # a journal cut short is what a killed driver leaves (a torn last line): it resumes; cut
        # in the middle of a line that is not the last, it is damage
        lines = (stopped_sweep / "journal.jsonl").read_text().splitlines(keepends=True)
        (stopped_sweep / "journal.jsonl").write_text("".join(lines[:2]) + lines[2][:20] + "\n" + "".join(lines[3:]))
        kind_damage: Callable[[Path], None] = lambda _path: None  # noqa: E731
    else:
        kind_damage = DAMAGE[kind]
    _check(["sweep", "--resume", str(stopped_sweep), "--results-dir", str(stopped_sweep.parent)], stopped_sweep,
           damaged, kind_damage)  # fmt: skip


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_train_best_yaml(sweep: Path, kind: str) -> None:
    _check(["train", str(sweep / "best.yaml"), "--no-track", "--results-dir", str(sweep.parent)], sweep, "best.yaml",
           DAMAGE[kind])  # fmt: skip


def test_resume_takes_a_path_as_report_does(stopped_sweep: Path) -> None:
    """--resume PATH names the sweep's folder (its results dir is the folder's parent); --dry-run
    shows what would continue without starting it."""
    result = runner.invoke(app, ["sweep", "--resume", str(stopped_sweep), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "sweep stopped (dry run" in result.stdout and str(stopped_sweep) in result.stdout
    # what the journal says ended, not the sampler's first proposals from scratch (trials that ran already)
    assert result.stdout.rstrip().endswith("resuming: 3 of 3 trials ended") and "trial 0: seed" not in result.stdout


def test_a_journal_torn_at_its_last_line_still_reads(stopped_sweep: Path) -> None:
    from nagexp.results.journal import replay

    path = stopped_sweep / "journal.jsonl"
    path.write_text(path.read_text() + '{"event": "epoch", "numb')  # a driver killed mid-write
    assert sorted(replay(path, "val_acc", "max")) == [0, 1, 2]


@pytest.mark.parametrize(("text", "message"), [
    ("".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "v\n", "levels deep"),
    ("x: " + "[" * 20000 + "]" * 20000 + "\n", "levels deep"),
    ("a: &a [1, 2]\n" + "".join(f"b{i}: &b{i} [*a, *a]\n" for i in range(80)), "alias references"),
])  # fmt: skip
def test_hostile_yaml_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    for command in (["spaces", "validate"], ["train"], ["sweep", "--dry-run"]):
        path = tmp_path / "hostile.yaml"
        path.write_text(text)
        result = runner.invoke(app, [*command, str(path)])
        assert result.exit_code == 2 and message in result.stderr, (command, result.output)
        assert len(result.stderr.strip().splitlines()) == 1 + (command[0] == "spaces")  # validate adds its tally


def test_an_oversized_yaml_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nagexp.config import loading

    monkeypatch.setattr(loading, "MAX_YAML_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text("lr: 0.1\n" + "# padding\n" * 200)
    result = runner.invoke(app, ["train", str(path)])
    assert result.exit_code == 2 and "a config file is at most" in result.stderr


@pytest.mark.parametrize("uri", ["s3://", "s3:///prefix", "gs://", "gs:///", "hdfs://"])
def test_a_cache_uri_with_no_bucket_or_path_is_one_line(tmp_path: Path, uri: str) -> None:
    result = runner.invoke(app, ["train", "--cache-dir", uri, "--dataset", f"npz:{tmp_path / 'x.npz'}", "--no-track",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "names no" in result.stderr, result.output
    assert f"--cache-dir '{uri}' names no" in result.stderr  # the URI as given (not 's3:')
    dry = runner.invoke(app, ["sweep", "quick.yaml", "--cache-dir", uri, "--dry-run", "--results-dir", str(tmp_path)])
    assert dry.exit_code == 2 and f"--cache-dir '{uri}' names no" in dry.stderr, dry.output  # said before a run too
