"""What `--deterministic` costs: the same sweep with and without it, wall time and result.

Deterministic mode asks trials in batches (the next batch only once the last one ended) and
halves at complete rungs (a trial that reaches a rung first waits for its batch): cores idle
while the slowest trial of a batch finishes. Each row is a fresh `nagexp sweep` process, timed
from start to exit (median of `--repeats`, the modes interleaved):

    python -m benchmarks.deterministic_cost [--trials 16] [--repeats 3] [--out FILE]
    python -m benchmarks.deterministic_cost --quick --out FILE   # 2 one-epoch trials, 1 run each (the tests)
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

from benchmarks.common import joined_ray, write_result

MODES = {"default (ASHA as trials arrive)": [], "--deterministic": ["--deterministic"],
         "--deterministic --trials-per-batch 8": ["--deterministic", "--trials-per-batch", "8"]}  # fmt: skip


def sweep(results: Path, trials: int, extra: list[str]) -> tuple[float, int, float]:
    """Seconds, epochs trained over all trials, best value."""
    command = [sys.executable, "-m", "nagexp", "sweep", "quick.yaml", "--trials", str(trials), "--seed", "0",
               "--no-track", "--name", "s", "--results-dir", str(results), *extra]  # fmt: skip
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:  # the command's own last lines say why
        raise SystemExit(f"{' '.join(command[2:])} failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    with (results / "s" / "trials.csv").open() as f:
        trained = sum(int(row["epochs_run"]) for row in csv.DictReader(f))
    return seconds, trained, float(json.loads((results / "s" / "summary.json").read_text())["best_value"])


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="2 trials of 1 epoch, 1 run a mode (the tests)")
    args = parser.parse_args(argv)
    quick = ["--epochs", "1", *joined_ray(quick=True)] if args.quick else []
    if args.quick:
        args.trials, args.repeats = 2, 1
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    epochs: dict[str, list[int]] = {m: [] for m in MODES}
    best: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.repeats):
            for mode, extra in MODES.items():
                took, trained, value = sweep(Path(folder) / f"{i}-{len(extra)}", args.trials, [*extra, *quick])
                seconds[mode].append(took)
                epochs[mode].append(trained)
                best[mode].append(value)
    base = statistics.median(seconds[next(iter(MODES))])
    print(f"{args.trials} trials of quick.yaml ({1 if args.quick else 4} epochs, digits), seed 0, "
          f"{args.repeats} runs each")  # fmt: skip
    print(f"{'mode':38} {'median s':>9} {'x default':>10} {'epochs trained':>15} {'best val_acc':>13}")
    for mode in MODES:
        med = statistics.median(seconds[mode])
        print(f"{mode:38} {med:>9.1f} {med / base:>10.2f} {statistics.median(epochs[mode]):>15.0f} "
              f"{statistics.median(best[mode]):>13.4f}")  # fmt: skip
    payload = {"quick": args.quick, "trials": args.trials, "repeats": args.repeats, "runs_s": seconds,
               "epochs_trained": epochs, "best_val_acc": best}  # fmt: skip
    written = write_result("deterministic_cost", payload, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
