"""Models by name: one registry, the built-ins registered by import path like user code.

Nothing is imported until a model is built, so configs can check names without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nagexp.imports import resolve_import_path

if TYPE_CHECKING:
    from torch import nn

__all__ = ["MODELS", "MODEL_NAMES", "build_model", "check_model_name"]

# name -> callable(input_shape, num_classes, width) -> nn.Module
MODELS: dict[str, str] = {
    "mlp": "nagexp.training.models:mlp",  # two hidden layers of 256 x width
    "cnn": "nagexp.training.models:cnn",  # three conv stages, global average pooling
    "resnet": "nagexp.training.models:resnet",  # CIFAR ResNet-20
    "fastnet": "nagexp.training.models:fastnet",  # airbench94's layout
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def check_model_name(name: str) -> str:
    """`name` when it is a registered model; ValueError listing the registry otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; allowed: {', '.join(MODELS)}")
    return name


def build_model(name: str, input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0) -> nn.Module:
    factory = resolve_import_path(MODELS[check_model_name(name)], "model")
    return factory(input_shape, num_classes, width)
