"""What ASHA ranks a trial on at a rung: its *rung signal*, reported beside the raw metric.

- raw: the objective's metric at the rung (an unfinished schedule's accuracy).
- cooldown: the metric of a branch of the run whose learning rate was annealed to the
  schedule's end over a short cooldown (the trainer runs the probe and reports
  `cooldown_<metric>`; Hägele et al. 2024: a cooldown shows what a run reaches if it ends now).
- curve: the metric's learning curve so far, fitted and extrapolated to the last epoch.

At the last epoch every signal is the raw metric, so the objective is unchanged. The signal is
computed where the trial reports (the trainable, a data-parallel run's workers, an own
training function's wrapper) from the epochs so far: a pure function of the history.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["COOLDOWN_PREFIX", "PROBED_METRICS", "RUNG_SIGNAL_KEY", "RungSignal", "RungTracker", "extrapolate_curve"]

from nagexp.results.trial_report import RUNG_SIGNAL_KEY

COOLDOWN_PREFIX = "cooldown_"  # the trainer's probe reports cooldown_val_acc, cooldown_val_loss
PROBED_METRICS = ("val_acc", "val_loss")  # the metrics a cooldown probe measures
MIN_FIT_POINTS = 3  # fewer epochs than this: the curve signal is the last value


@dataclass(frozen=True)
class RungSignal:
    """A sweep's rung signal, shipped with every trial (picklable)."""

    kind: str  # raw | cooldown | curve
    metric: str  # the objective ASHA stops on
    epochs: int  # the run's last epoch
    rungs: tuple[int, ...] = ()  # where ASHA decides (the cooldown probe runs there)
    cooldown_fraction: float = 0.2
    bounds: tuple[float, float] = field(default=(-math.inf, math.inf))  # the metric's possible values

    @property
    def ranks_raw(self) -> bool:
        return self.kind == "raw" or (self.kind == "cooldown" and self.metric not in PROBED_METRICS)

    def train_fields(self) -> dict[str, object]:
        """The TrainConfig fields that make the trainer probe at the rungs (none for other signals)."""
        if self.kind != "cooldown" or self.metric not in PROBED_METRICS:
            return {}
        return {"probe_epochs": self.rungs, "cooldown_fraction": self.cooldown_fraction}

    def value(self, history: Sequence[Mapping[str, float]]) -> float | None:
        """The signal at the last epoch of `history` (every epoch so far, oldest first); None when
        that epoch lacks the metric (a trial's own error)."""
        if not history or self.metric not in history[-1]:
            return None
        now = history[-1]
        raw = float(now[self.metric])
        if int(now.get("epoch", len(history))) >= self.epochs or self.ranks_raw:
            return raw
        if self.kind == "cooldown":
            return float(now.get(COOLDOWN_PREFIX + self.metric, raw))
        curve = [float(h[self.metric]) for h in history if self.metric in h]
        return extrapolate_curve(curve, self.epochs, self.bounds)


def extrapolate_curve(values: Sequence[float], at_epoch: int, bounds: tuple[float, float]) -> float:
    """The value a learning curve (one value per epoch from epoch 1) reaches at `at_epoch`, from a
    fitted power law y = c + a * t^(-b) (the 'pow3' curve of Domhan et al. 2015), inside `bounds`.
    Too few points, a non-finite value or a failed fit: the last value."""
    last = values[-1]
    if len(values) < MIN_FIT_POINTS or not all(math.isfinite(v) for v in values):
        return last
    import numpy as np
    from scipy.optimize import OptimizeWarning, curve_fit

    t = np.arange(1, len(values) + 1, dtype=float)
    y = np.asarray(values, dtype=float)

    def pow3(t: np.ndarray, c: float, a: float, b: float) -> np.ndarray:
        return c + a * t ** (-b)

    try:
        with warnings.catch_warnings():  # three points, three parameters: no covariance, as expected
            warnings.simplefilter("ignore", OptimizeWarning)
            (c, a, b), _ = curve_fit(pow3, t, y, p0=(y[-1], y[0] - y[-1], 1.0),
                                     bounds=([-np.inf, -np.inf, 0.05], [np.inf, np.inf, 4.0]), maxfev=2000)  # fmt: skip
    except (RuntimeError, ValueError):
        return last
    predicted = float(pow3(np.asarray([float(at_epoch)]), c, a, b)[0])
    if not math.isfinite(predicted):
        return last
    low, high = bounds
    return min(max(predicted, low), high)


class RungTracker:
    """A trial's epochs so far, turned into its rung signal as each one is reported (`signal`
    None or raw: no signal key is reported, ASHA reads the metric itself)."""

    def __init__(self, signal: RungSignal | None, earlier: Sequence[Mapping[str, float]] = ()) -> None:
        self.signal = signal if signal is not None and not signal.ranks_raw else None
        self.history: list[Mapping[str, float]] = list(earlier)

    def __call__(self, metrics: Mapping[str, float]) -> float | None:
        """The signal of this epoch when it is a rung (None elsewhere: no epoch between rungs is
        ranked, so trials.csv's `ranked_on` is always a value ASHA ranked on)."""
        if self.signal is None:
            return None
        self.history.append(metrics)
        if int(metrics.get("epoch", len(self.history))) not in self.signal.rungs:
            return None
        return self.signal.value(self.history)
