"""The optimizers under comparison (named in `nagexp.registries.optimizers`), all
torch.optim.SGD on one code path, and the device a run trains on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from nagexp.errors import ConfigError
from nagexp.registries.optimizers import OPTIMIZERS

if TYPE_CHECKING:
    import torch

__all__ = ["build_optimizer", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"device '{name}' is not available here; use --device cpu (or auto)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device '{name}' is not available here; use --device cpu (or auto)")
    return device


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    optimizer: str,
    momentum: float,
    weight_decay: float,
    device: torch.device,
) -> torch.optim.SGD:
    """nag: SGD(nesterov=True); momentum: heavy-ball SGD; sgd: SGD with momentum 0.

    lr and momentum given here are placeholders: the trainer writes both into the param
    groups before every step. Nesterov must be built with momentum > 0 (torch refuses 0),
    so a schedule that starts low is applied after construction.
    """
    import torch

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{optimizer}'; allowed: {', '.join(OPTIMIZERS)}")
    mu = 0.0 if optimizer == "sgd" else momentum
    # The fused kernel (CPU and CUDA in torch >= 2.4) is fastest; fall back to foreach.
    for impl in ({"fused": True}, {"foreach": device.type == "cuda"}):
        try:
            return torch.optim.SGD(
                params := list(params),
                lr=0.01,
                momentum=mu,
                nesterov=optimizer == "nag",
                weight_decay=weight_decay,
                **impl,
            )
        except (RuntimeError, ValueError, TypeError):
            if impl.get("fused") is None:
                raise
    raise AssertionError("unreachable")
