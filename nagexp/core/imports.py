"""`package.module:attribute` strings resolved in one place (as uvicorn's `module:app`).

Built-in models and dataset readers are registered as such strings too, so user code and
built-ins take the same path and the registries import nothing heavy until one is used.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from nagexp.core.errors import ConfigError

__all__ = ["is_import_path", "resolve_import_path"]

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_import_path(text: str) -> bool:
    """True for `package.module:attribute` (the attribute may be dotted: `module:Class.make`)."""
    return bool(_PATH.match(text))


def resolve_import_path(path: str, what: str = "object") -> Any:
    """The object `path` names; ConfigError naming `path` and the missing part otherwise."""
    if not is_import_path(path):
        raise ConfigError(f"{what} '{path}' is not an import path; write it as package.module:attribute")
    module_name, _, attr_path = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if missing == module_name or module_name.startswith(missing + "."):
            raise ConfigError(
                f"{what} '{path}': module '{missing}' not found; run from the folder that holds it "
                "or pass --code-dir"
            ) from None
        raise ConfigError(f"{what} '{path}': importing '{module_name}' failed: module '{missing}' not found") from None
    except Exception as exc:  # the user's module raised while importing
        raise ConfigError(f"{what} '{path}': importing '{module_name}' raised {type(exc).__name__}: {exc}") from None
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"{what} '{path}': module '{module_name}' has no attribute '{attr_path}'") from None
    return target
