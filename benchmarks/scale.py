"""A sweep of many near-zero-work trials with MLflow tracking on: does nagexp slow down as a
sweep grows?

Per-trial platform overhead for the first and the last 100 trials (from each trial's end
time as the driver saw it, minus the trials' own work), the driver's peak memory, and the
sizes of the Optuna and MLflow stores afterwards.

    python -m benchmarks.scale [--trials 300] [--out FILE]
    python -m benchmarks.scale --quick --out FILE   # 6 trials (the tests): checks the code
Targets: the last 100 trials cost at most 1.5x the first 100; driver peak memory < 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from benchmarks.common import write_result
from benchmarks.sweep_overhead import CONCURRENCY, tiny_dataset, tiny_fixed


class EndTimes:
    """A trial listener noting when each trial ended (driver clock) and its own work."""

    def __init__(self) -> None:
        self.ends: list[tuple[float, float]] = []

    def on_trial_start(self, rec: object) -> None: ...
    def on_trial_epoch(self, rec: object, metrics: dict) -> None: ...

    def on_trial_end(self, rec: object) -> None:
        self.ends.append((time.perf_counter(), float(getattr(rec, "seconds", 0.0))))


def per_trial_overhead(window: list[tuple[float, float]], start: float) -> float:
    """(time spanned by the window - its trials' work / concurrency) / trials in it."""
    span = window[-1][0] - start
    work = sum(w for _, w in window) / CONCURRENCY
    return (span - work) / len(window)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="6 trials (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials = 6

    import yaml

    from nagexp.config.sweep import SweepOptions
    from nagexp.runtime.ray_session import connect_ray
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        space = folder / "tiny.yaml"
        lr = {"type": "float", "low": 0.01, "high": 0.5, "log": True}
        space.write_text(yaml.safe_dump({"fixed": tiny_fixed(tiny_dataset(folder)), "params": {"lr": lr}}))
        connect_ray(None, num_cpus=CONCURRENCY)
        spec = resolve_sweep(SweepOptions(space=space, trials=args.trials, max_concurrent=CONCURRENCY, name="scale",
                                          results_dir=folder / "results"))  # fmt: skip
        ends = EndTimes()
        started = time.perf_counter()
        run_sweep(spec, emit=lambda _: None, listeners=[ends])
        wall = time.perf_counter() - started
        ends.ends.sort()
        n = min(100, len(ends.ends) // 3)
        first = per_trial_overhead(ends.ends[:n], started)
        last = per_trial_overhead(ends.ends[-n:], ends.ends[-n - 1][0])
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sizes = {name: (folder / "results" / rel).stat().st_size / 1e6
                 for name, rel in (("optuna.db", "scale/optuna.db"), ("mlflow.db", "mlflow.db"))}  # fmt: skip
    row = {"trials": args.trials, "wall_s": wall, "first_100_s_per_trial": first, "last_100_s_per_trial": last,
           "ratio_last_first": last / first, "driver_peak_mb": peak_mb, "store_mb": sizes}  # fmt: skip
    print(f"{'trials':>6} {'wall s':>7} {'first 100 s/trial':>18} {'last 100 s/trial':>17} {'ratio':>6} "
          f"{'driver peak MB':>15} {'optuna.db MB':>13} {'mlflow.db MB':>13}")  # fmt: skip
    print(f"{args.trials:>6} {wall:>7.1f} {first:>18.3f} {last:>17.3f} {last / first:>6.2f} {peak_mb:>15.0f} "
          f"{sizes['optuna.db']:>13.2f} {sizes['mlflow.db']:>13.2f}")  # fmt: skip
    print("targets: ratio <= 1.5, driver peak < 2048 MB")
    written = write_result("scale", row, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
