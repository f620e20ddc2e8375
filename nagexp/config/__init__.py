"""Typed configuration: TrainConfig and its YAML loading."""

from __future__ import annotations

from nagexp.config.loading import load_train_config, parse_overrides, train_config_from
from nagexp.config.train import TrainConfig

__all__ = ["TrainConfig", "load_train_config", "parse_overrides", "train_config_from"]
