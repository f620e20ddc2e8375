"""A league table of search methods on YAHPO Gym's LCBench surrogate (issue 37).

Each method searches LCBench's space (learning rate, momentum, weight decay, batch size and
the MLP's shape) for one OpenML task at a budget of `--budget` epochs (default 520: ten full
52-epoch trainings), an epoch being one surrogate query (benchmarks/lcbench.py). Methods:

    nagexp            nagexp's default search (TPE + ASHA), through its own sweep path with
                      `trainer: benchmarks.lcbench:run` (what `nagexp sweep` runs)
    nagexp-gp / nagexp-cmaes / nagexp-random
                      nagexp with another sampler, ASHA
    nagexp-tpe-fifo   TPE without early stopping
    optuna-hyperband  Optuna alone in one process: TPE with its HyperbandPruner
    tune-script       the hand-wired Ray Tune + OptunaSearch (TPE) + ASHAScheduler script
    dehb              DEHB (Awad et al. 2021), a model-based multi-fidelity method, from its package

Per task and seed: the best val accuracy a method saw within the budget (the ranking value),
its anytime normalized regret at 10/25/50/100 % of the budget (0: the best any method found on
that task, 1: the worst first value), and the test balanced accuracy of its choice (the
reported epoch with the best val accuracy). The table: each method's mean rank over tasks and
seeds (1 = best), mean regret at each budget share, mean test accuracy, and seconds a run.

    python -m benchmarks.league [--tasks 8] [--seeds 3] [--budget 520] [--methods a,b] [--out FILE]
    python -m benchmarks.league --quick      # 2 tasks, 1 seed, budget 52: the test suite's
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import RESULTS, machine
from benchmarks.lcbench import EPOCHS, PARAMS, TASKS, query

HERE = Path(__file__).resolve().parent
SHARES = (0.1, 0.25, 0.5, 1.0)
REDUCTION = 3  # every early-stopping method keeps a third at each rung (nagexp's default too)
Trace = list[tuple[float, float]]  # (val_acc, test_balanced_acc) per epoch spent, in the order spent


class Budget(Exception):
    """The method has spent its epochs."""


class Spender:
    """Counts a run's epochs, keeps its trace, and ends the run at the budget."""

    def __init__(self, task: str, budget: int) -> None:
        self.task, self.budget, self.trace = task, budget, []  # type: ignore[var-annotated]

    def epoch(self, config: dict[str, Any], epoch: int) -> float:
        if len(self.trace) >= self.budget:
            raise Budget
        y = query(self.task, config, epoch)
        self.trace.append((y["val_accuracy"] / 100.0, y["test_balanced_accuracy"]))
        return y["val_accuracy"] / 100.0


# ---- the methods outside nagexp -----------------------------------------------------------


def _optuna_params(trial: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in PARAMS.items():
        suggest = trial.suggest_int if p["type"] == "int" else trial.suggest_float
        out[name] = suggest(name, p["low"], p["high"], log=p.get("log", False))
    return out


def optuna_hyperband(task: str, seed: int, budget: int, folder: Path) -> Trace:
    """Optuna alone: TPE proposes, Hyperband prunes through trial.report (one process)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spend = Spender(task, budget)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS,
                                                                      reduction_factor=REDUCTION))  # fmt: skip

    def objective(trial: Any) -> float:
        config = _optuna_params(trial)
        value = math.nan
        for epoch in range(1, EPOCHS + 1):
            try:
                value = spend.epoch(config, epoch)
            except Budget:  # end the study after this trial, quietly (a failed trial logs a traceback)
                trial.study.stop()
                raise optuna.TrialPruned from None
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned
        return value

    study.optimize(objective, catch=())
    return spend.trace


def _tune_domain(tune: Any, p: dict[str, Any]) -> Any:
    if p["type"] == "int":  # Tune's integer bounds exclude the upper one
        return (tune.lograndint if p.get("log") else tune.randint)(p["low"], p["high"] + 1)
    return (tune.loguniform if p.get("log") else tune.uniform)(p["low"], p["high"])


def tune_script(task: str, seed: int, budget: int, folder: Path) -> Trace:
    """The script a user writes from Ray's and Optuna's docs: Tuner + OptunaSearch + ASHAScheduler,
    a Stopper ending the experiment at the budget; the trace is read back in report order."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    def trainable(config: dict[str, Any]) -> None:
        for epoch in range(1, EPOCHS + 1):
            y = query(task, config, epoch)
            tune.report({"val_acc": y["val_accuracy"] / 100.0, "test": y["test_balanced_accuracy"]})

    class EpochBudget(tune.Stopper):  # each (trial, epoch) once: Tune repeats a finished trial's last result
        def __init__(self) -> None:
            self.seen: set[tuple[str, int]] = set()

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            self.seen.add((trial_id, int(result.get("training_iteration", 0))))
            return False

        def stop_all(self) -> bool:
            return len(self.seen) >= budget

    param_space = {name: _tune_domain(tune, p) for name, p in PARAMS.items()}
    reports: list[tuple[float, float, float]] = []

    class Collect(tune.Callback):
        def on_trial_result(self, iteration: int, trials: Any, trial: Any, result: dict[str, Any], **info: Any) -> None:
            reports.append((time.perf_counter(), result["val_acc"], result["test"]))

    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(search_alg=OptunaSearch(metric="val_acc", mode="max", seed=seed),
                                    scheduler=ASHAScheduler(metric="val_acc", mode="max", max_t=EPOCHS, grace_period=1,
                                                            reduction_factor=REDUCTION),
                                    num_samples=budget, max_concurrent_trials=2, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(folder), name="tune", stop=EpochBudget(), callbacks=[Collect()],
                                  verbose=0),
    )  # fmt: skip
    tuner.fit()
    return [(v, t) for _, v, t in reports][:budget]


def dehb(task: str, seed: int, budget: int, folder: Path) -> Trace:
    """DEHB's ask/tell loop, a query at fidelity b costing b epochs (it trains each config anew)."""
    import ConfigSpace as CS
    from dehb import DEHB
    from loguru import logger

    logger.remove()  # DEHB logs every step
    cs = CS.ConfigurationSpace(seed=seed)
    for name, p in PARAMS.items():
        kind = CS.UniformIntegerHyperparameter if p["type"] == "int" else CS.UniformFloatHyperparameter
        cs.add(kind(name, p["low"], p["high"], log=p.get("log", False)))
    spend = Spender(task, budget)
    optimizer = DEHB(cs=cs, dimensions=len(PARAMS), min_fidelity=1, max_fidelity=EPOCHS, eta=REDUCTION, n_workers=1,
                     output_path=str(folder / "dehb"), seed=seed)  # fmt: skip
    try:
        while True:
            job = optimizer.ask()
            config, fidelity = dict(job["config"]), round(job["fidelity"])
            value = math.nan
            for epoch in range(1, fidelity + 1):
                value = spend.epoch(config, epoch)
            optimizer.tell(job, {"fitness": -value, "cost": float(fidelity)})
    except Budget:
        pass
    return spend.trace


# ---- nagexp's methods: its own sweep path with the LCBench training function -------------


def nagexp_method(sampler: str, scheduler: str) -> Callable[[str, int, int, Path], Trace]:
    def method(task: str, seed: int, budget: int, folder: Path) -> Trace:
        import nagexp

        space = folder / "space.yaml"
        space.write_text(yaml.safe_dump({
            "fixed": {"trainer": "benchmarks.lcbench:run", "trainer_args.lcbench_task": task, "epochs": EPOCHS},
            "params": {f"trainer_args.{name}": p for name, p in PARAMS.items()},
            "objective": {"metric": "val_acc", "mode": "max"},  # asha: nagexp's defaults (first rung 3, reduction 3)
        }))  # fmt: skip
        result = nagexp.sweep(space, trials=budget, seed=seed, sampler=sampler, scheduler=scheduler,
                              epoch_budget=budget, results_dir=folder, name="sweep", track=False, echo=None,
                              code_dir=HERE.parent)  # fmt: skip
        return _journal_trace(result.sweep_dir / "journal.jsonl")[:budget]

    return method


def _journal_trace(path: Path) -> Trace:
    """Every epoch the sweep's trials reported, in the order the driver recorded them."""
    trace: Trace = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "epoch" and "val_acc" in event["metrics"]:
            m = event["metrics"]
            trace.append((float(m["val_acc"]), float(m.get("test_balanced_acc") or math.nan)))
    return trace


METHODS: dict[str, Callable[[str, int, int, Path], Trace]] = {
    "nagexp": nagexp_method("tpe", "asha"),
    "nagexp-gp": nagexp_method("gp", "asha"),
    "nagexp-cmaes": nagexp_method("cmaes", "asha"),
    "nagexp-random": nagexp_method("random", "asha"),
    "nagexp-tpe-fifo": nagexp_method("tpe", "fifo"),
    "optuna-hyperband": optuna_hyperband,
    "tune-script": tune_script,
    "dehb": dehb,
}


# ---- the table ------------------------------------------------------------------------------


def best_so_far(trace: Trace) -> list[list[float]]:
    """[epoch index, val, test] at the first epoch and wherever val beats every earlier value: all
    the table reads of a trace (the JSON keeps these, not every epoch)."""
    points, best = [], -math.inf
    for i, (v, t) in enumerate(trace):
        if i == 0 or (math.isfinite(v) and v > best):
            points.append([i, v, t])
        best = max(best, v) if math.isfinite(v) else best
    return points


def best_within(points: list[list[float]], epochs: int) -> tuple[float, float]:
    """(the best val accuracy among the first `epochs` spent, the test accuracy of that epoch),
    from a run's `best_so_far` points."""
    seen = [(v, t) for i, v, t in points if i < epochs and math.isfinite(v)]
    return max(seen, key=lambda vt: vt[0]) if seen else (math.nan, math.nan)


def league_table(runs: list[dict[str, Any]], budget: int) -> dict[str, dict[str, float]]:
    """Mean rank (ties share), mean normalized regret at each share of the budget, mean test
    accuracy of the choice, mean seconds, per method; over every (task, seed) all methods ran."""
    cells: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in runs:
        cells.setdefault((r["task"], r["seed"]), {})[r["method"]] = r
    methods = sorted({r["method"] for r in runs})
    ranks: dict[str, list[float]] = {m: [] for m in methods}
    regrets: dict[str, dict[float, list[float]]] = {m: {s: [] for s in SHARES} for m in methods}
    for (task, _seed), by_method in cells.items():
        if set(by_method) != set(methods):
            continue
        finals = {m: best_within(by_method[m]["best"], budget)[0] for m in methods}
        for m in methods:  # rank 1 is best; ties share the mean rank
            above = sum(finals[o] > finals[m] for o in methods)
            level = sum(finals[o] == finals[m] for o in methods)
            ranks[m].append(above + (level + 1) / 2)
        task_runs = [r for (t, _), bm in cells.items() if t == task for r in bm.values()]
        best = max(v for r in task_runs for _, v, _ in r["best"] if math.isfinite(v))
        worst = min(r["best"][0][1] for r in task_runs if r["best"])
        for m in methods:
            for share in SHARES:
                found = best_within(by_method[m]["best"], max(1, round(share * budget)))[0]
                regrets[m][share].append((best - found) / (best - worst) if best > worst else 0.0)
    table = {}
    for m in methods:
        mine = [r for r in runs if r["method"] == m]
        tests = [best_within(r["best"], budget)[1] for r in mine]
        table[m] = {"mean_rank": statistics.mean(ranks[m]) if ranks[m] else math.nan,
                    **{f"regret_{round(s * 100)}": statistics.mean(regrets[m][s]) if regrets[m][s] else math.nan
                       for s in SHARES},
                    "test_acc": statistics.mean(t for t in tests if math.isfinite(t)) if tests else math.nan,
                    "seconds": statistics.mean(r["seconds"] for r in mine)}  # fmt: skip
    return table


def print_table(table: dict[str, dict[str, float]], tasks: int, seeds: int, budget: int) -> None:
    print(f"\n{tasks} tasks x {seeds} seeds, {budget} epochs a run")
    print(f"{'method':18} {'mean rank':>9} " + " ".join(f"{f'regret {round(s * 100)}%':>11}" for s in SHARES)
          + f" {'test acc':>9} {'s / run':>8}")  # fmt: skip
    for m, row in sorted(table.items(), key=lambda kv: kv[1]["mean_rank"]):
        print(f"{m:18} {row['mean_rank']:9.2f} " + " ".join(f"{row[f'regret_{round(s * 100)}']:11.3f}" for s in SHARES)
              + f" {row['test_acc']:9.4f} {row['seconds']:8.1f}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=len(TASKS), help=f"the first N of {', '.join(TASKS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=10 * EPOCHS, help="epochs (surrogate queries) a run")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of: " + ", ".join(METHODS))
    parser.add_argument("--out", type=Path, default=RESULTS / "league-lcbench.json",
                        help="the JSON (default: benchmarks/results/...; the row cites its copy in measured/)")
    parser.add_argument("--quick", action="store_true", help="2 tasks, 1 seed, budget 52 (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.seeds, args.budget = 2, 1, EPOCHS
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not 1 <= args.tasks <= len(TASKS) or args.seeds < 1 or args.budget < EPOCHS:
        parser.error(f"--methods of {', '.join(METHODS)} (unknown: {', '.join(unknown) or '-'}); 1 <= --tasks <= "
                     f"{len(TASKS)}; --seeds >= 1; --budget >= {EPOCHS}")  # fmt: skip

    from nagexp.runtime.ray_session import connect_ray

    connect_ray(None, num_cpus=2)
    payload: dict[str, Any] = {"benchmark": "league", "surrogate": "yahpo-gym lcbench", "budget": args.budget,
                               "tasks": list(TASKS[: args.tasks]), "seeds": args.seeds, "methods": methods,
                               "machine": machine(), "runs": []}  # fmt: skip
    for task in TASKS[: args.tasks]:
        for seed in range(args.seeds):
            for method in methods:
                with tempfile.TemporaryDirectory() as folder:
                    started = time.perf_counter()
                    trace = METHODS[method](task, seed, args.budget, Path(folder))
                    seconds = time.perf_counter() - started
                points = best_so_far(trace)
                best, test = best_within(points, args.budget)
                print(f"task {task} seed {seed} {method:18} best val {best:.4f} test {test:.4f} "
                      f"({len(trace)} epochs, {seconds:.1f} s)", flush=True)  # fmt: skip
                payload["runs"].append({"task": task, "seed": seed, "method": method, "epochs": len(trace),
                                        "best": points, "seconds": seconds})  # fmt: skip
            payload["table"] = league_table(payload["runs"], args.budget)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(payload) + "\n")  # after every task and seed
    print_table(payload["table"], args.tasks, args.seeds, args.budget)
    print(f"written: {args.out}")
    return payload


if __name__ == "__main__":
    main()
