"""The time-to-target rule (AlgoPerf's performance profile) that compare and search_quality share."""

from __future__ import annotations

import math

import pytest

from nagexp.results.profiles import common_target, epochs_to_target, performance_profile

pytestmark = pytest.mark.fast


def test_epochs_to_target_in_either_direction() -> None:
    assert epochs_to_target([0.5, 0.7, 0.9], 0.7, "max") == 2
    assert epochs_to_target([0.5, math.nan, 0.6], 0.7, "max") is None
    assert epochs_to_target([2.0, 1.0, 0.4], 0.5, "min") == 3


def test_the_common_target_is_the_worst_arms_mean_final() -> None:
    curves = {"a": [[0.1, 0.8], [0.2, 0.9]], "b": [[0.5, 0.6], [0.6, 0.7]]}
    assert common_target(curves, "max") == pytest.approx(0.65)
    assert common_target({"a": [[3.0, 1.0]], "b": [[3.0, 2.0]]}, "min") == 2.0
    assert common_target({"a": []}, "max") is None


def test_profile_shares_per_tau() -> None:
    # seed 0: a in 2 epochs, b in 4 (2x), c never; seed 1: b first (3), a in 3 too, c in 6 (2x)
    hits = {"a": [2, 3], "b": [4, 3], "c": [None, 6]}
    profile = performance_profile(hits, taus=(1.0, 1.5, 2.0))
    assert profile == {"a": [1.0, 1.0, 1.0], "b": [0.5, 0.5, 1.0], "c": [0.0, 0.0, 0.5]}
    assert performance_profile({"a": [None], "b": [None]}, taus=(1.0,)) == {"a": [0.0], "b": [0.0]}
