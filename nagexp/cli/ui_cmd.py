"""`nagexp ui`: the MLflow UI on nagexp's store, bound to loopback unless told otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors, fail

__all__ = ["ui_command"]


@cli_errors
def ui_command(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 5000,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    results_dir: Annotated[Path, typer.Option(help="Results root holding mlflow.db.")] = Path("results"),
    tracking_uri: Annotated[str | None, typer.Option(help="Another MLflow store instead of the default.")] = None,
) -> None:
    """Start the MLflow UI on the default store (results/mlflow.db) and print its URL."""
    from nagexp.tracking.store import resolve_store

    store = resolve_store(tracking_uri, results_dir)
    if not store.is_local:
        typer.echo(f"{store.shown} is a tracking server: open it in a browser, it is the UI.")
        return
    db = store.uri.removeprefix("sqlite:///")
    if store.uri.startswith("sqlite:///") and not Path(db).exists():
        raise fail(f"no MLflow store at {db}; run `nagexp sweep` or `nagexp train` first (or pass --results-dir)", 1)
    typer.echo(f"MLflow UI: http://{host}:{port}  (store {store.shown}; Ctrl-C stops it)")
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store.uri,
           "--default-artifact-root", str(store.artifact_location), "--host", host, "--port", str(port)]  # fmt: skip
    try:
        code = subprocess.call(cmd)
    except KeyboardInterrupt:
        code = 0
    if code not in (0, -2, 130):
        raise fail(f"the MLflow server exited with code {code} (is port {port} in use? try --port)", 1)
