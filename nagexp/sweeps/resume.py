"""`nagexp sweep --resume NAME`: the sweep's plan as it was started, read back from sweep.json.

The space comes from sweep.json, not from the space file, which may have changed since.
Only where things run and log may change: the Ray address and the tracking URI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nagexp.config.space import SearchSpace
from nagexp.config.sweep import SweepOptions, SweepSpec
from nagexp.errors import ConfigError
from nagexp.naming import check_name
from nagexp.results.state import sweep_state

__all__ = ["ResumeError", "load_resume_spec"]

MASK = "***@"


class ResumeError(ConfigError):
    pass


def load_resume_spec(
    name: str, results_dir: Path, address: str | None = None, tracking_uri: str | None = None
) -> SweepSpec:
    check_name(name, "sweep name")
    results_dir = results_dir.expanduser().resolve()
    sweep_dir = results_dir / name
    plan_file = sweep_dir / "sweep.json"
    if not plan_file.exists():
        raise ResumeError(f"no sweep '{name}' in {results_dir} to resume; see `nagexp ls --results-dir {results_dir}`")
    if sweep_state(sweep_dir) == "finished":
        raise ResumeError(
            f"sweep '{name}' has finished; nothing to resume (report it with `nagexp report {name}`, "
            "or start a new sweep under another --name)"
        )
    try:
        plan: dict[str, Any] = json.loads(plan_file.read_text())
        stored = dict(plan["options"])
        space = SearchSpace.model_validate(plan["space"])
        space_text = str(plan["space_text"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResumeError(f"cannot resume '{name}': {plan_file} is unreadable ({exc}); start a new sweep") from None
    if tracking_uri is not None:
        stored["tracking_uri"] = tracking_uri
    elif MASK in (stored.get("tracking_uri") or ""):
        raise ResumeError(
            f"sweep '{name}' logs to a tracking server with credentials, which sweep.json keeps masked; "
            "pass --tracking-uri again to resume it"
        )
    stored["address"] = address
    stored["results_dir"] = str(results_dir)
    options = SweepOptions.model_validate(stored)
    return SweepSpec(name=name, options=options, space=space, space_text=space_text,
                     results_dir=results_dir, sweep_dir=sweep_dir)  # fmt: skip
