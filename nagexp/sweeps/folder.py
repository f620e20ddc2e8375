"""The sweep's folder: refuse a taken name (with the resume hint), create it, lock it."""

from __future__ import annotations

from pathlib import Path

from nagexp.config.sweep import SweepSpec
from nagexp.core.errors import ConfigError, NagexpError
from nagexp.core.io import not_created_because
from nagexp.results.state import sweep_state

__all__ = ["create_sweep_dir", "refuse_existing", "resume_command"]


def resume_command(spec: SweepSpec) -> str:
    if spec.sweep_dir.name != spec.name:  # a folder renamed since: its path names it
        return f"nagexp sweep --resume {spec.sweep_dir}"
    where = "" if spec.results_dir == Path("results").resolve() else f" --results-dir {spec.results_dir}"
    return f"nagexp sweep --resume {spec.name}{where}"


def refuse_existing(spec: SweepSpec) -> None:
    """ConfigError when the sweep's folder exists; unfinished sweeps get the resume command."""
    if not spec.sweep_dir.exists():
        return
    hint = "pick another --name"
    if sweep_state(spec.sweep_dir) != "finished":
        hint = f"continue it with `{resume_command(spec)}` or {hint}"
    raise ConfigError(f"sweep '{spec.name}' already exists in {spec.results_dir}; {hint}")


def create_sweep_dir(spec: SweepSpec) -> None:
    try:
        spec.sweep_dir.mkdir(parents=True)
    except FileExistsError:  # another driver took the name a moment ago
        refuse_existing(spec)
        raise
    except OSError as exc:
        raise NagexpError(f"cannot create '{spec.sweep_dir}': {not_created_because(spec.sweep_dir, exc)}; pass a "
                          "writable --results-dir") from None  # fmt: skip
