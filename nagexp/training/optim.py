"""The optimizers under comparison (named in `nagexp.registries.optimizers`): torch.optim.SGD
on one code path, and schedule-free SGD (the `schedulefree` package); the modes schedule-free
optimizers need; and the device a run trains on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nagexp.core.errors import ConfigError
from nagexp.registries.optimizers import OPTIMIZERS, SCHEDULE_FREE

if TYPE_CHECKING:
    import torch

__all__ = ["GROUP_LR_SCALE", "GROUP_WEIGHT_DECAY_SCALE", "build_optimizer", "is_schedule_free", "parameter_groups",
           "resolve_device", "set_group_scales", "set_optimizer_mode"]  # fmt: skip

# each param group's share of the scheduled lr and weight decay (kept in torch's param groups)
GROUP_LR_SCALE = "lr_scale"
GROUP_WEIGHT_DECAY_SCALE = "weight_decay_scale"


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


def _norm_layers() -> tuple[type, ...]:
    """torch's normalization layers (and what derives from them): their weights and biases are
    the group a recipe scales (airbench: BatchNorm biases at 64x the lr)."""
    from torch import nn

    return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LazyBatchNorm1d,
            nn.LazyBatchNorm2d, nn.LazyBatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.InstanceNorm1d,
            nn.InstanceNorm2d, nn.InstanceNorm3d)  # fmt: skip


def parameter_groups(model: torch.nn.Module, lr_scale: float, weight_decay_scale: float) -> list[dict[str, Any]]:
    """One group of every parameter; or, when a scale is not 1, two: the rest, and the
    parameters of the normalization layers (their weights and biases) whose lr and weight
    decay are the schedule's x `lr_scale` and x `weight_decay_scale`."""
    params = list(model.parameters())
    if lr_scale == 1.0 and weight_decay_scale == 1.0:
        return [{"params": params}]
    layers = _norm_layers()
    norm = {id(p) for m in model.modules() if isinstance(m, layers) for p in m.parameters(recurse=False)}
    return [{"params": [p for p in params if id(p) not in norm]},
            {"params": [p for p in params if id(p) in norm], GROUP_LR_SCALE: lr_scale,
             GROUP_WEIGHT_DECAY_SCALE: weight_decay_scale}]  # fmt: skip


def set_group_scales(optimizer: torch.optim.Optimizer, lr_scale: float, weight_decay_scale: float) -> None:
    """The scales of a config, written into an optimizer whose state was loaded from a checkpoint
    (population-based training may have changed them)."""
    for group in optimizer.param_groups[1:]:
        group[GROUP_LR_SCALE], group[GROUP_WEIGHT_DECAY_SCALE] = lr_scale, weight_decay_scale


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | list[dict[str, Any]],
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
