"""`--dry-run`: the driver's checks a sweep runs before it starts anything, the resolved plan,
and every configuration the sampler proposes first (`--trials` of them), written nowhere."""

from __future__ import annotations

import json

from nagexp.config.sweep import SweepSpec
from nagexp.core.wording import counted
from nagexp.data.loading import check_data_source
from nagexp.data.prepared.store import cache_dir_for
from nagexp.results.folders import SweepFolder
from nagexp.results.journal import replay
from nagexp.results.records import is_settled
from nagexp.results.trial_report import TRIAL_NUMBER_KEY
from nagexp.runtime.ray_session import nodes_to_run_on, ray_address
from nagexp.search.preview import sample_configs
from nagexp.search.warm_start import SearchStart, search_start
from nagexp.space.rungs import describe_rungs
from nagexp.sweeps.checks import check_tracking, check_user_code_imports, user_code
from nagexp.sweeps.folder import check_creatable, refuse_existing
from nagexp.sweeps.header import describe_objectives
from nagexp.sweeps.plan import make_plan
from nagexp.sweeps.resources import OWN_DATA, check_resources, data_cpus

__all__ = ["describe_plan", "preview"]


def _placement(spec: SweepSpec) -> str:
    o = spec.options
    if spec.workers is None:
        return f"{o.cpus_per_trial:g} CPU, {o.gpus_per_trial:g} GPU per trial"
    # each trial's workers are one placement group: placed whole or not at all
    return f"{spec.workers.describe()}; as many trials at once as whole worker groups fit"


def describe_plan(spec: SweepSpec, start: SearchStart | None = None, resume: bool = False) -> str:
    plan = make_plan(spec, None, None, None)
    o = spec.options
    settings = f" ({describe_rungs(spec.space, spec.epochs).removeprefix('ASHA: ')})" if o.scheduler == "asha" else ""
    if spec.population:
        p = spec.space.pbt
        settings = (f" (population {o.trials}, a round every {p.perturbation_interval} epochs, quantile "
                    f"{p.quantile_fraction:g}, mutating {', '.join(p.mutate)})")  # fmt: skip
    configs = [] if resume else sample_configs(spec, o.trials, start)
    lines = [
        f"sweep {spec.name} (dry run: nothing is started or written)",
        f"  space      {o.space}",
        f"  results    {spec.sweep_dir}",
        f"  trials     {o.trials}, sampler {o.sampler} (seed {o.seed}), scheduler {o.scheduler}{settings}"
        + (f"; deterministic: batches of {o.trials_per_batch}, halving on complete rungs" if o.deterministic else ""),
        f"  objective  {describe_objectives(spec)}",
        f"  resources  {_placement(spec)}"
        + (f", at most {o.max_concurrent} at once" if o.max_concurrent else "")
        + (f", time budget {o.time_budget:g} s" if o.time_budget else "")
        + (f", epoch budget {o.epoch_budget}" if o.epoch_budget else ""),
        f"  ray        {ray_address(o.address) or 'local'}",
        f"  fixed      {json.dumps(plan.space.fixed)}",
        _where_it_stands(spec) if resume else
        f"the {len(configs)} configuration{'s' if len(configs) != 1 else ''} the sampler proposes first:",
    ]  # fmt: skip
    searched = list(spec.space.params)
    for cfg in configs:
        shown = {k: round(v, 6) if isinstance(v, float) else v for k, v in cfg.items() if k in searched}
        lines.append(f"  trial {cfg[TRIAL_NUMBER_KEY]}: seed {cfg['seed']} {json.dumps(shown)}")
    return "\n".join(lines)


def _where_it_stands(spec: SweepSpec) -> str:
    """A resume's line in place of the proposals: what the journal says ended for good, what
    runs again (a trial that was running, or errored), and what the study proposes as the
    sweep runs, from the trials that ended."""
    records = replay(SweepFolder(spec.sweep_dir).journal, spec.metric, spec.mode).values()
    settled = sum(is_settled(r.state) for r in records)
    again = len(records) - settled
    rerun = f"; {counted(again, 'trial')} that {'was' if again == 1 else 'were'} running or errored " \
            f"run{'s' if again == 1 else ''} again" if again else ""  # fmt: skip
    left = max(0, spec.options.trials - len(records))
    rest = f"; the study proposes the {counted(left, 'trial')} left from the ones that ended" if left else ""
    return f"resuming: {settled} of {spec.options.trials} trials ended{rerun}{rest}"


def preview(spec: SweepSpec, resume: bool = False) -> str:
    """What `--dry-run` prints, after the checks a sweep runs before it starts anything (the
    name is free and its folder can be made, the MLflow store answers, the user's code
    imports): one that fails raises as the sweep would."""
    if not resume:
        refuse_existing(spec)
    told: list[str] = []  # what the sweep would say before it starts: a resume's changed code, a warm start
    check_tracking(spec, dry_run=True)
    if not resume:
        check_creatable(spec)
    user_code(spec, told.append, resume)
    check_user_code_imports(spec)
    if not spec.own_trainer:  # the data, as far as it can be told without reading it (an own function loads its own)
        cache_dir_for(spec.options.cache_dir, spec.results_dir)  # a URI with credentials, or with no bucket
        for dataset in spec.space.values_of("dataset"):
            for mode in spec.space.values_of("data_mode"):
                check_data_source(dataset, mode)
    if (nodes := nodes_to_run_on(spec.options.address)) is not None:  # what one trial asks for fits
        modes = [OWN_DATA] if spec.own_trainer else spec.space.values_of("data_mode")
        check_resources(spec.options, max(data_cpus(m) for m in modes), spec.workers, spec.space.fixed, nodes)
    start = None if resume else search_start(spec, told.append)
    return "\n".join([describe_plan(spec, start, resume), *told])
