"""A league table of search methods on YAHPO Gym's LCBench surrogate (issue 37); the methods
are in benchmarks/league_methods.py.

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
    python -m benchmarks.league --quick      # 1 task, 1 seed, budget 52: the test suite's
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, machine
from benchmarks.lcbench import EPOCHS, TASKS
from benchmarks.league_methods import METHODS, Trace

SHARES = (0.1, 0.25, 0.5, 1.0)


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
    parser.add_argument("--quick", action="store_true", help="1 task, 1 seed, budget 52 (the tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.seeds, args.budget = 1, 1, EPOCHS
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not 1 <= args.tasks <= len(TASKS) or args.seeds < 1 or args.budget < EPOCHS:
        parser.error(f"--methods of {', '.join(METHODS)} (unknown: {', '.join(unknown) or '-'}); 1 <= --tasks <= "
                     f"{len(TASKS)}; --seeds >= 1; --budget >= {EPOCHS}")  # fmt: skip

    from nagexp.runtime.ray_session import connect_ray

    connect_ray(None, num_cpus=2)
    payload: dict[str, Any] = {"benchmark": "league", "date": datetime.date.today().isoformat(),
                               "surrogate": "yahpo-gym lcbench", "budget": args.budget,
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
