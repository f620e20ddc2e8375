"""Shared fixtures: the digits bundle is loaded once per session; configs are shrunk."""

from __future__ import annotations

import pytest
import torch

from nagexp.config import TrainConfig
from nagexp.train.data import DataBundle, load_dataset


@pytest.fixture(scope="session", autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits() -> DataBundle:
    return load_dataset("digits")


@pytest.fixture
def small_cfg() -> TrainConfig:
    """A fast config: small CNN on digits, a few epochs, CPU."""
    return TrainConfig(dataset="digits", model="cnn", width=0.5, epochs=3, batch_size=64, device="cpu", lr=0.05)


@pytest.fixture(scope="session")
def ray_runtime():
    """One local Ray runtime (2 CPUs, no dashboard) shared by every sweep test."""
    import ray

    from nagexp.sweep.runner import connect_ray

    connect_ray(None, num_cpus=2)
    yield
    ray.shutdown()
