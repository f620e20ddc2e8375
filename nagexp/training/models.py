"""The built-in architectures. Each takes the data's input shape (C, H, W), its class count
and a width multiplier (the model signature every model has: see `nagexp.registries.models`)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FastNet", "cnn", "fastnet", "mlp", "resnet"]


def _ch(base: int, width: float) -> int:
    return max(4, round(base * width))


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def mlp(shape: tuple[int, int, int], classes: int, width: float = 1.0) -> nn.Module:
    hidden = _ch(256, width)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(shape[0] * shape[1] * shape[2], hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, classes),
    )


def cnn(shape: tuple[int, int, int], classes: int, width: float = 1.0) -> nn.Module:
    """Three conv stages (pooling between them) and global average pooling: 8x8 to 32x32."""
    c1, c2, c3 = _ch(32, width), _ch(64, width), _ch(128, width)
    return nn.Sequential(
        conv_bn(shape[0], c1),
        conv_bn(c1, c1),
        nn.MaxPool2d(2, ceil_mode=True),
        conv_bn(c1, c2),
        conv_bn(c2, c2),
        nn.MaxPool2d(2, ceil_mode=True),
        conv_bn(c2, c3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(c3, classes),
    )


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:  # projection shortcut (ResNet option B)
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def resnet(shape: tuple[int, int, int], classes: int, width: float = 1.0, blocks_per_stage: int = 3) -> nn.Module:
    """CIFAR ResNet-20 (He et al. 2016, 3 stages x 3 blocks, 16/32/64 channels x width)."""
    widths = [_ch(16, width), _ch(32, width), _ch(64, width)]
    layers: list[nn.Module] = [conv_bn(shape[0], widths[0])]
    c_in = widths[0]
    for stage, c_out in enumerate(widths):
        for block in range(blocks_per_stage):
            layers.append(BasicBlock(c_in, c_out, stride=2 if stage > 0 and block == 0 else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, classes)]
    return nn.Sequential(*layers)


class _ScaledLinear(nn.Linear):
    """airbench's head: a bias-free linear layer whose logits are scaled down."""

    def __init__(self, c_in: int, classes: int, scale: float) -> None:
        super().__init__(c_in, classes, bias=False)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.scale


class _FixedScaleBatchNorm(nn.BatchNorm2d):
    """airbench's BatchNorm: the scale stays 1 (only the bias trains); `momentum` in airbench's
    convention (the running statistics keep this share each step; torch's is 1 - it)."""

    def __init__(self, channels: int, momentum: float = 0.6) -> None:
        super().__init__(channels, momentum=1 - momentum, eps=1e-12)
        self.weight.requires_grad_(False)


def _dirac_conv(c_in: int, c_out: int) -> nn.Conv2d:
    """airbench's 3x3 conv: torch's init, then the first c_in filters pass their input channel
    through (an identity start for the block)."""
    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:c_in])
    return conv


def _fast_block(c_in: int, c_out: int, ceil_mode: bool) -> nn.Sequential:
    return nn.Sequential(
        _dirac_conv(c_in, c_out),
        nn.MaxPool2d(2, ceil_mode=ceil_mode),
        _FixedScaleBatchNorm(c_out),
        nn.GELU(),
        _dirac_conv(c_out, c_out),
        _FixedScaleBatchNorm(c_out),
        nn.GELU(),
    )


class FastNet(nn.Sequential):
    """The airbench94 layout (Keller Jordan's CIFAR-10 speed records): a 2x2 stem conv,
    three conv-pool-BN-GELU blocks (64/256/256 channels x width; identity-started convs,
    BatchNorm with a fixed scale of 1), global max pool, and a scaled linear head. Small
    inputs (8x8) get a padded stem and ceil_mode pools so they still fit."""

    def __init__(self, shape: tuple[int, int, int], classes: int, width: float = 1.0,
                 whiten_bias_epochs: int = 3) -> None:  # fmt: skip
        c1, c2, c3 = _ch(64, width), _ch(256, width), _ch(256, width)
        stem = 2 * shape[0] * 4  # airbench: 24 channels for RGB 2x2 patches
        small = min(shape[1:]) <= 8
        stem_conv = nn.Conv2d(shape[0], stem, 2, padding=1 if small else 0, bias=True)
        nn.init.zeros_(stem_conv.bias)
        super().__init__(
            stem_conv,
            nn.GELU(),
            _fast_block(stem, c1, small),
            _fast_block(c1, c2, small),
            _fast_block(c2, c3, small),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            _ScaledLinear(c3, classes, scale=1 / 9),
        )
        self.whiten_bias_epochs = whiten_bias_epochs
        # set by init_from_data; a buffer, so a checkpoint (and a resumed run) keeps it
        self.register_buffer("whitened", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """airbench's whitening stem: the 2x2 conv's filters are the eigenvectors of the training
        images' 2x2-patch covariance scaled by 1/sqrt(eigenvalue + eps), each with its negative,
        and stay fixed; the stem's bias trains for the first `whiten_bias_epochs` epochs only."""
        stem = self[0]
        c, (h, w) = images.shape[1], stem.kernel_size
        patches = images.float().unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c * h * w)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending: the largest last
        filters = (eigenvectors.T.flip(0) / torch.sqrt(eigenvalues.flip(0) + eps)[:, None]).reshape(-1, c, h, w)
        stem.weight.copy_(torch.cat((filters, -filters)).to(stem.weight))
        stem.weight.requires_grad_(False)
        self.whitened.fill_(True)

    def frozen_parameters(self, epoch: int) -> list[nn.Parameter]:
        """What takes no step in `epoch` (0-based): once whitened, the stem's filters, and its
        bias from epoch `whiten_bias_epochs` on (airbench's)."""
        if not bool(self.whitened):
            return []
        stem = self[0]
        return [stem.weight] + ([stem.bias] if epoch >= self.whiten_bias_epochs else [])


def fastnet(shape: tuple[int, int, int], classes: int, width: float = 1.0, whiten_bias_epochs: int = 3) -> nn.Module:
    return FastNet(shape, classes, width, whiten_bias_epochs)
