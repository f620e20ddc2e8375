"""The plan a sweep writes before any trial runs (sweep.json, typed as results.plan.SweepPlan):
everything to rerun it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nagexp.config.sweep import SweepSpec
from nagexp.core.provenance import git_sha, package_versions
from nagexp.core.seeds import TRIAL_SEED_RULE, trial_seed
from nagexp.results.plan import PlanData, PlanObjective, PlanSeeds, SweepPlan, write_plan

if TYPE_CHECKING:
    from nagexp.data.batches import TrainData
    from nagexp.runtime.user_code import CodeSnapshot
    from nagexp.search.warm_start import SearchStart

__all__ = ["make_plan", "write_sweep_plan"]


def make_plan(
    spec: SweepSpec,
    data: TrainData | None,
    resources: dict[str, float] | None,
    command: str | None,
    code: CodeSnapshot | None = None,
    start: SearchStart | None = None,
) -> SweepPlan:
    from nagexp.runtime.ray_session import ray_address
    from nagexp.tracking.store import mask_uri

    o = spec.options
    # the cluster the sweep joined, also where $RAY_ADDRESS named it (as under `ray job submit`)
    options = o.model_copy(update={"tracking_uri": mask_uri(o.tracking_uri) if o.tracking_uri else None,
                                   "address": ray_address(o.address)})  # fmt: skip
    return SweepPlan(
        name=spec.name,
        command=command,
        options=options,
        space_file=str(o.space),
        space=spec.space,
        space_text=spec.space_text,
        objective=PlanObjective(metric=spec.metric, mode=spec.mode),
        seeds=PlanSeeds(master=o.seed, sampler=o.seed, trial_seed_rule=TRIAL_SEED_RULE,
                        first_trial_seeds=[trial_seed(o.seed, n) for n in range(min(o.trials, 10))]),
        versions=package_versions(),
        git_sha=git_sha(),
        user_code=code.record() if code else None,
        data=None if data is None else PlanData(fingerprint=data.fingerprint, report=data.report.to_dict(),
                                                input_shape=list(data.input_shape),
                                                num_classes=data.num_classes),
        ray_resources=resources,
        warm_start=start.record() if start is not None else None,
    )  # fmt: skip


def write_sweep_plan(spec: SweepSpec, data: TrainData | None, resources: dict[str, float], command: str | None,
                     code: CodeSnapshot | None, start: SearchStart | None = None) -> None:  # fmt: skip
    write_plan(spec.sweep_dir, make_plan(spec, data, resources, command, code, start))

