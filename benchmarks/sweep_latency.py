"""End-to-end latency of a tiny sweep, beside the floor any Ray-based tool pays.

Each row is a fresh process, timed from its start to its exit (median of `--repeats`):
1. Ray start-up: `import ray; ray.init(); ray.shutdown()` (local, 2 CPUs, no dashboard).
2. Plain Ray, the same trial: Ray start-up plus one remote task that imports torch and
   nagexp's trainer and trains the trial (a 4-epoch CNN on digits), then shutdown.
3. `nagexp sweep quick.yaml --trials 1 --epochs 4 --no-track`: the CLI's whole job (Optuna,
   Tune, the result files).

    python -m benchmarks.sweep_latency [--repeats 3] [--out FILE]
    python -m benchmarks.sweep_latency --quick --out FILE   # 1 repeat, 1 epoch (the tests): checks the code
Target: row 3 within 1.5x of row 2.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import joined_ray, write_result

# argv[1]: "local" (start Ray, as measured) or the address of a runtime to join (a quick form)
RAY_INIT = """
import sys
import ray
local = sys.argv[1] == "local"
ray.init(address=sys.argv[1], log_to_driver=False, **({"num_cpus": 2, "include_dashboard": False} if local else {}))
"""
RAY_ONLY = RAY_INIT + """
ray.shutdown()
"""
PLAIN_RAY_TRIAL = RAY_INIT + """

@ray.remote(num_cpus=1)
def trial(epochs):
    from nagexp.config.train import TrainConfig
    from nagexp.data.loading import load_train_data
    from nagexp.training.trainer import train

    cfg = TrainConfig(dataset="digits", model="cnn", width=0.5, epochs=epochs, batch_size=64, num_threads=1,
                      device="cpu")
    return train(cfg, load_train_data(cfg, None)).final["val_acc"]

ray.get(trial.remote(int(sys.argv[2])))
ray.shutdown()
"""


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="1 repeat, a 1-epoch trial (the tests)")
    args = parser.parse_args(argv)
    repeats, epochs = (1, "1") if args.quick else (args.repeats, "4")
    nagexp = [sys.executable, "-m", "nagexp", "sweep", "quick.yaml", "--trials", "1", "--epochs", epochs, "--no-track"]
    rows: dict[str, list[float]] = {"ray start-up": [], "plain Ray, same trial": [], "nagexp sweep, 1 trial": []}
    joined = joined_ray(args.quick)  # a quick form's rows join the runtime it was called beside
    address = joined[-1] if joined else "local"
    with tempfile.TemporaryDirectory() as folder:
        for i in range(repeats):  # interleaved, so load on the machine hits every row alike
            rows["ray start-up"].append(timed([sys.executable, "-c", RAY_ONLY, address]))
            rows["plain Ray, same trial"].append(timed([sys.executable, "-c", PLAIN_RAY_TRIAL, address, epochs]))
            results = Path(folder) / f"r{i}"
            rows["nagexp sweep, 1 trial"].append(timed([*nagexp, "--results-dir", str(results), *joined]))
    medians = {k: statistics.median(v) for k, v in rows.items()}
    floor = medians["plain Ray, same trial"]
    print(f"{'run':28} {'median s':>9} {'runs':>24} {'x floor':>8}")
    for name, values in rows.items():
        runs = " ".join(f"{v:.1f}" for v in values)
        print(f"{name:28} {medians[name]:>9.2f} {runs:>24} {medians[name] / floor:>8.2f}")
    print("target: nagexp sweep <= 1.5 x plain Ray running the same trial")
    payload = {"repeats": repeats, "epochs": int(epochs), "runs_s": rows, "median_s": medians,
               "ratio_to_floor": medians["nagexp sweep, 1 trial"] / floor}  # fmt: skip
    written = write_result("sweep_latency", payload, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
