"""The Ray Tune trial schedulers the registry (`nagexp.registries.schedulers`) names: who
stops trials early (asha), or who changes their hyperparameters while they train (pbt, pb2).
Each builder: (metric, mode, max epochs, SearchSpace, seed) -> a Tune scheduler."""

from __future__ import annotations

from typing import Any

from nagexp.core.imports import resolve_import_path
from nagexp.registries.schedulers import SCHEDULERS
from nagexp.results.trial_report import EPOCH_KEY, IDENTITY_KEYS, is_last_epoch
from nagexp.space.rungs import rung_plan

__all__ = ["ClipToBounds", "asha", "fifo", "make_scheduler", "pb2", "pbt", "synchronous_halving"]

TIME_ATTR = EPOCH_KEY  # PBT's clock: the epoch the weights reached (a copied checkpoint brings its own)


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


def asha(metric: str, mode: str, max_epochs: int, space: Any, seed: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    rungs = rung_plan(space, max_epochs).epochs  # the first: after the longest warmup (no rung: none stops)
    return ASHAScheduler(time_attr="training_iteration", metric=metric, mode=mode, max_t=max_epochs,
                         grace_period=rungs[0] if rungs else max_epochs,
                         reduction_factor=space.asha.reduction_factor)  # fmt: skip


def fifo(metric: str, mode: str, max_epochs: int, space: Any, seed: int) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def pbt(metric: str, mode: str, max_epochs: int, space: Any, seed: int) -> Any:
    from ray import tune

    from nagexp.integrations.ray_pbt import OwnIdentityPBT

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
                          synch=True, seed=seed, identity_keys=IDENTITY_KEYS,
                          is_last_epoch=is_last_epoch)  # fmt: skip


def pb2(metric: str, mode: str, max_epochs: int, space: Any, seed: int) -> Any:
    from nagexp.integrations.ray_pbt import OwnIdentityPB2

    pbt = space.pbt
    return OwnIdentityPB2(time_attr=TIME_ATTR, metric=metric, mode=mode,
                          perturbation_interval=pbt.perturbation_interval,
                          hyperparam_bounds={k: list(v) for k, v in _bounds(space).items()},
                          quantile_fraction=pbt.quantile_fraction, require_attrs=False, synch=True,
                          custom_explore_fn=ClipToBounds(_bounds(space)),  # its GP works in float32
                          seed=seed, identity_keys=IDENTITY_KEYS, is_last_epoch=is_last_epoch)  # fmt: skip


def make_scheduler(name: str, metric: str, mode: str, max_epochs: int, space: Any, seed: int = 0) -> Any:
    """`seed`: the population-based schedulers' draws (whom to copy, how to perturb)."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler '{name}'; allowed: {', '.join(SCHEDULERS)}")
    return resolve_import_path(SCHEDULERS[name].build, "scheduler")(metric, mode, max_epochs, space, seed)


def synchronous_halving(name: str, metric: str, mode: str, max_epochs: int, space: Any, *, batch_size: int,
                        total_trials: int, max_running: int, number_of: Any, history: Any) -> Any:  # fmt: skip
    """Deterministic mode's scheduler: asha's rungs (fifo: none) decided on complete batches
    (see integrations/ray_halving.py), at most `max_running` trials at once."""
    from nagexp.integrations.ray_halving import SynchronousHalving

    milestones = list(rung_plan(space, max_epochs).epochs) if name == "asha" else []
    return SynchronousHalving(metric=metric, mode=mode, milestones=milestones,
                              reduction_factor=space.asha.reduction_factor, batch_size=batch_size,
                              total_trials=total_trials, max_running=max_running, number_of=number_of,
                              time_attr=EPOCH_KEY, history=history)  # fmt: skip
