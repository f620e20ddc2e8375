"""Per-trial platform overhead of `nagexp sweep` beside plain Ray Tune + OptunaSearch scripts.

All arms run the same near-zero-work trials (one epoch of a tiny MLP on 48 4x4 images, through
nagexp's own train(), its data prepared into a data cache as `nagexp sweep` prepares it) at 2
concurrent trials on a local Ray runtime started beforehand, each arm in its own process of this
one run. Overhead per trial = (sweep wall time - summed trial time / 2) / trials. Two plain
scripts:

    plain        Tune's defaults: a new actor per trial, Ray's CSV/JSON/TensorBoard loggers,
                 experiment snapshots as often as Tune likes, no checkpoints
    plain-tuned  what Ray's docs advise for many short trials, and what nagexp sets: reused
                 actors (`reuse_actors=True`), no auto loggers (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1),
                 experiment snapshots every 10 s (TUNE_GLOBAL_CHECKPOINT_S=10)

    python -m benchmarks.sweep_overhead [--trials 30] [--tracking off|on|both] [--out FILE]
    python -m benchmarks.sweep_overhead --quick --out FILE   # 1 trial, one sweep a nagexp arm,
        the arms in this process on the Ray runtime it has (the test suite's): checks the code, measures nothing
Target: nagexp at most 0.25 s per trial on a 2-core machine, with MLflow tracking on too.
The tracked runs log to the default sqlite store (a child run per trial, the best model):
two sweeps in one results dir, the first creating the store (a one-time cost of about
1.6 s: MLflow's schema migrations), the second reusing it, as a user's later sweeps do.
Untracked runs also do two sweeps, so each pair compares like with like (the 2nd sweep
of a process finds Ray's worker processes already started).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


# what the tuned plain script sets before its Tuner runs (Ray's advice for many short trials)
TUNED_ENV = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_GLOBAL_CHECKPOINT_S": "10"}


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block, the variables as before afterwards."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_plain(trials: int, folder: Path, tuned: bool = False) -> list[dict]:
    """The script a Ray Tune user writes: the data loaded once (into a data cache, as nagexp's
    sweep prepares it under its results dir) and passed to every trial with tune.with_parameters."""
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from benchmarks.common import local_ray
    from nagexp.config.train import TrainConfig
    from nagexp.data.loading import load_train_data
    from nagexp.training.trainer import train

    fixed = tiny_fixed(tiny_dataset(folder))
    data = load_train_data(TrainConfig(dataset=fixed["dataset"]), folder / "data-cache", say=lambda _: None)

    def trainable(config: dict, data: object) -> None:
        cfg = TrainConfig(**fixed, lr=config["lr"])
        train(cfg, data, report=lambda metrics, checkpoint: tune.report(metrics))

    with local_ray(num_cpus=CONCURRENCY), environment(TUNED_ENV if tuned else {}):
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
                reuse_actors=tuned,
            ),
            run_config=tune.RunConfig(storage_path=str(folder / "ray"), verbose=0),
        )
        grid = tuner.fit()
        wall = time.perf_counter() - start
    return [{"wall_s": wall, "trial_seconds": [float(r.metrics.get("time_total_s", 0.0)) for r in grid]}]


def run_mode(mode: str, trials: int, sweeps: int = 2) -> list[dict]:
    """One arm in this process, in a fresh temporary folder: its sweeps' wall and trial seconds."""
    with tempfile.TemporaryDirectory() as folder:
        if mode in ("plain", "plain-tuned"):
            return run_plain(trials, Path(folder), tuned=mode == "plain-tuned")
        # tracked: MLflow's default sqlite store in the results dir, created, then reused
        return run_nagexp(trials, Path(folder), track=mode == "nagexp-tracked", sweeps=sweeps)


def in_child(mode: str, trials: int) -> list[dict]:
    """One arm in a fresh process (its own Ray runtime), as a user's script runs."""
    env = dict(os.environ)
    for key in list(env):  # the plain runs must see Tune's defaults (the tuned one sets its own)
        if key.startswith("TUNE_") or key.startswith("RAY_AIR"):
            env.pop(key)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sweep_overhead", "--child", mode, "--trials", str(trials)],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{mode} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(line.removeprefix("RESULT "))


LABELS = {"plain": "plain Ray Tune + OptunaSearch, defaults", "plain-tuned": "plain Ray Tune + OptunaSearch, tuned",
          "nagexp": "nagexp sweep, no tracking", "nagexp-tracked": "nagexp sweep + MLflow"}  # fmt: skip
SWEEP_LABELS = {"nagexp": [", 1st sweep", ", 2nd sweep"], "nagexp-tracked": [", 1st sweep (new store)", ", 2nd sweep"]}


def rows_of(mode: str, trials: int, results: list[dict]) -> list[dict]:
    """The table's rows of one arm: each sweep's wall time, trial work and overhead per trial."""
    rows = []
    for i, result in enumerate(results):
        work = sum(result.pop("trial_seconds")) / CONCURRENCY
        label = LABELS[mode] + SWEEP_LABELS.get(mode, [""])[i]
        rows.append({**result, "mode": mode, "label": label, "trials": trials, "work_s": work,
                     "overhead_per_trial_s": (result["wall_s"] - work) / trials})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument(
        "--tracking",
        choices=["off", "on", "both"],
        default="both",
        help="run nagexp without MLflow, with it (default sqlite store), or both",
    )
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true",
                        help="1 trial, one sweep a nagexp arm, every arm in this process (the tests)")  # fmt: skip
    parser.add_argument("--child", choices=list(LABELS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(run_mode(args.child, args.trials)))
        return Path()
    trials = 1 if args.quick else args.trials
    run = functools.partial(run_mode, sweeps=1) if args.quick else in_child
    modes = {"off": ["nagexp"], "on": ["nagexp-tracked"], "both": ["nagexp", "nagexp-tracked"]}[args.tracking]
    rows = [row for mode in ["plain", "plain-tuned", *modes] for row in rows_of(mode, trials, run(mode, trials))]
    print(f"{'run':48} {'trials':>6} {'wall s':>8} {'trial work s':>13} {'overhead s/trial':>17}")
    for r in rows:
        print(f"{r['label']:48} {r['trials']:>6} {r['wall_s']:>8.1f} {r['work_s']:>13.2f} "
              f"{r['overhead_per_trial_s']:>17.3f}")  # fmt: skip
    print("target: nagexp <= 0.25 s per trial (2 concurrent trials)")
    written = write_result("sweep_overhead", {"concurrency": CONCURRENCY, "quick": args.quick, "rows": rows}, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
