"""How much training the default search needs to find a good model, against random search.

Four arms over the same space (default: search_spaces/nag_default.yaml on the embedded
digits, its 10 epochs per trial), the same trial budget and the same sweep seeds:
(a) TPE + ASHA (nagexp's default), (b) TPE without early stopping, (c) random search +
ASHA, (d) random search without early stopping. For each sweep: the training epochs
(summed over all trials, in the order they were reported) and wall seconds until a trial
first reaches the target validation accuracy, and the best validation accuracy seen
within equal epoch budgets. Medians over the seeds; ratios against (d).

    python -m benchmarks.search_efficiency [--seeds 5] [--trials 20] [--target 0.986] [--out FILE]
    python -m benchmarks.search_efficiency --quick --out FILE   # 1 seed, 2 trials of 1 epoch (the tests)

Target: (a) reaches the target with at most 1/3 of (d)'s epochs. A sweep that never reaches
the target counts as all its epochs plus one (a lower bound; marked in the table).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import write_result

ARMS = {
    "a: tpe + asha": ("tpe", "asha"),
    "b: tpe": ("tpe", "fifo"),
    "c: random + asha": ("random", "asha"),
    "d: random": ("random", "fifo"),
}


@dataclass
class EpochTrace:
    """A sweep listener: every reported epoch's objective, in order, with its time."""

    metric: str
    started: float = field(default_factory=time.monotonic)
    values: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, value)

    def on_trial_start(self, rec: Any) -> None:
        pass

    def on_trial_epoch(self, rec: Any, metrics: dict[str, Any]) -> None:
        self.values.append((time.monotonic() - self.started, float(metrics.get(self.metric, float("nan")))))

    def on_trial_end(self, rec: Any) -> None:
        pass

    def first_hit(self, target: float) -> tuple[int | None, float | None]:
        """(epochs, seconds) until the first value >= target; (None, None) when never."""
        for i, (seconds, value) in enumerate(self.values):
            if value >= target:
                return i + 1, seconds
        return None, None

    def best_within(self, epochs: int) -> float:
        values = [v for _, v in self.values[:epochs] if v == v]
        return max(values) if values else float("nan")


def run_arm(space: Path, sampler: str, scheduler: str, seed: int, trials: int, folder: Path, epochs: int | None):
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep

    name = f"{sampler}-{scheduler}-{seed}"
    spec = resolve_sweep(SweepOptions(space=space, trials=trials, seed=seed, sampler=sampler, scheduler=scheduler,
                                      epochs=epochs, max_concurrent=2, track=False, name=name,
                                      results_dir=folder))  # fmt: skip
    trace = EpochTrace(spec.metric)
    start = time.perf_counter()
    run_sweep(spec, emit=lambda _: None, listeners=[trace])
    return trace, time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", type=Path, default=None, help="search space (default: nag_default.yaml)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20, help="trials per sweep (nagexp sweep's default)")
    parser.add_argument("--epochs", type=int, default=None, help="override the space's epochs per trial")
    parser.add_argument("--target", type=float, default=1.0, help="validation accuracy to reach")
    parser.add_argument("--budgets", default="30,60,120", help="epoch budgets for the best-value columns")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 trials of 1 epoch, budgets 1,2 (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.trials, args.epochs, args.budgets = 1, 2, 1, "1,2"

    from nagexp.config.sweep import DEFAULT_SPACE
    from nagexp.runtime.ray_session import connect_ray

    space = (args.space or DEFAULT_SPACE).resolve()
    budgets = [int(b) for b in args.budgets.split(",")]
    connect_ray(None, num_cpus=2)
    per_arm: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            for arm, (sampler, scheduler) in ARMS.items():
                trace, wall = run_arm(space, sampler, scheduler, seed, args.trials, Path(folder), args.epochs)
                epochs, seconds = trace.first_hit(args.target)
                total = len(trace.values)
                row = {"seed": seed, "epochs_to_target": epochs, "seconds_to_target": seconds,
                       "total_epochs": total, "wall_s": wall, "best": trace.best_within(total),
                       "best_at": {str(b): trace.best_within(b) for b in budgets},
                       "trace": [round(v, 5) for _, v in trace.values]}  # fmt: skip
                per_arm[arm].append(row)
                hit = f"{epochs} epochs, {seconds:.0f} s" if epochs else "not reached"
                print(f"seed {seed} {arm:18} target: {hit:22} ({total} epochs, {wall:.0f} s in all)", flush=True)

    summary = {}
    for arm, rows in per_arm.items():
        # a sweep that never reaches the target counts as all its epochs + 1 (a lower bound)
        epochs = [r["epochs_to_target"] or r["total_epochs"] + 1 for r in rows]
        seconds = [r["seconds_to_target"] or r["wall_s"] for r in rows]
        summary[arm] = {
            "median_epochs_to_target": median(epochs),
            "median_seconds_to_target": median(seconds),
            "reached": sum(r["epochs_to_target"] is not None for r in rows),
            "median_total_epochs": median([r["total_epochs"] for r in rows]),
            "median_best": median([r["best"] for r in rows]),
            "median_best_at": {str(b): median([r["best_at"][str(b)] for r in rows]) for b in budgets},
        }
    base = summary["d: random"]
    for s in summary.values():
        s["epochs_ratio_vs_d"] = s["median_epochs_to_target"] / base["median_epochs_to_target"]
        s["seconds_ratio_vs_d"] = s["median_seconds_to_target"] / base["median_seconds_to_target"]

    print(f"\nspace {space.name}, {args.trials} trials per sweep, {args.seeds} seeds, target val_acc {args.target}")
    head = " ".join(f"{'best@' + str(b):>9}" for b in budgets)
    print(f"{'arm':18} {'reached':>7} {'epochs':>7} {'ratio':>6} {'seconds':>8} {'ratio':>6} {'epochs run':>10} {head}")
    for arm, s in summary.items():
        best = " ".join(f"{s['median_best_at'][str(b)]:>9.4f}" for b in budgets)
        print(f"{arm:18} {s['reached']:>4}/{args.seeds:<2} {s['median_epochs_to_target']:>7.0f} "
              f"{s['epochs_ratio_vs_d']:>6.2f} {s['median_seconds_to_target']:>8.1f} {s['seconds_ratio_vs_d']:>6.2f} "
              f"{s['median_total_epochs']:>10.0f} {best}")  # fmt: skip
    print("target: (a) reaches the target with <= 1/3 of (d)'s epochs (ratio <= 0.33); medians over seeds")
    payload = {"space": space.name, "trials": args.trials, "seeds": args.seeds, "target": args.target,
               "budgets": budgets, "summary": summary, "runs": per_arm}  # fmt: skip
    written = write_result("search_efficiency", payload, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
