"""What a run carries besides metrics: the trained model (MLflow PyTorch flavor, from a
trial's checkpoint) and a figure of its LR and momentum schedules."""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from nagexp.config.train import TrainConfig
from nagexp.core.version import __version__
from nagexp.data.batches import TrainData
from nagexp.registries.models import build_model
from nagexp.training.checkpoint import load_checkpoint
from nagexp.training.schedules import momentum_values, torch_lr_values

__all__ = ["log_model", "log_schedule_figure", "model_from_checkpoint", "schedule_figure", "using_tracking_uri",
           "warm_up"]


def warm_up() -> threading.Thread:
    """Import what logging a model and a figure needs, in the background: the sweep's
    driver mostly waits on Ray meanwhile, so the sweep's end does not pay for it."""

    def imports() -> None:
        # torch.export._trace pulls in torch._dynamo: about 2 s
        for module in ("matplotlib.figure", "mlflow.models", "mlflow.pytorch", "torch.export._trace"):
            importlib.import_module(module)

    thread = threading.Thread(target=imports, name="nagexp-mlflow-warm-up", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API for a moment, leaving the process's tracking URI (and the
    MLFLOW_TRACKING_URI variable that `set_tracking_uri` writes) as they were."""
    import mlflow

    before_env = os.environ.get("MLFLOW_TRACKING_URI")
    before = mlflow.get_tracking_uri() if before_env is None else before_env
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
        if before_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def model_from_checkpoint(cfg: TrainConfig, data: TrainData, checkpoint_file: Path) -> torch.nn.Module:
    model = build_model(cfg.model, data.input_shape, data.num_classes, **cfg.model_arguments())
    model.load_state_dict(load_checkpoint(checkpoint_file)["model"])
    return model.eval()


def log_model(tracking_uri: str, run_id: str, model: torch.nn.Module, data: TrainData,
              registered_name: str | None = None) -> Any:  # fmt: skip
    """Log `model` (CPU, eval mode) under `model` in the run, with a signature and an input
    example taken from the normalized validation images it was scored on."""
    import mlflow
    import mlflow.pytorch
    from mlflow.models import infer_signature

    model = model.cpu().eval()
    example = data.example_batch(4)
    with torch.no_grad():
        logits = model(example)
    signature = infer_signature(example.numpy(), logits.numpy())
    with using_tracking_uri(tracking_uri), mlflow.start_run(run_id=run_id):
        return mlflow.pytorch.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example.numpy(),
            # explicit requirements: inferring them loads the model in a subprocess (slow)
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"nagexp=={__version__}"],
            registered_model_name=registered_name,
            # torch.export's graph format: loading it runs no pickled code (unlike "pickle")
            serialization_format="pt2",
        )


def schedule_figure(cfg: TrainConfig, train_samples: int) -> Any:
    """The torch lr and the momentum written at every step of this config's training (a
    Figure of its own: no pyplot, so the process's backend and open figures are untouched)."""
    from matplotlib.figure import Figure

    steps = max(1, train_samples // min(cfg.batch_size, train_samples)) * cfg.epochs
    fig = Figure(figsize=(6, 4.5))
    ax_lr, ax_mu = fig.subplots(2, 1, sharex=True)
    ax_lr.plot(torch_lr_values(cfg, steps), color="tab:blue")
    ax_lr.set_ylabel("torch lr")
    ax_lr.set_title(f"{cfg.optimizer}: lr {cfg.lr_schedule} ({cfg.lr_mode}), momentum {cfg.momentum_schedule}")
    ax_mu.plot(momentum_values(cfg, steps), color="tab:orange")
    ax_mu.set_ylabel("momentum")
    ax_mu.set_xlabel("optimizer step")
    fig.tight_layout()
    return fig


def log_schedule_figure(client: Any, run_id: str, cfg: TrainConfig, train_samples: int) -> None:
    """Log `schedules.png`."""
    client.log_figure(run_id, schedule_figure(cfg, train_samples), "schedules.png")
