"""Data larger than memory: memory stays flat in stream mode as data grows, and streaming is
fast enough on real data.

Part 1, flat memory (`--sizes 1 4`): a synthetic uint8 dataset (3 x 32 x 32, no duplicates)
of `--base-samples` x size samples is written as an .npz, prepared into shards, then swept in
stream mode (`--memory-budget 64MB`, Ray's object store capped at 256 MB) with 2 trials of
1 epoch of a small MLP. Reported: the peak of the machine's used memory (MemTotal -
MemAvailable: driver, trial workers, Ray Data tasks and the object store together, the page
cache of the shards not included) during the sweep, above the level before it.
A small sweep runs first, unreported, so the driver's one-time imports count in no size.
Target: the 4x peak within 20 % of the 1x peak, and under a quarter of the 4x dataset.

Part 2, real CIFAR-10 (`--cifar DIR`, the JPEG folder): prepare time on first use and on
reuse; a plain one-core `PIL.Image.open` loop over the same files; and two epochs of the
`cnn` (width 0.5, batch 64, 1 torch thread) in stream mode, then in memory mode, from the
same shards (samples/s per epoch as the trainer reports it; stream mode's first epoch
includes starting Ray Data's workers). Target: stream at least 0.8x memory.

Part 3, larger than RAM (`--larger-than-ram GB`, GB = 10^9 bytes of uint8 pixels; checks the
free disk first and deletes the shards after): a `python:` dataset generated chunk by chunk
(benchmarks/big_source.py) is prepared in a child process, then swept for one epoch of one
trial in stream mode; reported: times and the peak used memory of each step. Target: under
4 GB with more pixels than this machine's 24 GiB of RAM.

`--cifar DIR --device cuda --batch-size 512 --ray-cpus N --no-pil` measures part 2 on a GPU
(benchmarks/gpu_check.sh with STREAM=1).

    python -m benchmarks.streaming --sizes 1 4 --cifar /tmp/cifar
    python -m benchmarks.streaming --sizes --larger-than-ram 26 --result streaming-larger-than-ram
    python -m benchmarks.streaming --quick [--cifar DIR] --out FILE   # 256 and 512 samples, no warm-up
        sweep, on the Ray runtime this process has, if any (the tests): checks the code, measures nothing
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import local_ray, write_result

BASE_SAMPLES = 87_500  # x4 = 350,000 images = 1.07 GB of uint8 pixels
MAKE_AND_PREPARE = """
import sys
from pathlib import Path
import numpy as np
from nagexp.data.prepared.prepare import prepare
n, source, cache = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
rng = np.random.default_rng(n)
np.savez(source, x=rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), y=rng.integers(0, 10, n))
prepare(f"npz:{source}", 32, cache, say=lambda _: None)
"""


def used_memory() -> int:
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":")
            info[key] = int(value.split()[0]) * 1024
    return info["MemTotal"] - info["MemAvailable"]


class PeakMemory:
    """The highest used memory seen while the block runs, sampled every 50 ms."""

    def __enter__(self) -> PeakMemory:
        self.base = self.peak = used_memory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, used_memory())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def above_base(self) -> int:
        return self.peak - self.base


def stream_sweep(work: Path, name: str, dataset: str, cache: Path, trials: int,
                 batch_size: int) -> tuple[Any, float, PeakMemory]:  # fmt: skip
    """A 1-epoch stream-mode sweep of a small MLP (FIFO, 64 MB budget): (result, seconds, peak)."""
    import nagexp

    space = work / f"{name}.yaml"
    space.write_text(
        f"fixed: {{model: mlp, width: 0.25, batch_size: {batch_size}, epochs: 1, eval_batch_size: {4 * batch_size}}}\n"
        "params: {lr: {type: float, low: 0.01, high: 0.1, log: true}}\n"
    )
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        result = nagexp.sweep(space, dataset=dataset, trials=trials, seed=0, name=name, results_dir=work,
                              cache_dir=cache, data_mode="stream", memory_budget="64MB", scheduler="fifo",
                              track=False, echo=None)  # fmt: skip
        seconds = time.perf_counter() - t0
    return result, seconds, peak


def flat_memory(size: float, work: Path, base_samples: int = BASE_SAMPLES) -> dict[str, Any]:
    n = int(base_samples * size)
    source = work / f"synthetic-{size}x.npz"
    cache = work / "cache"
    # made and prepared in a child process: memory its allocator keeps is not the sweep's
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", MAKE_AND_PREPARE, str(n), str(source), str(cache)], check=True)
    prepare_s = time.perf_counter() - t0
    dataset_bytes = n * 3 * 32 * 32
    result, sweep_s, peak = stream_sweep(work, f"stream-{size}x", f"npz:{source}", cache, trials=2, batch_size=256)
    source.unlink()
    shutil.rmtree(cache)
    return {"size": size, "samples": n, "dataset_mb": round(dataset_bytes / 2**20, 1),
            "make_and_prepare_s": round(prepare_s, 1), "sweep_s": round(sweep_s, 1),
            "peak_above_base_mb": round(peak.above_base / 2**20, 1), "counts": result.counts}  # fmt: skip


PREPARE_PYTHON = """
import sys
from pathlib import Path
from nagexp.config.train import TrainConfig
from nagexp.data.loading import load_train_data
load_train_data(TrainConfig(dataset=sys.argv[1], data_mode="stream"), Path(sys.argv[2]), say=print)
"""


def larger_than_ram(gigabytes: float, work: Path) -> dict[str, Any]:
    """`gigabytes` (10^9 bytes) of uint8 pixels made chunk by chunk by a `python:` dataset,
    prepared into shards (in a child process), then one 1-epoch stream-mode trial over them;
    the peak used memory of each step above the level before it."""
    n = int(gigabytes * 1e9 / (3 * 32 * 32))
    spec = f"python:benchmarks.big_source:random_images?n={n}"
    cache = work / "big-cache"
    with PeakMemory() as prepare_peak:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", PREPARE_PYTHON, spec, str(cache)], check=True)
        prepare_s = time.perf_counter() - t0
    shard_bytes = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
    result, sweep_s, sweep_peak = stream_sweep(work, "larger-than-ram", spec, cache, trials=1, batch_size=512)
    row = result.trials.iloc[0]
    shutil.rmtree(cache)
    return {"samples": n, "pixels_gb": round(n * 3072 / 1e9, 2), "shards_on_disk_gb": round(shard_bytes / 1e9, 2),
            "prepare_s": round(prepare_s, 1), "prepare_peak_above_base_mb": round(prepare_peak.above_base / 2**20, 1),
            "sweep_s": round(sweep_s, 1), "sweep_peak_above_base_mb": round(sweep_peak.above_base / 2**20, 1),
            "state": row["state"], "final_val_acc": float(row["final_val_acc"])}  # fmt: skip


def pil_loop(folder: Path) -> float:
    from PIL import Image

    files = sorted(p for p in folder.rglob("*.jpg"))
    t0 = time.perf_counter()
    for f in files:
        with Image.open(f) as img:
            np.asarray(img.convert("RGB"))
    return time.perf_counter() - t0


def cifar(folder: Path, work: Path, device: str = "cpu", batch_size: int = 64, pil: bool = True,
          epochs: int = 2) -> dict[str, Any]:
    import torch

    from nagexp.config.train import TrainConfig
    from nagexp.data.loading import load_train_data
    from nagexp.training.trainer import train

    spec = f"imagefolder:{folder}"
    cache = work / "cifar-cache"
    out: dict[str, Any] = {"device": device, "batch_size": batch_size}
    if pil:
        out["pil_one_core_s"] = round(pil_loop(folder), 1)
    for use in ("first_use", "reuse"):
        t0 = time.perf_counter()
        load_train_data(TrainConfig(dataset=spec, data_mode="stream"), cache, say=lambda _: None)
        out[f"prepare_{use}_s"] = round(time.perf_counter() - t0, 2)
    threads = 1 if device == "cpu" else None  # on 2 cores: one for torch, one for Ray Data
    if threads:
        torch.set_num_threads(threads)
    for mode in ("stream", "memory"):
        cfg = TrainConfig(dataset=spec, data_mode=mode, model="cnn", width=0.5, batch_size=batch_size, epochs=epochs,
                          device=device, num_threads=threads)  # fmt: skip
        data = load_train_data(cfg, cache, say=lambda _: None)
        result = train(cfg, data)
        out[f"{mode}_samples_per_s"] = [round(h["samples_per_s"], 1) for h in result.history]
        out[f"{mode}_val_acc"] = [round(h["val_acc"], 4) for h in result.history]
    for epoch in range(epochs):  # the first epoch of the first stream run includes Ray Data's worker start
        ratio = out["stream_samples_per_s"][epoch] / out["memory_samples_per_s"][epoch]
        out[f"stream_over_memory_epoch{epoch + 1}"] = round(ratio, 3)
    shutil.rmtree(cache)
    return out


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--base-samples", type=int, default=BASE_SAMPLES, help="samples at size 1")
    parser.add_argument("--cifar", type=Path, default=None, help="the CIFAR-10 JPEG folder (train/, test/)")
    parser.add_argument("--device", default="cpu", help="CIFAR part: the trainer's device (cpu, cuda)")
    parser.add_argument("--batch-size", type=int, default=64, help="CIFAR part: batch size")
    parser.add_argument("--ray-cpus", type=int, default=2, help="CPUs Ray may use")
    parser.add_argument("--epochs", type=int, default=2, help="CIFAR part: epochs per mode")
    parser.add_argument("--larger-than-ram", type=float, default=None, metavar="GB",
                        help="also prepare and sweep GB of generated pixels (needs that much free disk)")  # fmt: skip
    parser.add_argument("--result", default="streaming", help="name of the result file in benchmarks/results/")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/RESULT.json)")
    parser.add_argument("--no-pil", action="store_true", help="CIFAR part: skip the one-core PIL loop")
    parser.add_argument("--quick", action="store_true", help="sizes 1 2 of 256 samples, no warm-up sweep (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.base_samples, args.larger_than_ram = [1, 2], 256, None

    payload: dict[str, Any] = {"quick": args.quick, "flat_memory": [], "cifar": None}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.cifar:  # first, on a fresh Ray with its default object store
            with local_ray(num_cpus=args.ray_cpus):
                payload["cifar"] = cifar(args.cifar, work, args.device, args.batch_size, pil=not args.no_pil,
                                         epochs=args.epochs)  # fmt: skip
            print(payload["cifar"], flush=True)
        with local_ray(num_cpus=args.ray_cpus, object_store_memory=256 * 2**20):
            flat_and_larger(args, work, payload)
    written = write_result(args.result, payload, args.out)
    print(f"written: {written}")
    return written


def flat_and_larger(args: argparse.Namespace, work: Path, payload: dict[str, Any]) -> None:
    """Parts 1 and 3 into `payload`, on the Ray runtime the caller started."""
    warm_up = not args.quick  # a small sweep first: the driver's one-time imports are not a size's peak
    if args.sizes and warm_up:
        flat_memory(0.02, work, args.base_samples)
    for size in args.sizes:
        row = flat_memory(size, work, args.base_samples)
        payload["flat_memory"].append(row)
        print(json.dumps(row), flush=True)
    if args.larger_than_ram:
        free = shutil.disk_usage(work).free
        if free < args.larger_than_ram * 1e9 * 1.1:
            sys.exit(f"--larger-than-ram {args.larger_than_ram:g}: {free / 1e9:.0f} GB free in {work}, too little")
        if not args.sizes:  # the driver's one-time imports are not the run's peak
            flat_memory(0.02, work, args.base_samples)
        payload["larger_than_ram"] = larger_than_ram(args.larger_than_ram, work)
        print(payload["larger_than_ram"], flush=True)
    if len(payload["flat_memory"]) >= 2:
        first, last = payload["flat_memory"][0], payload["flat_memory"][-1]
        payload["peak_ratio"] = round(last["peak_above_base_mb"] / max(first["peak_above_base_mb"], 1e-9), 3)
        payload["peak_over_dataset"] = round(last["peak_above_base_mb"] / last["dataset_mb"], 3)
        print(f"peak {last['size']}x / {first['size']}x = {payload['peak_ratio']}, "
              f"peak / dataset at {last['size']}x = {payload['peak_over_dataset']}", flush=True)  # fmt: skip

if __name__ == "__main__":
    main()
