"""Shared fixtures and helpers: one Ray runtime, one digits bundle, real servers, the CLI as a
subprocess; and the test tiers.

Tiers: a test is marked from the fixtures it uses (`ray`: the shared Ray runtime; `cluster`: a
real multi-node Ray cluster; `server`: a real MLflow or S3 server; `driver`: nagexp run as its
own process). `make test-fast` runs the logic tests and the few sweeps marked `smoke`
(`-m "fast or smoke"`); `make test` runs everything.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from nagexp.config import TrainConfig
from nagexp.data.bundle import DataBundle
from tests.processes import NagexpProcess

# Stand-in credentials for the local S3 server (`s3_cache`), set before any Ray runtime starts
# so its workers have them too; never a real account's.
for _key, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_EC2_METADATA_DISABLED": "true"}.items():  # fmt: skip
    os.environ.setdefault(_key, _value)
# nagexp joins $RAY_ADDRESS as Ray does: the suite starts its own runtimes, whatever the shell has
os.environ.pop("RAY_ADDRESS", None)

ROOT = Path(__file__).resolve().parents[1]
CIFAR_SLICE = ROOT / "tests" / "data" / "cifar10-slice"  # real CIFAR-10 JPEGs: 200 train, 100 test

# fixture -> the tier marker a test using it gets
TIER_OF_FIXTURE = {"ray_runtime": "ray", "two_node_cluster": "cluster", "mlflow_server": "server",
                   "s3_server": "server", "s3_cache": "server", "nagexp_process": "driver"}  # fmt: skip
TIERS = ("ray", "cluster", "server", "driver")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tier markers from the fixtures each test uses (`fast`: none of them, and not `slow`);
    `gpu` tests run only where CUDA is, elsewhere each skips with one line."""
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False here")
    for item in items:
        tiers = {TIER_OF_FIXTURE[f] for f in getattr(item, "fixturenames", ()) if f in TIER_OF_FIXTURE}
        for tier in sorted(tiers):
            item.add_marker(tier)
        if not tiers and "slow" not in item.keywords:
            item.add_marker("fast")
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip)
        if item.get_closest_marker("worker_env") and "two_cpus" not in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid}: worker_env is read by the two_cpus fixture only; use it")


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    """Torch's CPU threads: the machine's CPUs shared among the pytest workers (a run whose config
    names none uses them). Two workers of two threads each on 2 cores make OpenMP's spinning
    threads wait on each other: a 3-epoch schedule-free run took 0.7 s alone and 17 s so."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


# ---- data ------------------------------------------------------------------------------------

def load_bundle(spec: str, cache_dir: str | Path | None = None, say: Callable[[str], None] = print,
                **fields: Any) -> DataBundle:  # fmt: skip
    """A dataset in memory mode through the one entry point (`load_train_data`); a source read
    from files is prepared into `cache_dir` (default: a fresh temporary folder)."""
    from nagexp.data.loading import load_train_data

    if cache_dir is None:
        cache_dir = tempfile.mkdtemp(prefix="nagexp-test-cache-")
        # removed when this process exits: also the worker processes tests spawn, which load data too
        atexit.register(shutil.rmtree, cache_dir, ignore_errors=True)
    data = load_train_data(TrainConfig(dataset=spec, data_mode="memory", **fields), cache_dir, say=say)
    assert isinstance(data, DataBundle)
    return data


def read_bundle(spec: str, image_size: int = 32, **fractions: Any) -> DataBundle:
    """A dataset read straight from its source (readers, cleaning, splits; no cache): what the
    prepared shards must give back."""
    from nagexp.core.errors import DataError
    from nagexp.data.bundle import build_bundle
    from nagexp.data.sources import read_source
    from nagexp.registries.datasets import parse_dataset_spec

    try:
        parsed = parse_dataset_spec(spec)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    raw = read_source(parsed, image_size)
    if len(raw.x_train) == 0:
        raise DataError(f"dataset '{spec}' holds no samples ({raw.unreadable} unreadable files)")
    return build_bundle(raw, spec, **fractions)


@pytest.fixture(scope="session")
def digits() -> DataBundle:
    return load_bundle("digits")


@pytest.fixture
def small_cfg() -> TrainConfig:
    """A fast config: small CNN on digits, a few epochs, CPU."""
    return TrainConfig(dataset="digits", model="cnn", width=0.5, epochs=3, batch_size=64, device="cpu", lr=0.05)


TIMING_KEYS = ("epoch_seconds", "samples_per_s", "train_seconds", "time_total_s", "time_this_iter_s", "seconds")


def without_timing(history: list[dict]) -> list[dict]:
    """Per-epoch metrics without the wall-clock ones (which differ between two equal runs)."""
    return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in history]


# ---- Ray -------------------------------------------------------------------------------------


# One CPU: a sweep on the shared runtime runs one trial at a time. A trial's process costs about
# 3.6 CPU-s for one epoch of digits, nearly all of it imports (Ray Tune, torch, and torch._dynamo,
# which SGD's step imports), and the suite is bound by the machine's CPUs: one trial process per
# sweep halves that cost, and `make test` runs two pytest workers (pytest-xdist, each with a
# runtime of its own) on the CPU a one-trial sweep leaves. Modules whose trials or workers must
# run at once say so (`two_cpu_runtime`, `two_cpus`).
SHARED_CPUS = 1
_runtime_cpus = SHARED_CPUS  # the CPUs the shared runtime was last started with


@pytest.fixture(scope="session")
def ray_runtime() -> Iterator[None]:
    """One local Ray runtime (SHARED_CPUS CPUs, no dashboard) shared by every sweep test of this
    pytest process."""
    import ray

    _start_shared_runtime(SHARED_CPUS)
    yield
    ray.shutdown()


def _start_shared_runtime(cpus: int) -> None:
    global _runtime_cpus
    from nagexp.runtime.ray_session import connect_ray, ray_settings

    with ray_settings():
        connect_ray(None, num_cpus=cpus)
    _runtime_cpus = cpus


@pytest.fixture
def joined_env(ray_runtime: None) -> dict[str, str]:
    """The environment for a nagexp command run as its own process that joins the shared
    runtime through $RAY_ADDRESS (as under `ray job submit`) instead of starting Ray (5-10 s
    on 2 cores): for commands whose output or files are tested, not their Ray start-up. Never
    for a driver a test kills: its actors would hold the shared runtime's CPUs."""
    import ray

    return {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}


@pytest.fixture(scope="module")
def two_cpu_runtime(ray_runtime: None) -> Iterator[None]:
    """The shared runtime started again with two CPUs for one module, and with SHARED_CPUS again
    after it: for data-parallel trials (two workers at once), streaming sweeps (a trial and its
    Ray Data tasks at once), trials that must run two at a time, output that shows two trials at
    once, and PBT/PB2 sweeps (after or during one, Ray's raylet can keep a CPU reserved that
    nothing holds: see RayReservationLeak; on one CPU the sweep would wait for it forever). A
    fresh runtime too, so a CPU or worker that an earlier test's interrupted sweep holds cannot
    stall them."""
    with _runtime_of(2):
        yield


@pytest.fixture
def two_cpus(ray_runtime: None, request: pytest.FixtureRequest) -> Iterator[None]:
    """`two_cpu_runtime` for one test, whose runtime is checked (`_ray_resources_given_back`)
    before it goes back to SHARED_CPUS: that check comes after this fixture's end. A test marked
    `worker_env(NAME=value, ...)` gets a runtime whose processes (its trials) have those
    environment variables."""
    marker = request.node.get_closest_marker("worker_env")
    with _runtime_of(2, marker.kwargs if marker else None):
        yield
        _check_cpus_given_back(request.node.nodeid)


@contextlib.contextmanager
def _runtime_of(cpus: int, env: dict[str, str] | None = None) -> Iterator[None]:
    try:
        with pytest.MonkeyPatch.context() as patch:  # the raylet, and every worker it starts, inherits them
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            _restart_shared_runtime(cpus)
        yield
    finally:
        _restart_shared_runtime(SHARED_CPUS)


def _restart_shared_runtime(cpus: int | None = None) -> None:
    """The shared runtime stopped and started again, with `cpus` (default: as many as before)."""
    import ray

    ray.shutdown()
    _start_shared_runtime(_runtime_cpus if cpus is None else cpus)


@pytest.fixture(autouse=True)
def _ray_resources_given_back(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test on the shared Ray runtime: its CPUs all free again, or the test fails. A
    placement group a test left behind would hold them for the rest of the session (the next
    sweep that needs them waits forever): it is removed here (CPUs held outside any group: the
    live actors are named and ended; CPUs held even then: the runtime is started again) and the
    test that left it fails (an error at its teardown), so one leak fails one test, not every
    later one (nagexp releases a data-parallel trial's worker group itself: see
    `test_a_trial_stopped_before_its_first_report_gives_its_workers_back`). A CPU that nothing
    holds (`_cpu_holders`) is Ray's own leak, not the test's: a warning (RayReservationLeak),
    and the runtime started again."""
    yield
    if "ray_runtime" in request.fixturenames:
        _check_cpus_given_back(request.node.nodeid)


def _check_cpus_given_back(test: str) -> None:
    """`_ray_resources_given_back`'s check of the shared runtime after `test` (a node id)."""
    import ray

    if not ray.is_initialized():
        return
    # a finished sweep's actors and groups go asynchronously, within a second or two: the
    # generous wait costs time only when something was left, and is cut short when nothing
    # that could give the CPUs back is left
    held_by_nothing = _held_by_nothing_for(10)
    if _cpus_free_within(60, unless=held_by_nothing):
        return
    if (held := _cpus_held()) == 0:  # given back just at the deadline
        return
    if held_by_nothing():
        _restart_shared_runtime()
        warnings.warn(RayReservationLeak(f"{test}: {RayReservationLeak.__doc__}; {held:g} CPU(s) "
                                         "held; the shared runtime was started again"), stacklevel=1)  # fmt: skip
        return
    from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

    left = {pg_id: t for pg_id, t in placement_group_table().items() if t.get("state") == "CREATED"}
    for pg_id in left:
        remove_placement_group(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(pg_id))))
    freed = _cpus_free_within(30)  # removal is asynchronous too
    what = f"{len(left)} placement group(s) holding CPUs ({[t.get('bundles') for t in left.values()]}), removed"
    still = ""
    if not freed:  # an actor outside any group: named, and ended, so that later tests find their CPUs
        held, alive = _cpus_held(), _end_live_actors()
        freed_now = _cpus_free_within(30)
        still = (f"; {held:g} CPU(s) held{'' if left else ' by no placement group'}: live actors "
                 f"{alive or 'none'} ended, CPUs {'free' if freed_now else 'still held'}")  # fmt: skip
    if not freed:  # what else Ray's tables hold: groups being made or removed, and the resources
        others = {pg_id[:8]: t.get("state") for pg_id, t in placement_group_table().items()
                  if t.get("state") not in ("CREATED", "REMOVED")}  # fmt: skip
        still += f"; other groups {others}; available {ray.available_resources()}"
        if _cpus_held() > 0:  # nothing left to end: a fresh runtime, so later tests find their CPUs
            still += f"; held by {_cpu_holders()}; the shared runtime was started again"
            _restart_shared_runtime()
    pytest.fail(f"{test} left {what}{still}", pytrace=False)


class RayReservationLeak(pytest.PytestWarning):
    """Ray's raylet kept a CPU reserved that no placement group, actor or worker holds (Ray
    2.60, after PBT with reuse_actors: when a paused member finds a cached actor, Tune cancels
    the placement group it was making for it; the raylet's debug_state.txt then shows one more
    bundle prepared than committed or removed, no lease and no worker: ray-project/ray#64693;
    seen too after a sweep stopped by a full disk, which cancels groups in flight). Nothing of
    the test's holds it, so the test does not fail; later tests get a fresh runtime"""


RAYLET_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")  # the raylet's children that are not workers


def _cpu_holders() -> list[str]:
    """What on the shared runtime could hold a CPU: placement groups not removed, actors (not
    dead) that need a CPU, and busy worker processes (a task, or an actor of a class that needs
    a CPU: Ray Data's and Ray Train's 0-CPU actors outlive the sweeps that made them)."""
    from ray._private.state import state
    from ray.core.generated import gcs_pb2
    from ray.util.placement_group import placement_group_table

    holders = [f"placement group {pg_id[:8]} ({t.get('state')})" for pg_id, t in placement_group_table().items()
               if t.get("state") != "REMOVED"]  # fmt: skip
    needs_no_cpu = set()
    for raw in state._connect_and_get_accessor().get_actor_table(None, None):
        actor = gcs_pb2.ActorTableData.FromString(raw)
        if actor.state == gcs_pb2.ActorTableData.DEAD:
            continue
        if actor.required_resources.get("CPU", 0) > 0:
            holders.append(f"actor {actor.class_name}")
        else:  # or it needs its placement group's CPU, which the group above names
            needs_no_cpu.add(actor.class_name)
    return holders + [f"worker {title}" for title in _busy_workers(besides=needs_no_cpu)]


def _held_by_nothing_for(seconds: float) -> Callable[[], bool]:
    """A check that is true once `_cpu_holders()` has been empty for `seconds` (asked at most
    once a second): Ray's resource view lags a removed group or ended actor by far less."""
    import time

    since: float | None = None
    asked = 0.0

    def check() -> bool:
        nonlocal since, asked
        now = time.monotonic()
        if now - asked >= 1:
            asked = now
            since = (since or now) if not _cpu_holders() else None
        return since is not None and now - since >= seconds

    return check


def _busy_workers(besides: Iterable[str] = ()) -> list[str]:
    """The shared runtime's worker processes that run a task or an actor (not `ray::IDLE`, nor
    the raylet's agents, nor an actor of a class in `besides`)."""
    import psutil
    import ray

    raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    skipped = {f"ray::{name}" for name in besides}
    busy = []
    for worker in psutil.Process(raylet).children():
        with contextlib.suppress(psutil.Error):
            title = (worker.cmdline() or [""])[0]
            actor = title.split(".", 1)[0]  # `ray::Class`, or `ray::Class.method` while it runs one
            if title.startswith("ray::") and actor not in skipped and not title.startswith(("ray::IDLE",
                                                                                             *RAYLET_AGENTS)):
                busy.append(title)
    return busy


def _end_live_actors() -> list[str]:
    """Every actor on the shared runtime (one node, this machine) that is alive or waiting to be
    made or restarted, the processes of the alive ones killed (and gone when this returns): the
    class name and job of each. Read from GCS's actor table, as Ray's state API needs the
    dashboard the suite runs without."""
    import psutil
    from ray._private.state import actors

    ended, killed = [], []
    for info in actors().values():
        if info.get("State") != "DEAD":  # ALIVE, or waiting to be created or restarted
            ended.append(f"{info.get('ActorClassName')} ({info.get('State')}, job {info.get('JobID')}, "
                         f"pid {info.get('Pid')})")
            if info.get("State") == "ALIVE" and (pid := info.get("Pid")):
                with contextlib.suppress(psutil.Error):
                    process = psutil.Process(pid)
                    process.kill()
                    killed.append(process)
    psutil.wait_procs(killed, timeout=10)
    return ended


def _cpus_held() -> float:
    import ray

    return ray.cluster_resources().get("CPU", 0) - ray.available_resources().get("CPU", 0)


def _cpus_free_within(seconds: float, unless: Callable[[], bool] | None = None,
                      held: Callable[[], float] = _cpus_held) -> bool:  # fmt: skip
    """Whether every CPU is free within `seconds` (False at once when `unless()` turns true);
    `held`: the CPUs held now (default: on the shared runtime)."""
    import time

    deadline = time.monotonic() + seconds
    while held() > 0:
        if time.monotonic() > deadline or (unless is not None and unless()):
            return False
        time.sleep(0.25)
    return True


def _start_two_nodes() -> Any:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    return cluster


def _cluster_trouble(cluster: Any, within: float) -> pytest.PytestWarning | None:
    """Why `cluster` cannot take the next sweep (None: both nodes alive and both CPUs free),
    waiting up to `within` seconds for the CPUs a finished sweep gives back. Asked of GCS without
    joining the cluster: this process has its own runtime."""
    from ray._raylet import GcsClient
    from ray.autoscaler.v2.sdk import get_cluster_resource_state
    from ray.core.generated.autoscaler_pb2 import NodeStatus

    try:
        client = GcsClient(cluster.gcs_address)

        def alive() -> list[Any]:
            return [n for n in get_cluster_resource_state(client).node_states if n.status != NodeStatus.DEAD]

        def held() -> float:
            return sum(n.total_resources.get("CPU", 0) - n.available_resources.get("CPU", 0) for n in alive())

        def node_lost() -> bool:
            return len(alive()) < 2

        freed = not node_lost() and _cpus_free_within(within, unless=node_lost, held=held)
        if len(nodes := alive()) < 2:
            return pytest.PytestWarning(f"{len(nodes)} node(s) alive")
        if not freed:
            return RayReservationLeak(f"{held():g} CPU(s) still held {within:g} s after the test's drivers exited "
                                      "(Ray removes a job's actors and groups when its driver exits: Ray's "
                                      "reservation leak, ray-project/ray#64693, or an actor that outlived its "
                                      "driver)")  # fmt: skip
        return None
    except Exception as exc:  # any failure to answer: a cluster the next test cannot use
        return pytest.PytestWarning(f"its GCS does not answer ({type(exc).__name__}: {exc})")


@pytest.fixture(scope="module")
def _module_cluster() -> Iterator[list[Any]]:
    box: list[Any] = [None]  # started by the first test; emptied when a test leaves it unusable
    yield box
    if box[0] is not None:
        box[0].shutdown()


@pytest.fixture
def two_node_cluster(_module_cluster: list[Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """A real two-node Ray cluster on this machine (one CPU each), shared by one module's sweeps:
    each sweep is its own driver (a subprocess), whose actors Ray removes when it exits. After a
    test, both nodes are alive and both CPUs free within a minute, or the cluster is stopped with
    a warning (RayReservationLeak for held CPUs) and the next test starts a fresh one: a CPU Ray
    leaked after one sweep (once, right after the PBT sweep: a deterministic sweep's second
    trial pending until its timeout) does not stall the next one."""
    if _module_cluster[0] is None:
        _module_cluster[0] = _start_two_nodes()
    yield _module_cluster[0]
    if (trouble := _cluster_trouble(_module_cluster[0], within=60)) is not None:
        cluster, _module_cluster[0] = _module_cluster[0], None
        cluster.shutdown()
        warnings.warn(type(trouble)(f"{request.node.nodeid}: the two-node cluster: {trouble}; stopped, and started "
                                    "again for the next test"), stacklevel=1)  # fmt: skip


# ---- nagexp as its own process (tests/processes.py) ---------------------------------------


@pytest.fixture
def nagexp_process() -> Iterator[NagexpProcess]:
    """nagexp as its own process; whatever a test started is ended with it."""
    runner = NagexpProcess()
    yield runner
    for proc in runner.started:
        runner.stop(proc)


# ---- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen | None = None, timeout_s: float = 120) -> None:
    """Until `url` answers 200 (the process, if given, still alive), or RuntimeError."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}) before {url} answered")
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (free port, temporary sqlite and artifact dirs)."""
    from nagexp.tracking.ui import server_environment

    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"),
         "--workers", "1"],  # one server process: on 2 cores, more only slow its start
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # its uvicorn ends with it
        env=server_environment(),  # as `nagexp ui` starts it: no job runner
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", proc)
    except RuntimeError as exc:
        os.killpg(proc.pid, signal.SIGKILL)
        raise RuntimeError(f"{exc}: {(root / 'server.log').read_text()[-2000:]}") from None
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
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
