"""Opening a sweep's MLflow store: checked before anything runs, opened while Ray starts.

A tracking server is opened right away, so one that refuses writes stops the sweep before
any data is read or trial run. A local sqlite store is only checked writable here: opening
it (importing MLflow, creating a new store) happens in the background once the sweep's
folder exists, so a sweep that cannot start leaves no store behind.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nagexp.config.sweep import SweepOptions
from nagexp.tracking.store import TrackingStore, check_reachable, resolve_store
from nagexp.tracking.tracker import Tracker

__all__ = ["CheckedStore", "check_store", "open_tracker"]


@dataclass(frozen=True)
class CheckedStore:
    store: TrackingStore
    opened: Tracker | None  # a server, opened while checking; None for a local store


def check_store(options: SweepOptions, results_dir: Path, open_server: bool = True) -> CheckedStore | None:
    """The sweep's store, checked (None when tracking is off). `open_server` False: a server is
    only asked whether it answers, and nothing is created (`--dry-run`)."""
    if not options.track:
        return None
    store = resolve_store(options.tracking_uri, results_dir, options.experiment)
    check_reachable(store, create=open_server)
    return CheckedStore(store, None if store.is_local or not open_server else Tracker(store))


def open_tracker(checked: CheckedStore) -> Future[Tracker]:
    """The tracker: the one already open, or a local store opening in the background."""
    if checked.opened is not None:
        ready: Future[Tracker] = Future()
        ready.set_result(checked.opened)
        return ready
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nagexp-mlflow-open")
    pending = pool.submit(Tracker, checked.store)
    pool.shutdown(wait=False)
    return pending
