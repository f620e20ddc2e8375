"""Errors that reach the user as one line; the CLI maps them to exit codes."""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "NagexpError"]


class NagexpError(Exception):
    """A failure the user can act on. The message says what is wrong and what to do."""

    exit_code = 1


class ConfigError(NagexpError):
    """A bad value, option or file given by the user (exit code 2)."""

    exit_code = 2


class DataError(NagexpError):
    """A dataset that is missing, empty or unreadable (exit code 2: the user's input)."""

    exit_code = 2
