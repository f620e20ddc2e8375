"""The configurations a sweep's sampler proposes first, after what a warm start tells the study:
what `--dry-run` shows, asked in memory and written nowhere."""

from __future__ import annotations

from nagexp.config.sweep import SweepSpec
from nagexp.search.warm_start import SearchStart

__all__ = ["sample_configs"]


def sample_configs(spec: SweepSpec, count: int, start: SearchStart | None = None) -> list[dict]:
    """The first `count` configs the sweep's sampler proposes (in memory; nothing is stored),
    after what `start` tells the study (a warm start's trials, enqueued configs). With trials
    still to report, the sampler proposes them as it would while the first trials run (a
    population's first members are drawn exactly so)."""
    import optuna

    from nagexp.space.samplers import SamplerPerTrial, make_sampler
    from nagexp.space.sampling import define_by_run

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        directions = ["maximize" if o.direction == "max" else "minimize" for o in spec.space.objectives]
        study = optuna.create_study(sampler=make_sampler(spec.options.sampler, spec.options.seed, spec.options.trials),
                                    directions=directions)  # fmt: skip
        prior = 0
        if start is not None:
            start.tell(study)
            prior = len(start.priors.trials) if start.priors else 0
        space_fn = define_by_run(spec.space, spec.options.seed, first_number=prior)
        o = spec.options
        per_trial = SamplerPerTrial(o.sampler, o.seed, o.trials) if o.deterministic else None
        configs = []
        for number in range(count):
            if per_trial is not None:  # as the deterministic searcher does
                study.sampler = per_trial(number)
            configs.append(space_fn(study.ask()))
        return configs
    finally:
        optuna.logging.set_verbosity(verbosity)
