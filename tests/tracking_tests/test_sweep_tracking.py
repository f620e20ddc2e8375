"""MLflow tracking of real sweeps: over HTTP to a real `mlflow server`, and on the default sqlite store."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import mlflow
import mlflow.pytorch
import pytest
import ray
import torch
from mlflow import MlflowClient
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR
from nagexp.tracking.artifacts import using_tracking_uri
from nagexp.tracking.tracker import Tracker
from tests.conftest import load_bundle

pytestmark = pytest.mark.usefixtures("ray_runtime")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_tracking_uri_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test picks its store explicitly (or relies on the default); nothing leaks in."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


QUICK = str(SEARCH_SPACES_DIR / "quick.yaml")


def check_sweep_in_mlflow(tracking_uri: str, sweep_dir: Path) -> None:
    """The layout the UI shows: one parent, one child per trial, states, history, the best model."""
    with (sweep_dir / "trials.csv").open() as f:
        table = {int(r["number"]): r for r in csv.DictReader(f)}
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("nagexp")
    parents = client.search_runs([exp.experiment_id], filter_string=f"attributes.run_name = '{sweep_dir.name}'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.data.params["sampler"] == "tpe" and parent.data.tags["seed"]
    assert parent.data.tags["data_fingerprint"] and "version.torch" in parent.data.tags
    assert parent.data.metrics["trials_completed"] + parent.data.metrics["trials_pruned"] == len(table)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"space", "sweep.json"} <= artifacts

    children = client.search_runs([exp.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")  # fmt: skip
    assert len(children) == len(table)
    numbers = sorted(int(c.data.tags["trial_number"]) for c in children)
    assert numbers == sorted(table)
    best_runs = [c for c in children if c.data.tags.get("best") == "true"]
    assert len(best_runs) == 1
    for child in children:
        row = table[int(child.data.tags["trial_number"])]
        assert child.info.run_name == f"trial-{row['number']}"
        assert child.data.tags["state"] == row["state"]
        assert child.data.params["lr"] == str(float(row["lr"]))  # every TrainConfig field is a param
        assert "weight_decay" in child.data.params
        history = client.get_metric_history(child.info.run_id, "val_acc")
        assert sorted(m.step for m in history) == list(range(1, int(row["epochs_run"]) + 1))

    best = best_runs[0]
    best_row = table[int(best.data.tags["trial_number"])]
    assert int(best_row["number"]) == json.loads((sweep_dir / "summary.json").read_text())["best_trial"]
    with using_tracking_uri(tracking_uri):
        model = mlflow.pytorch.load_model(f"runs:/{best.info.run_id}/model")
    data = load_bundle("digits")
    with torch.no_grad():
        out = model(data.x_val)
    if "final_val_acc" in best_row:
        assert int((out.argmax(1) == data.y_val).sum()) == round(float(best_row["final_val_acc"]) * len(data.y_val))
    else:  # a val_loss objective
        loss = float(torch.nn.functional.cross_entropy(out, data.y_val))
        assert loss == pytest.approx(float(best_row["final_val_loss"]), rel=1e-5)
    assert "schedules.png" in {a.path for a in client.list_artifacts(best.info.run_id)}


def test_sweep_over_http_tracking_server(mlflow_server: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", QUICK, "--trials", "5", "--seed", "1", "--name", "http",
                                 "--results-dir", str(tmp_path), "--tracking-uri", mlflow_server])  # fmt: skip
    assert result.exit_code == 0, result.output
    check_sweep_in_mlflow(mlflow_server, tmp_path / "http")
    assert not (tmp_path / "mlflow.db").exists()  # nothing went to the default store


def test_sweep_on_default_sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: Counter[str] = Counter()
    original = Tracker.log

    def counting_log(self: Tracker, run_id: str, *args: object, **kwargs: object) -> None:
        writes[run_id] += 1
        original(self, run_id, *args, **kwargs)

    monkeypatch.setattr(Tracker, "log", counting_log)
    # run here, on the Ray runtime this process started (as in a notebook): no --address, no $RAY_ADDRESS
    # ($RAY_ADDRESS's cluster, as under `ray job submit`: test_user_code_sweeps)
    joined = ray.get_runtime_context().gcs_address
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = runner.invoke(app, ["sweep", QUICK, "--trials", "5", "--seed", "2", "--name", "local",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "open the UI with: nagexp ui --results-dir" in result.stdout
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    check_sweep_in_mlflow(uri, tmp_path / "local")
    assert (tmp_path / "mlartifacts").is_dir()
    # batched: one write per trial per epoch, one when the trial ends (+1 for the best tag)
    summary = json.loads((tmp_path / "local" / "summary.json").read_text())
    with (tmp_path / "local" / "trials.csv").open() as f:
        epochs = {r["number"]: int(r["epochs_run"]) for r in csv.DictReader(f)}
    for number, run_id in summary["mlflow"]["trial_run_ids"].items():
        best_tag = 1 if int(number) == summary["best_trial"] else 0
        assert writes[run_id] == epochs[number] + 1 + best_tag
    client = MlflowClient(uri)
    # the sweep's parameters name the cluster it ran on, as sweep.json does (not "started here")
    assert client.get_run(summary["mlflow"]["parent_run_id"]).data.params["address"] == joined
    assert json.loads((tmp_path / "local" / "sweep.json").read_text())["options"]["address"] == joined
    # the UI opens the experiment on its training-runs view, not MLflow 3's GenAI overview
    assert client.get_experiment_by_name("nagexp").tags["mlflow.experimentKind"] == "custom_model_development"
    # the Dataset column: every run names the data it used, by spec and content fingerprint
    fingerprint = json.loads((tmp_path / "local" / "sweep.json").read_text())["data"]["fingerprint"]
    for run_id in [summary["mlflow"]["parent_run_id"], *summary["mlflow"]["trial_run_ids"].values()]:
        (used,) = client.get_run(run_id).inputs.dataset_inputs
        assert (used.dataset.name, used.dataset.digest) == ("digits", fingerprint)
        assert json.loads(used.dataset.profile)["train"] > 0
        assert {t.key: t.value for t in used.tags}["mlflow.data.context"] == "training"


def test_unreachable_tracking_uri_fails_fast(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", QUICK, "--trials", "2", "--name", "x", "--results-dir", str(tmp_path),
                                 "--tracking-uri", "http://alice:s3cret@127.0.0.1:9"])  # fmt: skip
    assert result.exit_code == 1
    assert "unreachable" in result.stderr and "s3cret" not in result.output + result.stderr
    assert "http://***@127.0.0.1:9" in result.stderr
    assert not (tmp_path / "x").exists()  # no trial ran, nothing written


def test_no_track_and_log_models_none(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", QUICK, "--trials", "2", "--epochs", "1", "--name", "off", "--no-track",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "mlflow.db").exists()
    result = runner.invoke(app, ["sweep", QUICK, "--trials", "2", "--epochs", "1", "--name", "nomodel",
                                 "--log-models", "none", "--register-model", "digits-best",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.search_logged_models([client.get_experiment_by_name("nagexp").experiment_id]) == []


def test_log_models_all(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", QUICK, "--trials", "2", "--epochs", "1", "--scheduler", "fifo",
                                 "--name", "all", "--log-models", "all", "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "all" / "summary.json").read_text())
    with using_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        for run_id in summary["mlflow"]["trial_run_ids"].values():
            assert mlflow.pytorch.load_model(f"runs:/{run_id}/model") is not None


def test_register_best_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", QUICK, "--trials", "2", "--epochs", "1", "--name", "reg",
                                 "--register-model", "digits-nag", "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    versions = client.search_model_versions("name = 'digits-nag'")
    assert len(versions) == 1


def test_train_logs_one_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--epochs", "2", "--set", "width=0.5", "--name", "one",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("nagexp")
    (run,) = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'one'")
    assert run.data.params["width"] == "0.5" and run.data.tags["state"] == "completed"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")] == [1, 2]
    assert "test_acc" in run.data.metrics
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # the schedule figure was closed once logged
    (used,) = client.get_run(run.info.run_id).inputs.dataset_inputs
    summary = json.loads((tmp_path / "train" / "one" / "summary.json").read_text())
    assert (used.dataset.name, used.dataset.digest) == ("digits", summary["data_fingerprint"])
    with using_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}"):
        assert mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model") is not None


def test_fluent_tracking_uri_is_restored(tmp_path: Path) -> None:
    import os

    before = mlflow.get_tracking_uri()
    with using_tracking_uri(f"sqlite:///{tmp_path / 'x.db'}"):
        assert mlflow.get_tracking_uri().endswith("x.db")
    assert mlflow.get_tracking_uri() == before
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_a_server_that_is_not_mlflow_stops_the_sweep_before_trials(tmp_path: Path) -> None:
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None: ...

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        result = runner.invoke(app, ["sweep", QUICK, "--trials", "2", "--name", "bad", "--results-dir", str(tmp_path),
                                     "--tracking-uri", uri])  # fmt: skip
    finally:
        server.shutdown()
    assert result.exit_code == 1, result.output
    assert f"MLflow store {uri} is not usable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()  # nothing loaded, started or written


def test_train_epochs_are_written_in_the_background_in_order(tmp_path: Path) -> None:
    from mlflow.exceptions import MlflowException

    from nagexp.config.train import TrainConfig
    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.tracker import Tracker
    from nagexp.tracking.train_tracking import TrainTracking

    tracker = Tracker(resolve_store(None, tmp_path))
    log = TrainTracking(tracker, "background", TrainConfig(epochs=3))
    for epoch in (1, 2, 3):
        log.on_epoch({"epoch": epoch, "val_acc": epoch / 10})
    log.flush()
    history = tracker.client.get_metric_history(log.run_id, "val_acc")
    assert [(m.step, m.value) for m in history] == [(1, 0.1), (2, 0.2), (3, 0.3)]
    tracker.client.delete_run(log.run_id)  # the store now refuses writes to the run
    log.on_epoch({"epoch": 4, "val_acc": 0.4})
    with pytest.raises(MlflowException):
        log.flush()  # a failed background write is not lost silently
