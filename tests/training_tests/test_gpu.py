"""The CUDA path, run for real on a GPU (`pytest -m gpu`); each test skips with one line on a
machine without CUDA. benchmarks/gpu_check.sh runs them on the lent GPU machine."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from nagexp.config import TrainConfig
from nagexp.registries import models as model_registry
from nagexp.training.checkpoint import load_checkpoint
from nagexp.training.trainer import train

pytestmark = pytest.mark.gpu
SEEN: dict[str, list] = {}


def probe_model(shape: tuple[int, int, int], classes: int, width: float) -> nn.Module:
    """The built-in cnn, with hooks recording what its first conv and its head see."""
    model = model_registry.build_model("cnn", shape, classes, width=width)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]

    def on_conv(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if module.training:
            SEEN.setdefault("conv_in_channels_last", []).append(
                inputs[0].is_contiguous(memory_format=torch.channels_last))
            SEEN.setdefault("weight_channels_last", []).append(
                module.weight.is_contiguous(memory_format=torch.channels_last))
            SEEN.setdefault("conv_out_dtype", []).append(output.dtype)

    def on_head(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        SEEN.setdefault("logits_dtype", []).append(output.dtype)

    convs[0].register_forward_hook(on_conv)
    head.register_forward_hook(on_head)
    return model


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> str:
    SEEN.clear()
    monkeypatch.setitem(model_registry.MODELS, "probe", f"{__name__}:probe_model")
    return "probe"


def cuda_cfg(**values: object) -> TrainConfig:
    return TrainConfig(**{"dataset": "digits", "model": "cnn", "width": 0.5, "epochs": 2, "device": "cuda",
                          "batch_size": 64, **values})  # fmt: skip


def test_data_and_model_live_on_the_gpu(digits) -> None:
    result = train(cuda_cfg(), digits)
    assert all(p.device.type == "cuda" for p in result.model.parameters())
    assert result.test_acc is not None and result.test_acc > 0.5


def test_bf16_autocast_and_channels_last_inputs_and_model(digits, probe: str) -> None:
    result = train(cuda_cfg(model=probe, augment=True), digits)
    assert SEEN["conv_in_channels_last"] and all(SEEN["conv_in_channels_last"])  # every input batch
    assert all(SEEN["weight_channels_last"])  # and the weights
    assert set(SEEN["conv_out_dtype"]) == {torch.bfloat16}  # convolutions run in bf16
    bns = [m for m in result.model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(b.running_mean.dtype == torch.float32 for b in bns)  # BatchNorm state stays fp32
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # fp32 master weights


def test_no_host_device_sync_inside_the_epoch_loop(digits) -> None:
    """Per epoch, the host waits for the GPU a few times (the batched non-finite check every 50
    steps, the epoch's loss and accuracy, evaluation), never once per step. Counted as the
    difference between a 2-epoch and a 1-epoch run, so setup (moving the model) cancels out."""
    data = digits.to("cuda")
    cfg = cuda_cfg(epochs=1, batch_size=16)  # 80 steps an epoch
    train(cfg, data)  # warm-up: cuDNN autotuning, allocator

    def syncs(epochs: int) -> int:
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train(cfg.model_copy(update={"epochs": epochs}), data)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    per_epoch = syncs(2) - syncs(1)
    steps = len(data.y_train) // 16
    assert 0 < per_epoch < steps / 8, f"{per_epoch} syncs per epoch of {steps} steps"


def test_checkpoint_saved_on_gpu_resumes_on_cpu(digits, tmp_path: Path) -> None:
    saved: list[Path] = []

    def report(metrics: dict, checkpoint) -> None:
        if checkpoint.epoch == 1:
            checkpoint.save(tmp_path / "gpu.pt")
            saved.append(tmp_path / "gpu.pt")

    train(cuda_cfg(epochs=3), digits, report)
    state = load_checkpoint(saved[0])  # weights_only, mapped to the CPU
    assert all(t.device.type == "cpu" for t in state["model"].values())
    resumed = train(cuda_cfg(epochs=3, device="cpu"), digits.to("cpu"), resume=state)
    assert resumed.epochs_run == 3 and resumed.history[0] == state["history"][0]
    assert all(p.device.type == "cpu" for p in resumed.model.parameters())
    assert resumed.test_acc is not None and resumed.test_acc > 0.5


def test_nagexp_train_on_cuda(tmp_path: Path) -> None:
    from nagexp.cli import app

    result = CliRunner().invoke(app, ["train", "--device", "cuda", "--epochs", "2", "--no-track", "--name", "gpu",
                                      "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.stdout
    saved = torch.load(tmp_path / "train" / "gpu" / "model.pt", map_location="cpu", weights_only=True)
    assert saved["config"]["device"] == "cuda" and all(t.device.type == "cpu" for t in saved["model"].values())


@pytest.fixture
def deterministic_cuda():
    """Deterministic kernels, so two CUDA runs can be compared bit for bit. cuBLAS needs
    CUBLAS_WORKSPACE_CONFIG before its first use in the process (gpu_check.sh exports it)."""
    import os

    if not os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
        pytest.skip("needs CUBLAS_WORKSPACE_CONFIG=:4096:8 set before pytest starts (gpu_check.sh sets it)")
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def test_cooldown_probe_leaves_a_cuda_run_bit_identical(digits, deterministic_cuda, monkeypatch) -> None:
    """The rung probe on the GPU: with dropout drawing from the CUDA generator, bf16 autocast and
    lookahead, a probed run ends as the run never probed; a restore that leaves out the RNG
    states (CUDA's among them) is caught by the same comparison."""
    from nagexp.training import probe as probe_module
    from tests.training_tests.test_rung_probe import LEAKY, PROBES, differences

    cfg = TrainConfig(**{**LEAKY, "device": "cuda", "num_threads": 4})
    plain, again = train(cfg, digits), train(cfg, digits)
    assert differences(again, plain) == []  # the kernels are deterministic: the comparison means something
    probed = train(cfg.model_copy(update=PROBES), digits)
    assert [h["epoch"] for h in probed.history if "cooldown_val_acc" in h] == [1, 2, 3]
    assert differences(probed, plain) == []
    monkeypatch.setattr(probe_module, "RESTORED", tuple(p for p in probe_module.RESTORED if p != "rng"))
    assert differences(train(cfg.model_copy(update=PROBES), digits), plain) != []
