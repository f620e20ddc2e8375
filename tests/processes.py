"""nagexp as its own process, as a user runs it: to completion, in the background in its own
process group, or killed mid-sweep once its files say it got as far as a test needs.

The tests that resume what a dead driver left all do the same thing, here once: start the
driver in its own process group, wait for a condition on its files (never for a time: the
deadline is generous and only ends a hang), SIGKILL the whole group (the driver and the Ray
runtime it started, as a crash or the OOM killer leaves things) and reap it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["DEADLINE_S", "NagexpProcess", "journal_events", "trials_ended"]

DEADLINE_S = 600.0  # how long a condition may take: minutes more than on a loaded 2-core machine


class NagexpProcess:
    """`python -m nagexp ...`: to completion (`run`), in the background in its own process
    group (`start`, ended with `stop`), or killed with its group once a condition holds
    (`run_until`). Whatever `start` started is ended by the fixture that made this."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def run(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess:  # fmt: skip
        """To completion; AssertionError with the tail of what it printed if it runs past `timeout`
        (a hang: the progress lines say where it stopped)."""
        try:
            return subprocess.run([sys.executable, "-m", "nagexp", *args], capture_output=True, text=True,
                                  timeout=timeout, env=env, cwd=cwd)  # fmt: skip
        except subprocess.TimeoutExpired as hung:
            out, err = _text(hung.stdout), _text(hung.stderr)
            raise AssertionError(f"nagexp {' '.join(args[:1])} ran past {timeout:.0f} s\n{out[-3000:]}\n"
                                 f"{err[-3000:]}") from None

    def start(self, *args: str, env: dict[str, str] | None = None, cwd: str | Path | None = None) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "nagexp", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True, env=env,
                                cwd=cwd)  # fmt: skip
        self.started.append(proc)
        return proc

    def wait_until(self, proc: subprocess.Popen, ready: Callable[[], bool], what: str,
                   timeout: float = DEADLINE_S) -> None:  # fmt: skip
        """Until `ready()` holds. AssertionError, with the process's output, if the process
        exits first or `timeout` seconds pass (then it is killed first)."""
        deadline = time.monotonic() + timeout
        while not ready():
            exited = _exited(proc)
            if exited or time.monotonic() > deadline:
                self.stop(proc)  # whatever the group still runs
                out, err = proc.communicate(timeout=60)
                said = f"exited ({proc.returncode})" if exited else f"did not get there within {timeout:.0f} s"
                raise AssertionError(f"nagexp {said}: waited for {what}\n{out[-2000:]}\n{err[-3000:]}")
            time.sleep(0.2)

    def run_until(self, *args: str, until: Callable[[], bool], what: str, timeout: float = DEADLINE_S,
                  env: dict[str, str] | None = None, cwd: str | Path | None = None) -> subprocess.Popen:  # fmt: skip
        """`nagexp ARGS` in its own process group, SIGKILLed with that group as soon as
        `until()` holds (`what` says what it waits for, in the error if that never comes)."""
        proc = self.start(*args, env=env, cwd=cwd)
        self.wait_until(proc, until, what, timeout)
        self.stop(proc)
        assert proc.returncode == -signal.SIGKILL, f"nagexp ended ({proc.returncode}) before it was killed"
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Signal the process's whole group (its Ray runtime too) and reap it. A leader that
        was reaped already is left alone: its pid, the group's id, may belong to another now."""
        if proc.returncode is None:  # not reaped: a zombie leader still holds its pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the process has ended, without reaping it: until it is reaped, its pid (and so
    its group's id) stays its own, and `stop` can still end what it left in the group."""
    if proc.returncode is not None:
        return True
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def journal_events(sweep_dir: Path) -> list[dict[str, Any]]:
    """The events a (running) driver has written to the sweep's journal.jsonl so far: whole
    lines only, as the last one may be half written."""
    path = sweep_dir / "journal.jsonl"
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def trials_ended(sweep_dir: Path) -> int:
    """How many trials the journal says have ended (completed, pruned, diverged, errored)."""
    return sum(event["event"] == "end" for event in journal_events(sweep_dir))


def _text(output: bytes | str | None) -> str:
    """What a timed-out run printed (bytes, whatever `text=` said)."""
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")
