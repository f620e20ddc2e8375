"""A sweep's state from its folder: finished, interrupted, running (a live driver holds the
lock), incomplete (the driver died). No Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.results.lock import SweepLock, held_by_live_driver
from nagexp.results.state import sweep_state

runner = CliRunner()


def make_sweep(results: Path, name: str, summary_state: str | None) -> Path:
    """A sweep folder as a sweep writes it: its plan (the real writer), one trial, a summary."""
    from nagexp.config.space import SEARCH_SPACES_DIR
    from nagexp.config.sweep import SweepOptions
    from nagexp.results.plan import write_plan
    from nagexp.sweeps.plan import make_plan
    from nagexp.sweeps.spec import resolve_sweep

    spec = resolve_sweep(SweepOptions(space=SEARCH_SPACES_DIR / "quick.yaml", name=name, trials=3, results_dir=results))
    folder = spec.sweep_dir
    folder.mkdir(parents=True)
    write_plan(folder, make_plan(spec, None, None, None))
    (folder / "trials.csv").write_text("number,state,lr,final_val_acc,best_val_acc,test_acc,epochs_run,seconds,"
                                       "node_id,seed,retries,reason,trial_id\n0,completed,0.1,0.5,0.5,,2,1.0,n,1,0,,a\n")
    if summary_state:
        (folder / "summary.json").write_text(json.dumps({"state": summary_state}))
    return folder


def test_states(tmp_path: Path) -> None:
    assert sweep_state(make_sweep(tmp_path, "done", "finished")) == "finished"
    assert sweep_state(make_sweep(tmp_path, "stopped", "interrupted")) == "interrupted"
    assert sweep_state(make_sweep(tmp_path, "dead", None)) == "incomplete"
    live = make_sweep(tmp_path, "live", "interrupted")  # a resumed sweep keeps its old summary
    with SweepLock(live):
        assert held_by_live_driver(live) and sweep_state(live) == "running"
    assert not held_by_live_driver(live) and sweep_state(live) == "interrupted"


def test_ls_shows_each_state_and_the_best_trial(tmp_path: Path) -> None:
    for name, state in (("a-done", "finished"), ("b-stopped", "interrupted"), ("c-dead", None)):
        make_sweep(tmp_path, name, state)
    live = make_sweep(tmp_path, "d-live", None)
    with SweepLock(live):
        result = runner.invoke(app, ["ls", "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    states = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
    assert states == {"a-done": "finished", "b-stopped": "interrupted", "c-dead": "incomplete", "d-live": "running"}
    assert "val_acc 0.5000 (trial 0)" in result.stdout


def test_ls_of_an_empty_folder_says_so_and_of_a_missing_one_fails(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    result = runner.invoke(app, ["ls", "--results-dir", str(tmp_path)])
    assert result.exit_code == 0 and result.stdout.strip() == f"no sweeps in {tmp_path.resolve()}"
    monkeypatch.chdir(tmp_path)  # no sweep run here yet: the default ./results is not there, and that is no error
    result = runner.invoke(app, ["ls"])
    assert result.exit_code == 0 and result.stdout.strip() == f"no sweeps in {tmp_path.resolve() / 'results'}"
    (tmp_path / "a-file").write_text("")
    for wrong, what in ((tmp_path / "typo", "does not exist"), (tmp_path / "a-file", "is not a folder")):
        result = runner.invoke(app, ["ls", "--results-dir", str(wrong)])
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == (f"error: results folder '{wrong}' {what}: give the --results-dir the sweeps "
                                         "were run with")  # fmt: skip
