"""A sweep's state, read from its folder: finished, interrupted, running or incomplete."""

from __future__ import annotations

from pathlib import Path

from nagexp.results.files import read_summary
from nagexp.results.lock import held_by_live_driver

__all__ = ["sweep_state"]


def sweep_state(sweep_dir: Path) -> str:
    """finished (ran to its end), interrupted (Ctrl-C or SIGTERM), running (a live driver holds
    its lock) or incomplete (its driver died). The lock first: a resumed sweep that runs still
    has the summary of its interruption."""
    if held_by_live_driver(sweep_dir):
        return "running"
    state = read_summary(sweep_dir).get("state")
    return state if state in ("finished", "interrupted") else "incomplete"
