"""Check a model before anything runs: it imports, builds into an nn.Module, and one forward
pass on a batch of the real data gives logits of shape [batch, num_classes].

Run on the driver for every model a run or sweep can use, so a mistake in the user's model
is one line (exit 2) instead of every trial failing on a worker.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nagexp.core.errors import ConfigError
from nagexp.data.batches import TrainData
from nagexp.registries.models import model_factory

__all__ = ["check_model"]

_BATCH = 4


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]


def check_model(model: str, model_args: dict[str, Any], data: TrainData) -> None:
    """ConfigError naming `model` and what to fix, when it cannot train on `data`."""
    factory = model_factory(model)  # module and attribute: resolve_import_path's errors
    if not callable(factory):
        raise ConfigError(f"model '{model}' is a {type(factory).__name__}, not a callable; "
                          "point it at a function or nn.Module class that returns the network")  # fmt: skip
    shape, classes = data.input_shape, data.num_classes
    try:
        net = factory(shape, classes, **model_args)
    except Exception as exc:  # the user's constructor: its own words, and what it was given
        raise ConfigError(f"model '{model}' raised {_first_line(exc)} when built with input_shape {shape}, "
                          f"num_classes {classes}, model_args {model_args}") from None  # fmt: skip
    if not isinstance(net, nn.Module):
        raise ConfigError(f"model '{model}' returned a {type(net).__name__}, not a torch.nn.Module")
    batch = data.example_batch(_BATCH)
    was_training = net.training
    try:
        net.eval()  # batch statistics of a tiny batch would be meaningless; eval is enough here
        with torch.no_grad():
            logits = net(batch)
    except Exception as exc:
        raise ConfigError(f"model '{model}': the forward pass on a batch of shape {list(batch.shape)} raised "
                          f"{_first_line(exc)}") from None  # fmt: skip
    finally:
        net.train(was_training)
    expected = [len(batch), classes]
    got = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
    if got != expected:
        raise ConfigError(f"model '{model}' gave {got} for a batch of {len(batch)}; it must return logits of "
                          f"shape {expected} ([batch, num_classes])")  # fmt: skip
