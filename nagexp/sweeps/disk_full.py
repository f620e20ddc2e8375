"""A full disk during a sweep: one line, and a folder `--resume` continues.

The first sign of it on the driver (a journal or sqlite write, MLflow's store, a trial's
checkpoint, Tune's own snapshot) ends the sweep as if the driver had been killed at that
moment: nothing more is written, so every file stays as a resume expects (the journal, the
Optuna study and Tune's last snapshot agree up to there, as after a SIGKILL). Tune's loop
stops at its next step, and what Tune logs about the same cause is not shown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from nagexp.config.sweep import SweepSpec
from nagexp.core.errors import DiskFullError, disk_full_cause, first_text_line, mentions_disk_full
from nagexp.integrations.mlflow_store import STORE_LOGGERS
from nagexp.integrations.ray_tune import TUNE_LOGGERS
from nagexp.sweeps.folder import resume_command

__all__ = ["DiskFullStop", "DiskFullWatch", "disk_full_error"]


class DiskFullStop(Exception):
    """Raised out of Tune's loop once the disk is full: Tune stops its trials and returns."""


class DiskFullWatch:
    """Whether the disk has filled, from whichever part of the driver saw it first."""

    def __init__(self) -> None:
        self.cause: str | None = None  # the first error that said so, in one line
        self._probes: list[Callable[[], BaseException | None]] = []

    def watch(self, probe: Callable[[], BaseException | None]) -> None:
        """Also ask `probe` for an error a part of the sweep keeps (MLflow's writer thread's)."""
        self._probes.append(probe)

    def saw(self, exc: BaseException | None) -> bool:
        """`exc` says the disk is full: remembered (the first such error), True."""
        cause = disk_full_cause(exc)
        if cause is not None:
            self._remember(f"{type(cause).__name__}: {first_text_line(str(cause))}")
        return cause is not None

    def said(self, text: str) -> bool:
        """`text` (a message, a trial's reported error) says the disk is full."""
        if mentions_disk_full(text):
            self._remember(text)
        return mentions_disk_full(text)

    def _remember(self, text: str) -> None:
        if self.cause is None:
            self.cause = first_text_line(text, 200) or "no space left"

    @property
    def full(self) -> bool:
        for probe in self._probes:
            self.saw(probe())
        return self.cause is not None

    @contextlib.contextmanager
    def quieting_logs(self) -> Iterator[None]:
        """What Tune and MLflow's store log about a full disk (and, once it is full, all Tune
        logs: its consequences, while the sweep ends) is taken in here instead of shown."""

        def keep(record: logging.LogRecord) -> bool:
            exc = record.exc_info[1] if record.exc_info else None
            said = self.saw(exc) or self.said(record.getMessage())
            return not (said or (record.name in TUNE_LOGGERS and self.full))

        loggers = [logging.getLogger(name) for name in TUNE_LOGGERS + STORE_LOGGERS]
        for logger in loggers:
            logger.addFilter(keep)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(keep)


def disk_full_error(spec: SweepSpec, cause: str | None) -> DiskFullError:
    """The one line: the folder, that its disk is full, and the command that continues it."""
    why = f" ({cause})" if cause else ""
    return DiskFullError(f"the disk holding {spec.sweep_dir} is full{why}; the sweep stopped and its state is kept: "
                         f"free some space, then resume with: {resume_command(spec)}")  # fmt: skip
