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


def test_fastnet_is_airbench94s_layout() -> None:
    """airbench94's details, each of which its accuracy in 10 epochs depends on: the 3x3 convs
    start as an identity on their input channels, BatchNorm keeps a fixed scale of 1 and keeps
    0.6 of its running statistics a step (torch's momentum 0.4), the stem's bias starts at 0,
    and a 32x32 image ends in a 3x3 map (floor pooling: 31 -> 15 -> 7 -> 3)."""
    net = build_model("fastnet", (3, 32, 32), 10)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    for conv in convs:
        c_in = conv.in_channels
        identity = torch.zeros_like(conv.weight[:c_in])
        torch.nn.init.dirac_(identity)
        assert torch.equal(conv.weight[:c_in], identity)
        if conv.out_channels > c_in:
            assert conv.weight[c_in:].abs().sum() > 0  # the rest keep torch's random init
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.weight.requires_grad and m.bias.requires_grad for m in norms)
    assert all(m.momentum == pytest.approx(0.4) for m in norms)
    assert torch.equal(net[0].bias, torch.zeros_like(net[0].bias))
    trunk = torch.nn.Sequential(*list(net)[:5])(torch.randn(2, 3, 32, 32))
    assert trunk.shape[-2:] == (3, 3)


def test_fastnet_norm_scale_stays_one_while_training() -> None:
    net = build_model("fastnet", (3, 32, 32), 10, width=0.25)
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9, nesterov=True)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.randn(8, 3, 32, 32)), torch.randint(0, 10, (8,))).backward()
        opt.step()
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)
    assert any(m.bias.abs().sum() > 0 for m in norms)
