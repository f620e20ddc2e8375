"""Names of runs and sweeps: safe as folder names, unique by default."""

from __future__ import annotations

import re
import time
from pathlib import Path

from nagexp.core.errors import ConfigError

__all__ = ["check_name", "unique_name"]

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def check_name(name: str, what: str = "run name", dated_default: bool = False) -> str:
    """Letters, digits, '.', '_' and '-' only: no path separators, no '..'. `dated_default`: a
    name left out is made from the date and time (a new run's), which an empty one is not."""
    if not name:
        raise ConfigError(f"{what} is empty: give one" + (", or leave it out for a name with the date and time"
                                                           if dated_default else ""))  # fmt: skip
    if not _NAME.match(name) or name in {".", ".."}:
        raise ConfigError(f"{what} '{name}' may only use letters, digits, '.', '_' and '-'")
    return name


def unique_name(prefix: str, root: Path) -> str:
    """`<prefix>-<date>-<time>`, with a counter when that folder exists under `root`."""
    base = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name
