"""The trainer and sweeps on a GPU: time to accuracy of `fastnet` on real CIFAR-10, and sweep
throughput with fractional GPUs. `benchmarks/gpu_check.sh` runs it on the lent GPU machine.

1. Sweeps: the same 16 short trials (TPE over lr, 2 epochs each, seed 0) at
   `--gpus-per-trial 1`, `0.5` and `0.25`: trials per hour and the GPU's utilization
   (sampled with nvidia-smi every 0.5 s while each sweep runs).
2. Time to accuracy: `fastnet` (airbench94's layout) through nagexp's train() with the best
   lr of the 0.25 sweep, 10 epochs under a one-cycle schedule sized for 10 epochs, test
   accuracy after every epoch. After one warm-up run, each of `--seeds` runs is timed with
   CUDA events around every epoch's training (evaluation excluded, as airbench times
   itself); reported: training seconds until test accuracy first reaches 90 / 92 / 93 %,
   the best test accuracy within 10 epochs, samples/s and peak GPU memory, median over seeds.

    python -m benchmarks.gpu_trainer [--data DIR] [--seeds 3] [--trials 16] [--out FILE]
    python -m benchmarks.gpu_trainer --quick [--data DIR] --out FILE   # 1 seed, 2 trials a sweep on the
        first 2,000 training images (no target is reached); without CUDA the CPU check on 256 images (the tests)

DIR is an ImageFolder tree (`train/<class>/*.jpg`, `test/<class>/*.jpg`) or its .tar.gz
(default: ../shared/data/cifar10-jpeg.tar.gz where it exists); it is decoded once (in parallel)
into an npz beside the results, which every run then reads. Without CUDA, or on a GPU without
the JPEGs, the GPU parts are skipped with one line each, after a short CPU check of the same
code path (so `make bench` passes on any clone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CIFAR_JPEGS, jpeg_folder, task_folder, write_result

TARGETS = (0.90, 0.92, 0.93)
QUICK_TRAIN_IMAGES = 2000  # --quick on a GPU: the sweeps and runs check the path; no target is reached
CACHE = Path(tempfile.gettempdir()) / "nagexp-gpu-bench-cache"  # datasets read from files, prepared once


def prepare(data_dir: Path, folder: Path, train: int | None = None) -> tuple[str, float]:
    """Decode the image folder (or its .tar.gz) once into an npz (same arrays as `imagefolder:`),
    its first `train` training images only when given; (spec, seconds)."""
    from nagexp.data.imagefolder import read_imagefolder
    from nagexp.registries.datasets import parse_dataset_spec

    start = time.perf_counter()
    tree = jpeg_folder(data_dir, folder) if train is None else task_folder(data_dir, train, folder)
    raw = read_imagefolder(parse_dataset_spec(f"imagefolder:{tree}"), 32)
    path = folder / "cifar10.npz"
    np.savez(path, x=raw.x_train, y=raw.y_train, x_test=raw.x_test, y_test=raw.y_test, num_classes=raw.num_classes)
    return f"npz:{path}", time.perf_counter() - start


def recipe(dataset: str, device: str, epochs: int, **values: Any) -> Any:
    from nagexp.config.train import TrainConfig

    # airbench94-like: Nesterov SGD, batch 1024, one-cycle LR, flips + crops, eval in large batches
    base = {"dataset": dataset, "model": "fastnet", "device": device, "epochs": epochs, "batch_size": 1024,
            "optimizer": "nag", "lr": 0.4, "momentum": 0.85, "weight_decay": 5e-4, "lr_schedule": "onecycle",
            "onecycle_pct_start": 0.23, "augment": True, "val_fraction": 0.02, "eval_batch_size": 2000}  # fmt: skip
    return TrainConfig(**{**base, **values})


def timed_run(cfg: Any, data: Any) -> dict[str, Any]:
    """One training run; per epoch: training seconds (CUDA events) and test accuracy."""
    import torch

    from nagexp.registries.models import build_model
    from nagexp.training.trainer import train

    events: list[tuple[Any, Any]] = []
    tests: list[float] = []
    probe = build_model(cfg.model, data.input_shape, data.num_classes, **cfg.model_arguments()).cuda().eval()
    probe = probe.to(memory_format=torch.channels_last)
    x_test, y_test = data.x_test.cuda(), data.y_test.cuda()

    # the trainer reports after each epoch; an event pair brackets each epoch's training
    start = torch.cuda.Event(enable_timing=True)
    start.record()

    def report(metrics: dict, checkpoint: Any) -> None:
        end = torch.cuda.Event(enable_timing=True)
        end.record()
        events.append((start_of[0], end))
        probe.load_state_dict(checkpoint.state()["model"])
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            correct = sum(int((probe(x_test[i : i + 2000].contiguous(memory_format=torch.channels_last)).argmax(1)
                               == y_test[i : i + 2000]).sum()) for i in range(0, len(y_test), 2000))  # fmt: skip
        tests.append(correct / len(y_test))
        nxt = torch.cuda.Event(enable_timing=True)
        nxt.record()  # the next epoch's training starts after this evaluation
        start_of[0] = nxt

    start_of = [start]
    torch.cuda.reset_peak_memory_stats()
    result = train(cfg, data, report)
    torch.cuda.synchronize()
    # each epoch's span also holds the trainer's own validation pass (2 % of the data)
    seconds = [s.elapsed_time(e) / 1000 for s, e in events]
    samples = (len(data.y_train) // cfg.batch_size) * cfg.batch_size
    peak = round(torch.cuda.max_memory_allocated() / 2**20)
    return {"epoch_seconds": [round(s, 3) for s in seconds], "test_acc": [round(a, 4) for a in tests],
            "samples_per_s": round(samples / statistics.median(seconds), 0), "peak_gpu_mib": peak,
            "final_test_acc": result.test_acc}  # fmt: skip


def time_to(run: dict[str, Any], target: float) -> float | None:
    total = 0.0
    for seconds, acc in zip(run["epoch_seconds"], run["test_acc"], strict=True):
        total += seconds
        if acc >= target:
            return round(total, 2)
    return None


def time_to_accuracy(dataset: str, params: dict[str, Any], seeds: int) -> dict[str, Any]:
    from nagexp.data.loading import load_train_data

    data = load_train_data(recipe(dataset, "cuda", 10), CACHE).to("cuda")
    timed_run(recipe(dataset, "cuda", 2, **params), data)  # warm-up: kernels, cuDNN autotuning, allocator
    runs = []
    for seed in range(seeds):
        run = timed_run(recipe(dataset, "cuda", 10, **params, seed=seed), data)
        runs.append(run)
        print(f"  seed {seed}: test acc by epoch {run['test_acc']}, {sum(run['epoch_seconds']):.2f} s training, "
              f"{run['samples_per_s']:.0f} samples/s, {run['peak_gpu_mib']} MiB", flush=True)  # fmt: skip
    summary: dict[str, Any] = {"params": params, "seeds": seeds, "runs": runs}
    for target in TARGETS:
        times = [time_to(r, target) for r in runs]
        reached = [t for t in times if t is not None]
        summary[f"seconds_to_{round(target * 100)}"] = statistics.median(reached) if len(reached) == len(runs) else None
        summary[f"reached_{round(target * 100)}"] = f"{len(reached)}/{len(runs)}"
    summary["best_test_acc_10_epochs"] = statistics.median(max(r["test_acc"]) for r in runs)
    summary["samples_per_s"] = statistics.median(r["samples_per_s"] for r in runs)
    summary["peak_gpu_mib"] = max(r["peak_gpu_mib"] for r in runs)
    return summary


def sync_probe() -> list[str]:
    """Where the training loop makes the host wait for the GPU: the first synchronizing calls
    of an epoch, each as the nagexp line that made it (torch's sync debug mode, as errors)."""
    import traceback

    import torch

    from nagexp.config.train import TrainConfig
    from nagexp.data.loading import load_train_data
    from nagexp.training.trainer import train

    cfg = TrainConfig(dataset="digits", model="cnn", width=0.5, epochs=1, batch_size=16, device="cuda")
    data = load_train_data(cfg, CACHE).to("cuda")
    train(cfg, data)  # warm-up
    seen: list[str] = []
    torch.cuda.set_sync_debug_mode("error")
    try:
        train(cfg, data)
    except RuntimeError:
        frames = [f for f in traceback.extract_tb(sys.exc_info()[2]) if "nagexp" in f.filename]
        seen = [f"{Path(f.filename).name}:{f.lineno} {f.line}" for f in frames[-3:]]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    print("first sync in an epoch:", seen or "none", flush=True)
    return seen


def _gpu_sampler(log: Path) -> subprocess.Popen | None:
    try:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 "-lms", "500"]
        return subprocess.Popen(query, stdout=log.open("w"), stderr=subprocess.DEVNULL)
    except OSError:
        return None


LR_ONLY = {"lr": {"type": "float", "low": 0.05, "high": 5.0, "log": True}}
RECIPE_SPACE = {  # the schedule-and-regularization search a user would run for 10-epoch training
    "lr": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
    "momentum": {"type": "float", "low": 0.8, "high": 0.95},
    "weight_decay": {"type": "float", "low": 1e-5, "high": 5e-3, "log": True},
}


def sweep_throughput(dataset: str, trials: int, gpus_per_trial: float, folder: Path, epochs: int = 2,
                     params: dict | None = None) -> dict[str, Any]:  # fmt: skip
    import yaml

    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep

    params = params or LR_ONLY
    name = f"gpu-{gpus_per_trial:g}-{epochs}ep"
    space = folder / f"{name}.yaml"
    fixed = recipe(dataset, "cuda", epochs).model_dump(mode="json", exclude=set(params))
    space.write_text(yaml.safe_dump({"fixed": fixed, "params": params}))
    options = SweepOptions(space=space, trials=trials, gpus_per_trial=gpus_per_trial, scheduler="fifo", track=False,
                           name=name, results_dir=folder / "results", seed=0)  # fmt: skip
    spec = resolve_sweep(options)
    log = folder / f"{name}.csv"
    sampler = _gpu_sampler(log)
    start = time.perf_counter()
    outcome = run_sweep(spec, emit=lambda _: None, command="benchmarks.gpu_trainer")
    wall = time.perf_counter() - start
    if sampler is not None:
        sampler.terminate()
        sampler.wait()
    util = [float(line.split(",")[0]) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    best = outcome.best
    return {"gpus_per_trial": gpus_per_trial, "trials": trials, "epochs": epochs, "wall_s": round(wall, 1),
            "trials_per_hour": round(trials / wall * 3600), "completed": outcome.counts["completed"],
            "gpu_util_mean": round(statistics.fmean(util), 1) if util else None,
            "best_params": best.params if best else None, "best_val_acc": best.final if best else None}  # fmt: skip


def cpu_check(folder: Path, quick: bool) -> dict[str, Any]:
    """Without CUDA: the recipe's code path (fastnet, 1 epoch) on random CIFAR-shaped images, on the CPU."""
    from nagexp.data.loading import load_train_data
    from nagexp.training.trainer import train

    train_n, test_n = (256, 64) if quick else (2000, 200)
    x = np.random.default_rng(0).integers(0, 256, (train_n + test_n, 3, 32, 32), dtype=np.uint8)
    np.savez(folder / "r.npz", x=x[:train_n], y=np.arange(train_n) % 10, x_test=x[train_n:],
             y_test=np.arange(test_n) % 10)  # fmt: skip
    cfg = recipe(f"npz:{folder / 'r.npz'}", "cpu", 1, **({"batch_size": 128} if quick else {}))
    result = train(cfg, load_train_data(cfg, CACHE, say=lambda _: None))
    samples_per_s = result.final["samples_per_s"]
    print(f"CPU check: fastnet, 1 epoch on {train_n} images: {samples_per_s:.0f} samples/s (a CPU figure)")
    return {"model": cfg.model, "train_images": train_n, "epochs": 1, "samples_per_s": samples_per_s}


def gpu_parts_need(cuda: bool, data: Path | None) -> str | None:
    """What the GPU measurements lack here (they are skipped, not failed), or None."""
    if not cuda:
        return "CUDA"
    return None if data is not None else "the CIFAR-10 JPEGs: --data DIR"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="ImageFolder tree with train/ and test/ (CIFAR-10 JPEGs), "
                        "or its .tar.gz (default: ../shared/data/cifar10-jpeg.tar.gz where it exists)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 trials a sweep; a CPU: 256 images (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.trials = 1, 2

    import torch

    payload: dict[str, Any] = {"quick": args.quick, "cuda": torch.cuda.is_available()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.data is not None and not args.data.exists():
            parser.error(f"no CIFAR-10 JPEGs at {args.data}: give an ImageFolder tree or its .tar.gz")
        data = args.data or (CIFAR_JPEGS if CIFAR_JPEGS.exists() else None)
        need = gpu_parts_need(torch.cuda.is_available(), data)
        if need:
            print(f"GPU measurements skipped (they need {need}); checking the code path on CPU")
            payload["cpu_check"] = cpu_check(folder, args.quick)
            print(f"skipped: time to accuracy on CIFAR-10 (needs {need})")
            print(f"skipped: sweep throughput with fractional GPUs (needs {need})")
            written = write_result("gpu_trainer", {**payload, "skipped": True}, args.out)
            print(f"written: {written}")
            return written
        payload["gpu"] = torch.cuda.get_device_name(0)
        dataset, prep_s = prepare(data, folder, train=QUICK_TRAIN_IMAGES if args.quick else None)
        payload["prepare_s"] = round(prep_s, 1)
        print(f"{payload['gpu']}: CIFAR-10 decoded in {prep_s:.1f} s", flush=True)

        from nagexp.runtime.ray_session import connect_ray

        connect_ray(None)
        rows = []
        for gpus in (1.0, 0.5, 0.25):
            rows.append(sweep_throughput(dataset, args.trials, gpus, folder))
            print(json.dumps(rows[-1]), flush=True)
        payload["sweeps"] = rows
        # the product's own job: search lr, momentum and weight decay for 10-epoch training
        tuned = sweep_throughput(dataset, args.trials, 0.25, folder, epochs=10, params=RECIPE_SPACE)
        print(json.dumps(tuned), flush=True)
        payload["recipe_sweep"] = tuned
        import ray

        ray.shutdown()
        params = tuned["best_params"] or {}
        print(f"time to accuracy ({params} from the 10-epoch sweep, {args.seeds} seeds):", flush=True)
        payload["time_to_accuracy"] = time_to_accuracy(dataset, params, args.seeds)
        payload["sync_probe"] = sync_probe()
    written = write_result("gpu_trainer", payload, args.out)
    tta = payload["time_to_accuracy"]
    print(f"\n{payload['gpu']}  fastnet, CIFAR-10 (JPEG q75), median of {args.seeds} seeds")
    for target in TARGETS:
        key = round(target * 100)
        print(f"  time to {key} %: {tta[f'seconds_to_{key}']} s (reached {tta[f'reached_{key}']})")
    print(f"  best test acc in 10 epochs {tta['best_test_acc_10_epochs']:.4f}, {tta['samples_per_s']:.0f} samples/s, "
          f"peak {tta['peak_gpu_mib']} MiB")  # fmt: skip
    print(f"{'gpus/trial':>10} {'epochs':>6} {'wall s':>7} {'trials/h':>9} {'GPU util %':>10}")
    for r in [*rows, payload["recipe_sweep"]]:
        print(f"{r['gpus_per_trial']:>10g} {r['epochs']:>6} {r['wall_s']:>7.1f} {r['trials_per_hour']:>9} "
              f"{r['gpu_util_mean']!s:>10}")  # fmt: skip
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
