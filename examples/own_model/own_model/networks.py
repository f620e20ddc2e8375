"""A ResNet whose depth and width are arguments, so a sweep can search them.

nagexp calls `ResNet(input_shape, num_classes, **model_args)`: `input_shape` is the data's
(channels, height, width), `num_classes` its class count, and `model_args` come from the
config or the search space (`model_args.depth`, `model_args.channels`).
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ResNet(nn.Module):
    """A stem, `depth` residual blocks per stage in two stages (the second at half the
    resolution and twice the channels), global average pooling and a linear head."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, depth: int = 2, channels: int = 16) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.stage1 = nn.Sequential(*[Block(c) for _ in range(depth)])
        self.down = nn.Sequential(
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU()
        )
        self.stage2 = nn.Sequential(*[Block(2 * c) for _ in range(depth)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stage2(self.down(self.stage1(self.stem(x)))))
