"""Ray for a sweep or a run: joined (`--address`) or started locally with the settings nagexp
runs Tune and Train under, the cluster's nodes, and the placement groups of data-parallel
trials' workers. Below `sweeps/` and `parallel/`, which both use it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nagexp.core.errors import NagexpError, first_line
from nagexp.runtime.user_code import CodeSnapshot, staged_snapshot

__all__ = ["cluster_nodes", "connect_ray", "job_code_folder", "nodes_to_run_on", "ray_address", "ray_settings",
           "release_worker_group", "running_cluster", "shutdown_ray", "worker_group_id"]  # fmt: skip

ADDRESS_VARIABLE = "RAY_ADDRESS"  # what `ray job submit` sets for its entrypoint, and ray.init() reads
JOB_CONFIG_VARIABLE = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # the submitted job's runtime env, set for its entrypoint
OVERRIDE_VARIABLE = "RAY_OVERRIDE_JOB_RUNTIME_ENV"  # "1": the driver's runtime env wins over the job's


def _settings() -> dict[str, str]:
    from nagexp.integrations.ray_train import TRAIN_SETTINGS
    from nagexp.integrations.ray_tune import TUNE_SETTINGS

    return {**TUNE_SETTINGS, **TRAIN_SETTINGS}


@contextlib.contextmanager
def ray_settings() -> Iterator[None]:
    """The environment Tune and Train read, for the block (a value the user set wins); the
    variables are as before afterwards. Optuna's per-trial INFO lines are off meanwhile."""
    added = {k: v for k, v in _settings().items() if k not in os.environ}
    os.environ.update(added)
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)
        optuna.logging.set_verbosity(verbosity)


def _check_reachable(address: str, hint: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a dead `host:port` (ray.init would retry for minutes)."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or address == "auto":
        return  # "auto" and other forms: let Ray resolve them
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise NagexpError(
            f"cannot connect to the Ray cluster at '{address}': {exc.strerror or exc}; "
            f"{hint} and that the cluster is up (`ray status` on its head node)"
        ) from None


def ray_address(address: str | None) -> str | None:
    """The Ray cluster a command joins: `address` if given, else $RAY_ADDRESS as Ray's own
    ray.init() reads it (so `ray job submit -- nagexp sweep ...` runs on the cluster it was
    submitted to); None: start Ray locally."""
    if address:
        return address
    joined = os.environ.get(ADDRESS_VARIABLE, "")
    # "local" asks for a fresh runtime; an http(s) address is the Jobs API's (`ray job submit`
    # reads it from there too), not a cluster a driver can join
    if joined == "local" or joined.startswith(("http://", "https://")):
        return None
    return joined or None


def running_cluster() -> str:
    """The address (GCS) of the Ray cluster this process is connected to."""
    import ray

    return ray.get_runtime_context().gcs_address


def connect_ray(address: str | None, num_cpus: int | None = None, code: CodeSnapshot | None = None) -> bool:
    """Join `address` (or $RAY_ADDRESS, see `ray_address`) or start Ray locally; returns True when
    this call connected (False: Ray was already initialized in this process, by its caller).
    `code` (the user's) is shipped to every worker on every node through Ray's runtime
    environment."""
    import ray

    if ray.is_initialized():
        return False
    hint = _address_hint(given=address)
    address = ray_address(address)
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                              "configure_logging": True}  # fmt: skip
    if address:
        _check_reachable(address, hint)
    with contextlib.ExitStack() as staged:  # the code's copy goes once ray.init has uploaded it
        kwargs["runtime_env"] = _runtime_env(bool(address), code, staged)
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                # "local" always starts a fresh runtime; a bare ray.init() would join any cluster
                # that `ray start` left running on this machine.
                ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if address:
                raise NagexpError(f"cannot connect to the Ray cluster at '{address}': {first_line(exc)}; {hint} "
                                  "and that the cluster is up") from None  # fmt: skip
            raise NagexpError(f"cannot start a local Ray runtime: {first_line(exc)}") from None
    return True


def _address_hint(given: str | None) -> str:
    """What to check when the cluster a command joins does not answer: where its address came from."""
    if given:
        return "check --address"
    if JOB_CONFIG_VARIABLE in os.environ:  # `ray job submit` set $RAY_ADDRESS to its own cluster
        return "check the cluster the job was submitted to"
    return f"check ${ADDRESS_VARIABLE} (unset it to start Ray here)"


def _runtime_env(joined: bool, code: CodeSnapshot | None, staged: contextlib.ExitStack) -> dict[str, Any]:
    """nagexp's part of the runtime environment of Ray's workers: Train's settings (on a cluster
    joined by address, Ray Train's controller sees this process's settings only through it) and
    the user's code. Under `ray job submit`, Ray merges it with the job's own and refuses a field
    or a variable that both set, so what the job already gives is left to the job. The code's
    copy lives as long as `staged`."""
    from nagexp.integrations.ray_train import LOCAL_TRAIN_SETTINGS, TRAIN_SETTINGS

    job = {} if os.environ.get(OVERRIDE_VARIABLE) == "1" else _submitted_job_env()
    settings = TRAIN_SETTINGS if joined else LOCAL_TRAIN_SETTINGS
    job_vars = job.get("env_vars") or {}
    env_vars = {k: os.environ.get(k, v) for k, v in settings.items() if k not in job_vars}
    runtime_env: dict[str, Any] = {"env_vars": env_vars} if env_vars else {}
    if code is None:
        return runtime_env
    if "working_dir" not in job:
        runtime_env["working_dir"] = str(staged.enter_context(staged_snapshot(code)))
    elif not _on_python_path(code.root):
        # Ray puts the job's working_dir first on PYTHONPATH, here and on every worker: code
        # elsewhere would import on this driver only
        raise NagexpError(f"this Ray job was submitted with its own working_dir, so the code in '{code.root}' "
                          "cannot be shipped beside it: run nagexp in the job's working_dir (the entrypoint's "
                          "folder, without cd) with the code there, or submit the job without "
                          "--working-dir")  # fmt: skip
    return runtime_env


def job_code_folder() -> Path | None:
    """The folder a job submitted with `--working-dir` runs in: Ray's copy of that working_dir,
    where the job's code is on every node (None outside such a job, under
    RAY_OVERRIDE_JOB_RUNTIME_ENV=1, or when the entrypoint left it). Each submission gets a copy of
    its own, so a sweep that a job started is resumed from the code of the job that resumes it."""
    job = {} if os.environ.get(OVERRIDE_VARIABLE) == "1" else _submitted_job_env()
    here = Path.cwd().resolve()
    return here if "working_dir" in job and _on_python_path(here) else None


def _on_python_path(folder: Path) -> bool:
    return any(Path(p).resolve() == folder for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


def _submitted_job_env() -> dict[str, Any]:
    """The runtime environment `ray job submit` gave this process ({} outside a submitted job)."""
    raw = os.environ.get(JOB_CONFIG_VARIABLE)
    if not raw:
        return {}
    try:
        return dict(json.loads(raw).get("runtime_env") or {})
    except (ValueError, AttributeError):
        return {}  # not the job supervisor's JSON: let ray.init say what is wrong


def shutdown_ray(started_here: bool) -> None:
    if started_here:
        import ray

        ray.shutdown()


def nodes_to_run_on(address: str | None) -> list[dict[str, float]] | None:
    """Each node's resources a command run now would have, known before anything starts; None
    for a cluster to join (`address`, or $RAY_ADDRESS), unknown until joined. Else the Ray
    runtime this process runs, or this machine, as `connect_ray` would start Ray here."""
    if ray_address(address) is not None:
        return None
    import ray

    if ray.is_initialized():
        return cluster_nodes()
    import torch

    # the GPUs torch sees: Ray counts them itself, the same unless torch is a CPU build on a GPU machine
    return [{"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}]


def cluster_nodes() -> list[dict[str, Any]]:
    """Each alive node's total resources."""
    import ray

    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


WORKER_GROUP_FILE = "worker_group"  # in a data-parallel run's folder: its worker group (hex)


def worker_group_id(run_dir: str | None = None) -> str:
    """The placement group of the calling worker (hex), reported so the driver can release it;
    also written to `run_dir`/worker_group, for a trial stopped before its first report."""
    from ray.util import get_current_placement_group

    group = get_current_placement_group()
    hex_id = group.id.hex() if group is not None else ""
    if run_dir and hex_id:
        folder = Path(run_dir)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{WORKER_GROUP_FILE}.{os.getpid()}"
        partial.write_text(hex_id)
        os.replace(partial, folder / WORKER_GROUP_FILE)  # whole or absent, never half written
    return hex_id


def release_worker_group(group_hex: str, run_dir: Path | None = None) -> None:
    """Remove a data-parallel trial's worker placement group (its workers end with it): the one
    its reports named, else the one its workers wrote into `run_dir`. Ray Train removes it when
    a run ends by itself; a trial that the scheduler stops (pruned, stopped at its last epoch,
    or at the sweep's time budget before it reported) ends its run's controller before that,
    which would leave the workers' CPUs and GPUs reserved for the rest of the sweep."""
    if not group_hex and run_dir is not None and (run_dir / WORKER_GROUP_FILE).is_file():
        group_hex = (run_dir / WORKER_GROUP_FILE).read_text().strip()
    if not group_hex:
        return
    from ray.util.placement_group import placement_group_table, remove_placement_group

    from nagexp.integrations.ray_placement import placement_group_of

    group = placement_group_of(group_hex)
    if placement_group_table(group).get("state") not in (None, "REMOVED"):
        remove_placement_group(group)
