"""`--dry-run`: the resolved plan and a few configurations the sampler would propose."""

from __future__ import annotations

import json

import optuna

from nagexp.config.sweep import SweepSpec
from nagexp.space.samplers import make_sampler
from nagexp.space.sampling import define_by_run
from nagexp.space.schedulers import POPULATION_SCHEDULERS
from nagexp.sweeps.plan import plan_dict

__all__ = ["describe_plan", "sample_configs"]


def sample_configs(spec: SweepSpec, count: int = 3) -> list[dict]:
    """The first `count` configs the sweep's sampler proposes (in memory; nothing is stored)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=make_sampler(spec.options.sampler, spec.options.seed),
                                direction="maximize" if spec.mode == "max" else "minimize")  # fmt: skip
    space_fn = define_by_run(spec.space, spec.options.seed)
    return [space_fn(study.ask()) for _ in range(count)]


def _placement(spec: SweepSpec) -> str:
    o = spec.options
    if spec.workers is None:
        return f"{o.cpus_per_trial:g} CPU, {o.gpus_per_trial:g} GPU per trial"
    # each trial's workers are one placement group: placed whole or not at all
    return f"{spec.workers.describe()}; as many trials at once as whole worker groups fit"


def describe_plan(spec: SweepSpec, count: int = 3) -> str:
    plan = plan_dict(spec, None, None, None)
    o = spec.options
    a = spec.space.asha
    asha = f" (grace {a.grace_period}, reduction {a.reduction_factor:g})" if o.scheduler == "asha" else ""
    if o.scheduler in POPULATION_SCHEDULERS:
        p = spec.space.pbt
        asha = (f" (population {o.trials}, a round every {p.perturbation_interval} epochs, quantile "
                f"{p.quantile_fraction:g}, mutating {', '.join(p.mutate)})")  # fmt: skip
    lines = [
        f"sweep {spec.name} (dry run: nothing is started or written)",
        f"  space      {o.space}",
        f"  results    {spec.sweep_dir}",
        f"  trials     {o.trials}, sampler {o.sampler} (seed {o.seed}), scheduler {o.scheduler}{asha}",
        f"  objective  {spec.mode} {spec.metric}",
        f"  resources  {_placement(spec)}"
        + (f", at most {o.max_concurrent} at once" if o.max_concurrent else "")
        + (f", time budget {o.time_budget:g} s" if o.time_budget else "")
        + (f", epoch budget {o.epoch_budget}" if o.epoch_budget else ""),
        f"  ray        {o.address or 'local'}",
        f"  fixed      {json.dumps(plan['space']['fixed'])}",
        f"first {count} sampled configurations:",
    ]
    searched = list(spec.space.params)
    for cfg in sample_configs(spec, count):
        shown = {k: round(v, 6) if isinstance(v, float) else v for k, v in cfg.items() if k in searched}
        lines.append(f"  trial {cfg['trial_number']}: seed {cfg['seed']} {json.dumps(shown)}")
    return "\n".join(lines)
