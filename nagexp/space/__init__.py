"""SearchSpace -> Optuna: a define-by-run function and the seeded samplers."""

from __future__ import annotations

from nagexp.space.define_by_run import TRIAL_NUMBER_KEY, active_params, define_by_run, trial_seed
from nagexp.space.samplers import SAMPLER_NAMES, make_sampler

__all__ = ["SAMPLER_NAMES", "TRIAL_NUMBER_KEY", "active_params", "define_by_run", "make_sampler", "trial_seed"]
