"""Ray Train internals nagexp relies on (tested on Ray 2.60, Train V2): a TorchTrainer without
Ray Train's placement-group cleaner and Ray Data manager, the key under which `TuneReportCallback`
hands a worker's checkpoint to Tune, how often Train's controller polls its workers, and its
preemption watcher (off on a local runtime)."""

from __future__ import annotations

import functools

from nagexp.integrations.versions import Tested

__all__ = ["CHECKPOINT_PATH_KEY", "LOCAL_TRAIN_SETTINGS", "TESTED", "TRAIN_SETTINGS", "trainer_class"]

TESTED = Tested("ray", "2.60", "2.61", "Ray Train V2's default callbacks (its placement-group cleaner and "
                "datasets callback), the checkpoint key of TuneReportCallback, RAY_TRAIN_HEALTH_CHECK_INTERVAL_S "
                "and RAY_TRAIN_ENABLE_PREEMPTION_WATCHER")  # fmt: skip
TESTED.check()

# Train's controller polls its workers every 2 s by default: seconds of every data-parallel
# run's start and end (measured: 18.8 s -> 12.8 s for a 3-epoch digits run)
TRAIN_SETTINGS = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25"}
# On a runtime nagexp starts on this machine no node can be preempted, yet Train starts a
# watcher actor per run to poll for it (1.2 s of CPU a data-parallel trial, measured on 2 cores).
LOCAL_TRAIN_SETTINGS = {**TRAIN_SETTINGS, "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}


def _checkpoint_path_key() -> str:
    try:
        from ray.tune.integration.ray_train import CHECKPOINT_PATH_KEY as key

        return key
    except ImportError:
        return "checkpoint_path"  # Ray 2.60's


CHECKPOINT_PATH_KEY = _checkpoint_path_key()  # in a data-parallel trial's Tune results: its checkpoint folder


@functools.cache
def trainer_class() -> type:
    """TorchTrainer without two of Ray Train's default callbacks. Its placement-group cleaner: a
    detached actor per run that asks Ray's state API (a dashboard, which nagexp does not start)
    whether the run's controller died, and so never ends; nagexp removes a stopped trial's worker
    group itself (see `nagexp.runtime.ray_session.release_worker_group`) and Ray removes the rest
    when the job ends. Its datasets callback, for a run given no Ray Datasets (nagexp's never
    are: streamed shards come through nagexp's own data group): an actor per run that manages
    none (1.3 s of CPU a data-parallel trial on 2 cores). Where either cannot be found, the plain
    TorchTrainer (its actors then outlive the runs)."""
    from ray.train.torch import TorchTrainer

    try:
        from ray.train.v2._internal.callbacks.datasets import DatasetsCallback
        from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback
    except ImportError:
        return TorchTrainer
    if not hasattr(TorchTrainer, "_create_default_callbacks"):
        return TorchTrainer

    class Trainer(TorchTrainer):
        def _create_default_callbacks(self) -> list:
            unused = (PlacementGroupCleanerCallback, *(() if self.datasets else (DatasetsCallback,)))
            return [c for c in super()._create_default_callbacks() if not isinstance(c, unused)]

    return Trainer
