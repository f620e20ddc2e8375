"""Sweeps in stream mode: trials read prepared shards through Ray Data, inside the CPUs they
reserve; a second sweep of the same folder reuses the shards without decoding."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nagexp.cli import app

pytestmark = pytest.mark.usefixtures("two_cpu_runtime")
runner = CliRunner()
SLICE = Path(__file__).resolve().parents[1] / "data" / "cifar10-slice"


def test_stream_sweep_on_real_jpegs_then_reuse(tmp_path: Path) -> None:
    common = ["sweep", "quick.yaml", "--dataset", f"imagefolder:{SLICE}", "--trials", "2", "--epochs", "2",
              "--scheduler", "fifo", "--no-track", "--results-dir", str(tmp_path)]  # fmt: skip
    first = runner.invoke(app, [*common, "--name", "first", "--data-mode", "stream"])
    assert first.exit_code == 0, first.output
    assert "preparing imagefolder:" in first.stdout
    # the first hour: preparation counts its files, the header says the mode and why one trial runs at a time
    assert "  training files: 200 in " in first.stdout and "  test files: 50 in " in first.stdout
    assert ("data stream mode (prepared shards read by Ray Data each epoch; memory stays flat); 1 trial at a time: "
            "each takes 1 CPU + 1 CPU for its Ray Data tasks of Ray's 2 CPUs") in first.stdout  # fmt: skip
    with (tmp_path / "first" / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["state"] for r in rows] == ["completed", "completed"]
    best = yaml.safe_load((tmp_path / "first" / "best.yaml").read_text())
    assert best["data_mode"] == "stream"
    # `nagexp train` of that best.yaml streams as the trial did, from the same shards
    trained = runner.invoke(app, ["train", str(tmp_path / "first" / "best.yaml"), "--epochs", "1", "--no-track",
                                  "--name", "best", "--results-dir", str(tmp_path)])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "preparing" not in trained.stdout
    assert yaml.safe_load((tmp_path / "train" / "best" / "config.yaml").read_text())["data_mode"] == "stream"

    # auto with a budget smaller than the data: stream mode, from the shards made above
    second = runner.invoke(app, [*common, "--name", "second", "--memory-budget", "1MB"])
    assert second.exit_code == 0, second.output
    assert "preparing" not in second.stdout and "data mode stream: 2.93 MB as float32 tensors" in second.stdout
    with (tmp_path / "second" / "trials.csv").open() as f:
        assert [r["state"] for r in csv.DictReader(f)] == ["completed", "completed"]


def test_cache_deleted_mid_sweep_ends_later_trials_and_keeps_finished_ones(tmp_path: Path) -> None:
    import shutil

    from nagexp.config.space import SEARCH_SPACES_DIR
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep

    class DeleteTheCache:  # a user cleaning up disk while the sweep runs
        def on_trial_start(self, rec: object) -> None: ...
        def on_trial_epoch(self, rec: object, metrics: object) -> None: ...
        def on_trial_end(self, rec: object) -> None:
            shutil.rmtree(tmp_path / "data-cache", ignore_errors=True)

    spec = resolve_sweep(SweepOptions(space=SEARCH_SPACES_DIR / "quick.yaml", dataset=f"imagefolder:{SLICE}",
                                      data_mode="stream", trials=2, epochs=1, max_concurrent=1, scheduler="fifo",
                                      track=False, name="gone", results_dir=tmp_path))  # fmt: skip
    outcome = run_sweep(spec, emit=lambda _: None, listeners=[DeleteTheCache()])
    first, second = outcome.records
    assert first.state == "completed" and first.final is not None  # finished before: kept
    assert second.state == "errored" and "is gone (deleted while in use?); run again" in second.reason
    assert "\n" not in second.reason
    with (tmp_path / "gone" / "trials.csv").open() as f:
        assert [r["state"] for r in csv.DictReader(f)] == ["completed", "errored"]
