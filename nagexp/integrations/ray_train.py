"""Ray Train internals nagexp relies on (tested on Ray 2.60, Train V2): a TorchTrainer without
Ray Train's placement-group cleaner, the key under which `TuneReportCallback` hands a worker's
checkpoint to Tune, and how often Train's controller polls its workers."""

from __future__ import annotations

import functools

from nagexp.integrations.versions import Tested

__all__ = ["CHECKPOINT_PATH_KEY", "TESTED", "TRAIN_SETTINGS", "trainer_class"]

TESTED = Tested("ray", "2.60", "2.61", "Ray Train V2's default callbacks (its placement-group cleaner), the "
                "checkpoint key of TuneReportCallback and RAY_TRAIN_HEALTH_CHECK_INTERVAL_S")  # fmt: skip
TESTED.check()

# Train's controller polls its workers every 2 s by default: seconds of every data-parallel
# run's start and end (measured: 18.8 s -> 12.8 s for a 3-epoch digits run)
TRAIN_SETTINGS = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25"}


def _checkpoint_path_key() -> str:
    try:
        from ray.tune.integration.ray_train import CHECKPOINT_PATH_KEY as key

        return key
    except ImportError:
        return "checkpoint_path"  # Ray 2.60's


CHECKPOINT_PATH_KEY = _checkpoint_path_key()  # in a data-parallel trial's Tune results: its checkpoint folder


@functools.cache
def trainer_class() -> type:
    """TorchTrainer without Ray Train's placement-group cleaner: a detached actor per run that
    asks Ray's state API (a dashboard, which nagexp does not start) whether the run's controller
    died, and so never ends. nagexp removes a stopped trial's worker group itself (see
    `nagexp.runtime.ray_session.release_worker_group`); Ray removes the rest when the job ends. Where
    the cleaner cannot be found, the plain TorchTrainer (its actors then outlive the runs)."""
    from ray.train.torch import TorchTrainer

    try:
        from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback
    except ImportError:
        return TorchTrainer
    if not hasattr(TorchTrainer, "_create_default_callbacks"):
        return TorchTrainer

    class Trainer(TorchTrainer):
        def _create_default_callbacks(self) -> list:
            return [c for c in super()._create_default_callbacks() if not isinstance(c, PlacementGroupCleanerCallback)]

    return Trainer
