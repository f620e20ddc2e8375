"""What a sweep's driver checks before it starts anything: the MLflow store answers, the
user's code (when a model, dataset or schedule is theirs) imports here and is hashed, every model
the trials can build trains on the data, and the user's schedules give allowed values over a run.
`--dry-run` runs the same checks (but the last two, which need the data) and the real sweep runs
them first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nagexp.config.sweep import SweepSpec
from nagexp.runtime.user_code import CodeSnapshot, changed_code_warning, make_importable, snapshot

if TYPE_CHECKING:
    from nagexp.data.batches import TrainData
    from nagexp.tracking.opening import CheckedStore

__all__ = ["check_models", "check_schedules", "check_tracking", "check_trainer", "check_user_code_imports", "user_code"]


def check_tracking(spec: SweepSpec, dry_run: bool = False) -> CheckedStore | None:
    """The sweep's MLflow store, reachable and writable (None when tracking is off); a dry run
    creates nothing (no folder, no experiment on a server)."""
    if not spec.options.track:
        return None
    from nagexp.tracking.opening import check_store

    return check_store(spec.options, spec.results_dir, open_server=not dry_run)


def user_code(spec: SweepSpec, say: Callable[[str], None], resume: bool) -> CodeSnapshot | None:
    """The user's code folder, hashed and importable here (None: built-ins only); a resumed
    sweep says when the code changed since it started."""
    if not spec.uses_user_code:
        return None
    root = spec.options.code_dir or Path.cwd()
    code = snapshot(root)
    make_importable(code.root)
    if resume:
        from nagexp.results.plan import read_plan

        warning = changed_code_warning(read_plan(spec.sweep_dir).user_code, root)
        if warning:
            say(warning)
    return code


def check_user_code_imports(spec: SweepSpec) -> None:
    """Every model and schedule the trials can use, and a `python:` dataset, import here (ConfigError in
    one line otherwise): what a sweep would find out on the driver before any trial."""
    from nagexp.data.sources import python_dataset_function
    from nagexp.registries.datasets import parse_dataset_spec
    from nagexp.registries.models import model_factory
    from nagexp.registries.schedules import schedule_function
    from nagexp.space.sampling import model_probes, schedule_probes

    if spec.own_trainer:  # the function is all the user code a trial runs
        check_trainer(spec.trainer)
        return
    for cfg in model_probes(spec.space):
        model_factory(cfg.model)
    for cfg in schedule_probes(spec.space):
        schedule_function("lr", cfg.lr_schedule)
        schedule_function("momentum", cfg.momentum_schedule)
    dataset = parse_dataset_spec(str(spec.space.train_config({}).dataset))
    if dataset.facts.user_code:
        python_dataset_function(dataset)


def check_trainer(trainer: str) -> None:
    """A training function of the user's imports here, is callable and takes (config, report)
    (ConfigError in one line otherwise)."""
    from nagexp.training.own_trainer import check_trainer as check_function

    check_function(trainer)


def check_models(spec: SweepSpec, data: TrainData) -> None:
    """Every model the trials can build trains on `data` (one forward pass each)."""
    from nagexp.space.sampling import model_probes
    from nagexp.training.augment import check_padding
    from nagexp.training.model_check import check_model

    for cfg in model_probes(spec.space):
        check_model(cfg.model, cfg.model_arguments(), data)
        if cfg.augment:
            check_padding(cfg.augment_pad, cfg.augment_pad_mode, data.input_shape)


def check_schedules(spec: SweepSpec, data: TrainData) -> None:
    """Every schedule of the user's the trials can use gives allowed values over a whole run on
    `data`, its searched arguments at both ends of their ranges."""
    from nagexp.space.sampling import schedule_probes
    from nagexp.training.schedules import check_schedules as check_config

    for cfg in schedule_probes(spec.space):
        check_config(cfg, data.train_size)
