"""Ray Tune trial schedulers by name: who stops trials early (asha), or who changes their
hyperparameters while they train (pbt, pb2). Ray is imported only when a scheduler is built,
so the names can be checked (and listed in help) without it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["POPULATION_SCHEDULERS", "SCHEDULERS", "SCHEDULER_NAMES", "ClipToBounds", "make_scheduler"]

# population-based: the trials are a population the scheduler copies and perturbs; no search
# algorithm (Ray refuses one), the sampler draws the first population
POPULATION_SCHEDULERS = ("pbt", "pb2")
TIME_ATTR = "epoch"  # the epoch the weights reached (a copied checkpoint brings its own)


class SchedulerEntry(NamedTuple):
    description: str
    build: Callable[[str, str, int, Any, int], Any]  # (metric, mode, max epochs, SearchSpace, seed) -> Tune scheduler


class ClipToBounds:
    """PBT's explore step multiplies by 0.8 or 1.2 without looking at bounds: keep every
    mutated value inside its param's [low, high] (momentum must stay below 1)."""

    def __init__(self, bounds: dict[str, tuple[float, float]]) -> None:
        self.bounds = bounds

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for name, (low, high) in self.bounds.items():
            config[name] = min(max(float(config[name]), low), high)
        return config


def _bounds(space: Any) -> dict[str, tuple[float, float]]:
    return {name: (space.params[name].low, space.params[name].high) for name in space.pbt.mutate}


def _asha(metric: str, mode: str, max_epochs: int, space: Any, seed: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    asha = space.asha
    return ASHAScheduler(time_attr="training_iteration", metric=metric, mode=mode, max_t=max_epochs,
                         grace_period=min(asha.grace_period, max_epochs),
                         reduction_factor=asha.reduction_factor)  # fmt: skip


def _fifo(metric: str, mode: str, max_epochs: int, space: Any, seed: int) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def _pbt(metric: str, mode: str, max_epochs: int, space: Any, seed: int) -> Any:
    from ray import tune

    from nagexp.space.population_schedulers import OwnIdentityPBT

    pbt = space.pbt
    mutations = {name: (tune.loguniform if space.params[name].log else tune.uniform)(low, high)
                 for name, (low, high) in _bounds(space).items()}  # fmt: skip
    # synchronous rounds: every member reaches the same epoch before any is copied, so the run
    # does not depend on which trial reports first (reproducible with the seed); a trial that
    # reports its own error carries no metric (require_attrs off)
    return OwnIdentityPBT(time_attr=TIME_ATTR, metric=metric, mode=mode,
                          perturbation_interval=pbt.perturbation_interval, hyperparam_mutations=mutations,
                          quantile_fraction=pbt.quantile_fraction, resample_probability=pbt.resample_probability,
                          custom_explore_fn=ClipToBounds(_bounds(space)), require_attrs=False,
                          synch=True, seed=seed)  # fmt: skip


def _pb2(metric: str, mode: str, max_epochs: int, space: Any, seed: int) -> Any:
    from nagexp.space.population_schedulers import OwnIdentityPB2

    pbt = space.pbt
    return OwnIdentityPB2(time_attr=TIME_ATTR, metric=metric, mode=mode,
                          perturbation_interval=pbt.perturbation_interval,
                          hyperparam_bounds={k: list(v) for k, v in _bounds(space).items()},
                          quantile_fraction=pbt.quantile_fraction, require_attrs=False, synch=True,
                          custom_explore_fn=ClipToBounds(_bounds(space)),  # its GP works in float32
                          seed=seed)  # fmt: skip


SCHEDULERS: dict[str, SchedulerEntry] = {
    "asha": SchedulerEntry("early stopping on epochs (grace period and reduction factor from the space)", _asha),
    "fifo": SchedulerEntry("every trial runs all its epochs", _fifo),
    "pbt": SchedulerEntry("population-based training: the worst trials copy the best and perturb "
                          "lr/momentum (`pbt:` in the space)", _pbt),
    "pb2": SchedulerEntry("PBT whose new values come from a GP bandit (PB2)", _pb2),
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)


def make_scheduler(name: str, metric: str, mode: str, max_epochs: int, space: Any, seed: int = 0) -> Any:
    """`seed`: the population-based schedulers' draws (whom to copy, how to perturb)."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler '{name}'; allowed: {', '.join(SCHEDULERS)}")
    return SCHEDULERS[name].build(metric, mode, max_epochs, space, seed)
