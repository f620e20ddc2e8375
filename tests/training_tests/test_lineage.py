"""A run continued from another run's checkpoint under new lr / momentum / weight decay (what
population-based training does): the velocity is kept, the new values apply from there, and
the checkpoint records the schedule and lineage of its weights."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from nagexp.config import TrainConfig
from nagexp.training.checkpoint import TrainCheckpoint
from nagexp.training.lineage import exploits, exported_schedule
from nagexp.training.trainer import train


def _checkpoints(cfg: TrainConfig, data: Any, label: int, resume: dict | None = None) -> list[dict]:
    saved: list[dict] = []

    def report(metrics: dict, checkpoint: TrainCheckpoint) -> None:
        saved.append({k: (v.copy() if isinstance(v, list) else v) for k, v in checkpoint.state().items()})
        saved[-1]["optimizer"] = {"state": {i: {k: t.clone() for k, t in s.items()}
                                            for i, s in checkpoint.state()["optimizer"]["state"].items()},
                                  "param_groups": checkpoint.state()["optimizer"]["param_groups"]}  # fmt: skip
        saved[-1]["model"] = {k: t.clone() for k, t in checkpoint.state()["model"].items()}

    train(cfg, data, report, resume=resume, label=label)
    return saved


def test_a_copy_keeps_the_velocity_and_takes_the_new_values(small_cfg: TrainConfig, digits: Any) -> None:
    donor = small_cfg.model_copy(update={"epochs": 4, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
                                         "lr_schedule": "constant"})
    at_two = _checkpoints(donor, digits, label=7)[1]
    velocity = at_two["optimizer"]["state"][0]["momentum_buffer"].clone()  # the optimizer takes over the tensor
    new = donor.model_copy(update={"lr": 0.02, "momentum": 0.6, "weight_decay": 1e-3, "seed": 3})
    first_step: dict[str, Any] = {}

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not first_step:
            group = opt.param_groups[0]
            first_step.update(lr=group["lr"], momentum=group["momentum"], weight_decay=group["weight_decay"],
                              velocity=opt.state[group["params"][0]]["momentum_buffer"].clone())  # fmt: skip

    handle = register_optimizer_step_pre_hook(hook)
    try:
        after = _checkpoints(new, digits, label=9, resume=at_two)
    finally:
        handle.remove()
    assert (first_step["lr"], first_step["momentum"], first_step["weight_decay"]) == (0.02, 0.6, 1e-3)
    assert torch.equal(first_step["velocity"], velocity)

    last = after[-1]
    steps = len(last["schedule"]["lr"]) // 4
    assert last["schedule"]["lr"] == [0.05] * (2 * steps) + [0.02] * (2 * steps)
    assert last["schedule"]["momentum"] == [0.9] * (2 * steps) + [0.6] * (2 * steps)
    assert last["lineage"] == [{"epoch": 0, "label": 7, "config": donor.model_dump(mode="json")},
                               {"epoch": 2, "label": 9, "config": new.model_dump(mode="json")}]  # fmt: skip
    assert exploits(last["lineage"]) == [{"epoch": 2, "from": 7, "to": 9}]
    exported = exported_schedule(last["schedule"])
    assert exported["lr_knots"] == [[0, 0.05], [2 * steps, 0.02]]
    assert exported["weight_decay_knots"] == [[0, 5e-4], [2 * steps, 1e-3]]
    assert TrainConfig(**{**new.model_dump(), **exported}).lr_schedule == "piecewise"


def test_a_retry_of_the_same_run_adds_no_lineage(small_cfg: TrainConfig, digits: Any) -> None:
    saved = _checkpoints(small_cfg, digits, label=1)
    again = _checkpoints(small_cfg, digits, label=1, resume=saved[0])
    assert again[-1]["lineage"] == [{"epoch": 0, "label": 1, "config": small_cfg.model_dump(mode="json")}]
    assert again[-1]["schedule"] == saved[-1]["schedule"]
    assert again[-1]["history"][-1]["val_acc"] == pytest.approx(saved[-1]["history"][-1]["val_acc"])
