"""Per-trial platform overhead of `nagexp sweep` beside a plain Ray Tune + OptunaSearch script.

Both run the same near-zero-work trials (one epoch of a tiny MLP on 48 4x4 images, through
nagexp's own train()) at 2 concurrent trials on a local Ray runtime started beforehand, in
separate processes of this one run. Overhead per trial = (sweep wall time - summed trial
time / 2) / trials. The plain script keeps Tune's defaults (new actor per trial, Ray's
CSV/JSON/TensorBoard loggers, frequent experiment snapshots, no checkpoints).

    python -m benchmarks.sweep_overhead [--trials 30]
Target: nagexp at most 0.25 s per trial on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import write_result

CONCURRENCY = 2


def tiny_dataset(folder: Path) -> str:
    rng = np.random.default_rng(0)
    path = folder / "tiny.npz"
    np.savez(path, x=rng.integers(0, 256, (48, 4, 4), dtype=np.uint8), y=np.arange(48) % 2)
    return f"npz:{path}"


def tiny_fixed(dataset: str) -> dict:
    return {"dataset": dataset, "model": "mlp", "width": 0.02, "epochs": 1, "batch_size": 32, "device": "cpu"}


def run_nagexp(trials: int, folder: Path) -> dict:
    import yaml

    from nagexp.sweep import SweepOptions, resolve_sweep
    from nagexp.sweep.runner import connect_ray, run_sweep

    space = folder / "tiny.yaml"
    lr = {"type": "float", "low": 0.01, "high": 0.5, "log": True}
    space.write_text(yaml.safe_dump({"fixed": tiny_fixed(tiny_dataset(folder)), "params": {"lr": lr}}))
    connect_ray(None, num_cpus=CONCURRENCY)
    spec = resolve_sweep(SweepOptions(space=space, trials=trials, max_concurrent=CONCURRENCY,
                                      name="bench", results_dir=folder / "results"))  # fmt: skip
    start = time.perf_counter()
    outcome = run_sweep(spec, emit=lambda _: None)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "trial_seconds": [r.seconds for r in outcome.records]}


def run_plain(trials: int, folder: Path) -> dict:
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from nagexp.config.train import TrainConfig
    from nagexp.train.data import load_dataset
    from nagexp.train.trainer import train

    fixed = tiny_fixed(tiny_dataset(folder))
    data = load_dataset(fixed["dataset"])

    def trainable(config: dict, data: object) -> None:
        cfg = TrainConfig(**fixed, lr=config["lr"])
        train(cfg, data, report=lambda metrics, checkpoint: tune.report(metrics))

    ray.init(num_cpus=CONCURRENCY, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter()
    tuner = tune.Tuner(
        tune.with_parameters(trainable, data=data),
        param_space={"lr": tune.loguniform(0.01, 0.5)},
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(),
            metric="val_acc",
            mode="max",
            num_samples=trials,
            max_concurrent_trials=CONCURRENCY,
        ),
        run_config=tune.RunConfig(storage_path=str(folder / "ray"), verbose=0),
    )
    grid = tuner.fit()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "trial_seconds": [float(r.metrics.get("time_total_s", 0.0)) for r in grid]}


def child(mode: str, trials: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        result = (run_nagexp if mode == "nagexp" else run_plain)(trials, Path(folder))
    print("RESULT " + json.dumps(result))


def measure(mode: str, trials: int) -> dict:
    env = dict(os.environ)
    for key in list(env):  # the plain run must see Tune's defaults
        if key.startswith("TUNE_") or key.startswith("RAY_AIR"):
            env.pop(key)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sweep_overhead", "--child", mode, "--trials", str(trials)],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{mode} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result = json.loads(line.removeprefix("RESULT "))
    work = sum(result["trial_seconds"]) / CONCURRENCY
    result.update(mode=mode, trials=trials, work_s=work, overhead_per_trial_s=(result["wall_s"] - work) / trials)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--child", choices=["nagexp", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.trials)
        return
    rows = [measure("plain", args.trials), measure("nagexp", args.trials)]
    print(f"{'run':28} {'trials':>6} {'wall s':>8} {'trial work s':>13} {'overhead s/trial':>17}")
    for r in rows:
        label = "plain Ray Tune + OptunaSearch" if r["mode"] == "plain" else "nagexp sweep"
        print(
            f"{label:28} {r['trials']:>6} {r['wall_s']:>8.1f} {r['work_s']:>13.2f} {r['overhead_per_trial_s']:>17.3f}"
        )
    print("target: nagexp <= 0.25 s per trial (2 concurrent trials)")
    slim = [{k: v for k, v in r.items() if k != "trial_seconds"} for r in rows]
    print(f"written: {write_result('sweep_overhead', {'concurrency': CONCURRENCY, 'rows': slim})}")


if __name__ == "__main__":
    main()
