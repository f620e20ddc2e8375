"""`nagexp ui`: a real MLflow server on a free port, the link it prints (the experiment's
training runs), and its end on SIGTERM, SIGINT or SIGHUP: the server and its uvicorn gone,
the port free."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

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


def _line_with(proc: subprocess.Popen, text: str, timeout_s: float = 180) -> str:
    """The first stdout line holding `text`. Threads read both pipes to their end: the server
    logs to both (a full pipe would stall it), and its access log shares stdout with nagexp's
    line, so two lines can come in one read (a select on the pipe would then never see the
    second, left in the reader's buffer)."""
    lines: queue.Queue[tuple[str, str]] = queue.Queue()

    def drain(name: str, stream: IO[str]) -> None:
        for line in stream:
            lines.put((name, line))
        lines.put((name, ""))  # closed

    for name, stream in (("out", proc.stdout), ("err", proc.stderr)):
        threading.Thread(target=drain, args=(name, stream), daemon=True).start()
    deadline, seen, closed = time.monotonic() + timeout_s, [], 0
    while closed < 2 and (left := deadline - time.monotonic()) > 0:
        try:
            name, line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        if name == "out" and text in line:
            return line
        closed += line == ""
        seen.append(line)
    raise AssertionError(f"no line with {text!r} ({'exited' if proc.poll() is not None else 'timeout'}): "
                         + "".join(seen[-20:]))  # fmt: skip


def test_line_with_finds_a_line_that_came_in_one_read_with_another() -> None:
    writer = "import sys, time; sys.stdout.write('GET /health 200\\nMLflow UI: http://x\\n'); sys.stdout.flush(); " \
             "time.sleep(30)"  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _line_with(proc, "MLflow UI:", timeout_s=20) == "MLflow UI: http://x\n"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.fast
def test_ui_ends_on_hangup_as_on_the_signals_below() -> None:
    """SIGHUP (a terminal closing) goes to the one handler SIGTERM and SIGINT reach, which the
    real server below ends on: a third server start would test the same lines."""
    from nagexp.cli.ui_cmd import _ENDING

    assert _ENDING == (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
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


@pytest.mark.parametrize("port", ["0", "99999"])
def test_a_port_outside_1_to_65535_is_refused_before_mlflow_starts(port: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nagexp.cli.app import app

    result = CliRunner().invoke(app, ["ui", "--port", port, "--no-open", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--port" in result.output and "Traceback" not in result.output, result.output
