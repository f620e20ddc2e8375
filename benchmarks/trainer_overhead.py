"""nagexp's train() against a minimal hand-written Nesterov loop doing the same work.

Both build the same model from the same seed, run the same number of steps at the same
batch size and thread count with the same per-step cosine LR, and evaluate on the
validation split after every epoch and on the test split at the end. The minimal loop has
none of nagexp's extras (momentum schedule writes, train loss/accuracy accumulation,
divergence guard, metrics, report callback). Runs alternate and the median is taken.

    python -m benchmarks.trainer_overhead [--repeats 5] [--threads 2] [--tracking off|on|both] [--out FILE]
    python -m benchmarks.trainer_overhead --quick --out FILE   # 1 repeat, 1 epoch each, no warm-up (the
        tests): checks the code, measures nothing
Target: nagexp at most 5 % slower (ratio >= 0.95). With `--tracking on` nagexp's run also
logs every epoch's metrics to an MLflow run (sqlite store in a temporary folder), as
`nagexp train` does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import write_result
from nagexp.config import TrainConfig
from nagexp.data.bundle import DataBundle, build_bundle
from nagexp.data.loading import load_train_data
from nagexp.data.sources import RawData
from nagexp.registries.models import build_model
from nagexp.training.schedules import torch_lr_values
from nagexp.training.trainer import train


def minimal_loop(cfg: TrainConfig, data: DataBundle) -> float:
    """The loop a researcher writes by hand: returns wall seconds."""
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes, **cfg.model_arguments())
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay, fused=True)  # fmt: skip
    n, bs = len(data.y_train), cfg.batch_size
    steps = n // bs
    lrs = torch_lr_values(cfg, steps * cfg.epochs)
    gen = torch.Generator().manual_seed(cfg.seed)

    def evaluate(x: torch.Tensor, y: torch.Tensor) -> float:
        model.eval()
        with torch.no_grad():
            correct = sum(
                (model(x[i : i + 1024]).argmax(1) == y[i : i + 1024]).sum().item() for i in range(0, len(y), 1024)
            )
        return correct / len(y)

    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        xs, ys = data.x_train[perm], data.y_train[perm]
        for i in range(steps):
            opt.param_groups[0]["lr"] = lrs[epoch * steps + i]
            loss = F.cross_entropy(model(xs[i * bs : (i + 1) * bs]), ys[i * bs : (i + 1) * bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        evaluate(data.x_val, data.y_val)
    evaluate(data.x_test, data.y_test)
    return time.perf_counter() - start


def nagexp_train(cfg: TrainConfig, data: DataBundle, tracker: Any = None) -> float:
    """train() with nothing listening, or logging each epoch to a fresh MLflow run."""
    log = None
    if tracker is not None:
        from nagexp.tracking.train_tracking import TrainTracking

        log = TrainTracking(tracker, "bench", cfg)  # made before the clock starts, as `nagexp train` does
    start = time.perf_counter()
    train(cfg, data, report=(lambda metrics, checkpoint: log.on_epoch(metrics)) if log else None)
    if log is not None:
        log.flush()  # every epoch's metrics are in the store before the clock stops
    seconds = time.perf_counter() - start
    if log is not None:
        tracker.end_run(log.run_id)
    return seconds


def cifar_shaped(n: int = 5000) -> DataBundle:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8).numpy()
    y = (torch.arange(n) % 10).numpy()
    raw = RawData(x[: n * 4 // 5], y[: n * 4 // 5], x[n * 4 // 5 :], y[n * 4 // 5 :], 10, tuple("0123456789"))
    return build_bundle(raw, "random-cifar-shaped")


def measure(label: str, cfg: TrainConfig, data: DataBundle, repeats: int, tracker: Any = None,
            warm_up: bool = True) -> dict[str, Any]:  # fmt: skip
    samples = (len(data.y_train) // cfg.batch_size) * cfg.batch_size * cfg.epochs
    if warm_up:  # allocator, oneDNN kernels, the store
        nagexp_train(cfg, data, tracker)
        minimal_loop(cfg, data)
    ours, theirs = [], []
    for i in range(repeats):  # alternate which goes first, so drift hits both alike
        if i % 2 == 0:
            ours.append(nagexp_train(cfg, data, tracker))
            theirs.append(minimal_loop(cfg, data))
        else:
            theirs.append(minimal_loop(cfg, data))
            ours.append(nagexp_train(cfg, data, tracker))
    ours_sps, min_sps = samples / statistics.median(ours), samples / statistics.median(theirs)
    return {
        "workload": label,
        "tracking": tracker is not None,
        "model": cfg.model,
        "batch_size": cfg.batch_size,
        "epochs": cfg.epochs,
        "train_samples": samples,
        "nagexp_samples_per_s": round(ours_sps, 1),
        "minimal_samples_per_s": round(min_sps, 1),
        "ratio": round(ours_sps / min_sps, 4),
        "nagexp_seconds": [round(t, 3) for t in ours],
        "minimal_seconds": [round(t, 3) for t in theirs],
    }


def tracker_in(folder: str) -> Any:
    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.tracker import Tracker

    return Tracker(resolve_store(None, Path(folder), "bench"))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tracking", choices=["off", "on", "both"], default="off",
                        help="nagexp's runs without MLflow, logging each epoch to MLflow, or both")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat, no warm-up, 1 epoch a workload, 300 images (the tests)")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats

    base = {"device": "cpu", "num_threads": args.threads, "lr_schedule": "cosine"}
    workloads = [
        ("digits 8x8, cnn, batch 64", TrainConfig(**base, epochs=1 if args.quick else 10, batch_size=64),
         load_train_data(TrainConfig(dataset="digits"), None)),
        ("CIFAR-shaped 32x32, cnn, batch 128", TrainConfig(**base, epochs=1 if args.quick else 2, batch_size=128),
         cifar_shaped(300 if args.quick else 5000)),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        tracker = tracker_in(folder) if args.tracking != "off" else None  # one store, made only when asked for
        trackers = {"off": [None], "on": [tracker], "both": [None, tracker]}[args.tracking]
        rows = [measure(label, cfg, data, repeats, t, warm_up=not args.quick)
                for label, cfg, data in workloads for t in trackers]  # fmt: skip

    print(f"{'workload':38} {'tracking':>8} {'nagexp samples/s':>17} {'minimal samples/s':>18} {'ratio':>7}")
    for r in rows:
        ours, theirs = r["nagexp_samples_per_s"], r["minimal_samples_per_s"]
        tracked = "mlflow" if r["tracking"] else "off"
        print(f"{r['workload']:38} {tracked:>8} {ours:>17.0f} {theirs:>18.0f} {r['ratio']:>7.3f}")
    print("target: ratio >= 0.95 (nagexp at most 5 % slower)")
    written = write_result("trainer_overhead", {"threads": args.threads, "quick": args.quick, "rows": rows}, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
