"""A shipped recipe space trained at chosen values on the real CIFAR-10 JPEG task, over several
seeds: what a space reaches, as README reports it (issue 26, item 2).

The task is airbench_side_by_side's: `--train` training images of the real CIFAR-10 JPEG folder
(the first of each class, by file name), 2 % of them held for validation, and the real 10,000
test images, decoded once. Each seed trains the space's `fixed` recipe with `--values` for the
params it searches, for `--epochs` (default: the space's own, ASHA's max_t).

`--values FILE`: a YAML mapping of the space's params (a sweep's best.yaml works; other keys are
ignored). Every param that is active under those values (its `when` holds) must be given.
benchmarks/recipes/ keeps the values README's figures were measured with.

    python -m benchmarks.recipe_retrain SPACE --values FILE [--data cifar10-jpeg.tar.gz]
        [--train 10000] [--epochs N] [--seeds 3] [--out FILE]
    python -m benchmarks.recipe_retrain SPACE --values FILE --quick --data tests/data/cifar10-slice --out FILE
        # 1 seed, 1 epoch, 200 images (the tests): checks the code, measures nothing
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.airbench_side_by_side import VAL_FRACTION
from benchmarks.common import CIFAR_JPEGS, seed_summary, task_folder, write_result


def chosen_values(space: Any, values: dict[str, Any], source: str) -> dict[str, Any]:
    """The values of the params `space` searches that are active under `values`, parents first."""
    from nagexp.space.sampling import active_params

    missing: list[str] = []

    def given(name: str, _param: Any) -> Any:
        if name not in values:
            missing.append(name)
        return values.get(name)

    chosen = active_params(space, given)
    if missing:
        raise SystemExit(f"--values {source}: no value for {', '.join(missing)}; give every param the space "
                         "searches (a sweep's best.yaml has them)")  # fmt: skip
    return chosen


def recipe_config(space: Any, values: dict[str, Any], dataset: str, epochs: int | None, seed: int) -> Any:
    from nagexp.config.train import TrainConfig

    overrides = {"dataset": dataset, "seed": seed, "val_fraction": VAL_FRACTION, "data_mode": "memory"}
    if epochs is not None:
        overrides["epochs"] = epochs
    return TrainConfig(**{**space.fixed, **values, **overrides})


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("space", type=Path, help="a search-space YAML file, e.g. search_spaces/cifar10_resnet.yaml")
    parser.add_argument("--values", type=Path, required=True, help="YAML mapping of the searched params' values")
    parser.add_argument("--data", type=Path, default=CIFAR_JPEGS, help="CIFAR-10 JPEG folder or its .tar.gz")
    parser.add_argument("--train", type=int, default=10000, help="training images (2 %% of them validate)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the space's fixed epochs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, 200 images (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.train = 1, 1, 200
    if not args.data.exists():
        parser.error(f"no CIFAR-10 JPEGs at {args.data}; give --data DIR or its .tar.gz")
    if not args.space.is_file() or not args.values.is_file():
        parser.error(f"no such file: {args.space if not args.space.is_file() else args.values}")
    if args.seeds < 1 or args.train < 10:
        parser.error("--seeds must be at least 1 and --train at least 10")

    from nagexp.config.space import load_space
    from nagexp.core.errors import ConfigError
    from nagexp.data.loading import load_train_data
    from nagexp.training.trainer import train

    try:
        space = load_space(args.space)
    except ConfigError as err:
        parser.error(str(err))
    values = chosen_values(space, yaml.safe_load(args.values.read_text()) or {}, str(args.values))
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = f"imagefolder:{root / 'task'}"
        task_folder(args.data.resolve(), args.train, root)
        first = recipe_config(space, values, dataset, args.epochs, 0)
        data = load_train_data(first, root / "cache", say=lambda _: None)
        for seed in range(args.seeds):
            config = recipe_config(space, values, dataset, args.epochs, seed)
            started = time.perf_counter()
            result = train(config, data)
            seconds = time.perf_counter() - started
            runs.append({"seed": seed, "test_acc": float(result.test_acc), "seconds": round(seconds, 1)})
            print(f"seed {seed} test acc {result.test_acc:.4f} ({seconds:.0f} s)", flush=True)
            summary = seed_summary(runs)
            # written after every seed: a stopped run keeps the seeds it finished
            path = write_result(f"recipe_retrain-{args.space.stem}", {
                "space": args.space.name, "values": values, "train_images": int(data.x_train.shape[0]),
                "epochs": config.epochs, "seeds": len(runs), "summary": summary, "runs": runs}, args.out)  # fmt: skip
    print(f"\nCIFAR-10 JPEG, {args.space.name}, {data.x_train.shape[0]} training images, real test set, "
          f"{config.epochs} epochs, {len(runs)} seeds: test acc {summary['mean_test_acc']:.4f} "
          f"(sd {summary['sd_test_acc']:.4f}), {summary['mean_seconds']:.0f} s a run")  # fmt: skip
    print(f"written: {path}")
    return path


if __name__ == "__main__":
    main()
