"""Where ASHA decides (never before the longest warmup ends), what it ranks trials on (the rung
signal), and what the sweep header says about both."""

from __future__ import annotations

import math

import pytest

from nagexp.config.space import parse_space
from nagexp.results.rung_signals import RungSignal, RungTracker, extrapolate_curve
from nagexp.results.trial_report import RUNG_SIGNAL_KEY
from nagexp.space.rungs import AUTO_SIGNAL, describe_rungs, ranked_metric, resolved_signal, rung_plan, rung_signal


def space(fixed: dict, params: dict | None = None, asha: dict | None = None) -> object:
    return parse_space({"fixed": fixed, "params": params or {"lr": {"type": "float", "low": 0.01, "high": 1.0}},
                        "asha": asha or {"grace_period": 1, "reduction_factor": 2}}, "test")  # fmt: skip


def test_no_rung_before_the_warmup_ends() -> None:
    # airbench's shape: 10 epochs, 23 % warmup -> no rung before epoch 3
    warm = space({"lr_schedule": "warmup_linear", "warmup_fraction": 0.23, "epochs": 10})
    assert rung_plan(warm, 10).epochs == (3, 6)
    assert "warmup_fraction up to 0.23 of 10 epochs" in rung_plan(warm, 10).why
    # without warmup the grace period rules, and a later grace period wins over a short warmup
    assert rung_plan(space({"lr_schedule": "cosine", "epochs": 10}), 10).epochs == (1, 2, 4, 8)
    later = space({"lr_schedule": "warmup_linear", "warmup_fraction": 0.1, "epochs": 10},
                  asha={"grace_period": 4, "reduction_factor": 2})  # fmt: skip
    assert rung_plan(later, 10).epochs == (4, 8)
    assert rung_plan(later, 10).why == "grace period 4"


def test_the_longest_warmup_the_space_can_sample_sets_the_first_rung() -> None:
    searched = space({"epochs": 8}, {"lr_schedule": {"type": "categorical", "choices": ["cosine", "onecycle"]},
                                     "onecycle_pct_start": {"type": "float", "low": 0.1, "high": 0.45}})  # fmt: skip
    plan = rung_plan(searched, 8)
    assert plan.epochs == (4,)  # ceil(0.45 x 8) = 4, then 8 is the end
    assert "onecycle_pct_start up to 0.45" in plan.why
    assert describe_rungs(searched, 8).startswith("ASHA: rungs at epoch 4 (after the longest warmup")
    whole = space({"lr_schedule": "onecycle", "onecycle_pct_start": 0.9, "epochs": 4})
    assert rung_plan(whole, 4).epochs == ()
    assert describe_rungs(whole, 4) == ("ASHA: no rung: the first would be at epoch 4 (after the longest warmup: "
                                        "onecycle_pct_start up to 0.9 of 4 epochs), not before the last (epoch 4); "
                                        "every trial runs to the end")  # fmt: skip
    graced = space({"epochs": 2}, asha={"grace_period": 3})
    assert describe_rungs(graced, 2).startswith("ASHA: no rung: the first would be at epoch 3 (grace period 3), not "
                                                "before the last (epoch 2)")  # fmt: skip


@pytest.mark.parametrize(("grace", "factor", "epochs", "ray_rungs"), [
    (1, 2, 10, [1, 2, 4, 8]), (1, 3, 30, [1, 3, 9, 27]), (1, 2.5, 30, [1, 3, 7, 16]),
    (1, 1.5, 20, [1, 2, 3, 4, 6, 8, 12, 18]), (3, 2, 10, [3, 6]),
])  # fmt: skip
def test_the_rungs_are_where_rays_asha_decides(grace: int, factor: float, epochs: int, ray_rungs: list[int]) -> None:
    """Ray's ASHA decides at the first epoch >= grace x factor^k (a float): the probes must run there."""
    from ray.tune.schedulers import ASHAScheduler

    scheduler = ASHAScheduler(time_attr="training_iteration", metric="m", mode="max", max_t=epochs,
                              grace_period=grace, reduction_factor=factor)  # fmt: skip
    milestones = sorted({math.ceil(m - 1e-9) for m, _ in scheduler._brackets[0]._rungs if m < epochs})
    assert milestones == ray_rungs
    plain = space({"lr_schedule": "cosine", "epochs": epochs}, asha={"grace_period": grace, "reduction_factor": factor})
    assert list(rung_plan(plain, epochs).epochs) == ray_rungs


def test_the_signal_and_the_key_asha_reads() -> None:
    raw = space({"epochs": 6}, asha={"signal": "raw"})
    assert ranked_metric(raw, 6) == "val_acc"
    cooled = space({"epochs": 6}, asha={"signal": "cooldown", "cooldown": 0.3})
    signal = rung_signal(cooled, 6)
    assert ranked_metric(cooled, 6) == RUNG_SIGNAL_KEY
    assert signal.train_fields() == {"probe_epochs": (3,), "cooldown_fraction": 0.3}  # grace 3; then 9 > 6
    assert "after a cooldown probe (0.3 of the steps so far)" in describe_rungs(cooled, 6)
    # a cooldown probe measures val metrics only: another objective is ranked raw
    other = parse_space({"fixed": {"epochs": 6}, "params": {"lr": {"type": "float", "low": 0.01, "high": 1.0}},
                         "objective": {"metric": "train_loss"}, "asha": {"signal": "cooldown"}}, "test")  # fmt: skip
    assert ranked_metric(other, 6) == "train_loss" and rung_signal(other, 6).train_fields() == {}


@pytest.mark.parametrize(("fixed", "params", "kind"), [
    ({}, {}, AUTO_SIGNAL),  # TrainConfig's cosine decays
    ({"lr_schedule": "constant"}, {}, "raw"),
    ({}, {"lr_schedule": {"type": "categorical", "choices": ["constant", "onecycle"]}}, AUTO_SIGNAL),
    ({"lr_schedule": "constant", "trainer": "mine.module:run"}, {}, "raw"),
    ({"trainer": "mine.module:run"}, {}, "raw"),  # an own function runs no probe
    ({"optimizer": "sgd_schedulefree"}, {}, "raw"),  # its lr is constant
    ({}, {"optimizer": {"type": "categorical", "choices": ["nag", "sgd_schedulefree"]}}, AUTO_SIGNAL),
])  # fmt: skip
def test_auto_probes_a_decaying_schedule_of_nagexps_trainer(fixed: dict, params: dict, kind: str) -> None:
    auto = space({"epochs": 6, **fixed}, {"lr": {"type": "float", "low": 0.01, "high": 1.0}, **params})
    assert auto.asha.signal == "auto"  # the default
    assert resolved_signal(auto)[0] == rung_signal(auto, 6).kind == kind
    assert ranked_metric(auto, 6) == ("val_acc" if kind == "raw" else RUNG_SIGNAL_KEY)
    if kind != "raw":  # an objective the probe does not measure is ranked raw
        other = parse_space({"fixed": {"epochs": 6, **fixed}, "params": {"lr": {"type": "float", "low": 0.01,
                             "high": 1.0}, **params}, "objective": {"metric": "train_loss"}}, "test")  # fmt: skip
        assert resolved_signal(other)[0] == "raw" and ranked_metric(other, 6) == "train_loss"
    chosen = space({"epochs": 6, **fixed}, asha={"signal": "curve"})
    assert resolved_signal(chosen) == ("curve", "asha.signal")  # a chosen signal is kept


def test_a_cooldown_signal_reads_the_probe_and_ends_on_the_metric() -> None:
    signal = RungSignal("cooldown", "val_acc", epochs=4, rungs=(2,), bounds=(0.0, 1.0))
    history = [{"epoch": 1, "val_acc": 0.3}, {"epoch": 2, "val_acc": 0.4, "cooldown_val_acc": 0.7}]
    assert signal.value(history[:1]) == 0.3  # no probe: the metric
    assert signal.value(history) == 0.7
    last = [*history, {"epoch": 4, "val_acc": 0.8, "cooldown_val_acc": 0.1}]
    assert signal.value(last) == 0.8  # the last epoch: the objective itself
    tracker = RungTracker(signal, history[:1])
    assert tracker(history[1]) == 0.7 and len(tracker.history) == 2
    assert tracker({"epoch": 3, "val_acc": 0.5}) is None  # not a rung: nothing to rank on
    assert RungTracker(RungSignal("raw", "val_acc", 4))({"val_acc": 0.5}) is None


def test_the_curve_signal_extrapolates_a_power_law() -> None:
    truth = [0.9 - 0.5 * t**-1.0 for t in range(1, 6)]
    assert extrapolate_curve(truth, 20, (0.0, 1.0)) == pytest.approx(0.9 - 0.5 / 20, abs=1e-3)
    assert extrapolate_curve([0.2, 0.5], 20, (0.0, 1.0)) == 0.5  # too few points: the last value
    assert extrapolate_curve([0.2, math.nan, 0.5], 20, (0.0, 1.0)) == 0.5
    assert extrapolate_curve([0.5, 0.9, 0.99, 0.999], 100, (0.0, 1.0)) <= 1.0  # inside the metric's bounds
    signal = RungSignal("curve", "val_acc", epochs=20, rungs=(5,), bounds=(0.0, 1.0))
    history = [{"epoch": t, "val_acc": v} for t, v in enumerate(truth, start=1)]
    assert signal.value(history) == pytest.approx(0.875, abs=1e-3)
    assert signal.value(history) > history[-1]["val_acc"]


def test_by_default_the_first_rung_is_epoch_3_then_every_third() -> None:
    """The defaults the LCBench league chose (benchmarks/league.py): grace period 3, reduction 3."""
    plain = parse_space({"fixed": {"epochs": 52, "lr_schedule": "cosine"},
                         "params": {"lr": {"type": "float", "low": 0.01, "high": 1.0}}}, "test")  # fmt: skip
    assert rung_plan(plain, 52).epochs == (3, 9, 27)
    assert rung_plan(plain, 52).why == "grace period 3"
