"""The cooldown probe at rung epochs: the branch anneals to the schedule's end with the `1 - sqrt`
shape and is evaluated; the main run then ends bit for bit as a run that was never probed (in
memory and stream mode, with lookahead, augmentation, dropout, K=2 workers and after a resume),
and leaving out any one part of the restore is caught."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from nagexp.config import TrainConfig
from nagexp.data.bundle import DataBundle
from nagexp.training import probe as probe_module
from nagexp.training.checkpoint import load_checkpoint
from nagexp.training.probe import RESTORED, cooldown_steps, cooldown_values
from nagexp.training.schedules import momentum_values, torch_lr_values
from nagexp.training.trainer import TrainResult, train
from tests.conftest import TIMING_KEYS, free_port, load_bundle

PROBE_KEYS = ("cooldown_val_acc", "cooldown_val_loss", "probe_steps", "probe_seconds")


def dropout_cnn(shape: tuple[int, int, int], classes: int) -> nn.Module:
    """A model of the user's with BatchNorm and dropout: its steps draw from torch's generator,
    so a branch that leaves that generator moved changes the run."""
    return nn.Sequential(nn.Conv2d(shape[0], 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Dropout(0.2), nn.Flatten(), nn.Linear(8 * shape[1] * shape[2], classes))  # fmt: skip


# small runs on digits (1295 training rows: 20 steps of 64 an epoch); every epoch but the last probed
SMALL = {"dataset": "digits", "model": "cnn", "width": 0.25, "epochs": 4, "batch_size": 64, "lr": 0.1,
         "device": "cpu", "num_threads": 1}  # fmt: skip
PROBES = {"probe_epochs": (1, 2, 3, 4), "cooldown_fraction": 0.5}
LEAKY = {**SMALL, "model": f"{__name__}:dropout_cnn", "width": 1.0, "augment": True, "weight_averaging": "lookahead",
         "momentum_schedule": "final_drop"}  # fmt: skip


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    return load_bundle("digits", say=lambda _: None)


def differences(one: TrainResult, other: TrainResult) -> list[str]:
    """What differs between two runs' ends: tensors of the final state_dict (bit for bit), and
    every epoch's metrics but the timing and the probes' own keys."""
    a, b = one.model.state_dict(), other.model.state_dict()
    found = [k for k in a if not torch.equal(a[k], b[k])]
    skipped = (*TIMING_KEYS, *PROBE_KEYS)
    plain = [[{k: v for k, v in h.items() if k not in skipped} for h in r.history] for r in (one, other)]
    if plain[0] != plain[1]:
        found.append("metrics")
    return found


def test_cooldown_anneals_with_the_one_minus_sqrt_shape() -> None:
    values = cooldown_values(1.0, 0.1, 4)
    assert values == pytest.approx([0.1 + 0.9 * (1 - math.sqrt(t / 4)) for t in (1, 2, 3, 4)])
    assert values[-1] == 0.1  # exactly the end
    assert all(a > b for a, b in zip([1.0, *values], values, strict=False))  # down every step
    linear = [1.0 - 0.9 * t / 4 for t in (1, 2, 3)]
    assert all(v < lin for v, lin in zip(values, linear, strict=False))  # below linear: most of the drop early
    assert cooldown_values(0.5, 0.9, 1) == [0.9]  # momentum may rise to its end too
    assert (cooldown_steps(100, 0.2), cooldown_steps(3, 0.2), cooldown_steps(1, 0.2)) == (20, 1, 1)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"augment": True}, id="batchnorm-augment"),
        pytest.param(
            {"augment": True, "augment_flip": "alternate", "weight_averaging": "lookahead", "norm_bias_lr_scale": 4.0},
            id="lookahead-alternate-flips",
        ),
        pytest.param(LEAKY, id="dropout-lookahead-augment"),
    ],
)
def test_probed_run_ends_as_the_run_never_probed(digits: DataBundle, fields: dict[str, Any]) -> None:
    cfg = TrainConfig(**{**SMALL, **fields})
    plain, probed = train(cfg, digits), train(cfg.model_copy(update=PROBES), digits)
    assert differences(probed, plain) == []
    assert [h["epoch"] for h in probed.history if "cooldown_val_acc" in h] == [1, 2, 3]  # never the last
    steps = [h["probe_steps"] for h in probed.history]
    assert steps == [10, 10 + 20, 10 + 20 + 30, 60]  # half the steps so far, summed
    assert not any(k in h for h in plain.history for k in PROBE_KEYS)
    before: dict[str, float] = {}
    for h in probed.history:  # a probe's seconds count in its epoch's seconds, beside the training's
        trained, probing = (h[k] - before.get(k, 0.0) for k in ("train_seconds", "probe_seconds"))
        assert h["epoch_seconds"] >= trained + probing
        before = h
    assert probed.test_acc == plain.test_acc


@pytest.fixture(scope="module")
def never_probed(digits: DataBundle) -> TrainResult:
    return train(TrainConfig(**LEAKY), digits)


@pytest.mark.parametrize("part", RESTORED)
def test_a_branch_that_leaks_any_part_is_caught(digits: DataBundle, never_probed: TrainResult, part: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The mutation check: the restore puts back all but `part`, and the comparison that finds
    nothing when all is put back (the dropout-lookahead-augment case above) finds the difference."""
    monkeypatch.setattr(probe_module, "RESTORED", tuple(p for p in RESTORED if p != part))
    leaky = train(TrainConfig(**{**LEAKY, **PROBES}), digits)
    assert differences(leaky, never_probed) != []


def test_resumed_run_probes_its_remaining_epochs(digits: DataBundle, tmp_path: Path) -> None:
    cfg = TrainConfig(**{**SMALL, "augment": True, "weight_averaging": "lookahead"})
    probed = cfg.model_copy(update=PROBES)
    saved = tmp_path / "epoch2.pt"

    def keep_epoch_two(metrics: dict[str, float], checkpoint: Any) -> None:
        if checkpoint.epoch == 2:
            checkpoint.save(saved)

    whole = train(probed, digits, keep_epoch_two)
    resumed = train(probed, digits, resume=load_checkpoint(saved))
    assert differences(resumed, train(cfg, digits)) == []
    assert "cooldown_val_acc" in resumed.history[2]  # epoch 3: probed after the resume
    assert [h["probe_steps"] for h in resumed.history] == [h["probe_steps"] for h in whole.history]


def test_cooldown_ends_at_the_schedules_final_values(digits: DataBundle, monkeypatch: pytest.MonkeyPatch) -> None:
    """The branch's steps: lr (x each group's scale) and momentum from the last step's values to the
    schedule's last, weight decay held; the probe's value is not the raw one mid-run."""
    cfg = TrainConfig(**{**SMALL, "epochs": 6, "lr_schedule": "linear", "lr_final_fraction": 0.1,
                         "momentum_schedule": "final_drop", "norm_bias_lr_scale": 4.0, "probe_epochs": (2,),
                         "cooldown_fraction": 0.25})  # fmt: skip
    seen: list[tuple[list[float], float, list[float]]] = []
    real_step = probe_module.optimizer_step

    def recording_step(run: Any, *args: Any) -> Any:
        groups = run.opt.param_groups
        seen.append(([g["lr"] for g in groups], groups[0]["momentum"], [g["weight_decay"] for g in groups]))
        return real_step(run, *args)

    monkeypatch.setattr(probe_module, "optimizer_step", recording_step)
    result = train(cfg, digits)
    total = 20 * cfg.epochs
    lrs, mus = torch_lr_values(cfg, total), momentum_values(cfg, total)
    assert len(seen) == cooldown_steps(40, 0.25) == 10
    first_lrs, _, decays = seen[0]
    last_lrs, last_mu, _ = seen[-1]
    assert last_lrs == pytest.approx([lrs[-1], 4.0 * lrs[-1]]) and last_mu == pytest.approx(mus[-1])
    assert mus[39] == cfg.momentum and mus[-1] == cfg.final_momentum  # the momentum does move
    assert lrs[-1] < first_lrs[0] < lrs[39]  # annealed from the current lr: the first step is below it
    assert all(d == decays for _, _, d in seen)
    probed = result.history[1]
    assert probed["cooldown_val_loss"] != probed["val_loss"]
    assert probed["cooldown_val_acc"] != probed["val_acc"]


def test_probe_epochs_count_from_one() -> None:
    with pytest.raises(ValueError, match=r"probe_epochs count epochs from 1 \(got \[0, 2\]\)"):
        TrainConfig(probe_epochs=(0, 2))
    with pytest.raises(ValueError, match="cooldown_fraction"):
        TrainConfig(cooldown_fraction=0)


def test_schedule_free_probe_is_its_plain_metrics(digits: DataBundle) -> None:
    cfg = TrainConfig(**{**SMALL, "epochs": 3, "optimizer": "sgd_schedulefree", "lr": 0.5, "probe_epochs": (1,)})
    result = train(cfg, digits)
    first = result.history[0]
    assert (first["cooldown_val_acc"], first["cooldown_val_loss"]) == (first["val_acc"], first["val_loss"])
    assert first["probe_steps"] == 0


def _rank_main(rank: int, world: int, port: int, config: dict, out: str) -> None:
    import torch.distributed as dist

    from nagexp.training.distributed import TorchProcessGroup

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        cfg, data = TrainConfig(**config), load_bundle("digits", say=lambda _: None)
        group = TorchProcessGroup(torch.device("cpu"))
        runs = {name: train(c, data, dist=group) for name, c in
                (("plain", cfg), ("probed", cfg.model_copy(update=PROBES)))}  # fmt: skip
        torch.save({n: {"model": r.model.state_dict(), "history": r.history} for n, r in runs.items()}, f"{out}.{rank}")
        dist.barrier()  # no rank tears the group down while another still talks to it
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # gloo processes spawned: the full suite, not the fast tier
def test_two_workers_probed_end_as_never_probed(tmp_path: Path) -> None:
    """K=2 gloo workers (BatchNorm, augmentation, lookahead): every rank probes together, and
    each rank's run ends bit for bit as its unprobed run."""
    cfg = TrainConfig(**{**SMALL, "epochs": 3, "augment": True, "weight_averaging": "lookahead",
                         "workers_per_trial": 2})  # fmt: skip
    mp.spawn(_rank_main, args=(2, free_port(), cfg.model_dump(mode="json"), str(tmp_path / "run")), nprocs=2)
    for rank in range(2):
        runs = torch.load(f"{tmp_path / 'run'}.{rank}", weights_only=False)
        plain, probed = runs["plain"], runs["probed"]
        assert all(torch.equal(plain["model"][k], probed["model"][k]) for k in plain["model"])
        skipped = (*TIMING_KEYS, *PROBE_KEYS)
        assert [{k: v for k, v in h.items() if k not in skipped} for h in probed["history"]] == [
            {k: v for k, v in h.items() if k not in skipped} for h in plain["history"]]  # fmt: skip
        assert [h["epoch"] for h in probed["history"] if "cooldown_val_acc" in h] == [1, 2]


CIFAR_SLICE = f"imagefolder:{Path(__file__).resolve().parents[1] / 'data' / 'cifar10-slice'}"


@pytest.mark.usefixtures("ray_runtime")
def test_stream_mode_probed_run_ends_as_never_probed(tmp_path: Path) -> None:
    """A probe reads the next epoch through Ray Data out of turn (and stops it part way): the
    main run's own pass over that epoch is untouched."""
    from nagexp.data.loading import load_train_data

    cfg = TrainConfig(dataset=CIFAR_SLICE, data_mode="stream", model="cnn", width=0.25, epochs=3, batch_size=20,
                      augment=True, device="cpu", num_threads=1)  # fmt: skip
    data = load_train_data(cfg, tmp_path, say=lambda _: None)
    assert data.mode == "stream"
    plain = train(cfg, data)
    probed = train(cfg.model_copy(update={"probe_epochs": (1, 2), "cooldown_fraction": 0.3}), data)
    assert differences(probed, plain) == []
    assert [h["probe_steps"] for h in probed.history] == [3, 3 + 5, 8]  # 9 steps an epoch: 0.3 x 9, 0.3 x 18
