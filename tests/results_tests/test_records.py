"""The one rule that rebuilds a trial's config (no Ray): fixed values, params and seed; for a
population member, the config it ended with under its weights' schedule; a value that is no
config is one line naming the field."""

from __future__ import annotations

import csv
from pathlib import Path

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


def test_a_trial_keeps_every_kind_of_cpu_kernels_it_ran_on(tmp_path: Path) -> None:
    """A retry or resume on a node with another CPU adds its kernels (a rerun on one kind cannot
    repeat the trial); a data-parallel trial's per-worker list stays as reported while it does
    not change. trials.csv keeps them, and one written before they were recorded reads."""
    from nagexp.results.files import read_trials, trials_csv

    moved, workers = TrialRecord(0, "t0"), TrialRecord(1, "t1")
    for epoch, kernels in ((1, "AVX2"), (2, "AVX2"), (3, "AVX512"), (4, "AVX2")):
        moved.observe({"epoch": epoch, "val_acc": 0.5, "cpu_kernels": kernels}, "val_acc", "max")
    for epoch in (1, 2):
        workers.observe({"epoch": epoch, "val_acc": 0.5, "cpu_kernels": "AVX2,AVX2"}, "val_acc", "max")
    assert (moved.cpu_kernels, workers.cpu_kernels) == ("AVX2,AVX512", "AVX2,AVX2")
    table = tmp_path / "trials.csv"
    table.write_text(trials_csv([moved, workers], [], "val_acc"))
    assert [r.cpu_kernels for r in read_trials(table, [], "val_acc")] == ["AVX2,AVX512", "AVX2,AVX2"]
    with table.open(newline="") as f:  # as an older nagexp wrote it: no such column
        rows = list(csv.DictReader(f))
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c != "cpu_kernels"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert [(r.number, r.cpu_kernels) for r in read_trials(table, [], "val_acc")] == [(0, ""), (1, "")]
