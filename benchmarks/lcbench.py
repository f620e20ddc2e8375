"""YAHPO Gym's LCBench surrogate as a training function nagexp can search (issue 37): one epoch
is one surrogate query of an MLP trained by SGD on one of 34 OpenML tasks (about 3 ms), so a
search method can be measured over many tasks and seeds in minutes.

    trainer: benchmarks.lcbench:run     # a space's fixed: section; `lcbench_task: "3945"` too

The surrogate's data is committed under tests/data/yahpo-lcbench (Apache 2.0); yahpo-gym 1.0.2
and its runtime are installed by `make install-bench` (see the Makefile: yahpo-gym pins
numpy < 2 and ConfigSpace <= 0.6.1, which nagexp's numpy 2 cannot take, so it is installed
without its pins and the one ConfigSpace 1.x method it misses is given here).
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["DATA", "EPOCHS", "PARAMS", "TASKS", "query", "run", "surrogate"]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "yahpo-lcbench"
EPOCHS = 52  # LCBench's learning curves: 1-52 epochs
# the 34 tasks' search space, as nagexp params (LCBench's own ranges and log scales)
PARAMS: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "momentum": {"type": "float", "low": 0.1, "high": 0.99},
    "weight_decay": {"type": "float", "low": 1e-5, "high": 0.1},
    "batch_size": {"type": "int", "low": 16, "high": 512, "log": True},
    "num_layers": {"type": "int", "low": 1, "high": 5},
    "max_units": {"type": "int", "low": 64, "high": 1024, "log": True},
    "max_dropout": {"type": "float", "low": 0.0, "high": 1.0},
}
# eight tasks of LCBench's 34 for the league (the first eight ids of the surrogate's list)
TASKS = ("3945", "7593", "34539", "126025", "126026", "126029", "146212", "167104")


@functools.cache
def surrogate(task: str) -> Any:
    """The surrogate of one task (loaded once per process)."""
    import ConfigSpace
    from yahpo_gym import benchmark_set, local_config

    if not hasattr(ConfigSpace.ConfigurationSpace, "_sort_hyperparameters"):
        # ConfigSpace >= 1.0 keeps hyperparameters sorted itself; yahpo-gym 1.0.2 still asks
        ConfigSpace.ConfigurationSpace._sort_hyperparameters = lambda self: None
    local_config.init_config()
    local_config.set_data_path(str(DATA))
    # it prints its citations on every load; its stored config space uses ConfigSpace's old field
    # names ('default'), a UserWarning per parameter
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The field 'default' should be 'default_value'", UserWarning)
        return benchmark_set.BenchmarkSet("lcbench", instance=str(task), multithread=False)


def query(task: str, config: dict[str, Any], epoch: int) -> dict[str, float]:
    """The surrogate's targets after `epoch` epochs of `config` (its PARAMS keys) on `task`:
    val_accuracy in percent, val_cross_entropy, test_balanced_accuracy, time (seconds)."""
    values = {k: config[k] for k in PARAMS}
    values.update(OpenML_task_id=str(task), epoch=int(epoch))
    return {k: float(v) for k, v in surrogate(str(task)).objective_function(values)[0].items()}


def run(config: dict[str, Any], report: Callable[..., Any]) -> None:
    """nagexp's training-function contract: one report an epoch, val_acc (0-1) the objective."""
    task = str(config["lcbench_task"])
    for epoch in range(1, int(config["epochs"]) + 1):
        y = query(task, config, epoch)
        report({"val_acc": y["val_accuracy"] / 100.0, "val_loss": y["val_cross_entropy"],
                "test_balanced_acc": y["test_balanced_accuracy"], "surrogate_seconds": y["time"]})  # fmt: skip
