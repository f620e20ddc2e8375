"""The league's methods outside Ray are reproducible: one seed, one trace."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("yahpo_gym", reason="the LCBench surrogate comes with make install-bench")
pytest.importorskip("dehb", reason="DEHB comes with make install-bench")

from benchmarks.league_methods import dehb, optuna_hyperband


@pytest.mark.parametrize("method", [optuna_hyperband, dehb])
def test_a_seed_gives_the_same_trace_twice(method, tmp_path: Path) -> None:
    # Optuna's HyperbandPruner picks a trial's bracket by a hash of the study name: a default,
    # random name made two runs of one seed differ (1 of 24 the same in two full leagues)
    first, second = (method("7593", 0, 300, tmp_path / str(i)) for i in range(2))
    assert len(first) == 300 and first == second
