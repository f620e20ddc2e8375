"""nagexp's CIFAR-10 recipe (search_spaces/cifar10.yaml at airbench's values) beside airbench94's
own training code, on the same images, epochs and seeds (issue 26, item 3; item 4 on a GPU).

The task: `--train` training images of the real CIFAR-10 JPEG folder (the first of each class,
by file name) and the real 10,000 test images, decoded once by nagexp. nagexp holds 2 % of the
training images for validation (it always validates); airbench trains on exactly nagexp's
training split, so both see the same images. Each seed trains:

    nagexp    fastnet with cifar10.yaml's fixed recipe (whitened stem, Lookahead, flip+translate
              TTA, warmup_linear) at the centre airbench uses: lr 1.5 (mean loss), momentum 0.85,
              weight decay 1.33e-3, warmup 0.23, label smoothing 0.2, BatchNorm/bias lr x 64
              (their weight decay / 64), `--epochs` epochs, batch 1024
    airbench  legacy/airbench94.py as published (0.99 x `--epochs`: its 10 are 9.9), its loader fed the
              same tensors; on a CPU its CUDA/half calls are replaced by float32 CPU ones

On a GPU each side first runs once untimed (airbench's own 'warmup' run; one epoch of nagexp),
and each run also records its training seconds: airbench's own CUDA-event total, nagexp's sum of
epoch_seconds; the summary says how many runs reached 94 % test accuracy.

`--config FILE` (a sweep's best.yaml, e.g. of `nagexp sweep cifar10.yaml` on the same images)
trains nagexp with that sweep's searched values in place of airbench's: only the params
cifar10.yaml searches are taken from it, the rest stays as above.

airbench's code is read from `--airbench` (the file, or a fetched KellerJordan/cifar10-airbench
git folder) into a temporary module: it is never copied into the project.

    python -m benchmarks.airbench_side_by_side --airbench PATH [--data cifar10-jpeg.tar.gz]
        [--train 10000] [--epochs 10] [--seeds 3] [--config best.yaml] [--only nagexp|airbench] [--out FILE]
    python -m benchmarks.airbench_side_by_side --quick --only nagexp --data tests/data/cifar10-slice --out FILE
        # 1 seed, 1 epoch, 200 images (the tests; airbench's code is not in the project, so
        # `--only nagexp` needs no --airbench): checks the code, measures nothing
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import CIFAR_JPEGS, seed_summary, task_folder, write_result

SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "cifar10.yaml"
AIRBENCH_CENTRE = {"lr": 1.5, "momentum": 0.85, "weight_decay": 1.33e-3, "warmup_fraction": 0.23,
                   "label_smoothing": 0.2, "norm_bias_lr_scale": 64.0,
                   "norm_bias_weight_decay_scale": 1 / 64}  # fmt: skip
VAL_FRACTION = 0.02

# float32 on the CPU in place of airbench's half precision CUDA calls (on a GPU nothing is replaced)
CPU_PATCHES = {
    "import torchvision\nimport torchvision.transforms as T\n": "T = _T\n",
    "map_location=torch.device(gpu)": "map_location='cpu'",
    "self.images.half()": "self.images.float()",
    "net = net.half().cuda()": "net = net.float()",
    "torch.cuda.Event(enable_timing=True)": "_Event()",
    "torch.cuda.synchronize()": "None",
}
CPU_PRELUDE = '''
import time as _time
import torch as _torch
class _Event:
    def record(self): self.t = _time.perf_counter()
    def elapsed_time(self, other): return 1e3 * (other.t - self.t)
class _T:
    class Normalize:
        def __init__(self, mean, std): self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)
        def __call__(self, x): return (x - self.mean.to(x)) / self.std.to(x)
'''


def airbench_source(where: Path) -> str:
    if where.is_file():
        return where.read_text()
    git_dir = next((p for p in (where / "repo", where, where / ".git") if (p / "HEAD").exists()), None)
    if git_dir is None:
        raise SystemExit(f"--airbench {where}: neither airbench94.py nor a cifar10-airbench git folder")
    return subprocess.run(["git", "--git-dir", str(git_dir), "show", "HEAD:legacy/airbench94.py"],
                          check=True, capture_output=True, text=True).stdout  # fmt: skip


def airbench_module(source: str, cuda: bool, epochs: int) -> types.ModuleType:
    if not cuda:
        for old, new in CPU_PATCHES.items():
            if old not in source:
                raise SystemExit(f"airbench94.py changed: '{old}' not found; update CPU_PATCHES")
            source = source.replace(old, new)
        source = CPU_PRELUDE + source
    module = types.ModuleType("airbench94_side_by_side")
    exec(compile(source, "airbench94.py", "exec"), module.__dict__)
    module.hyp["opt"]["train_epochs"] = round(epochs * 0.99, 2)  # its '10 epochs' are 9.9
    return module


def write_airbench_data(bundle: Any, folder: Path) -> None:
    """nagexp's training split and test set, un-normalized to 0..255 NHWC, as airbench's loader reads."""
    import torch

    mean, std = torch.tensor(bundle.mean).view(1, -1, 1, 1), torch.tensor(bundle.std).view(1, -1, 1, 1)
    folder.mkdir(parents=True, exist_ok=True)
    for name, x, y in (("train", bundle.x_train, bundle.y_train), ("test", bundle.x_test, bundle.y_test)):
        pixels = ((x * std + mean) * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        torch.save({"images": pixels, "labels": y.long(), "classes": list(bundle.class_names)}, folder / f"{name}.pt")


def run_airbench(module: types.ModuleType, data_root: Path, seed: int | str) -> tuple[float, float, float | None]:
    """(tta test acc, wall seconds, airbench's own timed seconds: its CUDA-event total, on a GPU)."""
    import torch

    timed: list[float] = []
    printed = module.print_training_details

    def keep_total(variables: dict[str, Any], is_final_entry: bool) -> None:
        if is_final_entry and isinstance(variables.get("total_time_seconds"), float):
            timed.append(variables["total_time_seconds"])
        printed(variables, is_final_entry)

    module.print_training_details = keep_total
    torch.manual_seed(seed if isinstance(seed, int) else 0)
    here = Path.cwd()
    os.chdir(data_root)  # its loader reads ./cifar10/{train,test}.pt
    try:
        started = time.perf_counter()
        acc = module.main(seed)
        return float(acc), time.perf_counter() - started, (timed[-1] if timed and torch.cuda.is_available() else None)
    finally:
        os.chdir(here)
        module.print_training_details = printed


@functools.cache
def recipe_space() -> dict[str, Any]:
    """cifar10.yaml, read once: its `fixed` recipe and the `params` it searches."""
    return yaml.safe_load(SPACE.read_text())


def searched_values(config: Path | None) -> dict[str, Any]:
    """airbench's values, or those a sweep chose (the params cifar10.yaml searches, from its best.yaml)."""
    if config is None:
        return dict(AIRBENCH_CENTRE)
    searched = recipe_space()["params"]
    chosen = yaml.safe_load(config.read_text()) or {}
    missing = sorted(set(searched) - set(chosen))
    if missing:
        raise SystemExit(f"--config {config}: no value for {', '.join(missing)}; "
                         "give the best.yaml of a cifar10.yaml sweep")
    return {**AIRBENCH_CENTRE, **{name: chosen[name] for name in searched}}


def nagexp_config(dataset: str, epochs: int, seed: int, values: dict[str, Any]) -> Any:
    from nagexp.config import TrainConfig

    fixed = recipe_space()["fixed"]
    return TrainConfig(**{**fixed, **values, "epochs": epochs, "dataset": dataset, "seed": seed,
                          "val_fraction": VAL_FRACTION, "data_mode": "memory"})  # fmt: skip


def run_nagexp(data: Any, config: Any) -> tuple[float, float, float]:
    """(test acc, wall seconds, training seconds: the epochs' own, without decoding or the test pass)."""
    from nagexp.training.trainer import train

    started = time.perf_counter()
    result = train(config, data)
    return float(result.test_acc), time.perf_counter() - started, sum(h["epoch_seconds"] for h in result.history)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--airbench", type=Path, default=None,
                        help="legacy/airbench94.py, or a fetched KellerJordan/cifar10-airbench git folder "
                             "(needed unless --only nagexp)")  # fmt: skip
    parser.add_argument("--data", type=Path, default=CIFAR_JPEGS, help="CIFAR-10 JPEG folder or its .tar.gz")
    parser.add_argument("--train", type=int, default=10000, help="training images (2 %% of them validate nagexp)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--config", type=Path, default=None,
                        help="a cifar10.yaml sweep's best.yaml: train nagexp with its searched values")  # fmt: skip
    parser.add_argument("--only", choices=("nagexp", "airbench"), default=None, help="run one side only")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, 200 images (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.train = 1, 1, 200
    if not args.data.exists():
        parser.error(f"no CIFAR-10 JPEGs at {args.data}; give --data DIR or its .tar.gz")
    if args.airbench is None and args.only != "nagexp":
        parser.error("--airbench PATH is needed to train airbench94's side (or --only nagexp)")

    import torch

    from nagexp.data.loading import load_train_data

    values = searched_values(args.config)
    cuda = torch.cuda.is_available()
    sides = [s for s in ("nagexp", "airbench") if args.only in (None, s)]
    module = airbench_module(airbench_source(args.airbench), cuda, args.epochs) if "airbench" in sides else None
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = f"imagefolder:{root / 'task'}"
        task_folder(args.data.resolve(), args.train, root)
        data = load_train_data(nagexp_config(dataset, args.epochs, 0, values), root / "data-cache", say=lambda _: None)
        if module is not None:
            write_airbench_data(data, root / "airbench" / "cifar10")
        if cuda:  # kernels chosen and compiled before any timed run, as airbench94 does ('warmup')
            if module is not None:
                run_airbench(module, root / "airbench", "warmup")
            if "nagexp" in sides:
                run_nagexp(data, nagexp_config(dataset, 1, 0, values))
        for seed in range(args.seeds):
            for side in sides:
                if side == "nagexp":
                    acc, seconds, timed = run_nagexp(data, nagexp_config(dataset, args.epochs, seed, values))
                else:
                    acc, seconds, timed = run_airbench(module, root / "airbench", seed)
                runs[side].append({"seed": seed, "test_acc": acc, "seconds": round(seconds, 2),
                                   "train_seconds": None if timed is None else round(timed, 2)})  # fmt: skip
                print(f"seed {seed} {side:8} test acc {acc:.4f} ({seconds:.1f} s"
                      + ("" if timed is None else f", {timed:.2f} s training") + ")", flush=True)  # fmt: skip
    summary = {s: seed_summary(rs) for s, rs in runs.items()}
    print(f"\nCIFAR-10 JPEG, {data.x_train.shape[0]} training images, real test set, {args.epochs} epochs, "
          f"{args.seeds} seeds, {'cuda' if cuda else 'cpu'}")  # fmt: skip
    for side, s in summary.items():
        timed = [r["train_seconds"] for r in runs[side] if r["train_seconds"] is not None]
        if timed:
            s["mean_train_seconds"] = round(sum(timed) / len(timed), 2)
            s["reached_94"] = f"{sum(r['test_acc'] >= 0.94 for r in runs[side])}/{len(runs[side])}"
        print(f"{side:8} test acc {s['mean_test_acc']:.4f} (sd {s['sd_test_acc']:.4f}), "
              f"{s['mean_seconds']:.1f} s a run" + (f", {s['mean_train_seconds']:.2f} s training, "
              f"94 % reached {s['reached_94']}" if timed else ""))  # fmt: skip
    payload = {"train_images": int(data.x_train.shape[0]), "epochs": args.epochs, "seeds": args.seeds,
               "nagexp_config": values, "config_from": str(args.config) if args.config else "airbench's values",
               "summary": summary, "runs": runs}  # fmt: skip
    name = "airbench_side_by_side" + ("_searched" if args.config else "")
    written = write_result(name, payload, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
