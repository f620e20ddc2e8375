"""The cooldown probe: what a run would reach if it ended now. At a rung epoch the trainer
branches the run, anneals the lr (and momentum) from their current values to the schedule's
final ones over a short cooldown, evaluates the branch on val and puts the run back exactly as
it was (Hägele et al. 2024: a short cooldown shows where a schedule ends; its `1 - sqrt` shape
beat linear). The main run then continues bit for bit as if no probe had run.

The branch trains in place and is undone by copying the saved state back into the same
tensors, so it works the same on a data-parallel worker's wrapped model (all processes probe
together; the evaluation is summed across them)."""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from nagexp.data.batches import epoch_generator
from nagexp.training.data_init import frozen_parameters
from nagexp.training.evaluation import evaluate
from nagexp.training.lookahead import Lookahead, lookahead_decay
from nagexp.training.optim import is_schedule_free, set_optimizer_mode
from nagexp.training.steps import optimizer_step, set_hyperparameters, training_input

if TYPE_CHECKING:
    from nagexp.config.train import TrainConfig
    from nagexp.training.run_setup import Run

__all__ = ["PROBE_AUGMENT_SEED", "RESTORED", "Branch", "ProbeResult", "cooldown_steps", "cooldown_values",
           "probe"]  # fmt: skip

# the parts of a run a branch puts back after its probe. All of them: a test drops one at a time to
# show that each matters (the run then ends differently)
RESTORED: tuple[str, ...] = ("model", "optimizer", "lookahead", "rng")
# a probe's augmentation draws from generators seeded apart from the run's (seed + 1) and its
# alternating flips' (seed + 2)
PROBE_AUGMENT_SEED = 3


def cooldown_values(now: float, end: float, steps: int) -> list[float]:
    """A value annealed from `now` to `end` over `steps` steps with the `1 - sqrt` shape:
    v_t = end + (now - end) * (1 - sqrt(t / steps)) for t = 1..steps (the last is `end`)."""
    return [end + (now - end) * (1.0 - math.sqrt(t / steps)) for t in range(1, steps + 1)]


def cooldown_steps(steps_taken: int, fraction: float) -> int:
    """A probe's optimizer steps: `fraction` of the steps taken so far, at least one."""
    return max(1, round(fraction * steps_taken))


class ProbeResult(NamedTuple):
    val_loss: float  # the branch's, after its cooldown
    val_acc: float
    steps: int  # optimizer steps the branch took
    seconds: float  # the whole probe: copying, training, evaluating, restoring


@dataclass
class Branch:
    """Everything a training step depends on besides the config, saved before a probe trains:
    the model's parameters and buffers (BatchNorm statistics), the optimizer's state (its
    velocity and param groups), the lookahead's slow weights, and the torch (CPU and CUDA), numpy
    and python generators. The batch sources hold no position to save: each epoch's order is
    drawn afresh from (seed, epoch), and a probe runs between two epochs."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    lookahead: Lookahead | None
    rng: tuple[Any, ...]

    @classmethod
    def of(cls, run: Run) -> Branch:
        cuda = torch.cuda.get_rng_state_all() if run.device.type == "cuda" else None
        return cls(model={k: v.detach().clone() for k, v in run.model.state_dict().items()},
                   optimizer=copy.deepcopy(run.opt.state_dict()),  # state_dict() holds the live tensors
                   lookahead=copy.deepcopy(run.lookahead),
                   rng=(torch.get_rng_state(), cuda, np.random.get_state(), random.getstate()))  # fmt: skip

    def restore(self, run: Run) -> None:
        """Put the saved state back into the run's own tensors (in place: a wrapped model and
        the optimizer keep referring to them)."""
        if "model" in RESTORED:
            run.model.load_state_dict(self.model)  # copies into the existing parameters and buffers
        if "optimizer" in RESTORED:
            run.opt.load_state_dict(self.optimizer)
        if "lookahead" in RESTORED:
            run.lookahead = self.lookahead
        if "rng" in RESTORED:
            cpu, cuda, numpy_state, python_state = self.rng
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)
            np.random.set_state(numpy_state)
            random.setstate(python_state)


def probe(run: Run, cfg: TrainConfig, epoch: int) -> ProbeResult:
    """The cooldown probe after epoch `epoch` (0-based) has been trained and evaluated. For
    schedule-free SGD the evaluated weights are already an average: its value is the plain val
    metrics (no training)."""
    started = time.perf_counter()
    if is_schedule_free(run.opt):
        val_loss, val_acc = evaluate(run, "val")
        return ProbeResult(val_loss, val_acc, 0, time.perf_counter() - started)
    taken = (epoch + 1) * run.steps_per_epoch
    steps = cooldown_steps(taken, cfg.cooldown_fraction)
    saved = Branch.of(run)
    try:
        _cool_down(run, cfg, epoch + 1, taken, steps)
        val_loss, val_acc = evaluate(run, "val")
    finally:
        saved.restore(run)
    return ProbeResult(val_loss, val_acc, steps, time.perf_counter() - started)


def _batches(run: Run, cfg: TrainConfig, first_epoch: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """(epoch, x, y) of the epochs from `first_epoch` on, this process's rows, augmented from the
    probe's own generators (a cooldown longer than an epoch goes on into the next)."""
    for epoch in itertools.count(first_epoch):
        gen = epoch_generator(cfg.seed + PROBE_AUGMENT_SEED, epoch, run.device) if cfg.augment else None
        for xb, yb in run.source.train_epoch(epoch):
            yield epoch, training_input(run, cfg, xb, gen, epoch), yb


def _cool_down(run: Run, cfg: TrainConfig, next_epoch: int, taken: int, steps: int) -> None:
    """Train the run in place for `steps` steps on the next epochs' batches, lr and momentum
    annealed from the last step's values to the schedule's last; weight decay stays as it is.
    Lookahead goes on as if the run ended with the cooldown, and ends synced, as an epoch does."""
    lrs = cooldown_values(run.lrs[taken - 1], run.lrs[-1], steps)
    mus = cooldown_values(run.mus[taken - 1], run.mus[-1], steps)
    run.trained.train()
    set_optimizer_mode(run.opt, training=True)
    frozen: dict[int, list[torch.nn.Parameter]] = {}
    # closed when done: a streamed epoch left half read stops its Ray Data reads now, not at collection
    with contextlib.closing(_batches(run, cfg, next_epoch)) as batches:
        for t, (epoch, xb, yb) in enumerate(itertools.islice(batches, steps), start=1):
            set_hyperparameters(run.opt, lrs[t - 1], mus[t - 1], None)
            optimizer_step(run, cfg, xb, yb, frozen.setdefault(epoch, frozen_parameters(run.model, epoch)))
            if run.lookahead is not None and (taken + t) % cfg.lookahead_every == 0:
                run.lookahead.sync(run.model, lookahead_decay(taken + t, taken + steps, cfg.lookahead_decay))
    if run.lookahead is not None:
        run.lookahead.sync(run.model, cfg.lookahead_decay)  # the ramp's end: decay at the last step
    set_optimizer_mode(run.opt, training=False)
    run.dist.share_buffers(run.model)  # every process evaluates rank 0's BatchNorm statistics
