"""Shared fixtures: the digits bundle is loaded once per session; configs are shrunk."""

from __future__ import annotations

import os

import pytest
import torch

from nagexp.config import TrainConfig
from nagexp.training.data import DataBundle, load_dataset

# Stand-in credentials for the local S3 server (`s3_cache`), set before any Ray runtime starts
# so its workers have them too; never a real account's.
for _key, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_EC2_METADATA_DISABLED": "true"}.items():  # fmt: skip
    os.environ.setdefault(_key, _value)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu` tests run only where CUDA is; elsewhere each skips with one line."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits() -> DataBundle:
    return load_dataset("digits")


@pytest.fixture
def small_cfg() -> TrainConfig:
    """A fast config: small CNN on digits, a few epochs, CPU."""
    return TrainConfig(dataset="digits", model="cnn", width=0.5, epochs=3, batch_size=64, device="cpu", lr=0.05)


@pytest.fixture(scope="session")
def ray_runtime():
    """One local Ray runtime (2 CPUs, no dashboard) shared by every sweep test."""
    import ray

    from nagexp.sweeps.ray_runtime import connect_ray

    connect_ray(None, num_cpus=2)
    yield
    ray.shutdown()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `mlflow server` on 127.0.0.1 (free port, temporary sqlite and artifact dirs)."""
    import subprocess
    import sys
    import time
    import urllib.request

    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"),
         "--workers", "1"],  # one server process: on 2 cores, more only slow its start
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(1)
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
    else:
        proc.kill()
        raise RuntimeError("mlflow server did not answer /health within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def s3_server() -> str:
    """A real S3-compatible server (moto) on 127.0.0.1; its endpoint as pyarrow's URI query."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_address[1]  # port 0: the one the OS picked
    yield f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    server.stop()


@pytest.fixture
def s3_cache(s3_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the S3 server, as a --cache-dir URI."""
    import re
    import uuid

    import pyarrow.fs

    bucket = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + f"-{uuid.uuid4().hex[:8]}"
    fs, _ = pyarrow.fs.FileSystem.from_uri(f"s3://{bucket}?{s3_server}&allow_bucket_creation=true")
    fs.create_dir(bucket)
    return f"s3://{bucket}/cache?{s3_server}"
