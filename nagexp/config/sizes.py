"""Sizes as people write them (`64MB`, `4GB`) and as nagexp prints them."""

from __future__ import annotations

import re

from nagexp.core.errors import ConfigError

__all__ = ["format_size", "parse_size"]

_UNITS = {"": 1, "B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`64MB`, `4GB`, `1.5 GB`, `1000000` -> bytes (binary units); ConfigError otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"memory budget must be a size like 512MB or 4GB (got {text!r})")
    unit = match.group(2).upper()
    unit = unit if unit.endswith("B") or not unit else unit + "B"
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"
