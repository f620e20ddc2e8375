"""`train(cfg, data, report, dist) -> TrainResult`: one Nesterov/heavy-ball/SGD (or schedule-free
SGD) training run.

The trainer knows nothing of Ray, Optuna or MLflow; whoever calls it passes a `report`
callable that receives each epoch's metrics and a checkpoint it may save, and, for a
data-parallel run, the `Distributed` process it is (see training/distributed.py): each
process trains on its part of every global batch, and metrics are summed across processes.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from nagexp.config.train import TrainConfig
from nagexp.data.batches import TrainData, epoch_generator
from nagexp.data.bundle import DataReport
from nagexp.training.checkpoint import CheckpointState, TrainCheckpoint, checkpoint_state
from nagexp.training.data_init import frozen_parameters
from nagexp.training.distributed import Distributed, SingleProcess
from nagexp.training.evaluation import evaluate
from nagexp.training.lineage import schedule_record
from nagexp.training.lookahead import Lookahead, lookahead_decay
from nagexp.training.optim import (
    GROUP_WEIGHT_DECAY_SCALE,
    is_schedule_free,
    resolve_device,
    set_group_scales,
    set_optimizer_mode,
)
from nagexp.training.probe import probe
from nagexp.training.run_setup import Run, setup_run, torch_settings
from nagexp.training.steps import optimizer_step, set_hyperparameters, training_input

__all__ = ["Metrics", "Report", "TrainResult", "evaluate", "train"]

NONFINITE_CHECK_EVERY = 50  # steps between cheap NaN checks inside an epoch
BATCHNORM_RECOMPUTE_BATCHES = 50  # schedule-free: training batches its BatchNorm statistics are taken over

Metrics = dict[str, float]  # one epoch: see nagexp.results.trial_report.TrialReport for the keys


Report = Callable[[Metrics, "TrainCheckpoint"], None]


@dataclass
class TrainResult:
    history: list[Metrics]  # one entry per epoch run
    epochs_run: int
    diverged: bool
    diverged_reason: str | None
    test_loss: float | None  # None when the run diverged
    test_acc: float | None
    seconds: float
    data_report: DataReport
    model: torch.nn.Module = field(repr=False)
    # where a data-parallel run's workers computed on CPU: theirs in rank order (see parallel/worker.py)
    cpu_kernels: str | None = None

    @property
    def final(self) -> Metrics:
        return self.history[-1] if self.history else {}


def _train_epoch(run: Run, cfg: TrainConfig, epoch: int) -> tuple[float, float, float | None]:
    """One pass; returns (mean train loss, train accuracy, first-step loss if epoch 0)."""
    dist = run.dist
    run.trained.train()
    set_optimizer_mode(run.opt, training=True)
    gen = epoch_generator(cfg.seed + 1, epoch, run.device) if cfg.augment else None
    frozen = frozen_parameters(run.model, epoch)
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    first_loss = None
    base, total = epoch * run.steps_per_epoch, run.steps_per_epoch * cfg.epochs
    for i, (xb, yb) in enumerate(run.source.train_epoch(epoch)):
        xb = training_input(run, cfg, xb, gen, epoch)
        # both schedules, every step
        set_hyperparameters(run.opt, run.lrs[base + i], run.mus[base + i],
                            run.decays[base + i] if run.decays is not None else None)  # fmt: skip
        step_loss, out = optimizer_step(run, cfg, xb, yb, frozen)
        step = base + i + 1  # steps taken
        if run.lookahead is not None and step % cfg.lookahead_every == 0:
            run.lookahead.sync(run.model, lookahead_decay(step, total, cfg.lookahead_decay))
        loss_sum += step_loss
        correct += (out.argmax(1) == yb).sum()
        if first_loss is None and epoch == 0:
            first_loss = dist.sum(step_loss).item()
        if i % NONFINITE_CHECK_EVERY == NONFINITE_CHECK_EVERY - 1 and not torch.isfinite(dist.sum(loss_sum)):
            return math.nan, 0.0, first_loss  # every process sees the same sum: all stop together
    seen = run.steps_per_epoch * run.batch_size
    return dist.sum(loss_sum).item() / run.steps_per_epoch, dist.sum(correct).item() / seen, first_loss


def _to_evaluation_point(run: Run, cfg: TrainConfig, epoch: int) -> None:
    """After an epoch's steps: the weights that are evaluated and saved. With lookahead, the slow
    weights (synced at the epoch's end too, so a checkpoint is all a resumed run needs). For
    schedule-free SGD they are the average x, not the point y its steps were taken at (`eval()`),
    and the BatchNorm statistics are recomputed for them over up to BATCHNORM_RECOMPUTE_BATCHES
    training batches in train mode, as the schedulefree package advises (averaged over the
    batches, not decayed)."""
    if run.lookahead is not None:
        step = (epoch + 1) * run.steps_per_epoch
        run.lookahead.sync(run.model, lookahead_decay(step, run.steps_per_epoch * cfg.epochs, cfg.lookahead_decay))
    set_optimizer_mode(run.opt, training=False)
    if not is_schedule_free(run.opt):
        return
    nn = torch.nn
    kinds = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    norms = [m for m in run.model.modules() if isinstance(m, kinds) and m.track_running_stats]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    run.model.train()
    with torch.no_grad(), run.autocast():
        for xb, _ in itertools.islice(run.source.train_epoch(epoch), BATCHNORM_RECOMPUTE_BATCHES):
            run.model(xb.contiguous(memory_format=run.memory_format))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


PROBE_COST_KEYS = ("probe_steps", "probe_seconds")  # summed over the run's probes so far


def _probe_metrics(run: Run, cfg: TrainConfig, epoch: int, before: Metrics | None, diverged: bool) -> Metrics:
    """At a probe epoch (never the last, whose own metrics are the end; not after a divergence):
    the cooldown probe's val metrics. From the first probe on: the probes' steps and seconds so
    far (`before`: the previous epoch's metrics, a resumed run's too)."""
    so_far: Metrics = {k: before[k] for k in PROBE_COST_KEYS if before is not None and k in before}
    if diverged or epoch + 1 not in cfg.probe_epochs or epoch + 1 >= cfg.epochs:
        return so_far
    result = probe(run, cfg, epoch)
    return {"cooldown_val_loss": result.val_loss, "cooldown_val_acc": result.val_acc,
            "probe_steps": so_far.get("probe_steps", 0) + result.steps,
            "probe_seconds": so_far.get("probe_seconds", 0.0) + result.seconds}  # fmt: skip


def train(
    cfg: TrainConfig,
    data: TrainData,
    report: Report | None = None,
    *,
    resume: CheckpointState | None = None,
    dist: Distributed | None = None,
    label: int | None = None,
) -> TrainResult:
    """Train `cfg.model` on `data` with SGD (nag/momentum/sgd) under the LR and momentum schedules,
    or with schedule-free SGD (constant lr and momentum, its own warmup).

    `report(metrics, checkpoint)` is called after every epoch. `resume` is a checkpoint
    state (see `load_checkpoint`); training continues after its epoch and ends with the
    same metrics as an uninterrupted run. `dist`: this process of a data-parallel run
    (default: a single process); `report` is called in every process, the same way.

    Every checkpoint carries the schedule its weights were trained under, step by step
    (`schedule`), and who trained them from which epoch (`lineage`, entries of `label`): a
    run resumed from another run's checkpoint with other lr / momentum / weight decay (as
    population-based training does) keeps the optimizer's velocity and continues both.
    """
    dist = dist or SingleProcess()
    device = dist.device or resolve_device(cfg.device)  # a data-parallel worker's own device
    with torch_settings(cfg, device):
        return _train(cfg, data, report, resume, dist, device, label)


def _train(cfg: TrainConfig, data: TrainData, report: Report | None, resume: CheckpointState | None,
           dist: Distributed, device: torch.device, label: int | None) -> TrainResult:  # fmt: skip
    started = time.perf_counter()
    run = setup_run(cfg, data, dist, device, fresh=resume is None)
    history: list[Metrics] = []
    initial_loss: float | None = None
    start_epoch = 0
    if resume is not None:
        run.model.load_state_dict(resume["model"])
        run.opt.load_state_dict(resume["optimizer"])  # the velocity; lr and momentum are set every step
        set_group_scales(run.opt, cfg.norm_bias_lr_scale, cfg.norm_bias_weight_decay_scale)
        for g in run.opt.param_groups:  # ... weight decay too, which the state brought back
            g["weight_decay"] = cfg.weight_decay * g.get(GROUP_WEIGHT_DECAY_SCALE, 1.0)
        torch.set_rng_state(resume["torch_rng"])
        history = [dict(h) for h in resume["history"]]
        initial_loss = resume["initial_loss"]
        start_epoch = int(resume["epoch"])
    if cfg.weight_averaging == "lookahead":  # after an epoch the weights are the slow ones
        run.lookahead = Lookahead(run.model)
    schedule, lineage = schedule_record(cfg, run.mus, run.steps_per_epoch, resume, start_epoch, label)

    diverged_reason = resume.get("diverged_reason") if resume else None
    test_loss = test_acc = None
    # objectives besides accuracy (several-objective sweeps): the model's size, and the seconds
    # its epochs spent training, summed over the run (a resumed run goes on from its history)
    param_count = float(sum(p.numel() for p in run.model.parameters()))
    trained_seconds = float(history[-1].get("train_seconds", 0.0)) if history else 0.0
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        train_loss, train_acc, first_loss = _train_epoch(run, cfg, epoch)
        train_seconds = time.perf_counter() - t0
        trained_seconds += train_seconds
        _to_evaluation_point(run, cfg, epoch)
        run.dist.share_buffers(run.model)
        if run.lookahead is not None:  # the slow weights are these (BatchNorm statistics as shared)
            run.lookahead = Lookahead(run.model)
        if first_loss is not None:
            initial_loss = first_loss
        if not math.isfinite(train_loss):
            diverged_reason = f"non-finite training loss in epoch {epoch + 1}"
        elif initial_loss is not None and train_loss > cfg.divergence_factor * initial_loss:
            diverged_reason = (
                f"training loss {train_loss:.3g} in epoch {epoch + 1} exceeds "
                f"{cfg.divergence_factor:g} x the initial loss {initial_loss:.3g}"
            )
        val_loss, val_acc = evaluate(run, "val")
        # after the evaluation, so the probe's seconds count in epoch_seconds but not in train_seconds
        # (an objective, the same with or without probes)
        probed = _probe_metrics(run, cfg, epoch, history[-1] if history else None, diverged_reason is not None)
        last_step = (epoch + 1) * run.steps_per_epoch - 1
        metrics: Metrics = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": run.lrs[last_step],
            "momentum": run.mus[last_step],
            "weight_decay": schedule["weight_decay"][last_step],
            "epoch_seconds": time.perf_counter() - t0,
            "samples_per_s": run.steps_per_epoch * run.batch_size / train_seconds,
            "train_seconds": trained_seconds,
            "param_count": param_count,
            **probed,
        }
        if diverged_reason is None and epoch == cfg.epochs - 1:
            # test once, at the end, and into the last report so tuners record it too
            test_loss, test_acc = evaluate(run, "test")
            metrics.update(test_loss=test_loss, test_acc=test_acc)
        history.append(metrics)
        if report is not None:
            state = checkpoint_state(epoch=epoch + 1, model=run.model, optimizer=run.opt, history=history,
                                     initial_loss=initial_loss, diverged_reason=diverged_reason,
                                     schedule={k: v[: last_step + 1] for k, v in schedule.items()},
                                     lineage=lineage)  # fmt: skip
            report(metrics, TrainCheckpoint(state))
        if diverged_reason is not None:
            break

    if diverged_reason is None and test_acc is None:  # resumed from the final checkpoint
        last = history[-1]
        test_loss, test_acc = last.get("test_loss"), last.get("test_acc")
        if test_acc is None:
            test_loss, test_acc = evaluate(run, "test")
    return TrainResult(
        history=history,
        epochs_run=len(history),
        diverged=diverged_reason is not None,
        diverged_reason=diverged_reason,
        test_loss=test_loss,
        test_acc=test_acc,
        seconds=time.perf_counter() - started,
        data_report=data.report,
        model=run.model,
    )
