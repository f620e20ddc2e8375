"""SearchSpace -> Optuna: a define-by-run function, the seeded samplers, the Tune schedulers.

Names are loaded on first use: the registries (samplers, schedulers) import neither
Optuna nor Ray, so configs can check names against them cheaply.
"""

from __future__ import annotations

from nagexp.lazy import lazy_exports

_EXPORTS = {
    "TRIAL_NUMBER_KEY": "nagexp.space.sampling",
    "active_params": "nagexp.space.sampling",
    "define_by_run": "nagexp.space.sampling",
    "trial_seed": "nagexp.space.sampling",
    "SAMPLER_NAMES": "nagexp.space.samplers",
    "make_sampler": "nagexp.space.samplers",
    "SCHEDULER_NAMES": "nagexp.space.schedulers",
    "make_scheduler": "nagexp.space.schedulers",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
