"""Learning-rate and momentum schedules by name: import paths of pure functions
`fn(step, total_steps, cfg) -> float` (see `nagexp.training.schedules`)."""

from __future__ import annotations

__all__ = ["LR_SCHEDULES", "LR_SCHEDULE_NAMES", "MOMENTUM_SCHEDULES", "MOMENTUM_SCHEDULE_NAMES"]

_AT = "nagexp.training.schedules"

# name -> import path; the peak value is the config's `lr`
LR_SCHEDULES: dict[str, str] = {
    "constant": f"{_AT}:constant_lr",
    "step": f"{_AT}:step_lr",  # x lr_gamma at each of lr_milestones (fractions of training)
    "cosine": f"{_AT}:cosine_lr",
    "warmup_cosine": f"{_AT}:warmup_cosine_lr",  # linear warmup over warmup_fraction, then cosine
    "onecycle": f"{_AT}:onecycle_lr",  # torch's OneCycleLR with cosine annealing
    "linear": f"{_AT}:linear_lr",  # straight down to lr * lr_final_fraction
    "piecewise": f"{_AT}:piecewise_lr",  # lr_knots [[step, value], ...] (a PBT winner's)
}
# name -> import path; the peak value is the config's `momentum` (mu_max)
MOMENTUM_SCHEDULES: dict[str, str] = {
    "constant": f"{_AT}:constant_momentum",
    "sutskever": f"{_AT}:sutskever_momentum",  # Sutskever et al. 2013's ramp, capped at mu_max
    "cyclical": f"{_AT}:cyclical_momentum",  # mu_max -> momentum_min -> mu_max, inverse of one-cycle
    "final_drop": f"{_AT}:final_drop_momentum",  # final_momentum over the last final_drop_fraction
    "piecewise": f"{_AT}:piecewise_momentum",  # momentum_knots [[step, value], ...]
}
LR_SCHEDULE_NAMES: tuple[str, ...] = tuple(LR_SCHEDULES)
MOMENTUM_SCHEDULE_NAMES: tuple[str, ...] = tuple(MOMENTUM_SCHEDULES)
