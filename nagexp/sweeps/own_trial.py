"""A trial of a training function of the user's (`trainer: package.module:function`): the
function runs in the Tune worker, and each of its reports becomes the same typed trial report
the built-in trainer sends, so the searcher, the schedulers, the recorder, MLflow and resume do
not know which trainer ran. A report with `state=` is saved as the trial's Tune checkpoint; a
retried or restored trial gets it back as `report.restored`. Where the
function saves no state, such a trial starts again from epoch 0 (the recorder ignores the
epochs it already has).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

from nagexp.config.train import TrainConfig
from nagexp.results.records import TrialRecord, is_settled
from nagexp.results.rung_signals import RungSignal, RungTracker
from nagexp.results.trial_report import trial_report
from nagexp.training.own_trainer import OwnState, load_own_state, run_own_trainer

__all__ = ["restart_notice", "train_own_trial"]


def _saved_state() -> OwnState | None:
    """The state of the trial's last checkpoint (a retried or restored trial)."""
    from ray import tune

    previous = tune.get_checkpoint()
    if previous is None:
        return None
    with previous.as_directory() as folder:
        saved = load_own_state(folder)
    return saved if saved.has_state else None


def train_own_trial(cfg: TrainConfig, number: int, required: Sequence[str], signal: RungSignal | None) -> None:
    """Run trial `number`'s function, reporting each epoch to Tune (with its state, if any)."""
    import ray
    from ray import tune

    start = _saved_state()
    node_id, pid = ray.get_runtime_context().get_node_id(), os.getpid()
    rung = RungTracker(signal, start.history if start else ())

    def sink(metrics: dict[str, float], state: OwnState, diverged: str | None) -> None:
        row = dict(trial_report(metrics, number=number, epochs_total=cfg.epochs, diverged_reason=diverged,
                                node_id=node_id, pid=pid, rung_signal=rung(metrics)))  # fmt: skip
        if not state.has_state:
            tune.report(row)
            return
        with tempfile.TemporaryDirectory() as folder:
            state.save(folder)
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))

    run_own_trainer(cfg, sink, tuple(required), start)


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
