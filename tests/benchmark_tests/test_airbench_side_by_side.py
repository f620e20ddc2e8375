"""The airbench side-by-side trains nagexp with airbench's values or with a sweep's searched ones."""

from __future__ import annotations

import pytest
import yaml

from benchmarks.airbench_side_by_side import AIRBENCH_CENTRE, SPACE, nagexp_config, searched_values


def test_a_sweeps_best_yaml_replaces_only_the_searched_values(tmp_path) -> None:
    searched = yaml.safe_load(SPACE.read_text())["params"]
    chosen = {name: AIRBENCH_CENTRE[name] * 0.9 for name in searched}
    best = tmp_path / "best.yaml"
    best.write_text(yaml.safe_dump({**chosen, "epochs": 3, "val_fraction": 0.5, "seed": 7}))

    values = searched_values(best)
    config = nagexp_config("imagefolder:/data", 10, 2, values)
    assert {name: getattr(config, name) for name in searched} == pytest.approx(chosen)
    # what the sweep fixed for itself (epochs, validation share, seed) stays the side-by-side's
    assert (config.epochs, config.val_fraction, config.seed) == (10, 0.02, 2)
    assert searched_values(None) == AIRBENCH_CENTRE


def test_a_file_without_the_searched_values_is_refused(tmp_path) -> None:
    best = tmp_path / "best.yaml"
    best.write_text(yaml.safe_dump({"lr": 1.0}))
    with pytest.raises(SystemExit, match="no value for"):
        searched_values(best)
