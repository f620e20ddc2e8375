"""The MLflow UI on nagexp's store: `mlflow server` in a process group of its own (its uvicorn
child with it), the link that opens on the experiment's training runs, and an
end that takes the whole group down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from nagexp.core.errors import NagexpError
from nagexp.tracking.store import TrackingStore

__all__ = ["UiServer", "experiment_id", "server_environment"]

# MLflow's server job execution (GenAI evaluation jobs, trace rollups) starts a job runner and
# seven huey consumers, each importing MLflow: about 20 s of CPU on 2 cores before the UI answers,
# for nothing nagexp's runs use. Off unless the user turned it on.
JOB_EXECUTION = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def server_environment() -> dict[str, str]:
    return {JOB_EXECUTION: "false", **os.environ}


def experiment_id(store: TrackingStore) -> str | None:
    """The id of the store's experiment (None when it has none of that name, or the store cannot
    say: the server started on it says why)."""
    from mlflow import MlflowClient

    try:
        found = MlflowClient(tracking_uri=store.uri).get_experiment_by_name(store.experiment)
    except Exception:  # a store MLflow must migrate, or a damaged one
        return None
    return found.experiment_id if found is not None else None


@dataclass
class UiServer:
    store: TrackingStore
    host: str = "127.0.0.1"
    port: int = 5000
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{shown}:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.store.uri,
               "--default-artifact-root", str(self.store.artifact_location), "--host", self.host,
               "--port", str(self.port), "--workers", "1"]  # fmt: skip
        # a session of its own: its children (uvicorn; the job runner and its consumers when job
        # execution is on) are in its process group, which `stop` ends as one
        self.process = subprocess.Popen(cmd, start_new_session=True, env=server_environment())

    def wait_ready(self, timeout_s: float = 180) -> None:
        """Until the server answers /health; NagexpError when it exits first or never answers."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NagexpError(f"the MLflow server exited with code {self.process.returncode} (is port "
                                  f"{self.port} in use? try --port)")  # fmt: skip
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise NagexpError(f"the MLflow server did not answer on {self.url} within {timeout_s:.0f} s")

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def stop(self, grace_s: float = 10.0) -> None:
        """End the server's whole process group: SIGTERM, then SIGKILL what is left after `grace_s`."""
        if self.process is None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and _group_alive(self.process.pid):
                self.process.poll()
                time.sleep(0.1)
            if not _group_alive(self.process.pid):
                break
        self.process.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # the group's leader may be a zombie we have not reaped: ask the process table
    return any(_pgid_of(pid) == pgid and not _zombie(pid) for pid in _pids())


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []


def _pgid_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
