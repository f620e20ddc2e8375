"""nagexp: hyperparameter experiments for Nesterov-momentum training.

    import nagexp
    result = nagexp.sweep("quick.yaml", trials=8, seed=1)   # same files and runs as `nagexp sweep`
    run = nagexp.train(result.best_config, epochs=20)        # same as `nagexp train best.yaml`
"""

from __future__ import annotations

from nagexp.api import SweepResult, sweep, train
from nagexp.core.errors import ConfigError, DataError, NagexpError
from nagexp.core.version import __version__

__all__ = ["ConfigError", "DataError", "NagexpError", "SweepResult", "__version__", "sweep", "train"]
