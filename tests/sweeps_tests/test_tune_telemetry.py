"""Tune's callback telemetry, counted for nagexp's callbacks without importing MLflow. No Ray runtime."""

from __future__ import annotations

import subprocess
import sys

from nagexp.sweeps import tune_setup


def test_the_same_count_as_ray_and_no_integration_import(monkeypatch) -> None:
    from ray.air._internal import usage
    from ray.tune import Callback
    from ray.tune.logger import CSVLoggerCallback

    from nagexp.sweeps.recorder import SweepRecorder

    recorder = SweepRecorder.__new__(SweepRecorder)  # its class is what is counted
    ray_count = usage._count_callbacks([recorder])
    tune_setup._count_callbacks_without_importing_mlflow.cache_clear()
    original = usage._count_callbacks
    calls: list[int] = []
    # Ray's own count, watched (and put back after the test)
    monkeypatch.setattr(usage, "_count_callbacks", lambda cbs: calls.append(1) or original(cbs))
    tune_setup._count_callbacks_without_importing_mlflow()
    assert usage._count_callbacks([recorder]) == ray_count == {"CustomCallback": 1} and not calls
    # anyone else's callbacks (a user's, Ray's own loggers) are still counted by Ray
    assert usage._count_callbacks([recorder, CSVLoggerCallback()]) == original([recorder, CSVLoggerCallback()])
    assert usage._count_callbacks([Callback()]) == {"CustomCallback": 1} and len(calls) == 2
    tune_setup._count_callbacks_without_importing_mlflow.cache_clear()


def test_tune_setup_leaves_mlflow_unimported() -> None:
    """The telemetry count is what imported MLflow into untracked sweeps (1.2 s of CPU)."""
    code = ("import sys; from ray.air._internal import usage; from nagexp.sweeps import tune_setup; "
            "from nagexp.sweeps.recorder import SweepRecorder; "
            "tune_setup._count_callbacks_without_importing_mlflow(); "
            "usage.tag_callbacks([SweepRecorder.__new__(SweepRecorder)]); print('mlflow' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
