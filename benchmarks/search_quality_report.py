"""What a search_quality run's traces say: (a) against each other arm, paired by sweep seed,
and the figures (anytime curves and the performance profile) beside its JSON."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any


def _best_within(values: list[float], epochs: int) -> float:
    return max((v for v in values[:epochs] if not math.isnan(v)), default=float("nan"))


def against_a(summary: dict[str, Any], traces: dict[str, list[list[float]]]) -> dict[str, Any]:
    """(a) against each other arm, sweep seed by sweep seed: the mean difference of the best
    val_acc (over the whole sweep, and within the epochs (a) spent on that seed: equal budgets)
    and of the retrained test accuracy with its 95 % interval and paired t-test, and on how
    many seeds (a) reached the target in fewer epochs, as many, or more (never = more)."""
    from nagexp.results.statistics import paired_difference

    a = summary["a: nagexp tpe+asha"]
    budgets = [len(r) for r in traces["a: nagexp tpe+asha"]]
    out = {}
    for arm, other in summary.items():
        if other is a:
            continue
        at_a_budget = [_best_within(r, e) for r, e in zip(traces[arm], budgets, strict=True)]
        never = float("inf")
        pairs = [(x if x is not None else never, y if y is not None else never)
                 for x, y in zip(a["epochs_to_target"], other["epochs_to_target"], strict=True)]  # fmt: skip
        out[arm] = {
            "best_val": paired_difference(a["best_val_per_seed"], other["best_val_per_seed"], (0, 1)).__dict__,
            "best_val_at_a_epochs": paired_difference(a["best_val_per_seed"], at_a_budget, (0, 1)).__dict__,
            "test_acc": paired_difference(a["retrained_test_acc_per_seed"], other["retrained_test_acc_per_seed"],
                                          (0, 1)).__dict__,
            "target_first": {"a": sum(x < y for x, y in pairs), "tie": sum(x == y for x, y in pairs),
                             arm[0]: sum(x > y for x, y in pairs)},
        }
    return out


def print_against_a(table: dict[str, Any]) -> None:
    print("\n(a) against each arm, paired by sweep seed: mean difference [95 % interval] (p)")
    for arm, row in table.items():
        cells = [f"{key} {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] (p {d['p_value']:.2f})"
                 for key, d in ((k, row[k]) for k in ("best_val", "best_val_at_a_epochs", "test_acc"))]  # fmt: skip
        first = row["target_first"]
        print(f"  vs {arm:22} " + "; ".join(cells) + f"; target first: a on {first['a']}, {arm[0]} on "
              f"{first[arm[0]]}, tie {first['tie']}")  # fmt: skip


def _best_so_far_on(grid: list[float], times: list[float], values: list[float]) -> list[float]:
    """The best value reported at or before each point of `grid` (nan before the first)."""
    best, out, i = float("nan"), [], 0
    for x in grid:
        while i < len(times) and times[i] <= x:
            if not math.isnan(values[i]):  # a diverged report is never the best
                best = values[i] if math.isnan(best) else max(best, values[i])
            i += 1
        out.append(best)
    return out


def _band(ax: Any, grid: list[float], curves: list[list[float]], label: str) -> None:
    """The median of `curves` on `grid` and their min-max band, where every curve has a value."""
    shown = [(x, c) for x, c in zip(grid, zip(*curves, strict=True), strict=True) if not any(map(math.isnan, c))]
    xs = [x for x, _ in shown]
    ax.step(xs, [statistics.median(c) for _, c in shown], where="post", label=label)
    ax.fill_between(xs, [min(c) for _, c in shown], [max(c) for _, c in shown], step="post", alpha=0.15)


def draw_figures(payload: dict[str, Any], folder: Path, stem: str = "search_quality") -> list[Path]:
    """The anytime curves (best val_acc so far against epochs spent, and against seconds where
    the JSON has them: median over seeds, min-max band) and the performance profile, as SVG:
    `<stem>-anytime.svg` and `<stem>-profile.svg` (stem: the JSON's, so two runs' figures differ)."""
    from nagexp.report.figures import drawing, new_figure, profile_figure, svg_of

    seconds = payload.get("trace_seconds")
    written = []
    with drawing():
        plt = new_figure()
        fig, axes = plt.subplots(1, 2 if seconds else 1, figsize=(10 if seconds else 6, 3.2), squeeze=False)
        ax = axes[0][0]
        width = max(len(r) for runs in payload["traces"].values() for r in runs)
        grid = list(range(1, width + 1))
        for arm, runs in payload["traces"].items():  # a finished sweep keeps its best
            _band(ax, grid, [_best_so_far_on(grid, list(range(1, len(r) + 1)), r) for r in runs if r], arm)
        ax.axhline(payload["target"], color="0.5", lw=0.8, ls="--")
        ax.set_xlabel("epochs spent by the sweep")
        ax.set_ylabel("best val_acc so far")
        ax.legend(loc="lower right", frameon=False, fontsize=7)
        if seconds:
            ax = axes[0][1]
            end = max(t[-1] for runs in seconds.values() for t in runs if t)
            grid = [end * k / 200 for k in range(201)]
            for arm, runs in payload["traces"].items():
                curves = [_best_so_far_on(grid, t, r) for t, r in zip(seconds[arm], runs, strict=True) if r]
                _band(ax, grid, curves, arm)
            ax.axhline(payload["target"], color="0.5", lw=0.8, ls="--")
            ax.set_xlabel("seconds since the sweep started")
        written.append(folder / f"{stem}-anytime.svg")
        written[-1].write_text(svg_of(fig))
        written.append(folder / f"{stem}-profile.svg")
        written[-1].write_text(profile_figure(payload["taus"], payload["profile"]))
    return written
