"""Errors that reach the user as one line; the CLI maps them to exit codes."""

from __future__ import annotations

import errno

__all__ = [
    "ConfigError",
    "DataError",
    "DiskFullError",
    "InterruptedRun",
    "NagexpError",
    "disk_full_cause",
    "first_line",
    "first_text_line",
    "is_disk_full",
    "mentions_disk_full",
]


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception in one line for a message: its first non-blank line (its type's name when it
    says nothing), cut at `limit` characters (a library's error can be a page)."""
    return first_text_line(str(exc), limit) or type(exc).__name__


def first_text_line(text: str, limit: int = 300) -> str:
    """A message's first line ("" for a blank one), cut at `limit` characters."""
    lines = text.strip().splitlines()
    return lines[0][:limit] if lines else ""


class NagexpError(Exception):
    """A failure the user can act on. The message says what is wrong and what to do."""

    exit_code = 1


class ConfigError(NagexpError):
    """A bad value, option or file given by the user (exit code 2)."""

    exit_code = 2


class DataError(NagexpError):
    """A dataset that is missing, empty or unreadable (exit code 2: the user's input)."""

    exit_code = 2


class InterruptedRun(NagexpError):
    """Ctrl-C (or SIGTERM) stopped a command that keeps what it finished (exit code 130, as a shell's)."""

    exit_code = 130


class DiskFullError(NagexpError):
    """No space left where results are written (exit code 1: free some, then rerun or resume)."""


_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# a full disk once a library has turned it into text: the C library's ENOSPC and EDQUOT
# messages (Ray and pyarrow pass a worker's error on as text), and sqlite's SQLITE_FULL
# (the message SQLAlchemy, Optuna and MLflow carry in the errors they wrap it in)
_FULL_WORDS = ("no space left on device", "disk quota exceeded", "database or disk is full")


def mentions_disk_full(text: str) -> bool:
    lowered = text.lower()
    return any(words in lowered for words in _FULL_WORDS)


def is_disk_full(exc: BaseException | None) -> bool:
    return disk_full_cause(exc) is not None


def disk_full_cause(exc: BaseException | None) -> BaseException | None:
    """The error in `exc`'s chain that says the disk is full (None: none does). Followed
    through causes: Optuna and MLflow raise their own errors from sqlite's, Ray wraps a trial's."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFullError) or (isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS):
            return exc
        if mentions_disk_full(str(exc)) and not mentions_disk_full(str(exc.__cause__ or "")):
            return exc  # the one that says it first (a wrapper may only repeat it)
        wrapped = getattr(exc, "cause", None)  # a RayTaskError's: the trial's own exception
        exc = exc.__cause__ or exc.__context__ or (wrapped if isinstance(wrapped, BaseException) else None)
    return None
