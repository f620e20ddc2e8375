"""Encoded shards against pixel shards, on an image folder of larger images.

CIFAR-10's 32 px JPEGs keep pixels (3x their files' bytes, under the 4x rule), so the
folder is first made larger: `--limit` training images (and a tenth as many test images) of
`--data` upscaled to `--size` px, saved as JPEG quality 90. It is then prepared twice, with
shards of pixels (the rule switched off) and with the files (the rule as shipped), and each
is read for `--epochs` epochs in stream mode by the trainer (`cnn`, width 0.5) on `--device`.
Reported: the cache's bytes on disk, the prepare time, and samples/s per epoch (Ray Data's
tasks decode the files of the rows they read, on the CPUs Ray has).

    python -m benchmarks.encoded_shards --data /tmp/cifar [--size 128] [--limit 10000] [--device cpu] [--out FILE]
    python -m benchmarks.encoded_shards --quick --data DIR --out FILE   # 100 images at 64 px, 1 epoch, on
        the Ray runtime this process has, if any (the tests): checks the code, measures nothing
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import local_ray, write_result


def _upscale(job: tuple[list[tuple[str, str]], int]) -> None:
    from PIL import Image

    pairs, size = job
    for source, target in pairs:
        with Image.open(source) as img:
            img.convert("RGB").resize((size, size), Image.BICUBIC).save(target, quality=90)


def larger_folder(data: Path, out: Path, size: int, limit: int) -> Path:
    """`limit` training and `limit // 10` test images of `data`, upscaled (class balance kept)."""
    pairs = []
    for part, count in (("train", limit), ("test", max(10, limit // 10))):
        classes = sorted(d.name for d in (data / part).iterdir() if d.is_dir())
        for name in classes:
            (out / part / name).mkdir(parents=True)
            for f in sorted((data / part / name).iterdir())[: count // len(classes)]:
                pairs.append((str(f), str(out / part / name / f.name)))
    jobs = [(pairs[i : i + 500], size) for i in range(0, len(pairs), 500)]
    if len(jobs) == 1:  # one chunk (a quick form): no worker processes forked from this one
        _upscale(jobs[0])
        return out
    with ProcessPoolExecutor() as pool:
        list(pool.map(_upscale, jobs))
    return out


def measure(folder: Path, size: int, cache: Path, encoded: bool, device: str, epochs: int) -> dict[str, Any]:
    from nagexp.config.train import TrainConfig
    from nagexp.data.loading import load_train_data
    from nagexp.data.prepared import prepare as prepare_module
    from nagexp.training.trainer import train

    spec = f"imagefolder:{folder}"
    cfg = TrainConfig(dataset=spec, data_mode="stream", model="cnn", width=0.5, batch_size=256, epochs=epochs,
                      image_size=size, device=device)  # fmt: skip
    shipped = prepare_module.ENCODED_RATIO
    prepare_module.ENCODED_RATIO = shipped if encoded else float("inf")
    try:
        t0 = time.perf_counter()
        data = load_train_data(cfg, cache, say=lambda _: None)
        prepare_s = time.perf_counter() - t0
    finally:  # the rule as shipped again, for whatever runs next in this process
        prepare_module.ENCODED_RATIO = shipped
    prepared = next(cache.iterdir())
    result = train(cfg, data)
    return {"encoding": "files" if encoded else "pixels", "prepare_s": round(prepare_s, 1),
            "cache_mb": round(sum(f.stat().st_size for f in prepared.rglob("*") if f.is_file()) / 2**20, 1),
            "samples_per_s": [round(h["samples_per_s"]) for h in result.history]}  # fmt: skip


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="an ImageFolder tree with train/ and test/")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=10_000, help="training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--result", default="encoded_shards")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/RESULT.json)")
    parser.add_argument("--quick", action="store_true", help="100 images at 64 px, 1 epoch (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.limit, args.epochs = 64, 100, 1
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: no such folder (an ImageFolder tree with train/ and test/)")

    with local_ray(num_cpus=args.ray_cpus), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        folder = larger_folder(args.data, work / f"images-{args.size}", args.size, args.limit)
        files = list(folder.rglob("*.jpg"))
        payload: dict[str, Any] = {"quick": args.quick, "size": args.size, "images": len(files), "device": args.device,
                                   "folder_mb": round(sum(f.stat().st_size for f in files) / 2**20, 1),
                                   "make_folder_s": round(time.perf_counter() - t0, 1), "runs": []}  # fmt: skip
        for encoded in (False, True):
            row = measure(folder, args.size, work / f"cache-{encoded}", encoded, args.device, args.epochs)
            payload["runs"].append(row)
            print(row, flush=True)
    written = write_result(args.result, payload, args.out)
    print(f"written: {written}")
    return written

if __name__ == "__main__":
    main()
