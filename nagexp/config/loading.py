"""YAML files and `key=value` overrides into validated configs, with one-line errors."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError, first_line
from nagexp.core.io import to_yaml
from nagexp.core.provenance import KERNELS_KEY

__all__ = [
    "DATA_CACHE_KEY",
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "RERUN_EXTRA_KEYS",
    "USER_CODE_KEY",
    "describe_validation_error",
    "invalid_config",
    "load_train_config",
    "parse_overrides",
    "read_yaml",
    "read_yaml_mapping",
    "rerun_extras",
    "saved_config_text",
    "stored_data_cache",
    "stored_kernels",
    "stored_user_code",
    "train_config_from",
    "validated",
]


MAX_YAML_BYTES = 16 * 2**20  # a space or a saved config is kilobytes; a PBT winner's knots, a few MB at most
MAX_YAML_DEPTH = 32  # nesting of mappings and lists (configs use three or four levels)

# the first and last lines of a config file nagexp writes (best.yaml, a run's config.yaml): a
# file that starts with the first but lacks the last was cut short
SAVED_HEADER = "# nagexp "
SAVED_END = "# end of file (nagexp)"


def saved_config_text(comment: str, values: dict[str, Any]) -> str:
    """A config file nagexp writes: `comment` lines, the values, and the end line."""
    lines = [f"{SAVED_HEADER}{line}" for line in comment.strip().splitlines()]
    return "\n".join(lines) + "\n" + to_yaml(values) + SAVED_END + "\n"


MAX_YAML_ALIASES = 64  # `*anchor` references: a few are handy, thousands expand into a "billion laughs"


def _shape(text: str) -> tuple[int, int]:
    """(the deepest nesting of collections, the number of alias references) of a YAML text,
    from its event stream: no recursion and no expansion, so a hostile file is refused before
    it can exhaust the stack or the memory."""
    depth = deepest = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            deepest = max(deepest, depth)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
        if deepest > MAX_YAML_DEPTH or aliases > MAX_YAML_ALIASES:
            break  # refused: the rest is not read (the scanner slows down with every open level)
    return deepest, aliases


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A YAML file that must hold a mapping (see `read_yaml`)."""
    data = read_yaml(path, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    return data


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """A YAML file's content; `yaml.safe_load` only, after checking its size and nesting, and
    (for a file nagexp wrote) that it is whole. ConfigError in one line otherwise."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_YAML_BYTES:
            raise ConfigError(f"{what} '{path}' is {path.stat().st_size / 2**20:.0f} MB; a {what} is at most "
                              f"{MAX_YAML_BYTES // 2**20} MB")  # fmt: skip
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} '{path}' not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} '{path}' cannot be read: {exc.__class__.__name__}") from None
    if text.startswith(SAVED_HEADER) and SAVED_END not in text.splitlines():
        raise ConfigError(f"{what} '{path}' is cut short: nagexp wrote it with a last line '{SAVED_END}', which is "
                          "gone; restore it from a copy (a file of your own: remove its first line)")  # fmt: skip
    try:
        depth, aliases = _shape(text)
        if depth > MAX_YAML_DEPTH or aliases > MAX_YAML_ALIASES:
            too = (f"nested more than {MAX_YAML_DEPTH} levels deep" if depth > MAX_YAML_DEPTH
                   else f"holds more than {MAX_YAML_ALIASES} alias references")  # fmt: skip
            raise ConfigError(f"{path}: {too}; a {what} is a mapping of fields a few levels deep")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    return data


def describe_validation_error(err: ValidationError, model: type[BaseModel]) -> str:
    """All problems of a pydantic error on one line, each naming its field."""
    parts = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown field '{field}' (known: {', '.join(model.model_fields)})")
        elif field:
            parts.append(f"field '{field}': {msg}{_got(msg, e['input'])}")
        else:
            parts.append(msg)
    return "; ".join(parts)


def _got(msg: str, value: Any) -> str:
    """` (got VALUE)`, unless the message quotes the value already."""
    return "" if isinstance(value, str) and f"'{value}'" in msg else f" (got {value!r})"


def invalid_config(err: ValidationError, source: str, given: Collection[str] = ()) -> ConfigError:
    """A TrainConfig's pydantic error as one line, named by where the bad values came from: the
    options (`--dataset`) when each bad field was `given` as one, else `source` (a file, `config`)."""
    failed = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
    where = ", ".join(f"--{f.replace('_', '-')}" for f in sorted(failed)) if failed and failed <= set(given) else source
    return ConfigError(f"{where}: {describe_validation_error(err, TrainConfig)}")


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], values: dict[str, Any], name_of: Callable[[str], str] = str) -> M:
    """`model(**values)` with None values dropped; ConfigError naming each bad option by
    `name_of(field)` (the CLI: `--max-concurrent`; Python: `max_concurrent`)."""
    try:
        return model(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        parts = []
        for e in err.errors():
            option = name_of(str(e["loc"][0])) if e["loc"] else "options"
            if e["type"] == "extra_forbidden":
                parts.append(f"unknown option '{option}'")
            else:
                msg = e["msg"].removeprefix("Value error, ")
                parts.append(f"{option}: {msg}{_got(msg, e['input'])}")
        raise ConfigError("; ".join(parts)) from None


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["lr=0.1", "augment=true"]` -> {"lr": 0.1, "augment": True} (YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got '{pair}'")
        if key.strip() in out:  # which one would win is a guess: neither
            raise ConfigError(f"--set {key.strip()} is given twice; give it once")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def train_config_from(values: dict[str, Any], source: str = "config", given: Collection[str] = ()) -> TrainConfig:
    """A TrainConfig of `values`; a bad one is named by its option when `given` as one (see `invalid_config`)."""
    try:
        return TrainConfig(**values)
    except ValidationError as err:
        raise invalid_config(err, source, given) from None


# beside the fields of a saved config (best.yaml, a run's config.yaml): the folder and hash of
# the user's code it ran with, so a rerun can say when that code changed
USER_CODE_KEY = "user_code"
# ... and the data cache it read its prepared data from, when one was given (--cache-dir), so a
# rerun reads the same prepared data instead of preparing it again under its own results dir
DATA_CACHE_KEY = "data_cache"
# ... and torch's CPU kernels it was computed on (KERNELS_KEY), so a CPU rerun on others can say why it differs
RERUN_EXTRA_KEYS = (USER_CODE_KEY, DATA_CACHE_KEY, KERNELS_KEY)  # what a saved config holds beside its fields


def stored_user_code(path: str | Path) -> dict[str, Any] | None:
    """The `user_code` record of a saved config file (None when it has none)."""
    found = read_yaml_mapping(path).get(USER_CODE_KEY)
    return found if isinstance(found, dict) else None


def rerun_extras(user_code: dict[str, Any] | None, data_cache: str | None,
                 kernels: str | None = None) -> dict[str, Any]:  # fmt: skip
    """What a saved config (best.yaml, a run's config.yaml) carries beside its fields."""
    return {k: v for k, v in zip(RERUN_EXTRA_KEYS, (user_code, data_cache, kernels), strict=True) if v}


def stored_kernels(path: str | Path) -> str | None:
    """The CPU kernels a saved config file's result was computed on (None when not recorded)."""
    found = read_yaml_mapping(path).get(KERNELS_KEY)
    return found if isinstance(found, str) else None


def stored_data_cache(path: str | Path) -> str | None:
    """The `data_cache` of a saved config file (None when the run used the default cache)."""
    found = read_yaml_mapping(path).get(DATA_CACHE_KEY)
    return found if isinstance(found, str) else None


def load_train_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A TrainConfig from an optional YAML file, then overrides (non-None values win)."""
    values = read_yaml_mapping(path) if path else {}
    for key in RERUN_EXTRA_KEYS:
        values.pop(key, None)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return train_config_from(values, str(path) if path else "config")
