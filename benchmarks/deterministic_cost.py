"""What `--deterministic` costs: the same sweep with and without it, wall time and result.

Deterministic mode asks trials in batches (the next batch only once the last one ended) and
halves at complete rungs (a trial that reaches a rung first waits for its batch): cores idle
while the slowest trial of a batch finishes. Each row is a fresh `nagexp sweep` process, timed
from start to exit (median of `--repeats`, the modes interleaved):

    python -m benchmarks.deterministic_cost [--trials 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import write_result

MODES = {"default (ASHA as trials arrive)": [], "--deterministic": ["--deterministic"],
         "--deterministic --trials-per-batch 8": ["--deterministic", "--trials-per-batch", "8"]}  # fmt: skip


def sweep(results: Path, trials: int, extra: list[str]) -> tuple[float, int, float]:
    """Seconds, epochs trained over all trials, best value."""
    command = [sys.executable, "-m", "nagexp", "sweep", "quick.yaml", "--trials", str(trials), "--seed", "0",
               "--no-track", "--name", "s", "--results-dir", str(results), *extra]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    with (results / "s" / "trials.csv").open() as f:
        trained = sum(int(row["epochs_run"]) for row in csv.DictReader(f))
    return seconds, trained, float(json.loads((results / "s" / "summary.json").read_text())["best_value"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    epochs: dict[str, list[int]] = {m: [] for m in MODES}
    best: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.repeats):
            for mode, extra in MODES.items():
                took, trained, value = sweep(Path(folder) / f"{i}-{len(extra)}", args.trials, extra)
                seconds[mode].append(took)
                epochs[mode].append(trained)
                best[mode].append(value)
    base = statistics.median(seconds[next(iter(MODES))])
    print(f"{args.trials} trials of quick.yaml (4 epochs, digits), seed 0, {args.repeats} runs each")
    print(f"{'mode':38} {'median s':>9} {'x default':>10} {'epochs trained':>15} {'best val_acc':>13}")
    for mode in MODES:
        med = statistics.median(seconds[mode])
        print(f"{mode:38} {med:>9.1f} {med / base:>10.2f} {statistics.median(epochs[mode]):>15.0f} "
              f"{statistics.median(best[mode]):>13.4f}")  # fmt: skip
    payload = {"trials": args.trials, "repeats": args.repeats, "runs_s": seconds, "epochs_trained": epochs,
               "best_val_acc": best}  # fmt: skip
    print(f"written: {write_result('deterministic_cost', payload)}")


if __name__ == "__main__":
    main()
