"""Search-space files: every shipped file validates, each rule is enforced, sampling is conditional."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR, load_space, parse_space
from nagexp.core.errors import ConfigError
from nagexp.core.seeds import trial_seed
from nagexp.registries.samplers import SAMPLER_NAMES
from nagexp.space.samplers import make_sampler
from nagexp.space.sampling import active_params, define_by_run

SHIPPED = sorted(SEARCH_SPACES_DIR.glob("*.yaml"))
runner = CliRunner()


def test_the_required_spaces_are_shipped() -> None:
    assert {p.name for p in SHIPPED} >= {"nag_default.yaml", "effective_lr.yaml", "optimizers.yaml", "quick.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_space_validates_and_samples_valid_configs(path: Path) -> None:
    space = load_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    fn = define_by_run(space, master_seed=0)
    for _ in range(30):
        cfg = fn(study.ask())
        space.train_config({k: v for k, v in cfg.items() if k != "trial_number"})  # raises if invalid


def test_default_space_content() -> None:
    space = load_space(SEARCH_SPACES_DIR / "nag_default.yaml")
    assert space.params["lr"].log
    assert set(space.params["lr_schedule"].choices) == {"cosine", "warmup_cosine", "onecycle", "step"}
    assert set(space.params["momentum_schedule"].choices) == {"constant", "sutskever", "cyclical", "final_drop"}
    assert space.params["weight_decay"].log and "batch_size" in space.params
    assert load_space(SEARCH_SPACES_DIR / "effective_lr.yaml").fixed["lr_mode"] == "effective"
    optimizers = load_space(SEARCH_SPACES_DIR / "optimizers.yaml").params["optimizer"]
    assert set(optimizers.choices) == {"nag", "momentum", "sgd"}


BASE = {"fixed": {"dataset": "digits"}, "params": {"lr": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}}


def with_params(**params: dict) -> dict:
    return {**BASE, "params": {**BASE["params"], **params}}


def test_an_unknown_fixed_field_is_said_once_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        parse_space({**BASE, "fixed": {"dataset": "digits", "epoch": 3, "momentun": 0.9}}, "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: fixed: unknown field 'epoch' (did you mean 'epochs'?); fixed: unknown "
                              "field 'momentun' (did you mean 'momentum'?); known: trainer, ")
    assert message.count("known: ") == 1 and "param 'epoch'" not in message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (with_params(momentum={"type": "float", "low": 0.9, "high": 0.5}), "param 'momentum': `low <= high` must hold"),
        (with_params(weight_decay={"type": "float", "low": 0.0, "high": 0.1, "log": True}),
         "param 'weight_decay': log scale needs low > 0"),
        (with_params(momentum={"type": "gaussian", "mean": 0.9}), "param 'momentum': unknown type 'gaussian'"),
        (with_params(lr_schedule={"type": "categorical", "choices": []}),
         "param 'lr_schedule': choices must not be empty"),
        (with_params(warmup_fraction={"type": "float", "low": 0.1, "high": 0.2, "when": {"schedule": "x"}}),
         "param 'warmup_fraction': `when` names unknown param 'schedule'"),
        (with_params(lr_schedule={"type": "categorical", "choices": ["cosine"]},
                     warmup_fraction={"type": "float", "low": 0.1, "high": 0.2, "when": {"lr_schedule": "warmup"}}),
         "`when` value 'warmup' is not a choice of 'lr_schedule'"),
        (with_params(learning_rate={"type": "float", "low": 0.1, "high": 0.2}),
         "param 'learning_rate': unknown TrainConfig field (did you mean 'lr'?); known: trainer, "),
        (with_params(warmup_fraction={"type": "float", "low": 0.1, "high": 0.2, "when": {"dataset": "digits"}}),
         "param 'warmup_fraction': `when` names 'dataset', which is fixed ('digits'), not searched: drop the "
         "`when`: it always holds"),
        (with_params(warmup_fraction={"type": "float", "low": 0.1, "high": 0.2, "when": {"dataset": "npz:/x"}}),
         "fixed ('digits'), not searched: drop the param: it is never searched, or search 'dataset' under params"),
        (with_params(lr_schedule={"type": "categorical", "choices": ["cosine", "exponential"]}),
         "param 'lr_schedule': choice 'exponential' is not allowed"),
        (with_params(momentum={"type": "float", "low": 0.5, "high": 1.2}), "param 'momentum': high 1.2 is not allowed"),
        ({**BASE, "objective": {"metric": "accuracy"}}, "unknown objective metric 'accuracy'"),
        ({**BASE, "fixed": {"dataset": "imagenet:/x"}}, "unknown dataset kind 'imagenet'"),
        ({**BASE, "extra": 1}, "unknown section 'extra'"),
        ({}, "no param to search"),  # an empty file: a one-trial sweep with nothing to compare
        ({"params": {"width": 0.5, "lr": {"type": "fixed", "value": 0.1}}}, "no param to search"),
    ],
)  # fmt: skip
def test_invalid_space_errors_name_file_param_and_rule(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_space(data, "bad.yaml")
    assert str(info.value).startswith("bad.yaml: ")
    assert message in str(info.value)


def test_define_by_run_samples_only_active_conditional_params() -> None:
    space = load_space(SEARCH_SPACES_DIR / "nag_default.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    fn = define_by_run(space, master_seed=7)
    seen_schedules = set()
    for _ in range(60):
        trial = study.ask()
        cfg = fn(trial)
        seen_schedules.add(cfg["lr_schedule"])
        assert ("warmup_fraction" in trial.params) == (cfg["lr_schedule"] == "warmup_cosine")
        assert ("onecycle_pct_start" in trial.params) == (cfg["lr_schedule"] == "onecycle")
        assert ("lr_gamma" in trial.params) == (cfg["lr_schedule"] == "step")
        assert ("sutskever_period" in trial.params) == (cfg["momentum_schedule"] == "sutskever")
        assert ("momentum_min" in trial.params) == (cfg["momentum_schedule"] == "cyclical")
        assert ("final_momentum" in trial.params) == (cfg["momentum_schedule"] == "final_drop")
        assert cfg["seed"] == trial_seed(7, trial.number) and cfg["trial_number"] == trial.number
    assert seen_schedules == {"cosine", "warmup_cosine", "onecycle", "step"}


def test_conditions_on_a_list_of_values() -> None:
    space = load_space(SEARCH_SPACES_DIR / "optimizers.yaml")
    values = active_params(space, lambda name, p: "sgd" if name == "optimizer" else 0.5)
    assert "momentum" not in values and "momentum_schedule" not in values
    values = active_params(space, lambda name, p: "momentum" if name == "optimizer" else 0.5)
    assert "momentum" in values


def test_trial_seeds_are_stable_and_distinct() -> None:
    seeds = [trial_seed(0, n) for n in range(100)]
    assert len(set(seeds)) == 100
    assert seeds == [trial_seed(0, n) for n in range(100)]
    assert trial_seed(1, 0) != trial_seed(0, 0)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_every_sampler_drives_the_default_space(name: str) -> None:
    space = load_space(SEARCH_SPACES_DIR / "quick.yaml")
    study = optuna.create_study(sampler=make_sampler(name, 0), direction="maximize")
    fn = define_by_run(space, 0)
    for _ in range(3):
        trial = study.ask()
        fn(trial)
        study.tell(trial, 0.5)
    assert len(study.trials) == 3


def _proposals(sampler: object, count: int) -> list[float]:
    """`count` lr values `sampler` proposes on a one-param study told a smooth objective."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    values = []
    for _ in range(count):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        study.tell(trial, -abs(lr - 0.1))
        values.append(lr)
    return values


@pytest.mark.parametrize(("trials", "startup"), [(8, 4), (16, 4), (24, 6), (40, 10), (200, 10), (None, 10)])
def test_tpe_leaves_random_start_up_after_a_quarter_of_a_small_sweep(trials: int | None, startup: int) -> None:
    # TPE's start-up trials are its own RandomSampler(seed): the same draws as the random
    # sampler's until TPE takes over, and no longer after
    tpe = _proposals(make_sampler("tpe", 3, trials), startup + 2)
    random = _proposals(make_sampler("random", 3, trials), startup + 2)
    assert tpe[:startup] == random[:startup]
    assert tpe[startup] != random[startup]


def test_spaces_cli(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["spaces", "list"])
    assert listed.exit_code == 0 and "quick.yaml" in listed.stdout
    shown = runner.invoke(app, ["spaces", "show", "nag_default.yaml"])
    assert shown.exit_code == 0
    assert "warmup_fraction" in shown.stdout and "lr_schedule in ['warmup_cosine']" in shown.stdout
    two = runner.invoke(app, ["spaces", "show", "accuracy_vs_size.yaml"])
    assert "objective: max val_acc, min param_count" in two.stdout  # every objective, not the first only
    bad = tmp_path / "bad.yaml"
    bad.write_text("params:\n  lr: {type: float, low: 1.0, high: 0.1}\n")
    result = runner.invoke(app, ["spaces", "validate", *map(str, SHIPPED), str(bad)])
    assert result.exit_code == 2
    assert result.stdout.count("ok ") == len(SHIPPED)
    assert "bad.yaml: param 'lr': `low <= high` must hold" in result.stderr
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("params:\n  lr: {type: float\n")
    result = runner.invoke(app, ["spaces", "validate", str(syntax)])
    assert result.exit_code == 2 and "YAML syntax error at line" in result.stderr


def test_spaces_validate_refuses_an_empty_file_and_loads_no_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    code = ("import sys\nfrom nagexp.cli import app\ntry:\n    app(['spaces', 'validate', sys.argv[1]])\n"
            "except SystemExit as e:\n    print('exit', e.code, 'torch' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, str(empty)], capture_output=True, text=True)
    assert "exit 2 False" in out.stdout, out.stdout + out.stderr
    assert "no param to search" in out.stderr


def _pbt_space(tmp_path: Path, **changes: object) -> Path:
    import yaml

    data = yaml.safe_load((SEARCH_SPACES_DIR / "pbt.yaml").read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("changes", "message"), [
    ({"pbt__mutate": ["weight_decay"]}, "'weight_decay': it must be a float param under `params`"),
    ({"pbt__mutate": ["batch_size"]}, "mutate: distinct names of lr, momentum, weight_decay"),
    ({"fixed__epochs": 2}, "epochs 2 <= pbt.perturbation_interval 2"),
    ({"fixed__optimizer": "sgd"}, "'momentum', which optimizer 'sgd' does not use"),
    ({"fixed__workers_per_trial": 2}, "one process per trial"),
    ({"params__width": {"type": "categorical", "choices": [0.5, 1.0], "when": {"model": "cnn"}}},
     "`when` conditions"),
])  # fmt: skip
def test_population_sweeps_refuse_what_pbt_cannot_do(tmp_path: Path, changes: dict, message: str) -> None:
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.spec import resolve_sweep

    if "params__width" in changes:  # `when` needs a categorical parent
        changes["params__model"] = {"type": "categorical", "choices": ["cnn", "mlp"]}
    path = _pbt_space(tmp_path, **changes)
    with pytest.raises(ConfigError) as info:
        resolve_sweep(SweepOptions(space=path, scheduler="pbt", results_dir=tmp_path))
    assert message in str(info.value) and str(path) in str(info.value)
    if "--scheduler pbt" in str(info.value):  # a rule of population-based training only
        resolve_sweep(SweepOptions(space=path, scheduler="asha", results_dir=tmp_path))
