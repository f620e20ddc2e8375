"""The statistics nagexp reports, in one place: the mean of a metric over seeds with its 95 %
interval, and the paired comparison of two arms on the same seeds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PairedDifference", "mean_ci95", "paired_difference", "seeds_interval"]


UNBOUNDED = (-math.inf, math.inf)


def mean_ci95(values: Sequence[float], bounds: tuple[float, float] = UNBOUNDED) -> tuple[float, float, float]:
    """Mean and Student-t 95 % interval of the mean (the mean three times for one value), the
    interval cut at `bounds`, the values the metric can take (an accuracy's mean is not above 1)."""
    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, max(bounds[0], mean - half), min(bounds[1], mean + half)


def seeds_interval(values: Sequence[float],
                   bounds: tuple[float, float] = UNBOUNDED) -> tuple[float, float, float] | None:  # fmt: skip
    """`mean_ci95` of fresh seeds' values, to judge an original run by, of the finite ones (a
    seed that diverged has no value to average); None under two (one gives no interval)."""
    finite = [v for v in values if math.isfinite(v)]
    return mean_ci95(finite, bounds) if len(finite) >= 2 else None


@dataclass(frozen=True)
class PairedDifference:
    mean: float  # of a - b over the seeds
    low: float  # 95 % interval of that mean
    high: float
    p_value: float  # paired t-test (0 or 1 when every difference is the same)
    seeds: int


def paired_difference(a: Sequence[float], b: Sequence[float],
                      bounds: tuple[float, float] = UNBOUNDED) -> PairedDifference:  # fmt: skip
    """a - b seed by seed: its mean and 95 % interval (inside what a difference of values within
    `bounds` can be), and the paired t-test's p-value."""
    from scipy import stats

    diffs = [x - y for x, y in zip(a, b, strict=True)]
    width = bounds[1] - bounds[0]
    mean, low, high = mean_ci95(diffs, (-width, width))
    if len(diffs) < 2 or statistics.pstdev(diffs) == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(stats.ttest_rel(a, b).pvalue)
    return PairedDifference(mean, low, high, p, len(diffs))
