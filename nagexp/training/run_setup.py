"""What a training run sets up once before its first step (`setup_run`): the model (initialized
from the data when asked), its batches, the optimizer and both schedules per step; and torch's
process-wide settings for the run (`torch_settings`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from nagexp.config.train import TrainConfig
from nagexp.data.batches import BatchSource, TrainData, rank_rows
from nagexp.registries.models import build_model
from nagexp.training.augment import check_padding
from nagexp.training.data_init import initialize_from_data
from nagexp.training.distributed import Distributed
from nagexp.training.lookahead import Lookahead
from nagexp.training.optim import GROUP_WEIGHT_DECAY_SCALE, build_optimizer, parameter_groups
from nagexp.training.schedules import momentum_values, torch_lr_values, weight_decay_values

__all__ = ["Run", "setup_run", "torch_settings"]


@dataclass
class Run:
    """What the epoch loop needs, built once."""

    model: torch.nn.Module  # the plain model: evaluated, checkpointed, returned
    trained: torch.nn.Module  # what the loop calls: `model`, or `model` wrapped for data parallelism
    dist: Distributed
    opt: torch.optim.Optimizer
    lrs: list[float]  # torch lr, every step
    mus: list[float]
    decays: list[float] | None  # weight decay, every step, when it changes (knots); else the optimizer's
    source: BatchSource  # this process's rows of every batch
    steps_per_epoch: int
    batch_size: int
    device: torch.device
    autocast: Callable[[], contextlib.AbstractContextManager]
    memory_format: torch.memory_format  # of every input batch: the model's own layout
    test_time_augment: str  # how val and test batches are evaluated (TrainConfig.test_time_augment)
    lookahead: Lookahead | None = None  # the slow weights, with weight_averaging 'lookahead'


@contextlib.contextmanager
def torch_settings(cfg: TrainConfig, device: torch.device) -> Iterator[None]:
    """torch's process-wide settings for this run (its CPU threads; cuDNN picking algorithms
    for the fixed batch shape on CUDA; the global generator the run seeds), as they were
    before once it ends."""
    threads, benchmark, generator = torch.get_num_threads(), torch.backends.cudnn.benchmark, torch.get_rng_state()
    cuda_generators = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    if device.type == "cpu" and cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = benchmark
        torch.set_rng_state(generator)
        if cuda_generators is not None:
            torch.cuda.set_rng_state_all(cuda_generators)


def setup_run(cfg: TrainConfig, data: TrainData, dist: Distributed, device: torch.device, fresh: bool) -> Run:
    """`fresh`: a run from its first step (not resumed from a checkpoint)."""
    if cfg.augment:
        check_padding(cfg.augment_pad, cfg.augment_pad_mode, data.input_shape)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes, **cfg.model_arguments()).to(device)
    on_cuda = device.type == "cuda"
    # On CUDA, convolutions run fastest with NHWC tensors (channels_last) for the weights and
    # every input batch alike.
    memory_format = torch.channels_last if on_cuda else torch.contiguous_format
    if on_cuda:
        model = model.to(memory_format=memory_format)
    # memory: tensors on the device; stream: shards through Ray Data (a worker's own blocks)
    source = data.batches(cfg.seed, cfg.batch_size, cfg.eval_batch_size, device, dist.rank, dist.world_size)
    batch_size = min(cfg.batch_size, data.train_size)
    if cfg.data_init and fresh:  # before wrapping: data-parallel workers all start from rank 0's weights
        initialize_from_data(model, source, cfg.data_init_images, cfg.model)  # (whole batches, as one process)
    source = rank_rows(source, dist.rank, dist.world_size, batch_size)
    trained, model = dist.wrap(model)
    steps_per_epoch = source.steps_per_epoch  # the partial last batch is dropped; order changes every epoch
    total = steps_per_epoch * cfg.epochs
    groups = parameter_groups(model, cfg.norm_bias_lr_scale, cfg.norm_bias_weight_decay_scale)
    opt = build_optimizer(groups, cfg.optimizer, cfg.momentum, cfg.weight_decay, device,
                          warmup_steps=round(cfg.warmup_fraction * total))  # fmt: skip
    for g in opt.param_groups:
        g["weight_decay"] = cfg.weight_decay * g.get(GROUP_WEIGHT_DECAY_SCALE, 1.0)

    def autocast() -> contextlib.AbstractContextManager:
        if on_cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    decays = weight_decay_values(cfg, total) if cfg.weight_decay_knots else None
    return Run(model, trained, dist, opt, torch_lr_values(cfg, total), momentum_values(cfg, total), decays,
                source, steps_per_epoch, batch_size, device, autocast, memory_format,
                cfg.test_time_augment)  # fmt: skip
