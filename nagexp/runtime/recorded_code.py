"""The user's code a finished sweep ran, made importable again for a rerun or a report: from
the folder the user names, else the one sweep.json recorded, else (where Ray deleted a job's copy
of its working_dir) the working_dir of the `ray job submit` job this runs in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nagexp.core.errors import ConfigError
from nagexp.runtime.ray_session import job_code_folder
from nagexp.runtime.user_code import changed_code_warning, code_folder, make_importable

__all__ = ["import_recorded_code", "recorded_code_folder"]


def recorded_code_folder(given: Path | None, recorded: Path) -> Path:
    """Where the code is read from: `given`, else `recorded`, else the submitted job's
    working_dir; ConfigError in one line when none is there."""
    if given is not None:
        return code_folder(given)
    if recorded.is_dir():
        return recorded
    if (job_folder := job_code_folder()) is not None:
        return job_folder
    # a moved project, or a job's copy of its working_dir that Ray deleted
    raise ConfigError(f"the code folder '{recorded}' this sweep ran is gone; pass --code-dir with the folder of "
                      "that code")  # fmt: skip


def import_recorded_code(saved: dict[str, Any] | None, given: Path | None, warn: Callable[[str], None]) -> None:
    """Put the code `saved` (sweep.json's `user_code`; None: built-ins only) first on the import
    path, saying in `warn` when its hash is no longer the recorded one."""
    if not saved:
        return
    folder = recorded_code_folder(given, Path(saved["dir"]))
    if warning := changed_code_warning(saved, folder):
        warn(warning)
    make_importable(folder)
