"""The sweep's folder: refuse a taken name (with the resume hint) or a place it cannot be made,
create it, lock it."""

from __future__ import annotations

import shlex

from nagexp.config.sweep import SweepSpec
from nagexp.core.errors import ConfigError, NagexpError
from nagexp.core.io import file_in_the_way, not_created_because
from nagexp.results.folders import results_dir_option
from nagexp.results.state import sweep_state

__all__ = ["check_creatable", "create_sweep_dir", "refuse_existing", "resume_command"]


def resume_command(spec: SweepSpec) -> str:
    if spec.sweep_dir.name != spec.name:  # a folder renamed since: its path names it
        return f"nagexp sweep --resume {shlex.quote(str(spec.sweep_dir))}"
    return f"nagexp sweep --resume {spec.name}{results_dir_option(spec.results_dir)}"


def refuse_existing(spec: SweepSpec) -> None:
    """ConfigError when the sweep's folder exists; unfinished sweeps get the resume command."""
    if not spec.sweep_dir.exists():
        return
    hint = "pick another --name"
    if sweep_state(spec.sweep_dir) != "finished":
        hint = f"continue it with `{resume_command(spec)}` or {hint}"
    raise ConfigError(f"sweep '{spec.name}' already exists in {spec.results_dir}; {hint}")


def check_creatable(spec: SweepSpec) -> None:
    """Before anything starts (Ray, the data): no file where one of the sweep folder's folders
    must be (os.path's checks: nothing is made). Whether a folder can be written is left to the
    making (`create_sweep_dir`): access() can say no where mkdir works (NFS root squash, ACLs)."""
    if why := file_in_the_way(spec.sweep_dir):
        raise _cannot_create(spec, why)


def _cannot_create(spec: SweepSpec, why: str) -> NagexpError:
    return NagexpError(f"cannot create '{spec.sweep_dir}': {why}; pass a writable --results-dir")


def create_sweep_dir(spec: SweepSpec) -> None:
    try:
        spec.sweep_dir.mkdir(parents=True)
    except FileExistsError:  # another driver took the name a moment ago
        refuse_existing(spec)
        raise
    except OSError as exc:
        raise _cannot_create(spec, not_created_because(spec.sweep_dir, exc)) from None
