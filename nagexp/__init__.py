"""nagexp: hyperparameter experiments for Nesterov-momentum training."""

from __future__ import annotations

from nagexp.errors import ConfigError, DataError, NagexpError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "NagexpError", "__version__"]
