"""Which MLflow store, whether it answers, and the experiment in it.

Default store: sqlite:///<absolute results dir>/mlflow.db with artifacts in
<results dir>/mlartifacts, so a sweep needs no set-up. `--tracking-uri` or
MLFLOW_TRACKING_URI select any other store, a tracking server over HTTP included.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nagexp.core.errors import NagexpError
from nagexp.core.io import not_created_because

__all__ = ["TrackingStore", "check_reachable", "default_tracking_uri", "mask_uri", "resolve_store"]

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def mask_uri(uri: str) -> str:
    """`http://user:secret@host/` -> `http://***@host/` (for every message and log)."""
    return _CREDENTIALS.sub("***@", uri)


def default_tracking_uri(results_dir: Path) -> str:
    return f"sqlite:///{Path(results_dir).resolve() / 'mlflow.db'}"


@dataclass(frozen=True)
class TrackingStore:
    uri: str
    artifact_location: str | None  # for local stores; a server decides for itself
    experiment: str

    @property
    def is_local(self) -> bool:
        return self.artifact_location is not None

    @property
    def shown(self) -> str:
        return mask_uri(self.uri)


def resolve_store(tracking_uri: str | None, results_dir: Path, experiment: str = "nagexp") -> TrackingStore:
    """Option first, then MLFLOW_TRACKING_URI, then the sqlite file in the results dir."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(results_dir)
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https", "databricks"):
        return TrackingStore(uri, None, experiment)
    artifacts = (Path(results_dir).resolve() / "mlartifacts").as_uri()
    if scheme == "" and not uri.startswith("/"):
        raise NagexpError(
            f"tracking URI '{mask_uri(uri)}' has no scheme; use sqlite:///ABS/PATH.db or http://HOST:PORT"
        )
    return TrackingStore(uri, artifacts, experiment)


def sweep_store(tracking_uri: str | None, recorded: str | None, results_dir: Path,
                experiment: str = "nagexp") -> TrackingStore:
    """The store of a finished sweep's runs (report, reproduce): the option, then
    MLFLOW_TRACKING_URI, then the URI the sweep recorded (unless it was masked, or is a sqlite
    file that is no longer there: a moved results folder), then the results dir's sqlite file."""
    usable = recorded and "***" not in recorded
    if usable and recorded.startswith("sqlite:///") and not Path(recorded.removeprefix("sqlite:///")).is_file():
        usable = False
    fallback = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or (recorded if usable else None)
    return resolve_store(fallback, results_dir, experiment)


def check_reachable(store: TrackingStore, timeout_s: float = 5.0, create: bool = True) -> None:
    """Fail fast (one line, credentials masked) on a server that does not answer, or a local
    store that cannot be written (`create`: make its folder; otherwise only look)."""
    parts = urlsplit(store.uri)
    if parts.scheme in ("http", "https"):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout_s).close()
        except OSError as exc:
            raise NagexpError(
                f"MLflow tracking server {store.shown} is unreachable ({exc.strerror or exc}); "
                "start it or pass another --tracking-uri"
            ) from None
    elif parts.scheme == "sqlite":
        db = Path(store.uri.removeprefix("sqlite:///"))
        folder = db.parent
        if create:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise NagexpError(f"cannot create '{db.parent}' for the MLflow store: "
                                  f"{not_created_because(db.parent, exc)}; pass a writable --results-dir or "
                                  "--tracking-uri") from None  # fmt: skip
        else:
            while not folder.exists() and folder != folder.parent:  # the folder that would hold it
                folder = folder.parent
        if not os.access(folder, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise NagexpError(f"the MLflow store {db} is not writable; fix its permissions or pass --tracking-uri")
