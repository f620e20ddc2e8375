"""A trial of a training function of the user's (`trainer: package.module:function`): the
function runs in the Tune worker, and each of its reports becomes the same typed trial report
the built-in trainer sends, so the searcher, the schedulers, the recorder, MLflow and resume do
not know which trainer ran. A report with `state=` is saved as the trial's Tune checkpoint; a
retried or restored trial, or a PBT/PB2 member that copies another's checkpoint, gets it back
as `report.restored`. Where the function saves no state, a retried or restored trial starts
again from epoch 0 (the recorder ignores the epochs it already has); a population member must
save it. The state's lineage (who trained it from which epoch with which config) travels with
it, as the built-in trainer's does, so `nagexp reproduce` can replay a member stretch by stretch.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.core.provenance import cpu_kernels
from nagexp.results.records import TrialRecord, is_settled
from nagexp.results.rung_signals import RungSignal, RungTracker
from nagexp.results.trial_report import trial_report
from nagexp.training.lineage import exploit_at
from nagexp.training.own_trainer import OwnState, load_own_state, run_own_trainer

__all__ = ["own_lineage", "restart_notice", "train_own_trial"]


def _saved_state() -> OwnState | None:
    """The state of the trial's last checkpoint (a retried or restored trial)."""
    from ray import tune

    previous = tune.get_checkpoint()
    if previous is None:
        return None
    with previous.as_directory() as folder:
        saved = load_own_state(folder)
    return saved if saved.has_state else None


def own_lineage(start: OwnState | None, number: int, cfg: TrainConfig) -> list[dict[str, Any]]:
    """The lineage of the state a run goes on from, with an entry for this run when the state
    came from another trial (an exploit) or goes on under another config (a perturbed one). An
    entry's config holds the fields the trial set, so the function sees the same dict again."""
    lineage = list(start.lineage) if start is not None else []
    config = cfg.model_dump(mode="json", exclude_unset=True)
    if not lineage or lineage[-1]["label"] != number or lineage[-1]["config"] != config:
        lineage.append({"epoch": start.epoch if start is not None else 0, "label": number, "config": config})
    return lineage


def _population_fields(lineage: list[dict[str, Any]], epoch: int, last: bool) -> dict[str, Any]:
    """A member's epoch: the trial whose state it continued (first epoch after an exploit), and
    with that epoch and its last one, the lineage of its state (JSON). No schedule is exported:
    the function's use of lr and momentum is its own."""
    extra: dict[str, Any] = {}
    if (donor := exploit_at(lineage, epoch)) is not None:  # type: ignore[arg-type]
        extra["exploit_from"] = donor
    if last or "exploit_from" in extra:  # a member a budget stops has its lineage from its last exploit on
        extra["exported_lineage"] = json.dumps(lineage)
    return extra


def train_own_trial(cfg: TrainConfig, number: int, required: Sequence[str], signal: RungSignal | None,
                    population: bool = False) -> None:  # fmt: skip
    """Run trial `number`'s function, reporting each epoch to Tune (with its state, if any).
    `population`: a PBT/PB2 member, which must save its state (an exploit copies it)."""
    import ray
    from ray import tune

    start = _saved_state()
    node_id, kernels, pid = ray.get_runtime_context().get_node_id(), cpu_kernels(), os.getpid()
    rung = RungTracker(signal, start.history if start else ())
    lineage = own_lineage(start, number, cfg)

    def sink(metrics: dict[str, float], state: OwnState, diverged: str | None) -> None:
        last = diverged is not None or state.epoch == cfg.epochs
        extra = _population_fields(lineage, state.epoch, last) if population else {}
        row = dict(trial_report(metrics, number=number, epochs_total=cfg.epochs, diverged_reason=diverged,
                                node_id=node_id, cpu_kernels=kernels, pid=pid, rung_signal=rung(metrics),
                                **extra))  # fmt: skip
        state.lineage = lineage
        if not state.has_state:
            tune.report(row)
            return
        with tempfile.TemporaryDirectory() as folder:
            state.save(folder)
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))

    needs = (f"trainer '{cfg.trainer}' reported no state: a population's members copy each other's state, so call "
             "report(metrics, state=...) every epoch (see docs/guide/own-trainer.md)") if population else None
    run_own_trainer(cfg, sink, tuple(required), start, needs_state=needs)


def restart_notice(trainer: str, records: dict[int, TrialRecord]) -> str | None:
    """What a resumed sweep of an own function says about its unfinished trials: they go on
    from the state the function saved with `report(..., state=...)`, or from epoch 0."""
    begun = sorted(n for n, r in records.items() if not is_settled(r.state) and r.epochs_run)
    if not begun:
        return None
    listed = ", ".join(map(str, begun[:10])) + (", ..." if len(begun) > 10 else "")
    return (
        f"trainer '{trainer}': unfinished trials {listed} go on from the state their function saved with "
        "report(metrics, state=...); a function that saves none trains them again from epoch 0"
    )
