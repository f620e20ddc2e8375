"""sweep.json: the resolved plan, written before any trial runs (everything to rerun it)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from nagexp.config.sweep import SweepSpec
from nagexp.io import atomic_write_text
from nagexp.provenance import git_sha, package_versions
from nagexp.space.sampling import trial_seed

if TYPE_CHECKING:
    from pathlib import Path

    from nagexp.training.data import DataBundle
    from nagexp.user_code import CodeSnapshot

__all__ = ["plan_dict", "stored_user_code", "write_plan"]


def _masked(options: dict[str, Any]) -> dict[str, Any]:
    from nagexp.tracking.store import mask_uri

    if options.get("tracking_uri"):
        options["tracking_uri"] = mask_uri(options["tracking_uri"])
    return options


def plan_dict(
    spec: SweepSpec,
    data: DataBundle | None,
    resources: dict[str, float] | None,
    command: str | None,
    code: CodeSnapshot | None = None,
) -> dict:
    o = spec.options
    plan: dict[str, Any] = {
        "name": spec.name,
        "command": command,  # as the caller started it (the CLI: its command line)
        "options": _masked(json.loads(o.model_dump_json())),
        "space_file": str(o.space),
        "space": json.loads(spec.space.model_dump_json()),
        "space_text": spec.space_text,
        "objective": {"metric": spec.metric, "mode": spec.mode},
        "seeds": {
            "master": o.seed,
            "sampler": o.seed,
            "trial_seed_rule": "blake2b('nagexp:<master>:<trial number>') mod 2^31-1",
            "first_trial_seeds": [trial_seed(o.seed, n) for n in range(min(o.trials, 10))],
        },
        "versions": package_versions(),
        "git_sha": git_sha(),
        # the user's model/dataset code: its folder and content hash (None: built-ins only)
        "user_code": code.record() if code else None,
    }
    if data is not None:
        plan["data"] = {"fingerprint": data.fingerprint, "report": data.report.to_dict(),
                        "input_shape": list(data.input_shape), "num_classes": data.num_classes}  # fmt: skip
    if resources is not None:
        plan["ray_resources"] = resources
    return plan


def write_plan(
    spec: SweepSpec, data: DataBundle, resources: dict[str, float], command: str | None, code: CodeSnapshot | None
) -> None:
    text = json.dumps(plan_dict(spec, data, resources, command, code), indent=2) + "\n"
    atomic_write_text(spec.sweep_dir / "sweep.json", text)


def stored_user_code(sweep_dir: Path) -> dict[str, Any] | None:
    """sweep.json's record of the user's code (folder and hash), None when it has none."""
    try:
        return json.loads((sweep_dir / "sweep.json").read_text()).get("user_code")
    except (OSError, ValueError):
        return None
