"""Which folder a sweep named on the command line is: a name in the results directory, or a path."""

from __future__ import annotations

from pathlib import Path

from nagexp.core.errors import ConfigError
from nagexp.core.naming import check_name
from nagexp.results.plan import PLAN_FILE

__all__ = ["sweep_dir_of"]


def sweep_dir_of(sweep: str | Path, results_dir: Path) -> Path:
    """`sweep` as a path when it is a folder, else the folder of that name in `results_dir`;
    ConfigError when neither holds a sweep (no sweep.json)."""
    path = Path(sweep).expanduser()
    folder = path if path.is_dir() else results_dir / check_name(str(sweep), "sweep name")
    if not folder.is_dir():
        raise ConfigError(f"no sweep '{sweep}' in {results_dir.resolve()}; `nagexp ls` lists the sweeps")
    if not (folder / PLAN_FILE).exists():
        raise ConfigError(f"'{folder / PLAN_FILE}' is missing: '{folder}' is not a sweep's folder, or its plan was "
                          "deleted (restore it from a copy)")  # fmt: skip
    return folder.resolve()
