"""TrainConfig: every hyperparameter of one training run, typed, with units."""

from __future__ import annotations

import itertools
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nagexp.registries.datasets import parse_dataset_spec
from nagexp.registries.models import check_model_name, is_builtin_model
from nagexp.registries.optimizers import OPTIMIZERS, SCHEDULE_FREE
from nagexp.registries.schedules import check_schedule_name, is_builtin_schedule
from nagexp.registries.trainers import check_trainer_name, is_builtin_trainer

__all__ = ["ARGS_FIELDS", "MODEL_ARGS_PREFIX", "TrainConfig", "args_entry"]


def _one_of(registry: dict[str, Any], what: str, value: str) -> str:
    if value not in registry:
        raise ValueError(f"unknown {what} '{value}'; allowed: {', '.join(registry)}")
    return value


# `model_args.depth: 4` (a search-space param, a `--set` override, a flat mapping) is the
# entry `depth` of `model_args`; the same for the arguments of a schedule of the user's
ARGS_FIELDS = ("model_args", "lr_schedule_args", "momentum_schedule_args", "trainer_args")
MODEL_ARGS_PREFIX = "model_args."
_ARG_NAME = re.compile(r"^[A-Za-z_]\w*$")


def args_entry(name: str) -> tuple[str, str] | None:
    """`("lr_schedule_args", "warm")` for `lr_schedule_args.warm`; None for any other name."""
    field, dot, entry = name.partition(".")
    return (field, entry) if dot and entry and field in ARGS_FIELDS else None

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


class TrainConfig(BaseModel):
    """One training run. Frozen: a config is a value, derive new ones with `model_copy`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- trainer: the built-in, or a function of your own (docs/guide/own-trainer.md) ------
    trainer: str = "nag"  # a name of the trainer registry, or your own: package.module:function
    trainer_args: dict[str, Any] = {}  # your function's own values (searchable: trainer_args.NAME)

    # -- data ---------------------------------------------------------------------------
    dataset: str = "digits"  # a spec of the dataset registry: digits | mnist:DIR | npz:FILE | ...
    val_fraction: float = Field(0.1, gt=0, lt=1)  # share of the training data held for validation
    test_fraction: float = Field(0.2, gt=0, lt=1)  # held out as test when the source has no test split
    split_seed: int = 0  # seeds the splits; one value per sweep so all trials see the same data
    image_size: int = Field(32, ge=4, le=512)  # imagefolder: images resized to this square, pixels
    augment: bool = False  # random crop after padding + horizontal flip, batched on the device
    augment_pad: int = Field(4, ge=1, le=16)  # augment: pixels of padding each side (crop shifts up to 2x this)
    augment_pad_mode: Literal["zeros", "reflect"] = "zeros"  # augment: how the padding is filled
    # augment: random (each image, each epoch); alternate: each image mirrored every other epoch
    # (airbench's derandomized flip; which epochs is a seeded hash of the image's pixels)
    augment_flip: Literal["random", "alternate"] = "random"
    # evaluation (val and test) averages the logits of views of each image: none; flip: the image
    # and its mirror; flip_translate: and both shifted by 1 px (reflect-padded) up-left and down-right
    test_time_augment: Literal["none", "flip", "flip_translate"] = "none"
    # memory: tensors on the trial's device; stream: batches from prepared shards through Ray
    # Data (data larger than memory); auto: memory when it fits the memory budget
    data_mode: Literal["memory", "stream", "auto"] = "auto"

    # -- model --------------------------------------------------------------------------
    model: str = "cnn"  # a name of the model registry, or your own: package.module:callable
    model_args: dict[str, Any] = {}  # keyword arguments of the model's callable (searchable: model_args.NAME)
    width: float = Field(1.0, gt=0, le=16)  # channel multiplier of the built-in models
    # before the first step, the model's `init_from_data(images)` gets `data_init_images` training
    # images (fastnet: its first layer whitens 2x2 patches, as airbench's); a model of your own
    # declares that method to take part
    data_init: bool = False
    data_init_images: int = Field(5000, ge=1)

    # -- optimizer: torch.optim.SGD for the first three ----------------------------------
    # nag: nesterov=True; momentum: heavy-ball; sgd: momentum 0; sgd_schedulefree: schedule-free SGD
    optimizer: str = "nag"
    lr: float = Field(0.05, gt=0)  # peak lr per mean-loss step; effective mode: lr / (1 - momentum)
    lr_mode: Literal["raw", "effective"] = "raw"
    momentum: float = Field(0.9, ge=0, lt=1)  # peak momentum mu (mu_max of momentum schedules)
    weight_decay: float = Field(5e-4, ge=0)  # L2 coefficient added to the gradient
    epochs: int = Field(15, ge=1)
    batch_size: int = Field(64, ge=1)  # samples per optimizer step
    label_smoothing: float = Field(0.0, ge=0, lt=1)  # training loss only (val/test loss stay plain)
    # parameters of the normalization layers (BatchNorm, LayerNorm, GroupNorm: weights and
    # biases): their lr and weight decay are the schedule's x these (airbench: lr x 64, weight
    # decay x 1/64 for BatchNorm biases)
    norm_bias_lr_scale: float = Field(1.0, gt=0)
    norm_bias_weight_decay_scale: float = Field(1.0, ge=0)
    # lookahead: every `lookahead_every` steps and at each epoch's end the slow weights (BatchNorm
    # statistics included) move toward the trained ones, slow += (1 - decay) (trained - slow), and
    # training goes on from them; decay ramps up as lookahead_decay * (step / total)^3 (airbench's);
    # what is evaluated, saved and logged after an epoch are the slow weights
    weight_averaging: Literal["none", "lookahead"] = "none"
    lookahead_every: int = Field(5, ge=1)  # steps
    lookahead_decay: float = Field(0.95**5, ge=0, lt=1)

    # -- learning-rate schedule ----------------------------------------------------------
    lr_schedule: str = "cosine"  # a name of LR_SCHEDULES, or your own: package.module:fn
    lr_schedule_args: dict[str, Any] = {}  # your schedule's keyword arguments (searchable: lr_schedule_args.NAME)
    lr_milestones: tuple[float, ...] = (0.5, 0.75)  # step: fractions of training
    lr_gamma: float = Field(0.1, gt=0, le=1)  # step: lr multiplier at each milestone
    warmup_fraction: float = Field(0.1, gt=0, lt=1)  # warmup_*, sgd_schedulefree: share of steps warming up
    onecycle_pct_start: float = Field(0.25, gt=0, lt=1)  # onecycle/cyclical: share of steps rising
    onecycle_div_factor: float = Field(25.0, ge=1)  # onecycle: start lr = lr / div_factor
    onecycle_final_div_factor: float = Field(1e4, ge=1)  # onecycle: end lr = start lr / this
    lr_final_fraction: float = Field(0.0, ge=0, le=1)  # linear, warmup_linear: end lr = lr * this
    lr_initial_fraction: float = Field(0.0, ge=0, le=1)  # warmup_linear: first lr = lr * this
    # piecewise: [[step, value], ...] from step 0 (e.g. a population-based training winner's)
    lr_knots: tuple[tuple[int, float], ...] = ()
    knot_interpolation: Literal["constant", "linear"] = "constant"  # piecewise: between two knots

    # -- momentum schedule ---------------------------------------------------------------
    momentum_schedule: str = "constant"  # a name of MOMENTUM_SCHEDULES, or your own: package.module:fn
    momentum_schedule_args: dict[str, Any] = {}  # your schedule's keyword arguments
    momentum_min: float = Field(0.85, ge=0, lt=1)  # cyclical: momentum at the LR peak
    sutskever_period: int = Field(250, ge=1)  # sutskever: steps per ramp stage
    final_momentum: float = Field(0.5, ge=0, lt=1)  # final_drop: momentum in the last phase
    final_drop_fraction: float = Field(0.1, gt=0, lt=1)  # final_drop: share of steps at the end
    momentum_knots: tuple[tuple[int, float], ...] = ()  # piecewise: [[step, momentum], ...] from step 0
    weight_decay_knots: tuple[tuple[int, float], ...] = ()  # [[step, weight decay], ...]; empty: weight_decay

    # -- rung probes: what the run would reach if it ended now (a sweep sets them at ASHA's rungs)
    # epochs (1-based, as the report's `epoch`) after which a branch of the run anneals the lr (and
    # momentum) to the schedule's final values, is evaluated on val and discarded; the last epoch is
    # never probed (its own metric is the end)
    probe_epochs: tuple[int, ...] = ()
    cooldown_fraction: float = Field(0.2, gt=0, le=1)  # a probe's steps: this share of the steps taken so far (>= 1)

    # -- guard and runtime ---------------------------------------------------------------
    divergence_factor: float = Field(5.0, gt=1)  # diverged when epoch train loss > this x initial loss
    seed: int = 0  # model init, batch order and augmentation
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    num_threads: int | None = Field(None, ge=1)  # torch CPU threads; None keeps torch's default
    eval_batch_size: int = Field(1024, ge=1)  # samples per evaluation forward pass
    # data parallelism: K processes, each on its part of every global batch (batch_size stays global)
    workers_per_trial: int = Field(1, ge=1)
    sync_batchnorm: bool = False  # K > 1: BatchNorm statistics of the global batch (GPU workers only)

    @model_validator(mode="before")
    @classmethod
    def _fold_args(cls, values: Any) -> Any:
        """`{"model_args.depth": 4}` -> `{"model_args": {"depth": 4}}` (dotted names win); the
        same for `lr_schedule_args.NAME` and `momentum_schedule_args.NAME`."""
        if not isinstance(values, dict) or not any(args_entry(str(k)) for k in values):
            return values
        folded = {k: v for k, v in values.items() if not args_entry(str(k))}
        for field in ARGS_FIELDS:
            dotted = {e[1]: v for k, v in values.items() if (e := args_entry(str(k))) and e[0] == field}
            if not dotted:
                continue
            args = folded.get(field) or {}
            if not isinstance(args, dict):
                return values  # the field's own validation names the problem
            folded[field] = {**args, **dotted}
        return folded

    @model_validator(mode="before")
    @classmethod
    def _no_schedule_by_default(cls, values: Any) -> Any:
        """Schedule-free SGD's schedules are constant unless named (another is refused below)."""
        if isinstance(values, dict) and values.get("optimizer") in SCHEDULE_FREE:
            return {"lr_schedule": "constant", "momentum_schedule": "constant", **values}
        return values

    @field_validator(*ARGS_FIELDS)
    @classmethod
    def _argument_names(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        bad = [k for k in value if not _ARG_NAME.match(str(k))]
        if bad:
            raise ValueError(f"{info.field_name} names must be Python identifiers (got {bad})")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset_kind(cls, value: str) -> str:
        parse_dataset_spec(value)
        return value

    @field_validator("trainer")
    @classmethod
    def _known_trainer(cls, value: str) -> str:
        return check_trainer_name(value)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return check_model_name(value)

    @field_validator("optimizer")
    @classmethod
    def _registered(cls, value: str) -> str:
        return _one_of(OPTIMIZERS, "optimizer", value)

    @field_validator("lr_schedule", "momentum_schedule")
    @classmethod
    def _known_schedule(cls, value: str, info: ValidationInfo) -> str:
        return check_schedule_name(info.field_name.removesuffix("_schedule"), value)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps (got '{value}')")
        return value

    @field_validator("probe_epochs")
    @classmethod
    def _probe_epochs_counted_from_one(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(e < 1 for e in value):
            raise ValueError(f"probe_epochs count epochs from 1 (got {list(value)})")
        return value

    @field_validator("lr_milestones")
    @classmethod
    def _milestones_inside_training(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < m < 1 for m in value) or list(value) != sorted(value):
            raise ValueError(f"milestones must be increasing fractions in (0, 1) (got {list(value)})")
        return value

    @field_validator("lr_knots", "momentum_knots", "weight_decay_knots")
    @classmethod
    def _knots_from_step_zero(cls, value: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
        steps = [s for s, _ in value]
        if value and (steps[0] != 0 or any(a >= b for a, b in itertools.pairwise(steps))):
            raise ValueError(f"knots need increasing steps starting at 0 (got steps {steps[:8]})")
        if any(not math.isfinite(v) or v < 0 for _, v in value):
            raise ValueError("knot values must be finite and >= 0")
        return value

    @field_validator("width")
    @classmethod
    def _width_of_builtins(cls, value: float, info: ValidationInfo) -> float:
        model = info.data.get("model")
        if value != 1.0 and model and not is_builtin_model(model):
            raise ValueError(
                f"width scales the built-in models; give your model '{model}' its own arguments in model_args"
            )
        return value

    def model_arguments(self) -> dict[str, Any]:
        """The keyword arguments the model's callable gets: `model_args`, plus `width` for the
        built-in models (which all take it)."""
        if is_builtin_model(self.model):
            return {"width": self.width, **self.model_args}
        return dict(self.model_args)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.optimizer == "nag" and self.momentum == 0:
            raise ValueError("optimizer 'nag' (Nesterov) needs momentum > 0; use optimizer 'sgd' for plain SGD")
        if self.optimizer in SCHEDULE_FREE:
            wrong = {"lr_schedule": self.lr_schedule, "momentum_schedule": self.momentum_schedule,
                     "lr_mode": self.lr_mode, "momentum": self.momentum}  # fmt: skip
            wrong = {k: v for k, v in wrong.items() if v not in ("constant", "raw") and (k != "momentum" or v == 0)}
            if wrong:
                raise ValueError(f"optimizer '{self.optimizer}' takes no schedule: it needs lr_schedule and "
                                 "momentum_schedule 'constant', lr_mode 'raw' and momentum > 0 (its warmup is "
                                 f"warmup_fraction; got {wrong})")  # fmt: skip
        if self.optimizer in SCHEDULE_FREE and self.weight_averaging != "none":
            raise ValueError(f"optimizer '{self.optimizer}' averages its weights itself; use weight_averaging 'none'")
        if self.momentum_schedule == "cyclical" and self.momentum_min > self.momentum:
            raise ValueError(
                f"cyclical momentum needs momentum_min <= momentum (got {self.momentum_min} > {self.momentum})"
            )
        for kind in ("lr", "momentum"):
            name, args = getattr(self, f"{kind}_schedule"), getattr(self, f"{kind}_schedule_args")
            if args and is_builtin_schedule(kind, name):
                raise ValueError(f"{kind}_schedule_args go with a schedule of your own (package.module:fn); "
                                 f"the built-in '{name}' takes its settings from config fields")  # fmt: skip
        for schedule, knots in (("lr", self.lr_knots), ("momentum", self.momentum_knots)):
            piecewise = getattr(self, f"{schedule}_schedule") == "piecewise"
            if piecewise != bool(knots):
                raise ValueError(f"{schedule}_schedule 'piecewise' and {schedule}_knots go together "
                                 f"(got {schedule}_schedule '{getattr(self, f'{schedule}_schedule')}' "
                                 f"with {len(knots)} knots)")  # fmt: skip
        if any(v == 0 for _, v in self.lr_knots) or any(v >= 1 for _, v in self.momentum_knots):
            raise ValueError("lr knots must be > 0 and momentum knots < 1")
        if self.trainer_args and is_builtin_trainer(self.trainer):
            raise ValueError(f"trainer_args go with a trainer of your own (package.module:function); the built-in "
                             f"'{self.trainer}' takes its settings from config fields")  # fmt: skip
        if self.batch_size < self.workers_per_trial:
            raise ValueError(f"batch_size {self.batch_size} is smaller than workers_per_trial "
                             f"{self.workers_per_trial}: every worker needs part of each batch")  # fmt: skip
        return self
