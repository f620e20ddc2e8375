"""One live driver per sweep: an exclusive lock on <sweep>/.lock.

`flock` locks belong to the open file, so the kernel drops the lock when the driver exits in
any way (Ctrl-C, SIGKILL, a reboot): a dead driver never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from nagexp.core.errors import NagexpError
from nagexp.results.folders import SweepFolder

__all__ = ["SweepLock", "held_by_live_driver"]


class SweepLock:
    def __init__(self, sweep_dir: Path) -> None:
        self.path = SweepFolder(sweep_dir).lock
        self._file: IO[str] | None = None

    def acquire(self) -> SweepLock:
        try:
            handle = self.path.open("a+")
        except OSError as exc:
            raise NagexpError(f"cannot lock '{self.path}': {exc.strerror}; pass a writable --results-dir") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise NagexpError(
                f"sweep '{self.path.parent.name}' is being run by {holder}; wait for it to end, "
                "or stop it (Ctrl-C) and resume it with --resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"nagexp driver pid {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> SweepLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def held_by_live_driver(sweep_dir: Path) -> bool:
    """True while a driver holds the sweep's lock. Probes with a shared lock, which conflicts
    only with a driver's exclusive one, and lets it go at once."""
    path = SweepFolder(sweep_dir).lock
    try:
        handle = path.open("r")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
