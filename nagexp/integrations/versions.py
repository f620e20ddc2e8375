"""The versions each integration was tested on, and one warning line when the installed
version is outside them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata

from packaging.version import InvalidVersion, Version

__all__ = ["Tested", "installed_version"]

_log = logging.getLogger("nagexp.integrations")
_warned: set[str] = set()


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Tested:
    """`package` was tested from `low` (inclusive) up to `below` (exclusive); `relies_on`
    says what may not hold outside that range."""

    package: str  # the distribution: ray, optuna, mlflow, torch
    low: str
    below: str
    relies_on: str

    def __str__(self) -> str:
        return f"{self.package} >={self.low},<{self.below}"

    def covers(self, version: str | None) -> bool:
        if version is None:
            return False
        try:
            v = Version(version)
        except InvalidVersion:
            return False
        return Version(self.low) <= Version(v.base_version) < Version(self.below)

    def check(self, version: str | None = None) -> bool:
        """True when the installed version (or `version`) is tested; otherwise one warning
        line (once per process and range) and False."""
        found = installed_version(self.package) if version is None else version
        if self.covers(found):
            return True
        key = f"{self}:{found}:{self.relies_on}"
        if key not in _warned:
            _warned.add(key)
            _log.warning(f"warning: nagexp was tested with {self}, found {self.package} {found}: "
                         f"{self.relies_on} may not hold")  # fmt: skip
        return False
