"""nagexp's search against the Ray Tune + Optuna script a user would write instead, on real
CIFAR-10 JPEGs (issue 26).

The task: `--train` training images of the real CIFAR-10 JPEG folder (the first of each class,
by file name), 20 % of them held for validation, the real 10,000 test images; the `cnn` model
at half width; at most `--epochs` epochs a trial; `--trials` trials a sweep, two at once; the
same space (lr, momentum, weight decay, LR schedule) and the same trainer in every arm:

    (a) nagexp's default search: TPE + ASHA through `run_sweep` (what `nagexp sweep` runs)
    (b) the hand-wired script: Ray Tune `Tuner` + `OptunaSearch` (TPE) + `ASHAScheduler`, as
        Ray's and Optuna's docs show, calling the same `train()`; nothing of nagexp's searcher
        or runner
    (c) random search + ASHA through nagexp
    (d) no search: TrainConfig's defaults, one run of `--epochs` epochs

For each sweep seed: every reported epoch's val_acc in the order reported (the anytime curve
against epochs spent and against seconds), the epochs until a trial first reaches the target
(by default 0.98 x the median of the search arms' final bests), and the test accuracy of the
arm's chosen config retrained on `--retrain-seeds` fresh seeds. A performance profile in the
style of AlgoPerf: for tau, the share of seeds on which an arm reached the target within tau
x the epochs of the arm that reached it first on that seed.

    python -m benchmarks.search_quality [--data ../shared/data/cifar10-jpeg.tar.gz] [--seeds 3]
        [--trials 16] [--epochs 8] [--train 10000] [--out FILE] [--continue]
        # --continue: go on from the seeds already in --out (same task), e.g. a run stopped
        # after some seeds or one split across sessions
    python -m benchmarks.search_quality --quick --data tests/data/cifar10-slice --out FILE
        # 1 seed, 2 trials of 1 epoch, 200 images (the tests): checks the code, measures nothing
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import CIFAR_JPEGS, task_folder, write_result
from benchmarks.search_efficiency import EpochTrace
from benchmarks.search_quality_report import against_a, draw_figures, print_against_a
from nagexp.results.profiles import TAUS, performance_profile

FIXED = {"model": "cnn", "width": 0.5, "optimizer": "nag", "batch_size": 128, "val_fraction": 0.2,
         "num_threads": 1}  # fmt: skip
SPACE = {
    "lr": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
    "momentum": {"type": "float", "low": 0.8, "high": 0.99},
    "weight_decay": {"type": "float", "low": 1.0e-5, "high": 1.0e-2, "log": True},
    "lr_schedule": {"type": "categorical", "choices": ["cosine", "onecycle", "warmup_linear"]},
}
ASHA = {"grace_period": 1, "reduction_factor": 2}


def space_file(folder: Path, dataset: str, epochs: int) -> Path:
    path = folder / "space.yaml"
    path.write_text(yaml.safe_dump({"fixed": {**FIXED, "dataset": dataset, "epochs": epochs}, "params": SPACE,
                                    "objective": {"metric": "val_acc", "mode": "max"}, "asha": ASHA}))  # fmt: skip
    return path


class ProbedTrace(EpochTrace):
    """An EpochTrace that also keeps each trial's cooldown-probe steps (nagexp's default rung
    signal probes at the rungs): their cost beside the epochs the trace counts."""

    def __init__(self, metric: str) -> None:
        super().__init__(metric)
        self.probe_steps: dict[int, int] = {}

    def on_trial_epoch(self, rec: Any, metrics: dict[str, Any]) -> None:
        super().on_trial_epoch(rec, metrics)
        if rec is not None and isinstance(metrics.get("probe_steps"), int | float):
            self.probe_steps[rec.number] = int(metrics["probe_steps"])


def nagexp_arm(space: Path, sampler: str, seed: int, trials: int, folder: Path) -> tuple[EpochTrace, dict]:
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep

    spec = resolve_sweep(SweepOptions(space=space, trials=trials, seed=seed, sampler=sampler, max_concurrent=2,
                                      track=False, name=f"{sampler}-{seed}", results_dir=folder,
                                      cache_dir=str(folder / "data-cache")))  # fmt: skip
    trace = ProbedTrace("val_acc")
    run_sweep(spec, emit=lambda _: None, listeners=[trace])
    best = yaml.safe_load((spec.sweep_dir / "best.yaml").read_text())
    return trace, {k: best[k] for k in SPACE}


def hand_wired_arm(data: Any, dataset: str, epochs: int, seed: int, trials: int,
                   folder: Path) -> tuple[EpochTrace, dict]:  # fmt: skip
    """(b): the script a competent Ray Tune + Optuna user writes (Ray's OptunaSearch example)."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from nagexp.config import TrainConfig
    from nagexp.training.trainer import train

    def trainable(config: dict, data: Any) -> None:
        trial_seed = zlib.crc32(tune.get_context().get_trial_id().encode())
        cfg = TrainConfig(**FIXED, dataset=dataset, epochs=epochs, seed=trial_seed, **config)
        train(cfg, data, report=lambda m, _: tune.report({"val_acc": m["val_acc"], "epoch": m["epoch"],
                                                          "wall": time.time()}))  # fmt: skip

    space = {
        "lr": optuna.distributions.FloatDistribution(0.01, 1.0, log=True),
        "momentum": optuna.distributions.FloatDistribution(0.8, 0.99),
        "weight_decay": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True),
        "lr_schedule": optuna.distributions.CategoricalDistribution(["cosine", "onecycle", "warmup_linear"]),
    }
    started = time.time()  # before the data goes into Ray (with_parameters), as nagexp's arms count it
    searcher = OptunaSearch(space, metric="val_acc", mode="max", sampler=optuna.samplers.TPESampler(seed=seed))
    scheduler = ASHAScheduler(time_attr="epoch", metric="val_acc", mode="max", max_t=epochs, **ASHA)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), {"cpu": 1}),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=trials,
                                    max_concurrent_trials=2),
        run_config=tune.RunConfig(name=f"hand-{seed}", storage_path=str(folder), verbose=0),
    )
    results = tuner.fit()
    frames = [r.metrics_dataframe for r in results if r.metrics_dataframe is not None]
    rows = sorted((row["wall"], row["val_acc"]) for frame in frames for _, row in frame.iterrows())
    trace = EpochTrace("val_acc", values=[(wall - started, value) for wall, value in rows])
    best = results.get_best_result(metric="val_acc", mode="max").config
    return trace, {k: best[k] for k in SPACE}


def default_arm(data: Any, dataset: str, epochs: int, seed: int) -> tuple[EpochTrace, dict]:
    from nagexp.config import TrainConfig
    from nagexp.training.trainer import train

    trace = EpochTrace("val_acc")
    cfg = TrainConfig(**FIXED, dataset=dataset, epochs=epochs, seed=seed)
    train(cfg, data, report=lambda m, _: trace.on_trial_epoch(None, m))
    return trace, {k: getattr(cfg, k) for k in SPACE}


def retrained_test_acc(data: Any, dataset: str, params: dict, epochs: int, seeds: list[int]) -> float:
    """The mean test accuracy of `params` trained on `seeds` (in this process, on both cores)."""
    from nagexp.config import TrainConfig
    from nagexp.training.trainer import train

    fixed = {**FIXED, "num_threads": 2}
    accs = [train(TrainConfig(**fixed, dataset=dataset, epochs=epochs, seed=s, **params), data).test_acc
            for s in seeds]  # fmt: skip
    return statistics.mean(a for a in accs if a is not None)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=CIFAR_JPEGS, help="CIFAR-10 JPEG folder or its .tar.gz")
    parser.add_argument("--seeds", type=int, default=None, help="sweep seeds (default 3; 1 with --quick)")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=8, help="at most this many epochs a trial")
    parser.add_argument("--train", type=int, default=10000, help="training images (20 %% of them validate)")
    parser.add_argument("--retrain-seeds", type=int, default=1)
    parser.add_argument("--target", type=float, default=None, help="val_acc to reach (default: see above)")
    parser.add_argument("--plot", type=Path, default=None, help="only draw the figures of this JSON, beside it")
    parser.add_argument("--out", type=Path, default=None,
                        help="the JSON, the figures beside it (default: benchmarks/results/...)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 trials of 1 epoch, 200 images (the tests)")
    parser.add_argument("--continue", dest="go_on", action="store_true",
                        help="go on from the seeds already in --out (same --train, --epochs, --trials)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.plot is not None:
        kept = json.loads(args.plot.read_text())
        print_against_a(against_a(kept["summary"], kept["traces"]))
        for path in draw_figures(kept, args.plot.parent, args.plot.stem):
            print(f"written: {path}")
        return args.plot
    if args.quick:
        args.trials, args.epochs, args.train = 2, 1, 200
    if args.seeds is None:
        args.seeds = 1 if args.quick else 3
    if args.seeds < 1 or args.trials < 1:
        parser.error("--seeds and --trials must be at least 1")
    if not args.data.exists():
        parser.error(f"no CIFAR-10 JPEGs at {args.data}; give --data DIR (train/<class>/*.jpg, test/<class>/*.jpg) "
                     "or the .tar.gz of such a folder")  # fmt: skip
    traces: dict[str, list[EpochTrace]] = {a: [] for a in ("a: nagexp tpe+asha", "b: tune+optuna script",
                                                           "c: random+asha", "d: no search")}  # fmt: skip
    chosen: dict[str, list[dict]] = {a: [] for a in traces}
    tests: dict[str, list[float]] = {a: [] for a in traces}
    if args.go_on:
        if args.out is None or not args.out.exists():
            parser.error("--continue needs --out FILE, the JSON of the seeds run so far")
        try:
            kept_seeds(json.loads(args.out.read_text()), args, traces, chosen, tests)
        except ValueError as exc:
            parser.error(str(exc))
        if len(traces["d: no search"]) >= args.seeds:
            print(f"--continue: {args.out} holds {len(traces['d: no search'])} seeds already; nothing to run "
                  "(give --seeds N for more)")  # fmt: skip
            return args.out

    from nagexp.config import TrainConfig
    from nagexp.data.loading import load_train_data
    from nagexp.runtime.ray_session import connect_ray

    connect_ray(None, num_cpus=2)
    retrain_seeds = [10_000 + s for s in range(args.retrain_seeds)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        task = task_folder(args.data.resolve(), args.train, root)
        dataset = f"imagefolder:{task}"
        data = load_train_data(TrainConfig(**FIXED, dataset=dataset, data_mode="memory"), root / "data-cache",
                               say=lambda _: None)  # fmt: skip
        space = space_file(root, dataset, args.epochs)
        for seed in range(len(traces["d: no search"]), args.seeds):
            for arm in traces:
                started = time.perf_counter()
                if arm.startswith("a"):
                    trace, params = nagexp_arm(space, "tpe", seed, args.trials, root)
                elif arm.startswith("b"):
                    trace, params = hand_wired_arm(data, dataset, args.epochs, seed, args.trials, root)
                elif arm.startswith("c"):
                    trace, params = nagexp_arm(space, "random", seed, args.trials, root)
                else:
                    trace, params = default_arm(data, dataset, args.epochs, seed)
                traces[arm].append(trace)
                chosen[arm].append(params)
                tests[arm].append(retrained_test_acc(data, dataset, params, args.epochs, retrain_seeds))
                best = trace.best_within(len(trace.values))
                print(f"seed {seed} {arm:22} best val_acc {best:.4f} after {len(trace.values)} epochs, "
                      f"retrained test acc {tests[arm][-1]:.4f} ({time.perf_counter() - started:.0f} s)",
                      flush=True)  # fmt: skip
            # written after every seed: a stopped run keeps the seeds it finished
            payload = summarise(traces, chosen, tests, args)
            written = write_result("search_quality", payload, args.out)
    print(f"\nCIFAR-10 JPEG, {args.train} training images (20 % validate), cnn x0.5, <= {args.epochs} epochs, "
          f"{args.trials} trials, {args.seeds} seeds; target val_acc {payload['target']}")  # fmt: skip
    print(f"{'arm':22} {'best val (median)':>17} {'epochs to target':>20} {'test acc (retrained)':>21} "
          f"{'profile tau=' + ','.join(map(str, TAUS)):>30}")  # fmt: skip
    for arm, s in payload["summary"].items():
        reached = ",".join("-" if h is None else str(h) for h in s["epochs_to_target"])
        print(f"{arm:22} {s['median_best_val']:>17.4f} {reached:>20} {s['retrained_test_acc_mean']:>21.4f} "
              f"{' '.join(f'{x:.2f}' for x in payload['profile'][arm]):>30}")  # fmt: skip
    print_against_a(payload["against_a"])
    print(f"written: {written}")
    for path in draw_figures(payload, written.parent, written.stem):
        print(f"written: {path}")
    return written


def kept_seeds(kept: dict[str, Any], args: argparse.Namespace, traces: dict[str, list[EpochTrace]],
               chosen: dict[str, list[dict]], tests: dict[str, list[float]]) -> None:  # fmt: skip
    """The seeds of an earlier run's JSON put back into traces, chosen and tests (--continue)."""
    task = {"train_images": args.train, "epochs": args.epochs, "trials": args.trials,
            "retrain_seeds": args.retrain_seeds}  # fmt: skip
    found = {**kept, "retrain_seeds": kept.get("retrain_seeds", 1)}  # JSONs before it was recorded: 1
    if any(found.get(k) != v for k, v in task.items()):
        raise ValueError(f"--continue: {args.out} is of another task ({ {k: found.get(k) for k in task} }); "
                         "give the same --train, --epochs, --trials and --retrain-seeds")  # fmt: skip
    steps_per_epoch = args.train * (1 - FIXED["val_fraction"]) / FIXED["batch_size"]
    for arm in traces:
        summary = kept["summary"][arm]
        for i, values in enumerate(kept["traces"][arm]):
            trace = ProbedTrace("val_acc")
            trace.values = list(zip(kept["trace_seconds"][arm][i], values, strict=True))
            trace.probe_steps = {-1: steps} if (steps := _kept_probe_steps(summary, i, steps_per_epoch)) else {}
            traces[arm].append(trace)
        chosen[arm].extend(summary["chosen"])
        tests[arm].extend(summary["retrained_test_acc_per_seed"])
    print(f"--continue: {len(traces['d: no search'])} seeds kept from {args.out}", flush=True)


def _kept_probe_steps(summary: dict[str, Any], seed: int, steps_per_epoch: float) -> int:
    """A kept seed's probe steps: recorded as they are, or (JSONs before 2026-12-04's fifth
    session) from its probe epochs, rounded to 2 places: exact while an epoch is under 100 steps."""
    if "probe_steps_per_seed" in summary:
        return int(summary["probe_steps_per_seed"][seed])
    epochs = summary.get("probe_epochs_per_seed")  # absent: an arm without probes
    return round(epochs[seed] * steps_per_epoch) if epochs else 0


def summarise(traces: dict[str, list[EpochTrace]], chosen: dict[str, list[dict]], tests: dict[str, list[float]],
              args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """The JSON payload of the seeds run so far: target, per-arm summary, profile, traces."""
    searched = [t.best_within(len(t.values)) for a, ts in traces.items() if a != "d: no search" for t in ts]
    target = args.target or round(0.98 * statistics.median(searched), 4)
    summary: dict[str, Any] = {}
    hits: dict[str, list[int | None]] = {}
    for arm, ts in traces.items():
        hits[arm] = [t.first_hit(target)[0] for t in ts]
        budgets = {str(b): statistics.median(t.best_within(b) for t in ts) for b in (8, 16, 32, 48)}
        summary[arm] = {
            "median_best_val": statistics.median(t.best_within(len(t.values)) for t in ts),
            "best_val_per_seed": [t.best_within(len(t.values)) for t in ts],
            "epochs_to_target": hits[arm],
            "median_epochs_run": statistics.median(len(t.values) for t in ts),
            "median_seconds": statistics.median(t.values[-1][0] for t in ts),
            "median_best_at_epochs": budgets,
            "retrained_test_acc_per_seed": tests[arm],
            "retrained_test_acc_mean": statistics.mean(tests[arm]),
            "retrained_test_acc_sd": statistics.stdev(tests[arm]) if len(tests[arm]) > 1 else 0.0,
            "chosen": chosen[arm],
            # the cooldown probes' cost per seed: optimizer steps, and epochs of the training split (0: no probes)
            "probe_steps_per_seed": [sum(getattr(t, "probe_steps", {}).values()) for t in ts],
            "probe_epochs_per_seed": [round(sum(getattr(t, "probe_steps", {}).values()) * FIXED["batch_size"]
                                            / (args.train * (1 - FIXED["val_fraction"])), 2) for t in ts],
        }
    kept = {a: [[v for _, v in t.values] for t in ts] for a, ts in traces.items()}
    return {"train_images": args.train, "epochs": args.epochs, "trials": args.trials,
            "retrain_seeds": args.retrain_seeds,
            "against_a": against_a(summary, kept),
            "seeds": len(next(iter(traces.values()))), "target": target, "taus": TAUS,
            "profile": performance_profile(hits, TAUS), "summary": summary,
            "traces": {a: [[round(v, 5) for _, v in t.values] for t in ts] for a, ts in traces.items()},
            "trace_seconds": {a: [[round(x, 1) for x, _ in t.values] for t in ts]
                              for a, ts in traces.items()}}  # fmt: skip

if __name__ == "__main__":
    main()
