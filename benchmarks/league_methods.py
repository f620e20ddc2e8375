"""The search methods of the LCBench league (benchmarks/league.py): each searches one task's
space at a budget of epochs and returns the (val_acc, test_balanced_acc) of every epoch it
spent, in the order spent. nagexp's run through its own sweep path; the others are the
scripts a user of Optuna, Ray Tune or DEHB writes from their docs."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from benchmarks.lcbench import EPOCHS, PARAMS, query

HERE = Path(__file__).resolve().parent
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
    # named: HyperbandPruner puts a trial in a bracket by a hash of the study's name (a random one by default)
    study = optuna.create_study(study_name=f"league-{task}-{seed}", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
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
