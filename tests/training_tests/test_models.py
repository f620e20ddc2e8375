from __future__ import annotations

import pytest
import torch

from nagexp.registries.models import MODELS, build_model

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 16, 16)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", list(MODELS))
def test_forward_shape(name: str, shape: tuple[int, int, int]) -> None:
    model = build_model(name, shape, num_classes=7, width=0.5)
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, 7)
    out.sum().backward()  # trainable end to end
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_width_multiplier_scales_parameters() -> None:
    small = sum(p.numel() for p in build_model("resnet", (3, 32, 32), 10, width=0.5).parameters())
    large = sum(p.numel() for p in build_model("resnet", (3, 32, 32), 10, width=2.0).parameters())
    assert large > 8 * small


def test_resnet20_depth() -> None:
    model = build_model("resnet", (3, 32, 32), 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 19  # 1 stem + 3 stages x 3 blocks x 2 (plus the linear head = 20 layers)


def test_unknown_model() -> None:
    with pytest.raises(ValueError, match="allowed: mlp, cnn, resnet, fastnet, or your own"):
        build_model("vit", (3, 32, 32), 10)
