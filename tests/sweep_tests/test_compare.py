"""`nagexp compare`: arms' spaces, a real three-arm comparison, its verdict, report and MLflow runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR, load_space
from nagexp.sweep.compare import MOMENTUM_PARAMS, arm_space

runner = CliRunner()


def test_sgd_arm_drops_momentum_params_and_their_children() -> None:
    space = load_space(SEARCH_SPACES_DIR / "nag_default.yaml")
    sgd = arm_space(space, "sgd")
    assert sgd.fixed["optimizer"] == "sgd"
    assert not set(sgd.params) & MOMENTUM_PARAMS
    assert {"lr", "lr_schedule", "warmup_fraction", "weight_decay"} <= set(sgd.params)
    nag = arm_space(space, "nag")
    assert set(nag.params) == set(space.params)


def test_conditions_on_the_optimizer_are_resolved_per_arm() -> None:
    space = load_space(SEARCH_SPACES_DIR / "optimizers.yaml")  # momentum when optimizer in [nag, momentum]
    heavy = arm_space(space, "momentum")
    assert "optimizer" not in heavy.params and heavy.params["momentum"].when is None
    assert "momentum" not in arm_space(space, "sgd").params


@pytest.mark.usefixtures("ray_runtime")
def test_three_arm_comparison(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(SEARCH_SPACES_DIR / "quick.yaml"), "--optimizers", "nag,momentum,sgd",
                                 "--trials", "3", "--epochs", "2", "--seeds", "3", "--name", "cmp",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.count("verdict: ") == 2
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [a["optimizer"] for a in data["arms"]] == ["nag", "momentum", "sgd"]
    assert all(len(a["seed_values"]) == 3 for a in data["arms"])
    assert len(set(data["seeds"])) == 3
    for arm in ("nag", "momentum", "sgd"):
        plan = json.loads((tmp_path / f"cmp-{arm}" / "sweep.json").read_text())
        assert plan["space"]["fixed"]["optimizer"] == arm and plan["options"]["trials"] == 3
        assert plan["seeds"]["master"] == 0  # the same sampler seed for every arm
    assert "momentum" not in json.loads((tmp_path / "cmp-sgd" / "sweep.json").read_text())["space"]["params"]
    assert (tmp_path / "cmp" / "report" / "index.html").exists() and (
        tmp_path / "cmp" / "report" / "report.md"
    ).exists()

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    (parent,) = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'cmp'")
    arms = client.search_runs([exp.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")  # fmt: skip
    assert sorted(r.info.run_name for r in arms) == ["cmp-momentum", "cmp-nag", "cmp-sgd"]
    assert "verdict_0" in parent.data.tags


def test_compare_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", "quick.yaml", "--optimizers", "nag,adam", "--no-track",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "--optimizers needs two or more distinct" in result.stderr
    result = runner.invoke(app, ["compare", "quick.yaml", "--seeds", "1", "--no-track", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--seeds must be at least 2" in result.stderr
