from __future__ import annotations

import itertools
import math

import pytest

from nagexp.config import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.registries.schedules import LR_SCHEDULES, MOMENTUM_SCHEDULES, schedule_function
from nagexp.training.schedules import (
    check_schedules,
    knots_of,
    lr_values,
    momentum_values,
    piecewise_value,
    torch_lr_values,
    weight_decay_values,
)

T = 1000


# the piecewise schedules read their knots (kept inside the other schedules' bounds)
KNOTS = {"lr_knots": [[0, 0.05], [300, 0.1], [900, 0.01]], "momentum_knots": [[0, 0.5], [500, 0.9]]}


def cfg(**kw: object) -> TrainConfig:
    knots = {f"{k}_knots": KNOTS[f"{k}_knots"] for k in ("lr", "momentum") if kw.get(f"{k}_schedule") == "piecewise"}
    return TrainConfig(**{"lr": 0.1, "momentum": 0.9, **knots, **kw})


def test_constant_lr() -> None:
    p = cfg(lr_schedule="constant")
    assert lr_values(p, T) == [0.1] * T


def test_step_lr_boundaries() -> None:
    p = cfg(lr_schedule="step", lr_milestones=(0.5, 0.75), lr_gamma=0.1)
    f = schedule_function("lr", "step")
    assert f(0, T, p) == pytest.approx(0.1)
    assert f(499, T, p) == pytest.approx(0.1)
    assert f(500, T, p) == pytest.approx(0.01)
    assert f(749, T, p) == pytest.approx(0.01)
    assert f(750, T, p) == pytest.approx(0.001)
    assert f(T - 1, T, p) == pytest.approx(0.001)


def test_cosine_lr() -> None:
    p = cfg(lr_schedule="cosine")
    f = schedule_function("lr", "cosine")
    assert f(0, T, p) == pytest.approx(0.1)
    assert f(T // 2, T, p) == pytest.approx(0.05)
    assert 0 < f(T - 1, T, p) < 1e-5
    values = lr_values(p, T)
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_warmup_cosine_lr() -> None:
    p = cfg(lr_schedule="warmup_cosine", warmup_fraction=0.1)
    f = schedule_function("lr", "warmup_cosine")
    assert f(0, T, p) == pytest.approx(0.1 / 100)
    assert f(49, T, p) == pytest.approx(0.05)
    assert f(99, T, p) == pytest.approx(0.1)  # peak reached on the last warmup step
    assert f(100, T, p) == pytest.approx(0.1)  # decay starts from the peak
    assert f(550, T, p) == pytest.approx(0.05)
    assert f(T - 1, T, p) < 1e-5


def test_onecycle_lr_matches_torch() -> None:
    import torch

    p = cfg(lr_schedule="onecycle", onecycle_pct_start=0.25, onecycle_div_factor=25, onecycle_final_div_factor=1e4)
    f = schedule_function("lr", "onecycle")
    assert f(0, T, p) == pytest.approx(0.1 / 25)
    assert f(249, T, p) == pytest.approx(0.1)
    assert f(T - 1, T, p) == pytest.approx(0.1 / 25 / 1e4)
    # Same curve as torch's OneCycleLR (cosine annealing, no momentum cycling).
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.1, total_steps=T, pct_start=0.25, div_factor=25, final_div_factor=1e4, cycle_momentum=False
    )
    torch_lrs = []
    for step in range(T):
        torch_lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if step < T - 1:
            sched.step()
    ours = lr_values(p, T)
    assert max(abs(a - b) for a, b in zip(ours, torch_lrs, strict=True)) < 1e-9


def test_linear_lr() -> None:
    p = cfg(lr_schedule="linear", lr_final_fraction=0.1)
    f = schedule_function("lr", "linear")
    assert f(0, T, p) == pytest.approx(0.1)
    assert f(T // 2, T, p) == pytest.approx(0.055)
    assert f(T, T, p) == pytest.approx(0.01)


def test_constant_momentum() -> None:
    assert momentum_values(cfg(momentum_schedule="constant"), T) == [0.9] * T


def test_sutskever_ramp() -> None:
    p = cfg(momentum_schedule="sutskever", momentum=0.99, sutskever_period=250)
    f = schedule_function("momentum", "sutskever")
    assert f(0, T, p) == pytest.approx(0.5)
    assert f(249, T, p) == pytest.approx(0.5)
    assert f(250, T, p) == pytest.approx(0.75)
    assert f(500, T, p) == pytest.approx(1 - 2 ** (-1 - math.log2(3)))
    assert f(750, T, p) == pytest.approx(0.875)
    # capped at mu_max
    capped = cfg(momentum_schedule="sutskever", momentum=0.8)
    assert f(10_000, T, capped) == pytest.approx(0.8)
    values = momentum_values(p, T)
    assert all(a <= b for a, b in itertools.pairwise(values))


def test_cyclical_momentum_is_inverse_of_onecycle() -> None:
    p = cfg(momentum_schedule="cyclical", momentum=0.95, momentum_min=0.85, onecycle_pct_start=0.25)
    f = schedule_function("momentum", "cyclical")
    assert f(0, T, p) == pytest.approx(0.95)
    assert f(249, T, p) == pytest.approx(0.85)
    assert f(T - 1, T, p) == pytest.approx(0.95)
    lrs = lr_values(p.model_copy(update={"lr_schedule": "onecycle"}), T)
    mus = momentum_values(p, T)
    assert lrs.index(max(lrs)) == mus.index(min(mus))


def test_final_drop_momentum() -> None:
    p = cfg(momentum_schedule="final_drop", final_momentum=0.5, final_drop_fraction=0.1)
    f = schedule_function("momentum", "final_drop")
    assert f(0, T, p) == 0.9
    assert f(899, T, p) == 0.9
    assert f(900, T, p) == 0.5
    assert f(T - 1, T, p) == 0.5


def test_piecewise_constant_and_linear() -> None:
    p = cfg(lr_schedule="piecewise", momentum_schedule="piecewise")
    lrs, mus = lr_values(p, T), momentum_values(p, T)
    assert lrs[:300] == [0.05] * 300 and lrs[300:900] == [0.1] * 600 and lrs[900:] == [0.01] * 100
    assert mus[499] == 0.5 and mus[500:] == [0.9] * 500
    linear = lr_values(p.model_copy(update={"knot_interpolation": "linear"}), T)
    assert linear[150] == pytest.approx(0.075) and linear[600] == pytest.approx(0.055) and linear[950] == 0.01


def test_knots_give_the_values_back() -> None:
    values = lr_values(cfg(lr_schedule="step"), T)
    knots = knots_of(values)
    assert knots == [[0, 0.1], [500, pytest.approx(0.01)], [750, pytest.approx(0.001)]]
    assert [piecewise_value(knots, s) for s in range(T)] == values


def test_weight_decay_knots() -> None:
    assert weight_decay_values(cfg(weight_decay=1e-4), 3) == [1e-4] * 3
    assert weight_decay_values(cfg(weight_decay_knots=[[0, 1e-3], [2, 0.0]]), 4) == [1e-3, 1e-3, 0.0, 0.0]


@pytest.mark.parametrize("bad", [{"lr_schedule": "piecewise"}, {"lr_knots": [[0, 0.1]]},
                                 {"lr_schedule": "piecewise", "lr_knots": [[5, 0.1]]},
                                 {"momentum_schedule": "piecewise", "momentum_knots": [[0, 0.5], [0, 0.6]]},
                                 {"momentum_schedule": "piecewise", "momentum_knots": [[0, 1.0]]}])  # fmt: skip
def test_bad_knots_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="knots"):
        TrainConfig(**bad)


def test_sgd_has_no_momentum() -> None:
    assert momentum_values(cfg(optimizer="sgd", momentum_schedule="sutskever"), T) == [0.0] * T


def test_effective_lr_mode_divides_out_momentum() -> None:
    p = cfg(lr_mode="effective", lr_schedule="constant", momentum_schedule="sutskever", sutskever_period=250)
    torch_lrs = torch_lr_values(p, T)
    mus = momentum_values(p, T)
    for lr, mu in zip(torch_lrs, mus, strict=True):
        assert lr / (1 - mu) == pytest.approx(0.1)  # the effective step size stays as searched
    assert torch_lr_values(p.model_copy(update={"lr_mode": "raw"}), T) == [0.1] * T


@pytest.mark.parametrize("name", list(LR_SCHEDULES))
def test_every_lr_schedule_positive_and_bounded(name: str) -> None:
    values = lr_values(cfg(lr_schedule=name), T)
    assert all(0 <= v <= 0.1 + 1e-12 for v in values)
    assert values[0] > 0


@pytest.mark.parametrize("name", list(MOMENTUM_SCHEDULES))
def test_every_momentum_schedule_in_range(name: str) -> None:
    values = momentum_values(cfg(momentum_schedule=name), T)
    assert all(0 <= v < 1 for v in values)


# ---- schedules of the user's: package.module:fn(step, total_steps, **args) ------------------

USER_SCHEDULES = """
import math

def warm_exp(step, total_steps, peak, warm=0.1, decay=3.0):
    w = max(1, round(warm * total_steps))
    return peak * (step + 1) / w if step < w else peak * math.exp(-decay * (step - w) / total_steps)

def ramp(step, total_steps, start=0.5, end=0.95):
    return start + (end - start) * step / total_steps

def nan_after(step, total_steps, fraction=0.5):
    return float("nan") if step > fraction * total_steps else 0.1

def raises(step, total_steps):
    raise ZeroDivisionError("division by zero")

NOT_A_FUNCTION = 3
"""


@pytest.fixture
def user_schedules(tmp_path, monkeypatch) -> str:
    """A module of schedules in a folder on the import path; its name (its own: another test's
    module of another name may be imported already)."""
    name = f"schedules_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_SCHEDULES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_user_schedule_gets_its_args_and_the_peak(user_schedules: str) -> None:
    p = TrainConfig(lr=0.2, lr_schedule=f"{user_schedules}:warm_exp", **{"lr_schedule_args.decay": 1.0},
                    momentum_schedule=f"{user_schedules}:ramp", momentum_schedule_args={"end": 0.9})  # fmt: skip
    lrs = lr_values(p, 100)
    assert lrs[9] == pytest.approx(0.2)  # the peak is the config's lr, reached after 10% warmup
    assert lrs[99] == pytest.approx(0.2 * math.exp(-1.0 * 89 / 100))  # decay 1 (its default 3 overridden)
    mus = momentum_values(p, 100)
    assert mus[0] == 0.5 and mus[50] == pytest.approx(0.7)  # no `peak` parameter: momentum not passed


def test_user_schedule_args_are_refused_for_a_built_in() -> None:
    with pytest.raises(ValueError, match="lr_schedule_args go with a schedule of your own"):
        TrainConfig(lr_schedule="cosine", lr_schedule_args={"warm": 0.1})
    with pytest.raises(ValueError, match=r"allowed: constant, .*or your own as package\.module:fn"):
        TrainConfig(momentum_schedule="sideways")


@pytest.mark.parametrize(("schedule", "message"), [
    ("nan_after", "gave nan at step 51 of 100; lr values must be finite and >= 0 at every step"),
    ("raises", "raised ZeroDivisionError: division by zero at step 0 of 100"),
    ("NOT_A_FUNCTION", "is a int, not a function fn(step, total_steps, **args) -> float"),
    ("absent", "has no attribute 'absent'"),
])  # fmt: skip
def test_a_bad_user_lr_schedule_is_one_config_error(user_schedules: str, schedule: str, message: str) -> None:
    p = TrainConfig(lr_schedule=f"{user_schedules}:{schedule}", epochs=2)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        check_schedules(p, train_size=50 * 64)


def test_momentum_of_one_is_out_of_range(user_schedules: str) -> None:
    p = TrainConfig(momentum_schedule=f"{user_schedules}:ramp", momentum_schedule_args={"end": 1.2})
    with pytest.raises(ConfigError, match=r"momentum values must be in \[0, 1\)"):
        momentum_values(p, 100)
