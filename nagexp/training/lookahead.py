"""Lookahead weight averaging as airbench trains with it: slow weights that the trained ones are
pulled back to every few steps, so what is evaluated and kept is an average of the trajectory."""

from __future__ import annotations

import torch

__all__ = ["Lookahead", "lookahead_decay"]


def lookahead_decay(step: int, total: int, decay: float) -> float:
    """The decay at `step` of `total`: `decay * (step / total)^3`, airbench's ramp (no averaging
    early on, when the weights are far from where they end)."""
    return decay * (step / total) ** 3


class Lookahead:
    """The slow copy of a model's state (its parameters and floating-point buffers, BatchNorm's
    running statistics among them: they are averaged alike, as airbench does)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.slow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def sync(self, model: torch.nn.Module, decay: float) -> None:
        """slow += (1 - decay) * (trained - slow), then training goes on from the slow weights."""
        for (name, slow), live in zip(self.slow.items(), model.state_dict().values(), strict=True):
            if live.dtype.is_floating_point:
                slow.lerp_(live, 1.0 - decay)
                live.copy_(slow)
            else:  # counters such as num_batches_tracked follow the trained model
                self.slow[name] = live.detach().clone()
