"""Test-time augmentation: the logits of an image averaged over views of it (airbench's levels:
the image and its mirror; and both shifted by one pixel up-left and down-right)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["augmented_logits"]


def _mirrored(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return 0.5 * model(x) + 0.5 * model(x.flip(-1))


def augmented_logits(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, mode: str) -> torch.Tensor:
    """The model's logits for the batch `x` (N, C, H, W) under test-time augmentation `mode`
    (TrainConfig.test_time_augment)."""
    if mode == "none":
        return model(x)
    if mode == "flip":
        return _mirrored(model, x)
    if mode != "flip_translate":
        raise ValueError(f"unknown test_time_augment '{mode}'")
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = [padded[..., 0:h, 0:w], padded[..., 2 : h + 2, 2 : w + 2]]
    translated = torch.stack([_mirrored(model, s) for s in shifted]).mean(0)
    return 0.5 * _mirrored(model, x) + 0.5 * translated
