"""Per-trial platform overhead of `nagexp sweep` beside a plain Ray Tune + OptunaSearch script.

Both run the same near-zero-work trials (one epoch of a tiny MLP on 48 4x4 images, through
nagexp's own train()) at 2 concurrent trials on a local Ray runtime started beforehand, in
separate processes of this one run. Overhead per trial = (sweep wall time - summed trial
time / 2) / trials. The plain script keeps Tune's defaults (new actor per trial, Ray's
CSV/JSON/TensorBoard loggers, frequent experiment snapshots, no checkpoints).

    python -m benchmarks.sweep_overhead [--trials 30] [--tracking off|on|both]
Target: nagexp at most 0.25 s per trial on a 2-core machine, with MLflow tracking on too.
The tracked runs log to the default sqlite store (a child run per trial, the best model):
two sweeps in one results dir, the first creating the store (a one-time cost of about
1.6 s: MLflow's schema migrations), the second reusing it, as a user's later sweeps do.
Untracked runs also do two sweeps, so each pair compares like with like (the 2nd sweep
of a process finds Ray's worker processes already started).
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


def run_nagexp(trials: int, folder: Path, track: bool = False, sweeps: int = 1) -> list[dict]:
    """`sweeps` sweeps one after another in one results dir (the MLflow store is created by
    the first and reused by the next, as for a user's second sweep)."""
    # what the plain script imports before its timer starts (Ray Tune, Optuna's searcher,
    # torch and the trainer): both arms time the sweep, not the first import of its libraries
    import ray.tune
    import ray.tune.search.optuna  # noqa: F401
    import yaml

    import nagexp.training.trainer  # noqa: F401
    from nagexp.config.sweep import SweepOptions
    from nagexp.runtime.ray_session import connect_ray
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep

    space = folder / "tiny.yaml"
    lr = {"type": "float", "low": 0.01, "high": 0.5, "log": True}
    space.write_text(yaml.safe_dump({"fixed": tiny_fixed(tiny_dataset(folder)), "params": {"lr": lr}}))
    connect_ray(None, num_cpus=CONCURRENCY)
    out = []
    for i in range(sweeps):
        spec = resolve_sweep(SweepOptions(space=space, trials=trials, max_concurrent=CONCURRENCY, track=track,
                                          name=f"bench-{i}", results_dir=folder / "results"))  # fmt: skip
        start = time.perf_counter()
        outcome = run_sweep(spec, emit=lambda _: None)
        out.append({"wall_s": time.perf_counter() - start, "trial_seconds": [r.seconds for r in outcome.records]})
    return out


def run_plain(trials: int, folder: Path) -> dict:
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from nagexp.config.train import TrainConfig
    from nagexp.data.loading import load_train_data
    from nagexp.training.trainer import train

    fixed = tiny_fixed(tiny_dataset(folder))
    data = load_train_data(TrainConfig(dataset=fixed["dataset"]), None)

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
    return [{"wall_s": wall, "trial_seconds": [float(r.metrics.get("time_total_s", 0.0)) for r in grid]}]


def child(mode: str, trials: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if mode == "plain":
            results = run_plain(trials, Path(folder))
        elif mode == "nagexp":
            results = run_nagexp(trials, Path(folder), sweeps=2)
        else:  # MLflow's default sqlite store in the results dir: created, then reused
            results = run_nagexp(trials, Path(folder), track=True, sweeps=2)
    print("RESULT " + json.dumps(results))


def measure(mode: str, trials: int) -> list[dict]:
    env = dict(os.environ)
    for key in list(env):  # the plain run must see Tune's defaults
        if key.startswith("TUNE_") or key.startswith("RAY_AIR"):
            env.pop(key)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sweep_overhead", "--child", mode, "--trials", str(trials)],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{mode} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rows = []
    for i, result in enumerate(json.loads(line.removeprefix("RESULT "))):
        work = sum(result.pop("trial_seconds")) / CONCURRENCY
        label = LABELS[mode] + {"plain": [""], "nagexp": [", 1st sweep", ", 2nd sweep"],
                                "nagexp-tracked": [", 1st sweep (new store)", ", 2nd sweep"]}[mode][i]  # fmt: skip
        rows.append({**result, "mode": mode, "label": label, "trials": trials, "work_s": work,
                     "overhead_per_trial_s": (result["wall_s"] - work) / trials})  # fmt: skip
    return rows


LABELS = {"plain": "plain Ray Tune + OptunaSearch", "nagexp": "nagexp sweep, no tracking",
          "nagexp-tracked": "nagexp sweep + MLflow"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument(
        "--tracking",
        choices=["off", "on", "both"],
        default="both",
        help="run nagexp without MLflow, with it (default sqlite store), or both",
    )
    parser.add_argument("--child", choices=["nagexp", "nagexp-tracked", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.trials)
        return
    modes = {"off": ["nagexp"], "on": ["nagexp-tracked"], "both": ["nagexp", "nagexp-tracked"]}[args.tracking]
    rows = [row for mode in ["plain", *modes] for row in measure(mode, args.trials)]
    print(f"{'run':44} {'trials':>6} {'wall s':>8} {'trial work s':>13} {'overhead s/trial':>17}")
    for r in rows:
        print(f"{r['label']:44} {r['trials']:>6} {r['wall_s']:>8.1f} {r['work_s']:>13.2f} "
              f"{r['overhead_per_trial_s']:>17.3f}")  # fmt: skip
    print("target: nagexp <= 0.25 s per trial (2 concurrent trials)")
    print(f"written: {write_result('sweep_overhead', {'concurrency': CONCURRENCY, 'rows': rows})}")


if __name__ == "__main__":
    main()
