"""Ray Tune internals behind integrations/ray_tune.py: the callback telemetry counted for
nagexp's callbacks without importing MLflow (and put back after), Tune's file names from Ray's
own constants, and its stop signal handled for one run only. No Ray runtime."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from nagexp.integrations import ray_tune


def test_the_same_count_as_ray_and_no_integration_import(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.air._internal import usage
    from ray.tune import Callback
    from ray.tune.logger import CSVLoggerCallback

    from nagexp.sweeps.recorder import SweepRecorder

    recorder = SweepRecorder.__new__(SweepRecorder)  # its class is what is counted
    ray_count = usage._count_callbacks([recorder])
    original = usage._count_callbacks
    calls: list[int] = []
    # Ray's own count, watched (and put back after the test)
    monkeypatch.setattr(usage, "_count_callbacks", lambda cbs: calls.append(1) or original(cbs))
    watched = usage._count_callbacks
    with ray_tune.callbacks_counted_without_mlflow():
        assert usage._count_callbacks([recorder]) == ray_count == {"CustomCallback": 1} and not calls
        # anyone else's callbacks (a user's, Ray's own loggers) are still counted by Ray
        assert usage._count_callbacks([recorder, CSVLoggerCallback()]) == original([recorder, CSVLoggerCallback()])
        assert usage._count_callbacks([Callback()]) == {"CustomCallback": 1} and len(calls) == 2
    assert usage._count_callbacks is watched  # Ray's count is back once the run has started


def test_an_untested_ray_keeps_its_own_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """The public fallback: outside the tested versions, nagexp does not touch Ray's telemetry."""
    from ray.air._internal import usage

    before = usage._count_callbacks
    monkeypatch.setattr(ray_tune, "IN_RANGE", False)
    with ray_tune.callbacks_counted_without_mlflow():
        assert usage._count_callbacks is before


def test_a_sweeps_telemetry_leaves_mlflow_unimported() -> None:
    """The telemetry count is what imported MLflow into untracked sweeps (1.2 s of CPU)."""
    code = ("import sys; from ray.air._internal import usage; from nagexp.integrations import ray_tune; "
            "from nagexp.sweeps.recorder import SweepRecorder\n"
            "with ray_tune.callbacks_counted_without_mlflow():\n"
            "    usage.tag_callbacks([SweepRecorder.__new__(SweepRecorder)])\n"
            "print('mlflow' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1:] == ["False"], out.stdout + out.stderr


def test_tunes_file_names_come_from_ray() -> None:
    from ray.train._internal.storage import StorageContext
    from ray.tune.execution.tune_controller import TuneController

    assert ray_tune.EXPERIMENT_STATE_GLOB == "experiment_state-*.json" == TuneController.CKPT_FILE_TMPL.format("*")
    assert ray_tune.CHECKPOINT_GLOB == "checkpoint_*"
    assert StorageContext._make_checkpoint_dir_name(12).startswith(ray_tune.CHECKPOINT_GLOB[:-1])


def test_stop_handling_is_put_back_after_a_run() -> None:
    """Tune installs its SIGUSR1 handler for a run and leaves it; the variable that keeps its
    hands off SIGINT must not leak into a notebook's next cell either."""
    before = signal.getsignal(signal.SIGUSR1)
    assert "TUNE_DISABLE_SIGINT_HANDLER" not in os.environ
    with ray_tune.tune_stop_handling():
        assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1"
        signal.signal(signal.SIGUSR1, lambda *_: None)  # what Tune does when its loop starts
        assert ray_tune.stop_signal_handled()
    assert "TUNE_DISABLE_SIGINT_HANDLER" not in os.environ
    assert signal.getsignal(signal.SIGUSR1) == before and not ray_tune.stop_signal_handled()


def test_the_per_checkpoint_info_lines_are_where_nagexp_quiets_them() -> None:
    """Ray logs "Checkpoint successfully created" on these loggers (V1 and V2 storage): a trial's
    worker sets them to WARNING, so a caller's own ray.init() does not print a line an epoch."""
    import importlib
    import inspect
    import logging

    levels = {name: logging.getLogger(name).level for name in ray_tune.CHECKPOINT_LOGGERS}
    try:
        for name in ray_tune.CHECKPOINT_LOGGERS:
            assert "Checkpoint successfully created" in inspect.getsource(importlib.import_module(name)), name
            logging.getLogger(name).setLevel(logging.INFO)  # as Ray leaves them: each line would print
        ray_tune.quiet_per_checkpoint_logs()
        assert all(logging.getLogger(n).getEffectiveLevel() == logging.WARNING for n in ray_tune.CHECKPOINT_LOGGERS)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
