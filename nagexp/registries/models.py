"""Models by name or import path: one registry, the built-ins registered by import path, so
user code and built-ins take the same path.

A model is a callable `factory(input_shape, num_classes, **model_args) -> torch.nn.Module`
(a function or an nn.Module class): `input_shape` is the data's (C, H, W), `num_classes`
its class count, `model_args` the config's mapping of that name. Nothing is imported until
a model is built, so configs can check names without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nagexp.core.imports import is_import_path, resolve_import_path

if TYPE_CHECKING:
    from torch import nn

__all__ = ["MODELS", "MODEL_NAMES", "build_model", "check_model_name", "is_builtin_model", "model_factory"]

# name -> import path of factory(input_shape, num_classes, width=1.0)
MODELS: dict[str, str] = {
    "mlp": "nagexp.training.models:mlp",  # two hidden layers of 256 x width
    "cnn": "nagexp.training.models:cnn",  # three conv stages, global average pooling
    "resnet": "nagexp.training.models:resnet",  # CIFAR ResNet-20
    "fastnet": "nagexp.training.models:fastnet",  # airbench94's layout
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def is_builtin_model(model: str) -> bool:
    return model in MODELS


def check_model_name(model: str) -> str:
    """`model` when it names a registered model or has the form `package.module:callable`
    (whether that imports is checked before a run, see `model_check`); ValueError otherwise."""
    if model not in MODELS and not is_import_path(model):
        allowed = ", ".join(MODELS)
        raise ValueError(f"unknown model '{model}'; allowed: {allowed}, or your own as package.module:callable")
    return model


def model_factory(model: str) -> Any:
    """The callable `model` names (ConfigError naming the import path when it does not import)."""
    return resolve_import_path(MODELS.get(check_model_name(model), model), "model")


def build_model(model: str, input_shape: tuple[int, int, int], num_classes: int, **model_args: Any) -> nn.Module:
    return model_factory(model)(input_shape, num_classes, **model_args)
