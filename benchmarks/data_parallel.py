"""Data-parallel trials: what a Ray Train run costs to start, and its per-epoch throughput.

Part 1, start-up per trial (digits, `mlp`, 3 epochs, 2 trials, FIFO, no MLflow): the same
sweep with one process per trial (K=1, the default path) and with `--workers-per-trial 2`
(a Ray Train run of 2 gloo workers per trial). Reported: each trial's wall seconds, and the
difference per trial: the fixed cost of starting (and ending) a Ray Train run in a trial.

Part 2, per-epoch throughput (`--dataset`, default the CIFAR-10 JPEG folder given with
`--cifar DIR`, else digits; `cnn` width 0.5, batch 128, `--epochs` epochs, memory mode):
  single      nagexp's single-process trainer, 1 torch thread (a K=1 trial)
  train-K1    the same through Ray Train with 1 worker of 1 CPU (DDP of one process)
  train-K2    Ray Train with 2 workers of 1 CPU each (gloo all-reduce every step)
  single-2t   the single-process trainer with 2 torch threads (the same 2 CPUs as train-K2)
Reported: training samples/s of each epoch as the trainer measures it (the global batch),
the run's wall time and its fixed overhead (wall time minus the epochs' own time).
Target: train-K1 at most 10 % below single.

    python -m benchmarks.data_parallel --cifar /tmp/cifar [--out FILE]
    python -m benchmarks.data_parallel --quick --out FILE   # digits, 1 trial, 1 epoch (the tests)
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import write_result

TINY = {"dataset": "digits", "model": "mlp", "epochs": 3, "batch_size": 64, "device": "cpu"}


def startup_per_trial(root: Path, trials: int = 2) -> dict[str, Any]:
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep

    space = root / "tiny.yaml"
    space.write_text(yaml.safe_dump({"fixed": TINY, "params": {"lr": {"type": "float", "low": 0.01, "high": 0.1}}}))
    seconds: dict[str, list[float]] = {}
    for k in (1, 2):
        options = SweepOptions(space=space, trials=trials, seed=0, scheduler="fifo", max_concurrent=1, track=False,
                               workers_per_trial=k, name=f"tiny-k{k}", results_dir=root)  # fmt: skip
        started = time.perf_counter()
        run_sweep(resolve_sweep(options), emit=lambda _: None)
        wall = time.perf_counter() - started
        with (root / f"tiny-k{k}" / "trials.csv").open() as f:
            seconds[f"K{k}"] = [round(float(r["seconds"]), 2) for r in csv.DictReader(f)]
        print(f"tiny sweep K={k}: trials {seconds[f'K{k}']} s, sweep wall {wall:.1f} s", flush=True)
    mean = {k: sum(v) / len(v) for k, v in seconds.items()}
    return {"trial_seconds": seconds, "ray_train_cost_per_trial_s": round(mean["K2"] - mean["K1"], 2)}


def _epochs(name: str, history: list[dict], wall: float) -> dict[str, Any]:
    rates = [round(h["samples_per_s"], 1) for h in history]
    overhead = wall - sum(h["epoch_seconds"] for h in history)
    row = {"samples_per_s": rates, "val_acc": [round(h["val_acc"], 4) for h in history],
           "wall_s": round(wall, 2), "overhead_s": round(overhead, 2)}  # fmt: skip
    print(f"{name:10s} samples/s per epoch {rates}  wall {wall:.1f} s  overhead {overhead:.1f} s", flush=True)
    return row


def throughput(dataset: str, epochs: int, root: Path) -> dict[str, Any]:
    import torch

    from nagexp.config.resources import WorkerResources
    from nagexp.config.train import TrainConfig
    from nagexp.data.loading import load_train_data
    from nagexp.parallel.train_job import train_data_parallel
    from nagexp.training.trainer import train

    base = TrainConfig(dataset=dataset, model="cnn", width=0.5, epochs=epochs, batch_size=128, device="cpu",
                       data_mode="memory", augment=False)  # fmt: skip
    data = load_train_data(base, root / "cache", say=lambda _: None)
    print(f"data: {data.report.summary()}", flush=True)
    rows: dict[str, Any] = {}
    for name, threads in (("single", 1), ("single-2t", 2)):
        torch.set_num_threads(threads)
        started = time.perf_counter()
        result = train(base.model_copy(update={"num_threads": threads}), data)
        rows[name] = _epochs(name, result.history, time.perf_counter() - started)
    for k in (1, 2):
        cfg = base.model_copy(update={"workers_per_trial": k, "num_threads": 1})
        started = time.perf_counter()
        result = train_data_parallel(cfg, data, WorkerResources(k, cpus=1.0), root / f"train-k{k}", say=lambda _: None)
        rows[f"train-K{k}"] = _epochs(f"train-K{k}", result.history, time.perf_counter() - started)
    last = {name: row["samples_per_s"][-1] for name, row in rows.items()}
    rows["train_K1_over_single_last_epoch"] = round(last["train-K1"] / last["single"], 3)
    rows["train_K2_over_single_last_epoch"] = round(last["train-K2"] / last["single"], 3)
    print(f"last epoch: train-K1 / single = {rows['train_K1_over_single_last_epoch']}, "
          f"train-K2 / single = {rows['train_K2_over_single_last_epoch']}", flush=True)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar", type=Path, default=None, help="the CIFAR-10 JPEG folder (train/, test/)")
    parser.add_argument("--dataset", default=None, help="any dataset spec (default: --cifar, else digits)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--skip-startup", action="store_true", help="part 2 only")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="digits, 1 trial a K, 1 epoch (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.cifar, args.dataset, args.epochs = None, None, 1
    dataset = args.dataset or (f"imagefolder:{args.cifar}" if args.cifar else "digits")

    from nagexp.runtime.ray_session import connect_ray

    connect_ray(None, num_cpus=2)
    payload: dict[str, Any] = {"dataset": dataset, "epochs": args.epochs}
    with tempfile.TemporaryDirectory(prefix="nagexp-dp-bench-") as tmp:
        if not args.skip_startup:
            payload["startup"] = startup_per_trial(Path(tmp), trials=1 if args.quick else 2)
        payload["throughput"] = throughput(dataset, args.epochs, Path(tmp))
    written = write_result("data_parallel", payload, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
