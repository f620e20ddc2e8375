"""Options given on the command line -> validated pydantic models, with option names in errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from nagexp.errors import ConfigError

__all__ = ["validated"]

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], values: dict[str, Any]) -> M:
    """`model(**values)` with None values dropped; errors name the CLI option (`--max-concurrent`)."""
    try:
        return model(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        parts = []
        for e in err.errors():
            option = "--" + str(e["loc"][0]).replace("_", "-") if e["loc"] else "options"
            parts.append(f"{option}: {e['msg'].removeprefix('Value error, ')} (got {e['input']!r})")
        raise ConfigError("; ".join(parts)) from None
