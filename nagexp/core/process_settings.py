"""Process-wide settings a sweep or a run changes, put back when it ends: a notebook runs
several, and the libraries underneath set environment variables, logging levels and signal
handlers as they start (Tune leaves its SIGUSR1 handler installed, MLflow and nagexp set their
variables, torch takes a thread count, the user's code folder joins the import path). What is
not put back: modules imported meanwhile stay imported (the user's among them: a notebook that
edits its model's file reloads it itself)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["LOGGERS", "SIGNALS", "restored_process_settings", "snapshot"]

LOGGERS = ("mlflow", "ray", "ray.data", "ray.tune", "ray.train", "optuna", "nagexp")
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1") if hasattr(signal, name))


def snapshot() -> dict[str, Any]:
    """What `restored_process_settings` puts back (also what its tests compare)."""
    state: dict[str, Any] = {
        "environ": dict(os.environ),
        "sys_path": list(sys.path),  # the user's code folder goes first while it runs
        "loggers": {name: logging.getLogger(name).level for name in LOGGERS},
        "signals": {sig: signal.getsignal(sig) for sig in SIGNALS},
    }
    if "optuna" in sys.modules:
        import optuna

        state["optuna_verbosity"] = optuna.logging.get_verbosity()
    if "torch" in sys.modules:
        import torch

        state["torch_threads"] = torch.get_num_threads()
        state["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    return state


def _restore(state: dict[str, Any]) -> None:
    for key in set(os.environ) - set(state["environ"]):
        os.environ.pop(key, None)
    for key, value in state["environ"].items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    sys.path[:] = state["sys_path"]
    for name, level in state["loggers"].items():
        logging.getLogger(name).setLevel(level)
    if threading.current_thread() is threading.main_thread():
        for sig, handler in state["signals"].items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    if "optuna_verbosity" in state:
        import optuna

        optuna.logging.set_verbosity(state["optuna_verbosity"])
    elif "optuna" in sys.modules:  # imported during the block: Optuna's own default
        import optuna

        optuna.logging.set_verbosity(optuna.logging.INFO)
    if "torch_threads" in state:
        import torch

        torch.set_num_threads(state["torch_threads"])
        torch.backends.cudnn.benchmark = state["cudnn_benchmark"]


@contextlib.contextmanager
def restored_process_settings() -> Iterator[None]:
    """Environment variables, the levels of the libraries' loggers, the SIGINT / SIGTERM /
    SIGUSR1 handlers, Optuna's verbosity and torch's thread count: as they were before the
    block, however it ends."""
    state = snapshot()
    try:
        yield
    finally:
        _restore(state)
