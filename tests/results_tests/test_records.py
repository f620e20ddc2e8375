"""The one rule that rebuilds a trial's config (no Ray): fixed values, params and seed; for a
population member, the config it ended with under its weights' schedule; a value that is no
config is one line naming the field."""

from __future__ import annotations

import pytest

from nagexp.core.errors import ConfigError
from nagexp.results.records import TrialRecord, trial_config

FIXED = {"dataset": "digits", "model": "cnn", "epochs": 4, "lr_schedule": "constant"}


def test_a_trial_is_its_fixed_values_params_and_seed() -> None:
    cfg = trial_config(FIXED, {"lr": 0.2, "width": 0.5}, 17)
    assert (cfg.lr, cfg.width, cfg.seed, cfg.epochs) == (0.2, 0.5, 17, 4)


def test_a_population_member_is_the_config_it_ended_with_under_its_schedule() -> None:
    """A member that copied a donor ran on with the donor's other params (here its width): its
    config is the lineage's last one, not the params it started with; the schedule replaces
    its lr and momentum."""
    donor_config = {**FIXED, "lr": 0.3, "momentum": 0.8, "width": 0.25, "seed": 5}
    schedule = {"lr_schedule": "piecewise", "lr_knots": [[0, 0.1], [40, 0.3]], "momentum_schedule": "piecewise",
                "momentum_knots": [[0, 0.9], [40, 0.8]], "knot_interpolation": "constant"}  # fmt: skip
    member = TrialRecord(3, "t3", params={"lr": 0.1, "momentum": 0.9, "width": 1.0}, seed=5, schedule=schedule,
                         lineage=[{"epoch": 0, "label": 1, "config": {**donor_config, "width": 0.25, "seed": 7}},
                                  {"epoch": 2, "label": 3, "config": donor_config}])  # fmt: skip
    cfg = member.train_config(FIXED)
    assert cfg.width == 0.25 and cfg.seed == 5  # the donor's width, its own seed
    assert cfg.lr_schedule == "piecewise" and [list(k) for k in cfg.lr_knots] == schedule["lr_knots"]
    plain = TrialRecord(4, "t4", params={"lr": 0.1, "width": 1.0}, seed=9)
    assert plain.train_config(FIXED).width == 1.0


def test_a_value_that_is_no_config_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"trial config: field 'lr'"):
        trial_config(FIXED, {"lr": "garbled"}, 1)
