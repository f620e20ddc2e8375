"""`nagexp ui`: a real MLflow server on a free port, the link it prints (the experiment's
training runs), and its end on SIGTERM, SIGINT or SIGHUP: the server and its uvicorn gone,
the port free."""

from __future__ import annotations

import os
import select
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import NagexpProcess, free_port


def _group(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(name))
    return found


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _line_with(proc, text: str, timeout_s: float = 180) -> str:
    """The first stdout line holding `text`; stderr is read meanwhile too (the server logs there:
    a full pipe would stall it)."""
    deadline, errors, streams = time.monotonic() + timeout_s, [], [proc.stdout, proc.stderr]
    while time.monotonic() < deadline:
        ready, _, _ = select.select(streams, [], [], 1.0)
        if proc.stderr in ready:
            errors.append(proc.stderr.readline())
            if not errors[-1]:
                streams.remove(proc.stderr)  # closed
        if proc.stdout in ready:
            line = proc.stdout.readline()
            if text in line:
                return line
            if not line and proc.poll() is not None:
                break
    raise AssertionError(f"no line with {text!r} ({'exited' if proc.poll() is not None else 'timeout'}): "
                         + "".join(errors[-20:]))  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_ui_links_to_the_runs_and_ends_its_whole_server(sig: int, tmp_path: Path,
                                                       nagexp_process: NagexpProcess) -> None:  # fmt: skip
    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.tracker import Tracker

    experiment = Tracker(resolve_store(None, tmp_path)).experiment_id  # a store with nagexp's experiment
    port = free_port()
    proc = nagexp_process.start("ui", "--port", str(port), "--results-dir", str(tmp_path), "--no-open")
    line = _line_with(proc, "MLflow UI:")
    assert f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs" in line
    (server,) = _children(proc.pid)  # `mlflow server`, the leader of its own process group
    members = _group(server)
    assert server in members and len(members) >= 2  # the server and its uvicorn at least
    os.kill(proc.pid, sig)  # `nagexp ui` alone, as a terminal closing or a service manager would
    assert proc.wait(timeout=60) == 0
    assert _group(server) == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing serves the port any more


def test_ui_without_a_store_is_one_line(tmp_path: Path, nagexp_process: NagexpProcess) -> None:
    done = nagexp_process.run("ui", "--results-dir", str(tmp_path / "none"), "--no-open", timeout=120)
    assert done.returncode == 1 and "no MLflow store at" in done.stderr and "Traceback" not in done.stderr
