"""Ctrl-C (or SIGTERM) during a sweep: ask Tune to stop and save its state; a second
Ctrl-C quits at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from typing import Any

from nagexp.integrations.ray_tune import request_stop, stop_signal_handled, tune_stop_handling

__all__ = ["StopRequest"]


class StopRequest:
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.requested = False
        self._previous: dict[int, Any] = {}
        self._tune = contextlib.ExitStack()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested or not stop_signal_handled():
            raise KeyboardInterrupt  # a second Ctrl-C, or Tune's loop has not started: quit now
        self.requested = True
        self.say("\nstopping: saving the sweep's state (Ctrl-C again to quit at once)")
        request_stop()  # Tune ends the loop, snapshots the experiment, stops the trials

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._tune.enter_context(tune_stop_handling())  # ours asks Tune to stop (request_stop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._tune.close()
