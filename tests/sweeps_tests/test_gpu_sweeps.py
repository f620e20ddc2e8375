"""Streamed data and population sweeps on a real GPU (`pytest -m gpu`; each test skips with one
line without CUDA). benchmarks/gpu_check.sh runs them on the lent GPU machine.

The sweeps train a model that refuses to train off the GPU (the driver's model check runs it in
eval mode on the CPU, which it allows): a trial completes only if its batches reached CUDA, in
channels_last memory and under bf16 autocast."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.train import TrainConfig
from nagexp.data.prepared.prepare import prepare
from nagexp.data.prepared.stream import stream_data

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("ray_runtime")]
runner = CliRunner()
SLICE = Path(__file__).resolve().parents[1] / "data" / "cifar10-slice"
FOLDER = f"imagefolder:{SLICE}"

GPU_ONLY = """
    import torch
    from torch import nn

    class GpuOnly(nn.Module):
        def __init__(self, channels, num_classes):
            super().__init__()
            self.conv = nn.Conv2d(channels, 16, 3, padding=1)
            self.bn = nn.BatchNorm2d(16)
            self.head = nn.Linear(16, num_classes)

        def forward(self, x):
            if self.training:
                if not x.is_cuda:
                    raise RuntimeError(f"batch on {x.device}, not on the GPU")
                if not x.is_contiguous(memory_format=torch.channels_last):
                    raise RuntimeError("batch not in channels_last memory")
                if not torch.is_autocast_enabled("cuda"):
                    raise RuntimeError("no bf16 autocast")
            x = torch.relu(self.bn(self.conv(x)))
            return self.head(x.mean((2, 3)))

    def net(input_shape, num_classes):
        return GpuOnly(input_shape[0], num_classes)
"""


def gpu_only_code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "gpu_only.py").write_text(textwrap.dedent(GPU_ONLY))
    return folder


def states(sweep: Path) -> list[str]:
    with (sweep / "trials.csv").open() as f:
        return [row["state"] for row in csv.DictReader(f)]


def test_streamed_batches_on_the_gpu_are_the_cpu_batches(tmp_path: Path) -> None:
    streamed = stream_data(prepare(FOLDER, 32, tmp_path), FOLDER, val_fraction=0.1, test_fraction=0.2, split_seed=0)
    cfg = TrainConfig(dataset=FOLDER, model="cnn", width=0.25, epochs=1, batch_size=20, data_mode="stream")
    sizes = (cfg.seed, cfg.batch_size, cfg.eval_batch_size)
    on_gpu = list(streamed.batches(*sizes, torch.device("cuda")).train_epoch(0))
    on_cpu = list(streamed.batches(*sizes, torch.device("cpu")).train_epoch(0))
    assert len(on_gpu) == len(on_cpu) == 9
    for (xg, yg), (xc, yc) in zip(on_gpu, on_cpu, strict=True):
        assert xg.is_cuda and yg.is_cuda and xg.dtype == torch.float32
        assert torch.equal(yg.cpu(), yc)  # same images in the same order: the order is the seed's
        np.testing.assert_allclose(xg.cpu().numpy(), xc.numpy(), atol=1e-5)  # normalized on the device


def test_stream_sweep_trains_on_the_gpu(tmp_path: Path, two_cpus: None) -> None:  # a trial and its Ray Data tasks
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({
        "fixed": {"dataset": FOLDER, "model": "gpu_only:net", "epochs": 2, "batch_size": 32, "data_mode": "stream"},
        "params": {"lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}}))  # fmt: skip
    result = runner.invoke(app, ["sweep", str(space), "--trials", "2", "--scheduler", "fifo", "--gpus-per-trial",
                                 "0.5", "--code-dir", str(gpu_only_code(tmp_path)), "--no-track", "--name", "stream",
                                 "--results-dir", str(tmp_path / "results")])  # fmt: skip
    assert result.exit_code == 0, result.output
    sweep = tmp_path / "results" / "stream"
    assert states(sweep) == ["completed", "completed"], (sweep / "trials.csv").read_text()


def test_pbt_sweep_exploits_gpu_checkpoints_and_its_winner_replays_on_the_gpu(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({
        "fixed": {"dataset": "digits", "model": "gpu_only:net", "epochs": 4, "batch_size": 64,
                  "lr_schedule": "constant", "momentum_schedule": "constant"},
        "params": {"lr": {"type": "float", "low": 0.003, "high": 1.0, "log": True},
                   "momentum": {"type": "float", "low": 0.5, "high": 0.99}},
        "objective": {"metric": "val_loss", "mode": "min"},
        "pbt": {"perturbation_interval": 2, "quantile_fraction": 0.25, "mutate": ["lr", "momentum"]}}))  # fmt: skip
    code = gpu_only_code(tmp_path)
    results = tmp_path / "results"
    result = runner.invoke(app, ["sweep", str(space), "--scheduler", "pbt", "--trials", "4", "--gpus-per-trial",
                                 "0.25", "--code-dir", str(code), "--no-track", "--name", "pbt",
                                 "--results-dir", str(results)])  # fmt: skip
    assert result.exit_code == 0, result.output
    sweep = results / "pbt"
    assert states(sweep) == ["completed"] * 4, (sweep / "trials.csv").read_text()
    with (sweep / "trials.csv").open() as f:
        assert any(row["exploits"] for row in csv.DictReader(f))  # the worst member took a GPU checkpoint
    replay = runner.invoke(app, ["train", str(sweep / "best.yaml"), "--device", "cuda", "--code-dir", str(code),
                                 "--no-track", "--name", "replay", "--results-dir", str(results)])  # fmt: skip
    assert replay.exit_code == 0, replay.output
