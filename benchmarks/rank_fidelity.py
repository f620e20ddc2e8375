"""How well each rung signal ranks schedules that have not finished (issue 36).

Trains `--configs` random configs of a space to the end with no pruning (`--draws` independent
draws of configs), probes every epoch but the last with a cooldown (the trainer's probe, see
training/probe.py) and records, for each rung signal and each candidate rung epoch:

- Kendall's tau of the signal at the rung against the final val accuracy, and against the
  final test accuracy;
- the rank, at the rung, of the config that ends best (1 = first);
- the share of the final top quarter that halving at the rung (keeping the better half by the
  signal) keeps.

Signals: raw (val_acc at the rung), cooldown (val_acc of the cooldown branch), curve (val_acc's
learning curve so far extrapolated to the last epoch).

Tasks:
    --task slice     the CIFAR-10 slice of the issue: `--train` JPEGs (the first of each class),
                     20 % held out, the space of search_quality plus warmup_fraction for
                     warmup_linear, cnn x0.5 (default 16 configs x 2 draws, 8 epochs)
    --task cifar10   search_spaces/cifar10.yaml's recipe and params on `--train` JPEGs, 10 %
                     held out (airbench_side_by_side's 2 % of 2,000 images would rank on 40
                     images), 10 epochs
    --quick          the embedded digits, 3 configs, 3 epochs: seconds, for the test suite

    python -m benchmarks.rank_fidelity --task slice [--data ../shared/data/cifar10-jpeg.tar.gz]
        [--configs 16] [--draws 2] [--epochs 8] [--train 5000] [--cooldown 0.2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import CIFAR_JPEGS, RESULTS, machine

HERE = Path(__file__).resolve().parent
SIGNALS = ("raw", "cooldown", "curve")
SLICE_FIXED = {"model": "cnn", "width": 0.5, "optimizer": "nag", "batch_size": 128, "val_fraction": 0.2,
               "data_mode": "memory"}  # fmt: skip
SLICE_PARAMS = {
    "lr": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
    "momentum": {"type": "float", "low": 0.8, "high": 0.99},
    "weight_decay": {"type": "float", "low": 1.0e-5, "high": 1.0e-2, "log": True},
    "lr_schedule": {"type": "categorical", "choices": ["cosine", "onecycle", "warmup_linear"]},
    "warmup_fraction": {"type": "float", "low": 0.05, "high": 0.3, "when": {"lr_schedule": "warmup_linear"}},
}
CIFAR10_VAL_FRACTION = 0.1  # enough images to rank on at a reduced --train
QUICK_PARAMS = {"lr": {"type": "float", "low": 0.003, "high": 1.0, "log": True},
                "lr_schedule": {"type": "categorical", "choices": ["cosine", "onecycle"]}}  # fmt: skip


def task_space(task: str, dataset: str, epochs: int) -> Any:
    """The space whose configs are drawn: fixed values (data, epochs) and searched params."""
    from nagexp.config.space import parse_space

    if task == "cifar10":
        recipe = yaml.safe_load((HERE.parent / "search_spaces" / "cifar10.yaml").read_text())
        fixed = {**recipe["fixed"], "val_fraction": CIFAR10_VAL_FRACTION, "data_mode": "memory"}
        params = recipe["params"]
    elif task == "slice":
        fixed, params = SLICE_FIXED, SLICE_PARAMS
    else:
        fixed, params = {"model": "cnn", "width": 0.25, "batch_size": 64}, QUICK_PARAMS
    return parse_space({"fixed": {**fixed, "dataset": dataset, "epochs": epochs}, "params": params}, task)


def draw_configs(space: Any, count: int, draw: int) -> list[Any]:
    """`count` random configs of the space (draw `draw`: the sampler's seed), each with its own seed."""
    import optuna

    from nagexp.space.sampling import define_by_run

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=draw))
    fn = define_by_run(space, master_seed=draw)
    configs = []
    for _ in range(count):
        values = fn(study.ask())
        configs.append(space.train_config({k: v for k, v in values.items() if k != "trial_number"}))
    return configs


def train_probed(cfg: Any, data: Any, cooldown: float) -> dict[str, Any]:
    """One config trained to the end, probed after every epoch but the last."""
    from nagexp.training.trainer import train

    probed = cfg.model_copy(update={"probe_epochs": tuple(range(1, cfg.epochs)), "cooldown_fraction": cooldown})
    started = time.perf_counter()
    result = train(probed, data)
    history = [{k: v for k, v in h.items() if isinstance(v, int | float)} for h in result.history]
    return {"config": {k: v for k, v in cfg.model_dump(mode="json").items() if k in ("lr", "momentum",
            "weight_decay", "lr_schedule", "warmup_fraction", "onecycle_pct_start", "seed")},
            "history": history, "test_acc": result.test_acc, "diverged": result.diverged,
            "seconds": time.perf_counter() - started}  # fmt: skip


def signal_at(run: dict[str, Any], signal: str, epoch: int, epochs: int) -> float:
    """A run's signal at `epoch` (1-based), as the sweep's rung signal computes it."""
    from nagexp.results.rung_signals import RungSignal

    history = run["history"][:epoch]
    if len(history) < epoch:  # diverged before: the worst
        return -math.inf
    value = RungSignal(signal, "val_acc", epochs=epochs, rungs=(epoch,), bounds=(0.0, 1.0)).value(history)
    return -math.inf if value is None or not math.isfinite(value) else value


def final_of(run: dict[str, Any], key: str) -> float:
    value = run["test_acc"] if key == "test_acc" else (run["history"][-1].get(key) if run["history"] else None)
    return -math.inf if value is None or run["diverged"] or not math.isfinite(value) else float(value)


def fidelity(runs: list[dict[str, Any]], epochs: int) -> dict[str, dict[str, dict[str, float]]]:
    """signal -> rung epoch -> tau_val, tau_test, best_rank, top_quarter_kept."""
    from scipy.stats import kendalltau

    final_val = [final_of(r, "val_acc") for r in runs]
    final_test = [final_of(r, "test_acc") for r in runs]
    best = max(range(len(runs)), key=lambda i: final_val[i])
    quarter = set(sorted(range(len(runs)), key=lambda i: -final_val[i])[: max(1, len(runs) // 4)])
    table: dict[str, dict[str, dict[str, float]]] = {}
    for signal in SIGNALS:
        table[signal] = {}
        for epoch in range(1, epochs):
            values = [signal_at(r, signal, epoch, epochs) for r in runs]
            order = sorted(range(len(runs)), key=lambda i: -values[i])
            kept = set(order[: math.ceil(len(runs) / 2)])
            table[signal][str(epoch)] = {
                "tau_val": _tau(kendalltau, values, final_val),
                "tau_test": _tau(kendalltau, values, final_test),
                "best_rank": order.index(best) + 1,
                "top_quarter_kept": len(kept & quarter) / len(quarter),
            }
    return table


def _tau(kendalltau: Any, a: list[float], b: list[float]) -> float:
    finite = [(x, y) for x, y in zip(a, b, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if len(finite) < 3:
        return math.nan
    tau = kendalltau([x for x, _ in finite], [y for _, y in finite]).statistic
    return float(tau)


def summary(draws: list[dict[str, Any]], epochs: int) -> dict[str, dict[str, dict[str, float]]]:
    """Each signal and rung over the draws: mean tau (val, test), worst rank of the best, least top-quarter share."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for signal in SIGNALS:
        out[signal] = {}
        for epoch in map(str, range(1, epochs)):
            cells = [d["fidelity"][signal][epoch] for d in draws]
            out[signal][epoch] = {
                "tau_val": statistics.mean(c["tau_val"] for c in cells),
                "tau_test": statistics.mean(c["tau_test"] for c in cells),
                "worst_best_rank": max(c["best_rank"] for c in cells),
                "least_top_quarter_kept": min(c["top_quarter_kept"] for c in cells),
            }
    return out


def print_table(table: dict[str, dict[str, dict[str, float]]], configs: int) -> None:
    print(f"{'signal':9} {'rung':>4} {'tau val':>8} {'tau test':>8} {'best rank':>10} {'top 1/4 kept':>13}")
    for signal, rungs in table.items():
        for epoch, c in rungs.items():
            print(f"{signal:9} {epoch:>4} {c['tau_val']:8.2f} {c['tau_test']:8.2f} "
                  f"{c['worst_best_rank']:>5} of {configs:<3} {c['least_top_quarter_kept']:13.2f}")  # fmt: skip


def _dataset(args: argparse.Namespace, root: Path) -> str:
    if args.quick:
        return "digits"
    from benchmarks.common import task_folder

    return f"imagefolder:{task_folder(args.data.resolve(), args.train, root)}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=("slice", "cifar10"), default="slice")
    parser.add_argument("--data", type=Path, default=CIFAR_JPEGS, help="CIFAR-10 JPEG folder or its .tar.gz")
    parser.add_argument("--train", type=int, default=5000, help="training images (the first of each class)")
    parser.add_argument("--configs", type=int, default=None, help="configs a draw (default: 16 slice, 8 cifar10)")
    parser.add_argument("--draws", type=int, default=None, help="draws of configs (default: 2 slice, 1 cifar10)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs a run (default: 8 slice, 10 cifar10)")
    parser.add_argument("--cooldown", type=float, default=0.2, help="cooldown probe: share of the steps so far")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="digits, 3 configs, 3 epochs, 1 draw (the tests)")
    args = parser.parse_args(argv)
    slice_task = args.task == "slice"
    configs = args.configs or (3 if args.quick else 16 if slice_task else 8)
    draws = args.draws or (1 if args.quick or not slice_task else 2)
    epochs = args.epochs or (3 if args.quick else 8 if slice_task else 10)
    if configs < 3 or draws < 1 or epochs < 2 or not 0 < args.cooldown <= 1:
        parser.error("--configs >= 3, --draws >= 1, --epochs >= 2 and 0 < --cooldown <= 1")
    if not args.quick and not args.data.exists():
        parser.error(f"no CIFAR-10 JPEGs at {args.data}; give --data DIR or its .tar.gz (or --quick)")
    task = "quick" if args.quick else args.task
    out = args.out or RESULTS / f"rank_fidelity-{task}-cpu.json"

    from nagexp.data.loading import load_train_data

    payload: dict[str, Any] = {"benchmark": "rank_fidelity", "task": task, "configs": configs, "epochs": epochs,
                               "cooldown": args.cooldown, "train_images": None if args.quick else args.train,
                               "machine": machine(), "draws": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        space = task_space(task, _dataset(args, Path(tmp)), epochs)
        data = load_train_data(space.train_config({}), Path(tmp) / "cache", say=lambda _line: None)
        for draw in range(draws):
            runs = []
            for i, cfg in enumerate(draw_configs(space, configs, draw)):
                runs.append(train_probed(cfg, data, args.cooldown))
                last = runs[-1]["history"][-1] if runs[-1]["history"] else {}
                print(f"draw {draw} config {i + 1}/{configs}: final val_acc {last.get('val_acc', math.nan):.4f} "
                      f"({runs[-1]['seconds']:.0f} s)", flush=True)  # fmt: skip
            payload["draws"].append({"draw": draw, "runs": runs, "fidelity": fidelity(runs, epochs)})
            payload["summary"] = summary(payload["draws"], epochs)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(payload, indent=1, default=float) + "\n")  # after every draw
    print_table(payload["summary"], configs)
    print(f"written: {out}")
    return payload


if __name__ == "__main__":
    main()
