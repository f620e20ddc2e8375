"""Atomic file writes (a crash never leaves a half-written result file), and why a folder
could not be made."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from nagexp.core.errors import DiskFullError

__all__ = ["atomic_write", "atomic_write_text", "file_in_the_way", "not_created_because", "to_yaml"]


def file_in_the_way(path: Path) -> str | None:
    """"'X' is a file, not a folder" when the nearest existing one of `path` and its folders is
    a file, so the folder `path` cannot be made; else None. os.path's checks: False (not an
    error) where a folder cannot be entered."""
    for folder in (path, *path.parents):
        if os.path.exists(folder):
            return None if os.path.isdir(folder) else f"'{folder}' is a file, not a folder"
    return None


def not_created_because(path: Path, exc: OSError) -> str:
    """Why making the folder `path` failed, in words: a file where one of its folders must be is
    named (the OS says only "File exists" or "Not a directory")."""
    return file_in_the_way(path) or exc.strerror or str(exc)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` then rename onto `path` (same folder, so the rename is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are for sharing
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = "the previous version is kept" if path.exists() else "nothing was written"
            raise DiskFullError(
                f"no space left on the device writing '{path}' ({kept}); free some space and rerun"
            ) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_yaml(values: dict[str, Any]) -> str:
    """Block-style YAML in the given key order (tuples become lists)."""
    return yaml.safe_dump(_plain(values), sort_keys=False, default_flow_style=False)
