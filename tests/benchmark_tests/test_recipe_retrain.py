"""The recipe retrain takes a space's fixed recipe and the values of the params active under them."""

from __future__ import annotations

import pytest

from benchmarks.recipe_retrain import chosen_values, recipe_config
from nagexp.config.space import find_space_file, load_space

RESNET = load_space(find_space_file("cifar10_resnet.yaml"))
CLASSIC = {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "label_smoothing": 0.1, "lr_schedule": "cosine"}


def test_only_the_params_active_under_the_values_are_needed_and_taken() -> None:
    # warmup_fraction and onecycle_pct_start are asked for only by their schedules
    assert chosen_values(RESNET, {**CLASSIC, "seed": 3, "epochs": 2}, "v.yaml") == CLASSIC
    warmup = {**CLASSIC, "lr_schedule": "warmup_linear", "warmup_fraction": 0.1, "onecycle_pct_start": 0.3}
    assert chosen_values(RESNET, warmup, "v.yaml") == {**CLASSIC, "lr_schedule": "warmup_linear",
                                                       "warmup_fraction": 0.1}  # fmt: skip
    with pytest.raises(SystemExit, match="no value for warmup_fraction"):
        chosen_values(RESNET, {**CLASSIC, "lr_schedule": "warmup_linear"}, "v.yaml")


def test_the_config_is_the_spaces_recipe_with_the_values_and_the_tasks_own_settings() -> None:
    config = recipe_config(RESNET, CLASSIC, "imagefolder:/data", None, 4)
    assert (config.model, config.batch_size, config.test_time_augment) == ("resnet", 128, "flip")
    assert (config.lr, config.lr_schedule, config.label_smoothing) == (0.1, "cosine", 0.1)
    assert (config.epochs, config.seed, config.dataset, config.val_fraction) == (30, 4, "imagefolder:/data", 0.02)
    assert recipe_config(RESNET, CLASSIC, "imagefolder:/data", 2, 0).epochs == 2
