"""A real 2-node Ray cluster on this machine; `nagexp sweep --address` spreads trials over both."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from nagexp.config.space import SEARCH_SPACES_DIR


@pytest.fixture
def two_node_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.mark.slow
def test_sweep_over_address_uses_both_nodes(two_node_cluster, tmp_path: Path) -> None:
    # Each node has one CPU and each trial takes one, so two trials run at once only on two nodes;
    # nagexp keeps as many trials pending as fit (two), so Tune starts a worker on each node.
    proc = subprocess.run(
        [sys.executable, "-m", "nagexp", "sweep", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", "4",
         "--epochs", "8", "--scheduler", "fifo", "--name", "cluster", "--results-dir", str(tmp_path),
         "--address", two_node_cluster.address],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (tmp_path / "cluster" / "trials.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and all(r["state"] == "completed" for r in table)
    assert len({r["node_id"] for r in table}) == 2


def test_unreachable_address_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nagexp", "sweep", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", "1",
         "--address", "127.0.0.1:1", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot connect to the Ray cluster at '127.0.0.1:1'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())
