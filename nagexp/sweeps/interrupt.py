"""Ctrl-C (or SIGTERM) during a sweep: ask Tune to stop and save its state; a second
Ctrl-C quits at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["StopRequest"]


class StopRequest:
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested or signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
            raise KeyboardInterrupt  # a second Ctrl-C, or Tune's loop has not started: quit now
        self.requested = True
        self.say("\nstopping: saving the sweep's state (Ctrl-C again to quit at once)")
        # Tune's own stop signal: it ends the loop, snapshots the experiment, stops the trials
        os.kill(os.getpid(), signal.SIGUSR1)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours asks Tune to stop through SIGUSR1
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
