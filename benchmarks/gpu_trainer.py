"""The trainer on a GPU: fastnet on CIFAR-10-shaped data, and sweep throughput with
fractional GPUs.

1. Training speed: `fastnet` (airbench94's layout) through nagexp's train(), samples/s over
   full epochs (data on the GPU, bf16 autocast, channels_last). Real CIFAR-10 when
   `--cifar10 DIR` is given (then also the time to 94 % test accuracy with an airbench-like
   recipe: Nesterov, onecycle-style LR, augmentation), random tensors of the same shape
   otherwise.
2. Sweep throughput: the same short fastnet trials in `nagexp sweep`, four trials per GPU
   (`--gpus-per-trial 0.25`) against one (`1.0`), in trials per hour.

    python -m benchmarks.gpu_trainer [--cifar10 DIR] [--trials 8] [--epochs 2]

Without CUDA the GPU parts are skipped with one line each, and a short CPU run checks that
the same code path works (its samples/s is a CPU figure, not comparable).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import write_result


def random_cifar(folder: Path, n: int) -> str:
    """CIFAR-10-shaped npz: n uint8 3x32x32 images, 10 classes, plus a 10 % test split."""
    rng = np.random.default_rng(0)
    path = folder / "random-cifar.npz"
    x = rng.integers(0, 256, (n + n // 10, 3, 32, 32), dtype=np.uint8)  # distinct test images: no leak
    y = np.arange(len(x)) % 10
    np.savez(path, x=x[:n], y=y[:n], x_test=x[n:], y_test=y[n:], num_classes=10)
    return f"npz:{path}"


def fastnet_config(dataset: str, device: str, epochs: int, **extra: Any) -> Any:
    from nagexp.config.train import TrainConfig

    # airbench94-like recipe: Nesterov SGD, large batch, short warm-up then decay, flips + crops
    return TrainConfig(dataset=dataset, model="fastnet", device=device, epochs=epochs, batch_size=1024,
                       optimizer="nag", lr=0.2, momentum=0.85, weight_decay=5e-4, lr_schedule="onecycle",
                       onecycle_pct_start=0.23, augment=True, **extra)  # fmt: skip


def train_speed(dataset: str, device: str, epochs: int) -> dict[str, Any]:
    from nagexp.train.data import load_dataset_for
    from nagexp.train.trainer import train

    cfg = fastnet_config(dataset, device, epochs)
    data = load_dataset_for(cfg)
    train(fastnet_config(dataset, device, 1), data)  # warm-up: kernels, allocator, autotuning
    start = time.perf_counter()
    result = train(cfg, data)
    seconds = time.perf_counter() - start
    samples = (len(data.y_train) // cfg.batch_size) * cfg.batch_size * epochs
    return {"device": device, "epochs": epochs, "train_samples": samples, "seconds": round(seconds, 2),
            "samples_per_s": round(samples / seconds, 1), "test_acc": result.test_acc}  # fmt: skip


def time_to_94(dataset: str, max_epochs: int) -> dict[str, Any]:
    """Fewest epochs (of the recipe, run from scratch each time) whose test accuracy is >= 94 %."""
    from nagexp.train.data import load_dataset_for
    from nagexp.train.trainer import train

    data = load_dataset_for(fastnet_config(dataset, "cuda", 1))
    runs = []
    for epochs in range(8, max_epochs + 1, 2):
        start = time.perf_counter()
        result = train(fastnet_config(dataset, "cuda", epochs), data)
        runs.append({"epochs": epochs, "seconds": round(time.perf_counter() - start, 2), "test_acc": result.test_acc})
        print(f"  {epochs} epochs: test acc {result.test_acc:.4f} in {runs[-1]['seconds']} s", flush=True)
        if result.test_acc is not None and result.test_acc >= 0.94:
            return {"reached": True, **runs[-1], "runs": runs}
    return {"reached": False, "runs": runs}


def sweep_throughput(dataset: str, trials: int, epochs: int, gpus_per_trial: float, folder: Path) -> dict:
    import yaml

    from nagexp.sweep import SweepOptions, resolve_sweep
    from nagexp.sweep.runner import run_sweep

    space = folder / "gpu.yaml"
    fixed = fastnet_config(dataset, "cuda", epochs).model_dump(mode="json", exclude={"lr"})
    space.write_text(yaml.safe_dump({"fixed": fixed, "params": {"lr": {"type": "float", "low": 0.05, "high": 0.5}}}))
    options = SweepOptions(space=space, trials=trials, gpus_per_trial=gpus_per_trial, scheduler="fifo", track=False,
                           name=f"gpu-{gpus_per_trial:g}", results_dir=folder / "results")  # fmt: skip
    spec = resolve_sweep(options)
    start = time.perf_counter()
    outcome = run_sweep(spec, emit=lambda _: None)
    wall = time.perf_counter() - start
    return {"gpus_per_trial": gpus_per_trial, "trials": trials, "epochs": epochs, "wall_s": round(wall, 1),
            "trials_per_hour": round(trials / wall * 3600, 1), "completed": outcome.counts["completed"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar10", type=Path, default=None, help="real CIFAR-10 (python batches) folder")
    parser.add_argument("--samples", type=int, default=50_000, help="random CIFAR-shaped samples (no --cifar10)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs for the speed run and each sweep trial")
    parser.add_argument("--trials", type=int, default=8, help="trials per throughput sweep")
    args = parser.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    payload: dict[str, Any] = {"cuda": cuda}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dataset = f"cifar10:{args.cifar10}" if args.cifar10 else random_cifar(folder, args.samples if cuda else 2048)
        payload["data"] = "CIFAR-10" if args.cifar10 else "random CIFAR-10-shaped tensors"
        if not cuda:
            print("CUDA is not available here: GPU measurements skipped; checking the code path on CPU")
            speed = train_speed(dataset, "cpu", 1)
            payload["cpu_check"] = speed
            print(f"CPU check: fastnet, 1 epoch of {speed['train_samples']} samples: "
                  f"{speed['samples_per_s']:.0f} samples/s (a CPU figure)")  # fmt: skip
            print("skipped: time to 94 % (needs CUDA and --cifar10)")
            print("skipped: sweep throughput with fractional GPUs (needs CUDA)")
            print(f"written: {write_result('gpu_trainer', {**payload, 'skipped': True})}")
            return

        payload["gpu"] = torch.cuda.get_device_name(0)
        speed = train_speed(dataset, "cuda", args.epochs)
        payload["speed"] = speed
        print(f"{payload['gpu']}: fastnet on {payload['data']}: {speed['samples_per_s']:.0f} samples/s "
              f"({speed['epochs']} epochs in {speed['seconds']} s)")  # fmt: skip
        if args.cifar10:
            print("time to 94 % test accuracy:")
            payload["time_to_94"] = time_to_94(dataset, max_epochs=20)
        else:
            print("skipped: time to 94 % (needs --cifar10 DIR with the real data)")

        from nagexp.sweep.runner import connect_ray

        connect_ray(None)
        rows = [sweep_throughput(dataset, args.trials, args.epochs, g, folder) for g in (1.0, 0.25)]
        payload["sweep"] = rows
        print(f"{'gpus per trial':>14} {'trials':>7} {'wall s':>8} {'trials/hour':>12}")
        for r in rows:
            print(f"{r['gpus_per_trial']:>14g} {r['trials']:>7} {r['wall_s']:>8.1f} {r['trials_per_hour']:>12.0f}")
    print(f"written: {write_result('gpu_trainer', payload)}")


if __name__ == "__main__":
    main()
