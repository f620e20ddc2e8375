from __future__ import annotations

from pathlib import Path

import pytest

from nagexp.config import TrainConfig, load_train_config, parse_overrides
from nagexp.core.errors import ConfigError
from nagexp.registries.models import MODEL_NAMES
from nagexp.registries.optimizers import OPTIMIZERS
from nagexp.registries.schedules import LR_SCHEDULES


def test_defaults_are_the_documented_job() -> None:
    cfg = TrainConfig()
    assert (cfg.dataset, cfg.model, cfg.optimizer) == ("digits", "cnn", "nag")


def test_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        TrainConfig().lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lr": -0.1}, "field 'lr': Input should be greater than 0"),
        ({"momentum": 1.0}, "field 'momentum': Input should be less than 1"),
        ({"momentum": -0.1}, "field 'momentum': Input should be greater than or equal to 0"),
        ({"momentum": 0.0}, "optimizer 'nag' (Nesterov) needs momentum > 0"),
        ({"model": "vit"}, f"field 'model': unknown model 'vit'; allowed: {', '.join(MODEL_NAMES)}"),
        ({"optimizer": "adam"}, f"field 'optimizer': unknown optimizer 'adam'; allowed: {', '.join(OPTIMIZERS)}"),
        ({"lr_schedule": "exp"}, f"field 'lr_schedule': unknown lr_schedule 'exp'; allowed: {', '.join(LR_SCHEDULES)}"),
        ({"momentum_schedule": "x"}, "field 'momentum_schedule': unknown momentum_schedule 'x'; allowed: constant, "),
        ({"dataset": "imagenet:/x"}, "unknown dataset kind 'imagenet'"),
        ({"lr_milestones": [0.8, 0.2]}, "milestones must be increasing fractions"),
        ({"momentum_schedule": "cyclical", "momentum_min": 0.95, "momentum": 0.9}, "momentum_min <= momentum"),
        ({"device": "tpu"}, "device must be auto, cpu, cuda"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_invalid_values_name_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_train_config(None, overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_sgd_allows_zero_momentum() -> None:
    assert TrainConfig(optimizer="sgd", momentum=0.0).momentum == 0.0


def test_yaml_file_then_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("model: mlp\nlr: 0.2\nepochs: 3\n")
    cfg = load_train_config(f, {"lr": 0.01, "epochs": None})
    assert (cfg.model, cfg.lr, cfg.epochs) == ("mlp", 0.01, 3)


def test_a_saved_config_carries_its_code_data_cache_and_kernels_beside_its_fields(tmp_path: Path) -> None:
    from nagexp.config.loading import rerun_extras, stored_data_cache, stored_kernels, stored_user_code
    from nagexp.core.io import to_yaml

    code = {"dir": "/src/own", "hash": "0123456789abcdef"}
    saved = tmp_path / "best.yaml"
    saved.write_text(to_yaml(TrainConfig(lr=0.3).model_dump(mode="json") | rerun_extras(code, "s3://b/cache", "AVX2")))
    assert load_train_config(saved) == TrainConfig(lr=0.3)
    assert (stored_user_code(saved), stored_data_cache(saved), stored_kernels(saved)) == (code, "s3://b/cache", "AVX2")
    plain = tmp_path / "plain.yaml"
    plain.write_text(to_yaml(TrainConfig().model_dump(mode="json") | rerun_extras(None, None)))
    assert (stored_user_code(plain), stored_data_cache(plain), stored_kernels(plain)) == (None, None, None)


def test_yaml_syntax_error_has_line_number(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("model: cnn\nlr: [0.1\nepochs: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: YAML syntax error at line \d+"):
        load_train_config(f)


def test_yaml_not_a_mapping(tmp_path: Path) -> None:
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_train_config(f)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_train_config("/no/such/file.yaml")


def test_yaml_is_safe_loaded(tmp_path: Path) -> None:
    f = tmp_path / "evil.yaml"
    f.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        load_train_config(f)


def test_parse_overrides_types() -> None:
    assert parse_overrides(["lr=0.1", "augment=true", "lr_milestones=[0.3, 0.6]", "dataset=npz:/a.npz"]) == {
        "lr": 0.1,
        "augment": True,
        "lr_milestones": [0.3, 0.6],
        "dataset": "npz:/a.npz",
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["lr"])


def test_names_come_from_the_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """One list per concept: a model or schedule registered once is accepted by the config."""
    from nagexp.registries import models, schedules
    from nagexp.training.schedules import lr_values

    with pytest.raises(ConfigError, match="unknown model 'tiny'"):
        load_train_config(None, {"model": "tiny"})
    monkeypatch.setitem(models.MODELS, "tiny", "nagexp.training.models:mlp")
    monkeypatch.setitem(schedules.LR_SCHEDULES, "flat", "nagexp.training.schedules:constant_lr")
    cfg = load_train_config(None, {"model": "tiny", "lr_schedule": "flat", "lr": 0.3})
    assert (cfg.model, cfg.lr_schedule) == ("tiny", "flat")
    assert lr_values(cfg, 5) == [0.3] * 5  # the trainer finds it by the same registry


def test_config_imports_no_torch() -> None:
    """`nagexp spaces validate`, config checks and `import nagexp` stay fast: no torch, Optuna or Ray."""
    import subprocess
    import sys

    code = ("import sys, nagexp, nagexp.config, nagexp.config.sweep; assert callable(nagexp.sweep); "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")  # the Python API too
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in ("torch", "optuna", "ray", "mlflow"):
        assert f"'{heavy}'" not in loaded, heavy
