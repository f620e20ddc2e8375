"""Helpers shared by the benchmarks: the machine's description, CIFAR-10 JPEG folders cut from
the shared archive, the JSON a result is written to, a Ray runtime (joined or local), and a
summary over seeds."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nagexp.core.provenance import package_versions

RESULTS = Path(__file__).resolve().parent / "results"
# the real CIFAR-10 JPEGs beside the project (absent on a user's clone: those benchmarks need --data)
CIFAR_JPEGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": package_versions(),
    }


def jpeg_folder(data: Path, root: Path) -> Path:
    """The ImageFolder tree (`train/`, `test/`) that `data` is, or that its .tar.gz extracts to under `root`."""
    if data.is_dir():
        return data
    with tarfile.open(data) as tar:
        tar.extractall(root / "full", filter="data")
    return next(p.parent for p in (root / "full").rglob("train") if p.is_dir())


def task_folder(data: Path, train: int, root: Path) -> Path:
    """An image folder of the first `train` / 10 training images of each class (by name) and
    every test image, as links into the extracted JPEG folder."""
    data = jpeg_folder(data, root)
    task = root / "task"
    for split, limit in (("train", train // 10), ("test", None)):
        for class_dir in sorted(p for p in (data / split).iterdir() if p.is_dir()):
            target = task / split / class_dir.name
            target.mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:limit]:
                (target / image.name).symlink_to(image)
    return task


def write_result(name: str, payload: dict[str, Any], out: Path | None = None) -> Path:
    """The payload, stamped with the benchmark, date and machine, as `out` (default:
    benchmarks/results/<name>.json; a quick form writes where its caller says)."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = {"benchmark": name, "date": datetime.date.today().isoformat(), "machine": machine()}
    path.write_text(json.dumps({**stamp, **payload}, indent=2) + "\n")
    return path


def joined_ray(quick: bool) -> list[str]:
    """For a quick form's `nagexp sweep` subprocesses: `--address` of the Ray runtime this process
    already has (the test suite's shared one), so each joins it in a second or two instead of
    starting its own (8-13 s on 2 cores). Empty for a measurement (`quick` False) or when this
    process has no runtime: then each command starts Ray as a user's command does."""
    ray = sys.modules.get("ray")
    if not quick or ray is None or not ray.is_initialized():
        return []
    return ["--address", ray.get_runtime_context().gcs_address]


@contextlib.contextmanager
def local_ray(**init_args: Any) -> Iterator[bool]:
    """A local Ray runtime for the block, started with `init_args` and shut down after; a runtime
    this process already has is used as it is (a quick form called beside the test suite's
    shared one): yields whether the block started its own."""
    import ray

    if ray.is_initialized():
        yield False
        return
    ray.init(address="local", include_dashboard=False, log_to_driver=False, **init_args)
    try:
        yield True
    finally:
        ray.shutdown()


def seed_summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Mean and sd of the runs' `test_acc` over seeds, and their mean `seconds`."""
    accs = [r["test_acc"] for r in runs]
    return {"mean_test_acc": statistics.mean(accs), "sd_test_acc": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "mean_seconds": statistics.mean(r["seconds"] for r in runs)}  # fmt: skip
