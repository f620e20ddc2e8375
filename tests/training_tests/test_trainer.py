"""The trainer: Nesterov update, determinism, checkpoint resume, divergence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nagexp.config import TrainConfig
from nagexp.training.checkpoint import load_checkpoint
from nagexp.training.optim import build_optimizer
from nagexp.training.trainer import train
from tests.conftest import without_timing


def test_nag_step_equals_hand_computed_nesterov() -> None:
    # torch's form: b = mu*b + g; p -= lr*(g + mu*b), with weight decay folded into g
    p0 = torch.tensor([1.0, -2.0, 0.5])
    w = p0.clone().requires_grad_(True)
    a = torch.tensor([3.0, 1.0, 0.5])  # f(w) = 0.5 * sum(a * w^2), grad = a * w
    opt = build_optimizer([w], "nag", 0.9, 0.01, torch.device("cpu"))
    p, b = p0.clone(), torch.zeros(3)
    for lr, mu in [(0.1, 0.9), (0.05, 0.5), (0.2, 0.95)]:  # schedules write both every step
        opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"] = lr, mu
        opt.zero_grad()
        (0.5 * (a * w**2).sum()).backward()
        opt.step()
        g = a * p + 0.01 * p
        b = mu * b + g
        p = p - lr * (g + mu * b)
        torch.testing.assert_close(w.detach(), p, rtol=1e-6, atol=1e-7)


def test_nag_iterates_are_sutskever_lookahead_points() -> None:
    # Sutskever et al. 2013: v = mu*v - lr*grad(theta + mu*v); theta += v.
    # torch's parameters are the look-ahead points theta + mu*v of that sequence.
    a = torch.tensor([2.0, 0.3])
    w = torch.tensor([1.0, 1.0], requires_grad=True)
    opt = build_optimizer([w], "nag", 0.9, 0.0, torch.device("cpu"))
    opt.param_groups[0]["lr"] = 0.1
    theta, v = torch.tensor([1.0, 1.0]), torch.zeros(2)
    for _ in range(20):
        opt.zero_grad()
        (0.5 * (a * w**2).sum()).backward()
        opt.step()
        v = 0.9 * v - 0.1 * a * (theta + 0.9 * v)
        theta = theta + v
        torch.testing.assert_close(w.detach(), theta + 0.9 * v, rtol=1e-5, atol=1e-6)


def test_heavy_ball_and_sgd_differ_from_nag() -> None:
    def after_two_steps(kind: str) -> torch.Tensor:
        w = torch.tensor([1.0], requires_grad=True)
        opt = build_optimizer([w], kind, 0.9, 0.0, torch.device("cpu"))
        for _ in range(2):
            opt.param_groups[0]["lr"] = 0.1
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()
        return w.detach()

    # grad 2w: sgd: 1 -> 0.8 -> 0.64; heavy-ball: 0.8 -> 0.8-0.1*(0.9*2+1.6)=0.46;
    # nag: 1 - 0.1*(2+1.8)=0.62 -> g=1.24, b=1.8+1.24=3.04, 0.62-0.1*(1.24+2.736)=0.2224
    assert after_two_steps("sgd").item() == pytest.approx(0.64)
    assert after_two_steps("momentum").item() == pytest.approx(0.46)
    assert after_two_steps("nag").item() == pytest.approx(0.2224)


def test_nesterov_built_with_schedule_starting_at_zero(digits, small_cfg: TrainConfig) -> None:
    # final_drop to 0: torch refuses momentum 0 at construction, not at step time
    cfg = small_cfg.model_copy(update={"momentum_schedule": "final_drop", "final_momentum": 0.0, "epochs": 2})
    result = train(cfg, digits)
    assert result.history[-1]["momentum"] == 0.0
    assert not result.diverged


def test_schedules_reach_the_optimizer(digits, small_cfg: TrainConfig) -> None:
    cfg = small_cfg.model_copy(update={"lr_schedule": "step", "lr_milestones": (0.5,), "lr_gamma": 0.1,
                                       "momentum_schedule": "final_drop", "final_drop_fraction": 0.5,
                                       "epochs": 2})  # fmt: skip
    seen: list[dict] = []
    train(cfg, digits, lambda m, c: seen.append(m))
    assert seen[0]["lr"] == pytest.approx(0.05) and seen[1]["lr"] == pytest.approx(0.005)
    assert seen[0]["momentum"] == pytest.approx(0.9) and seen[1]["momentum"] == pytest.approx(0.5)


def test_default_config_learns(digits) -> None:
    result = train(TrainConfig(device="cpu", epochs=6), digits)
    assert result.test_acc is not None and result.test_acc >= 0.97
    assert len(result.history) == 6
    assert set(result.history[0]) >= {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "momentum",
                                      "epoch_seconds", "samples_per_s"}  # fmt: skip


def test_same_seed_bit_identical(digits, small_cfg: TrainConfig) -> None:
    a = train(small_cfg, digits)
    b = train(small_cfg, digits)
    assert without_timing(a.history) == without_timing(b.history)
    assert a.test_acc == b.test_acc
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    c = train(small_cfg.model_copy(update={"seed": 1}), digits)
    assert without_timing(c.history) != without_timing(a.history)


def test_augmented_run_is_deterministic_and_augments(digits, small_cfg: TrainConfig) -> None:
    """The same augmented run twice is the same run; and augmentation changes what is trained
    (the crops and flips themselves: test_augment.py)."""
    cfg = small_cfg.model_copy(update={"augment": True, "epochs": 2})
    augmented = without_timing(train(cfg, digits).history)
    assert augmented == without_timing(train(cfg, digits).history)
    plain = without_timing(train(cfg.model_copy(update={"augment": False}), digits).history)
    assert [h["train_loss"] for h in augmented] != [h["train_loss"] for h in plain]


def test_checkpoint_resume_matches_uninterrupted(digits, small_cfg: TrainConfig, tmp_path: Path) -> None:
    cfg = small_cfg.model_copy(update={"epochs": 4, "augment": True, "momentum_schedule": "sutskever",
                                       "sutskever_period": 20})  # fmt: skip
    saved: dict[int, Path] = {}

    def keep(metrics: dict, ckpt) -> None:
        path = tmp_path / f"epoch{ckpt.epoch}.pt"
        ckpt.save(path)
        saved[ckpt.epoch] = path

    full = train(cfg, digits, keep)
    state = load_checkpoint(saved[2])  # weights_only=True inside
    assert state["epoch"] == 2
    resumed = train(cfg, digits, resume=state)
    assert without_timing(resumed.history) == without_timing(full.history)
    assert resumed.test_acc == full.test_acc


def test_checkpoint_refuses_pickled_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="Weights only load failed"):
        load_checkpoint(tmp_path / "evil.pt")


def test_a_damaged_checkpoint_is_one_line_naming_the_file(tmp_path: Path) -> None:
    from nagexp.core.errors import DataError

    cut = tmp_path / "cut.pt"
    cut.write_bytes(b"PK\x03\x04 cut short")  # the start of a zip archive, no more
    with pytest.raises(DataError) as raised:
        load_checkpoint(cut)
    said = str(raised.value)
    assert said.startswith(f"checkpoint '{cut}' cannot be read (") and said.endswith("); it is damaged")
    assert "\n" not in said and len(said) < len(str(cut)) + 260  # the library's error cut to one short line
    with pytest.raises(DataError, match="is missing"):
        load_checkpoint(tmp_path / "none.pt")


def test_huge_lr_diverges_without_exception(digits, small_cfg: TrainConfig) -> None:
    cfg = small_cfg.model_copy(update={"lr": 1e4, "lr_schedule": "constant", "epochs": 5})
    result = train(cfg, digits)
    assert result.diverged
    assert result.diverged_reason and ("non-finite" in result.diverged_reason or "exceeds" in result.diverged_reason)
    assert result.epochs_run < 5
    assert result.test_acc is None


def test_finite_loss_blowup_is_caught(digits, small_cfg: TrainConfig) -> None:
    # lr 30 on the BN conv net: the loss explodes to thousands but stays finite
    cfg = small_cfg.model_copy(update={"lr": 30.0, "lr_schedule": "constant", "epochs": 4})
    result = train(cfg, digits)
    assert result.diverged
    assert "exceeds 5 x the initial loss" in (result.diverged_reason or "")
    assert result.history[-1]["train_loss"] > 5 * 2.0


def test_healthy_run_is_not_flagged(digits, small_cfg: TrainConfig) -> None:
    result = train(small_cfg.model_copy(update={"divergence_factor": 1.5}), digits)
    assert not result.diverged and result.diverged_reason is None


@pytest.mark.parametrize("optimizer", ["nag", "momentum", "sgd"])
def test_each_optimizer_trains(digits, small_cfg: TrainConfig, optimizer: str) -> None:
    cfg = small_cfg.model_copy(update={"optimizer": optimizer, "lr": 0.05 if optimizer != "sgd" else 0.3})
    result = train(cfg, digits)
    assert result.test_acc is not None and result.test_acc > 0.8
    if optimizer == "sgd":
        assert all(h["momentum"] == 0.0 for h in result.history)


def test_effective_mode_sets_torch_lr(digits, small_cfg: TrainConfig) -> None:
    cfg = small_cfg.model_copy(update={"lr_mode": "effective", "lr": 0.5, "momentum": 0.9,
                                       "lr_schedule": "constant", "epochs": 1})  # fmt: skip
    result = train(cfg, digits)
    assert result.history[0]["lr"] == pytest.approx(0.05)  # 0.5 * (1 - 0.9)


# ---- schedule-free SGD (the schedulefree package) ------------------------------------------


def schedule_free(small_cfg: TrainConfig, **update: object) -> TrainConfig:
    return TrainConfig(**{**small_cfg.model_dump(), "optimizer": "sgd_schedulefree", "lr_schedule": "constant",
                          "lr": 0.5, **update})  # fmt: skip


def test_schedule_free_sgd_trains_and_warms_up(digits, small_cfg: TrainConfig) -> None:
    cfg = schedule_free(small_cfg)
    result = train(cfg, digits)
    assert result.test_acc is not None and result.test_acc > 0.9
    # its own warmup (the package's, over warmup_fraction of the steps) is what changes the run
    longer = train(schedule_free(small_cfg, warmup_fraction=0.5), digits)
    assert without_timing(longer.history) != without_timing(result.history)
    assert all(h["lr"] == 0.5 for h in result.history)


def test_schedule_free_batchnorm_statistics_are_those_of_the_averaged_weights(digits, small_cfg: TrainConfig) -> None:
    """The returned (evaluated) model holds x, the average; its BatchNorm statistics are
    recomputed for x over training batches. Recomputing them here, for these weights, gives
    the same: statistics of y (the point the steps were taken at) or of the training run's
    decayed averages would not."""
    import copy
    import itertools

    from nagexp.training.trainer import BATCHNORM_RECOMPUTE_BATCHES

    cfg = schedule_free(small_cfg, epochs=2)
    model = train(cfg, digits).model
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms
    again = copy.deepcopy(model)
    again_norms = [m for m in again.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in again_norms:
        m.reset_running_stats()
        m.momentum = None
    again.train()
    source = digits.batches(cfg.seed, cfg.batch_size, cfg.eval_batch_size, torch.device("cpu"))
    with torch.no_grad():
        for xb, _ in itertools.islice(source.train_epoch(cfg.epochs - 1), BATCHNORM_RECOMPUTE_BATCHES):
            again(xb)
    for ours, theirs in zip(norms, again_norms, strict=True):
        assert torch.allclose(ours.running_mean, theirs.running_mean, atol=1e-6)
        assert torch.allclose(ours.running_var, theirs.running_var, atol=1e-6)


def test_schedule_free_resume_matches_uninterrupted(digits, small_cfg: TrainConfig, tmp_path: Path) -> None:
    """Checkpoints hold x (saved in eval mode) and the optimizer's z: a resumed run goes on
    from y as the uninterrupted one did."""
    cfg = schedule_free(small_cfg, epochs=3)
    saved: dict[int, Path] = {}

    def keep(metrics: dict, ckpt) -> None:
        saved[ckpt.epoch] = tmp_path / f"epoch{ckpt.epoch}.pt"
        ckpt.save(saved[ckpt.epoch])

    full = train(cfg, digits, keep)
    resumed = train(cfg, digits, resume=load_checkpoint(saved[1]))
    assert without_timing(resumed.history) == without_timing(full.history)


def test_schedule_free_takes_no_schedule() -> None:
    assert TrainConfig(optimizer="sgd_schedulefree").lr_schedule == "constant"  # unless one is named:
    with pytest.raises(ValueError, match=r"takes no schedule: .*got \{'lr_schedule': 'cosine'\}"):
        TrainConfig(optimizer="sgd_schedulefree", lr_schedule="cosine")
