"""`nagexp ui`: the MLflow UI on nagexp's store, bound to loopback unless told otherwise."""

from __future__ import annotations

import os
import signal
import sys
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer

from nagexp.cli.errors import cli_errors, fail

__all__ = ["ui_command"]

_ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def _has_a_screen() -> bool:
    """A browser would open in a window: on a machine without one, Python's webbrowser may
    start a text browser in this terminal instead."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@cli_errors
def ui_command(
    port: Annotated[int, typer.Option(help="Port to serve on.", min=1, max=65535)] = 5000,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    results_dir: Annotated[Path, typer.Option(help="Results root holding mlflow.db.")] = Path("results"),
    tracking_uri: Annotated[str | None, typer.Option(help="Another MLflow store instead of the default.")] = None,
    experiment: Annotated[str, typer.Option(help="The experiment whose runs the link opens on.")] = "nagexp",
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the link in a browser.")] = True,
) -> None:
    """Start the MLflow UI on the default store (results/mlflow.db), print the link to the
    experiment's training runs and open it; Ctrl-C (or SIGTERM, SIGHUP) stops the server."""
    from nagexp.integrations.mlflow_store import runs_link
    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.ui import UiServer, experiment_id

    store = resolve_store(tracking_uri, results_dir, experiment)
    if not store.is_local:
        typer.echo(f"{store.shown} is a tracking server: open it in a browser, it is the UI.")
        return
    db = store.uri.removeprefix("sqlite:///")
    if store.uri.startswith("sqlite:///") and not Path(db).exists():
        raise fail(f"no MLflow store at {db}; run `nagexp sweep` or `nagexp train` first (or pass --results-dir)", 1)
    server = UiServer(store, host, port)
    found = experiment_id(store)
    link = runs_link(server.url, found) if found is not None else server.url

    def end(signum: int, frame: Any) -> None:
        server.stop()
        raise typer.Exit(0)

    previous = {sig: signal.signal(sig, end) for sig in _ENDING}
    try:
        server.start()
        server.wait_ready()
        what = f"experiment '{experiment}': its training runs" if found else f"no experiment '{experiment}' yet"
        typer.echo(f"MLflow UI: {link}  ({what}; store {store.shown}; Ctrl-C stops it)")
        if open_browser and _has_a_screen():
            webbrowser.open(link)
        code = server.wait()
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code not in (0, -2, -15, 130, 143):
        raise fail(f"the MLflow server exited with code {code} (is port {port} in use? try --port)", 1)
