"""A real 2-node Ray cluster on this machine; `nagexp sweep --address` spreads trials over both."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml

from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.runtime.user_code import snapshot
from tests.conftest import NagexpProcess
from tests.sweeps_tests.test_deterministic import COLUMNS as DETERMINED

DRIVER_ONLY_MODEL = """
import os
from pathlib import Path

from torch import nn


def net(input_shape, num_classes, marker_dir):
    # where this module was imported from, one file per process
    Path(marker_dir, f"{os.getpid()}.txt").write_text(__file__)
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 32), nn.ReLU(), nn.Linear(32, num_classes))


def steady(step, total_steps, level=0.01):
    # a learning-rate schedule of the user's
    return level
"""


@pytest.mark.slow
def test_sweep_over_address_uses_both_nodes_with_code_only_the_driver_has(two_node_cluster, tmp_path: Path,
                                                                         nagexp_process: NagexpProcess) -> None:
    # the model's module (with a learning-rate schedule) lives only in a folder of the driver's:
    # not on any path, not the cwd
    code = tmp_path / "driver_code"
    code.mkdir()
    (code / "driver_only_model.py").write_text(DRIVER_ONLY_MODEL)
    markers = tmp_path / "markers"
    markers.mkdir()
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({
        "fixed": {"model": "driver_only_model:net", "model_args": {"marker_dir": str(markers)},
                  "dataset": "digits", "epochs": 8, "lr_schedule": "driver_only_model:steady"},
        "params": {"lr_schedule_args.level": {"type": "float", "low": 0.01, "high": 0.1}},
    }))  # fmt: skip
    # Each node has one CPU and each trial takes one, so two trials run at once only on two nodes;
    # nagexp keeps as many trials pending as fit (two), so Tune starts a worker on each node.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = nagexp_process.run("sweep", str(space), "--trials", "4", "--scheduler", "fifo", "--no-track", "--name",
                              "cluster", "--results-dir", str(tmp_path / "results"), "--address",
                              two_node_cluster.address, "--code-dir", str(code), timeout=300, cwd=tmp_path,
                              env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (tmp_path / "results" / "cluster" / "trials.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and all(r["state"] == "completed" for r in table)
    assert len({r["node_id"] for r in table}) == 2
    # every trial trained under the user's schedule, at the level it sampled
    journal_file = tmp_path / "results" / "cluster" / "journal.jsonl"
    journal = [json.loads(line) for line in journal_file.read_text().splitlines()]
    level = {r["number"]: float(r["lr_schedule_args.level"]) for r in table}
    lrs = [(e["number"], e["metrics"]["lr"]) for e in journal if e["event"] == "epoch"]
    assert len(lrs) == 32 and all(lr == pytest.approx(level[str(n)]) for n, lr in lrs)
    # the driver imported the module from its folder (to check it); every worker imported the
    # copy Ray's runtime environment shipped
    origins = [p.read_text() for p in markers.iterdir()]
    original = str(code / "driver_only_model.py")
    assert origins.count(original) == 1
    shipped = [o for o in origins if o != original]
    assert len(shipped) >= 2 and all("runtime_resources" in o and "working_dir_files" in o for o in shipped)
    # the copy staged for Ray to upload is gone: workers imported Ray's package of it
    assert not list(Path(tempfile.gettempdir()).glob(f"nagexp-code-{snapshot(code).digest}-*"))


@pytest.mark.parametrize("given_by", ["--address", "RAY_ADDRESS"])
def test_unreachable_address_is_one_line(tmp_path: Path, nagexp_process: NagexpProcess, given_by: str) -> None:
    # $RAY_ADDRESS (what `ray job submit` gives its entrypoint) is joined as --address is
    args = ("--address", "127.0.0.1:1") if given_by == "--address" else ()
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1"} if given_by == "RAY_ADDRESS" else None
    sweep = ("sweep", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", "1", *args, "--results-dir", str(tmp_path))
    plan = nagexp_process.run(*sweep, "--dry-run", env=env, timeout=300)
    assert plan.returncode == 0 and "  ray        127.0.0.1:1\n" in plan.stdout, plan.stdout + plan.stderr
    proc = nagexp_process.run(*sweep, env=env, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # the Jobs API's address (`export RAY_ADDRESS=http://HEAD:8265` for `ray job submit`) is not joined
    if given_by == "RAY_ADDRESS":
        jobs = nagexp_process.run(*sweep, "--dry-run", env={**os.environ, "RAY_ADDRESS": "http://127.0.0.1:8265"})
        assert jobs.returncode == 0 and "  ray        local\n" in jobs.stdout, jobs.stdout + jobs.stderr
    assert "cannot connect to the Ray cluster at '127.0.0.1:1'" in proc.stderr
    assert ("check $RAY_ADDRESS" if given_by == "RAY_ADDRESS" else "check --address") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())


def _sweep_on(nagexp_process: NagexpProcess, cluster, tmp_path: Path, name: str,
              *args: str) -> list[dict[str, str]]:  # fmt: skip
    """`nagexp sweep ARGS --address CLUSTER` as a user runs it; its trials.csv rows."""
    proc = nagexp_process.run("sweep", *args, "--name", name, "--results-dir", str(tmp_path / "results"), "--address",
                              cluster.address, timeout=400, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (tmp_path / "results" / name / "trials.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_data_parallel_trials_put_their_workers_on_both_nodes(two_node_cluster, tmp_path: Path,
                                                              nagexp_process: NagexpProcess) -> None:
    # one CPU per node and one per worker: each trial's two workers must be on different
    # nodes, and only one trial fits at a time (nagexp's default --max-concurrent). Seed 2's
    # second trial has about a seventeenth of the first's lr: ASHA stops it at the first rung.
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({
        "fixed": {"model": "mlp", "dataset": "digits", "epochs": 3, "batch_size": 64},
        "params": {"lr": {"type": "float", "low": 0.0005, "high": 0.5, "log": True}},
        "asha": {"grace_period": 1, "reduction_factor": 2},
    }))  # fmt: skip
    table = _sweep_on(nagexp_process, two_node_cluster, tmp_path, "dp", str(space), "--trials", "2",
                      "--workers-per-trial", "2", "--seed", "2")  # fmt: skip
    assert len(table) == 2
    for row in table:  # rank 0 reports every worker's node, in rank order
        assert len(set(row["node_id"].split(","))) == 2, row["node_id"]
    states = [r["state"] for r in table]
    assert "pruned" in states and "completed" in states  # ASHA acted on the Ray Train reports
    # MLflow: the sweep's run with a child run per trial, the best model logged from rank 0's checkpoint
    import json

    import mlflow

    summary = json.loads((tmp_path / "results" / "dp" / "summary.json").read_text())["mlflow"]
    client = mlflow.MlflowClient(summary["tracking_uri"])
    children = client.search_runs([client.get_experiment_by_name("nagexp").experiment_id],
                                  f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")  # fmt: skip
    assert len(children) == 2
    assert {r.data.params["workers_per_trial"] for r in children} == {"2"}
    assert client.search_logged_models([client.get_experiment_by_name("nagexp").experiment_id])


@pytest.mark.slow
def test_pbt_sweep_on_two_nodes_copies_across_them(two_node_cluster, tmp_path: Path,
                                                   nagexp_process: NagexpProcess) -> None:
    # one CPU per node: the first round trains two members at once, one on each node; later a
    # member copies a checkpoint another node wrote (storage both nodes see: one file system here)
    table = _sweep_on(nagexp_process, two_node_cluster, tmp_path, "pbt", str(SEARCH_SPACES_DIR / "pbt.yaml"),
                      "--scheduler", "pbt", "--trials", "4", "--epochs", "6", "--no-track")  # fmt: skip
    assert [(r["state"], r["epochs_run"]) for r in table] == [("completed", "6")] * 4
    journal = [json.loads(line) for line in (tmp_path / "results" / "pbt" / "journal.jsonl").read_text().splitlines()]
    assert len({e["metrics"]["node_id"] for e in journal if e["event"] == "epoch"}) == 2
    assert sorted(e["epoch"] for r in table for e in json.loads(r["exploits"])) == [2, 4]
    best = yaml.safe_load((tmp_path / "results" / "pbt" / "best.yaml").read_text())
    assert best["lr_schedule"] == "piecewise" and best["lr_knots"][0][0] == 0


PAIRED_MODEL = """
import os
import time
import uuid
from pathlib import Path

import ray
from torch import nn


def net(input_shape, num_classes, meet_dir):
    # in a trial (an actor; not the driver's check): the first waits for a second to start, so
    # two trials run at once, and with one CPU a node, on both nodes
    if ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None:
        Path(meet_dir, uuid.uuid4().hex).write_text(str(os.getpid()))
        deadline = time.monotonic() + 180  # only ends a hang (then the test fails on the nodes)
        while len(os.listdir(meet_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 32), nn.ReLU(), nn.Linear(32, num_classes))
"""


@pytest.mark.slow
def test_a_deterministic_sweep_on_two_nodes_is_the_one_trial_at_a_time_sweep(two_node_cluster, tmp_path: Path,
                                                                           nagexp_process: NagexpProcess) -> None:
    """`--deterministic`: trials spread over both nodes, two at once, give the sweep one trial
    at a time gives (params, states, epochs, values). The spread holds by construction: the
    first trial's model waits until a second trial has started, which only the other node's
    CPU can hold (the one-at-a-time sweep after it finds the two already met)."""
    code, meet = tmp_path / "code", tmp_path / "meet"
    code.mkdir()
    meet.mkdir()
    (code / "paired_model.py").write_text(PAIRED_MODEL)
    space = yaml.safe_load((SEARCH_SPACES_DIR / "quick.yaml").read_text())
    space["fixed"].pop("width")  # the built-in models' multiplier: none for a model of ours
    space["fixed"].update(model="paired_model:net", model_args={"meet_dir": str(meet)})
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    args = (str(tmp_path / "space.yaml"), "--trials", "4", "--trials-per-batch", "2", "--seed", "5", "--deterministic",
            "--no-track", "--code-dir",
            str(code))  # fmt: skip
    spread = _sweep_on(nagexp_process, two_node_cluster, tmp_path, "spread", *args)
    assert len(list(meet.iterdir())) >= 2  # the first trial did wait for a second
    alone = _sweep_on(nagexp_process, two_node_cluster, tmp_path, "alone", *args, "--max-concurrent", "1")
    assert len({r["node_id"] for r in spread}) == 2
    assert [{c: r[c] for c in DETERMINED} for r in spread] == [{c: r[c] for c in DETERMINED} for r in alone]
    assert {r["state"] for r in spread} == {"pruned", "completed"}
