"""Options shared by several commands (declared once, help derived from the registries), and
their validation into pydantic models with option names in errors."""

from __future__ import annotations

import inspect
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from nagexp.cli.errors import fail
from nagexp.registries.datasets import allowed_specs
from nagexp.registries.samplers import SAMPLER_NAMES
from nagexp.registries.schedulers import SCHEDULERS

__all__ = ["SEARCH", "TRACKING", "USER_DATA", "RecordedCodeDir", "command_line", "given_options", "shared_options",
           "sweep_values", "validated", "written_as"]  # fmt: skip

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

Trials = Annotated[int, typer.Option(help="Trials to run.")]
Epochs = Annotated[int | None, typer.Option(help="Override the space's epochs per trial.")]
Dataset = Annotated[str | None, typer.Option(help=f"The dataset (a sweep: in place of its space's): "
                                                   f"{allowed_specs(' | ')}.")]  # fmt: skip
Seed = Annotated[int, typer.Option(help="Master seed: the sampler and every trial's seed.")]
Sampler = Annotated[str, typer.Option(help=" | ".join(SAMPLER_NAMES))]
Scheduler = Annotated[str, typer.Option(help=" | ".join(f"{k} ({v.description})" for k, v in SCHEDULERS.items()))]
MaxConcurrent = Annotated[int | None, typer.Option(help="Trials at once (default: as resources allow).")]
Deterministic = Annotated[
    bool,
    typer.Option("--deterministic", help="Trials, states and metrics depend on --seed and the space only, not on "
                 "timing or trials at once: trials asked in batches, ASHA decided on complete rungs."),
]
RungSignal = Annotated[
    str | None,
    typer.Option(help="What ASHA ranks trials on at a rung (default: the space's asha.signal, else auto): raw (the "
                 "metric) | cooldown (the metric after a short lr cooldown probe) | curve (the learning curve "
                 "extrapolated to the last epoch) | auto (cooldown where nagexp's trainer runs a decaying lr "
                 "schedule, else raw)."),
]
TrialsPerBatch = Annotated[int, typer.Option(help="With --deterministic: trials asked (and halved) together.")]
Pick = Annotated[
    str,
    typer.Option(help="With several objectives: the best trial of the Pareto front: knee | primary | a constraint "
                 "such as train_seconds<=120 (the best primary value that meets it)."),
]
CpusPerTrial = Annotated[float, typer.Option(help="CPUs per trial (also its torch threads).")]
GpusPerTrial = Annotated[float, typer.Option(help="GPUs per trial; fractions share a GPU.")]
WorkersPerTrial = Annotated[
    int | None,
    typer.Option(help="Data-parallel workers per trial (Ray Train: gloo on CPUs, NCCL on GPUs). 1: one process."),
]
CpusPerWorker = Annotated[float, typer.Option(help="With --workers-per-trial > 1: CPUs per worker (= torch threads).")]
GpusPerWorker = Annotated[float, typer.Option(help="With --workers-per-trial > 1: GPUs per worker.")]
EpochBudget = Annotated[
    int | None,
    typer.Option(help="End the sweep once its trials have trained this many epochs together (trials still running "
                 "stop; --trials stays the most trials started)."),
]
Address = Annotated[
    str | None, typer.Option(help="Join this Ray cluster (default: $RAY_ADDRESS if set, else start Ray locally).")
]
ResultsDir = Annotated[Path, typer.Option(help="Output root; on a cluster, storage every node sees.")]
Track = Annotated[bool, typer.Option("--track/--no-track", help="Log to MLflow.")]
Experiment = Annotated[str, typer.Option(help="MLflow experiment.")]


def _a_folder(value: Path | None) -> Path | None:
    """A --code-dir given is a folder, whether or not this run ends up importing from it."""
    from nagexp.core.errors import ConfigError
    from nagexp.runtime.user_code import code_folder

    if value is not None:
        try:
            code_folder(value)
        except ConfigError as exc:
            raise fail(str(exc), 2) from None
    return value


CodeDir = Annotated[
    Path | None,
    typer.Option(help="Folder of your own model/dataset code (default: the current directory), shipped to workers.",
                 callback=_a_folder),
]  # fmt: skip
RecordedCodeDir = Annotated[
    Path | None,
    typer.Option("--code-dir", help="Folder of the sweep's own code (default: the one sweep.json records, or if it "
                 "is gone, the working_dir of the Ray job this runs in).", callback=_a_folder),
]  # fmt: skip
CacheDir = Annotated[
    str | None,
    typer.Option(help="Where datasets read from files are prepared once: a folder, or a URI such as "
                 "s3://bucket/prefix (credentials and endpoint from the environment; default: "
                 "the one a best.yaml/config.yaml records, else RESULTS_DIR/data-cache)."),
]
MemoryBudget = Annotated[
    str | None,
    typer.Option(help="With data mode auto: memory mode when the data fits this (e.g. 4GB; default 1/4 of RAM)."),
]
DataMode = Annotated[
    str | None, typer.Option(help="memory | stream (batches from prepared shards, data larger than RAM) | auto.")
]
Trainer = Annotated[
    str | None,
    typer.Option(help="Override the space's trainer: nag (built-in), or your own function as package.module:function "
                 "(def run(config, report); see docs/guide/own-trainer.md)."),
]
TrackingUri = Annotated[
    str | None, typer.Option(help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite in --results-dir).")
]


# Groups of options that `nagexp sweep` and `nagexp compare` both take: (name, declaration, default)
SEARCH = (("epochs", Epochs, None), ("dataset", Dataset, None), ("seed", Seed, 0), ("sampler", Sampler, "tpe"),
          ("scheduler", Scheduler, "asha"), ("rung_signal", RungSignal, None), ("max_concurrent", MaxConcurrent, None),
          ("cpus_per_trial", CpusPerTrial, 1.0), ("gpus_per_trial", GpusPerTrial, 0.0),
          ("deterministic", Deterministic, False), ("trials_per_batch", TrialsPerBatch, 4),
          ("pick", Pick, "knee"))  # fmt: skip
USER_DATA = (("trainer", Trainer, None), ("code_dir", CodeDir, None), ("cache_dir", CacheDir, None),
             ("data_mode", DataMode, None), ("memory_budget", MemoryBudget, None))  # fmt: skip
TRACKING = (("address", Address, None), ("results_dir", ResultsDir, Path("results")), ("track", Track, True),
            ("experiment", Experiment, "nagexp"), ("tracking_uri", TrackingUri, None))  # fmt: skip


def shared_options(*groups: tuple[tuple[str, Any, Any], ...]) -> Callable[[F], F]:
    """Declare the options of `groups` once for several commands: they are added to the
    command's signature after its own parameters (Typer reads `__signature__`), and the command
    receives them in its `**options`."""

    def add(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)  # the module's annotations are strings
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=declaration)
                  for group in groups for name, declaration, default in group]  # fmt: skip
        command.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
        return command

    return add


def validated(model: type[M], values: dict[str, Any]) -> M:
    """`model(**values)` with None values dropped; errors name the CLI option (`--max-concurrent`)."""
    from nagexp.config.loading import validated as validated_as

    return validated_as(model, values, lambda field: "--" + field.replace("_", "-"))


def sweep_values(ctx: typer.Context) -> dict[str, Any]:
    """The command's parameters that are SweepOptions fields (the space argument aside), by name:
    the one mapping from `nagexp sweep` / `nagexp compare` options to a sweep's options."""
    from nagexp.config.sweep import SweepOptions

    return {k: v for k, v in ctx.params.items() if k in SweepOptions.model_fields and k != "space"}


def given_options(ctx: typer.Context) -> list[str]:
    """The parameters the user wrote on the command line (even when equal to their
    defaults), in the order the command declares them."""
    # the source by name: Typer may bring its own copy of click, whose enum is another class
    return [p.name for p in ctx.command.params
            if p.name in ctx.params and getattr(ctx.get_parameter_source(p.name), "name", "") != "DEFAULT"]  # fmt: skip


def command_line(ctx: typer.Context) -> str:
    """The command as the user gave it (the options they set, in declaration order), to be
    recorded next to the results. Rebuilt from what the CLI parsed, so it is the same in a
    shell, in tests and under `python -m nagexp`."""
    given = given_options(ctx)
    words = ["nagexp", ctx.info_name or ""]
    for param in ctx.command.params:  # duck-typed: Typer may bring its own copy of click
        if param.name in given:
            words += _written(param, ctx.params[param.name])
    return shlex.join(words)


def written_as(ctx: typer.Context, name: str) -> str:
    """How the user wrote the parameter `name`: its flag (`--no-track` for track=False), or
    the argument's name in capitals."""
    param = next(p for p in ctx.command.params if p.name == name)
    if param.param_type_name == "argument":
        return name.upper()
    return _written(param, ctx.params[name])[0]


def _written(param: Any, value: Any) -> list[str]:
    """The words that give a parameter this value on the command line."""
    if param.param_type_name == "argument":
        return [str(value)]
    if getattr(param, "is_flag", False):
        return [param.opts[0]] if value or not param.secondary_opts else param.secondary_opts[:1]
    if param.multiple:
        return [word for item in value or () for word in (param.opts[0], str(item))]
    return [param.opts[0], str(value)]
