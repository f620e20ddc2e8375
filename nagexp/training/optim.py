"""The optimizers under comparison (named in `nagexp.registries.optimizers`): torch.optim.SGD
on one code path, and schedule-free SGD (the `schedulefree` package); the modes schedule-free
optimizers need; and the device a run trains on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from nagexp.errors import ConfigError
from nagexp.registries.optimizers import OPTIMIZERS, SCHEDULE_FREE

if TYPE_CHECKING:
    import torch

__all__ = ["build_optimizer", "is_schedule_free", "resolve_device", "set_optimizer_mode"]


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
    warmup_steps: int = 0,
) -> torch.optim.Optimizer:
    """nag: SGD(nesterov=True); momentum: heavy-ball SGD; sgd: SGD with momentum 0;
    sgd_schedulefree: schedulefree.SGDScheduleFree, warming up over `warmup_steps`.

    lr and momentum given here are placeholders: the trainer writes both into the param
    groups before every step. Nesterov must be built with momentum > 0 (torch refuses 0),
    so a schedule that starts low is applied after construction.
    """
    import torch

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{optimizer}'; allowed: {', '.join(OPTIMIZERS)}")
    if optimizer in SCHEDULE_FREE:
        from schedulefree import SGDScheduleFree

        return SGDScheduleFree(params, lr=0.01, momentum=momentum, weight_decay=weight_decay,
                               warmup_steps=warmup_steps)  # fmt: skip
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


def is_schedule_free(optimizer: torch.optim.Optimizer) -> bool:
    return type(optimizer).__module__.startswith("schedulefree")


def set_optimizer_mode(optimizer: torch.optim.Optimizer, training: bool) -> None:
    """Schedule-free optimizers take their steps at one point (y) and are evaluated and saved
    at another (x, the average): `train()` before training, `eval()` before evaluating or
    saving, as the package requires. torch's SGD has no modes."""
    if is_schedule_free(optimizer):
        optimizer.train() if training else optimizer.eval()  # type: ignore[attr-defined]
