"""Data-parallel trials through Ray Train (gloo on this machine's CPUs): `nagexp train` and
`nagexp sweep` with --workers-per-trial 2, a worker killed mid-trial, and the one-line refusals."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

import nagexp
from nagexp.cli import app
from nagexp.config import TrainConfig
from nagexp.config.sweep import SweepOptions
from nagexp.sweeps.runner import run_sweep
from nagexp.sweeps.spec import resolve_sweep
from nagexp.training.trainer import train
from tests.conftest import load_bundle
from tests.listeners import KillWorkerOnce
from tests.processes import journal_events

pytestmark = pytest.mark.usefixtures("two_cpu_runtime")
runner = CliRunner()
TIMING = ("epoch_seconds", "samples_per_s", "train_seconds")
SLICE = Path(__file__).resolve().parents[1] / "data" / "cifar10-slice"
CFG = {"dataset": "digits", "model": "mlp", "batch_size": 50, "lr": 0.1, "device": "cpu", "num_threads": 1}


def space_file(tmp_path: Path, epochs: int, params: dict | None = None) -> Path:
    path = tmp_path / "space.yaml"
    params = params or {"lr": {"type": "float", "low": 0.05, "high": 0.2, "log": True}}
    path.write_text(yaml.safe_dump({"fixed": {**CFG, "epochs": epochs}, "params": params}))
    return path


RECIPE = {"label_smoothing": 0.2, "weight_averaging": "lookahead", "lookahead_decay": 0.9,
          "test_time_augment": "flip_translate", "norm_bias_lr_scale": 8.0, "norm_bias_weight_decay_scale": 0.125,
          "lr_schedule": "warmup_linear", "lr_initial_fraction": 0.2, "lr_final_fraction": 0.07}  # fmt: skip


def test_train_with_two_workers_matches_one_process(tmp_path: Path) -> None:
    """Label smoothing, lookahead, test-time augmentation, per-group scales, warmup_linear (each
    changes what a step does): K=2 trains what one process trains, and saves a run that reruns."""
    from ray._private.state import actors

    cfg = dict(CFG, epochs=3, **RECIPE)
    before = set(actors())
    run = nagexp.train(cfg, results_dir=tmp_path, name="dp", track=False, echo=None, workers_per_trial=2)
    # on a local runtime the run started no preemption watcher and, given no Ray Datasets, no
    # dataset manager: Train's controller, its synchronization actor and the two workers (and,
    # on a runtime's first run, Ray's autoscaling coordinator, one a runtime)
    started = sorted(a["ActorClassName"] for actor_id, a in actors().items() if actor_id not in before)
    ours = [name for name in started if name != "_AutoscalingCoordinatorActor"]
    assert ours == ["RayTrainWorker", "RayTrainWorker", "SynchronizationActor", "TrainController"], started
    single = train(TrainConfig(**cfg), load_bundle("digits"))
    plain = train(TrainConfig(**CFG, epochs=3), load_bundle("digits"))
    assert [h["train_loss"] for h in single.history] != [h["train_loss"] for h in plain.history]
    assert len(run.result.history) == 3
    for one, two in zip(single.history, run.result.history, strict=True):
        assert two["val_acc"] == pytest.approx(one["val_acc"], abs=1e-4)
        assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
    assert run.test_acc == pytest.approx(single.test_acc, abs=1e-4)
    # the run is rerunnable as it was: K is in its config; model.pt holds rank 0's weights
    saved = yaml.safe_load((run.out_dir / "config.yaml").read_text())
    assert saved["workers_per_trial"] == 2 and saved["sync_batchnorm"] is False
    here = torch.backends.cpu.get_cpu_capability()
    assert saved["cpu_kernels"] == f"{here},{here}"  # each worker's, as a rerun on CPU must match
    assert (run.out_dir / "model.pt").stat().st_size > 0
    with (run.out_dir / "metrics.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 3


def test_the_cifar10_recipe_space_streams_with_two_workers_and_reproduces(tmp_path: Path) -> None:
    """The shipped recipe space (fastnet whitened from the data, lookahead, ...) in stream mode on
    real JPEGs with two workers a trial, narrowed to fit this machine; its best trial reruns exactly."""
    from nagexp.config.space import SEARCH_SPACES_DIR
    from nagexp.runs.reproduce import reproduce

    space = yaml.safe_load((SEARCH_SPACES_DIR / "cifar10.yaml").read_text())
    space["fixed"].update(width=0.25, epochs=2, batch_size=64, data_init_images=256)
    space["asha"]["grace_period"] = 1  # a rung at epoch 1 (after the 0.3 warmup of 2 epochs): a cooldown probe there
    (tmp_path / "cifar10.yaml").write_text(yaml.safe_dump(space))
    result = runner.invoke(app, ["sweep", str(tmp_path / "cifar10.yaml"), "--dataset", f"imagefolder:{SLICE}",
                                 "--data-mode", "stream", "--trials", "1", "--workers-per-trial", "2",
                                 "--cpus-per-worker", "0.5", "--no-track", "--name", "recipe", "--results-dir",
                                 str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    with (tmp_path / "recipe" / "trials.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["state"] == "completed" and row["epochs_run"] == "2"
    here = torch.backends.cpu.get_cpu_capability()
    assert row["cpu_kernels"] == f"{here},{here}"  # each worker's, as its node: what a CPU rerun must match
    # the rung's cooldown probe ran in the streamed two-worker trial (and left it as it was: the rerun below)
    epochs = [e["metrics"] for e in journal_events(tmp_path / "recipe") if e["event"] == "epoch"]
    assert ["cooldown_val_acc" in m for m in epochs] == [True, False]
    best = yaml.safe_load((tmp_path / "recipe" / "best.yaml").read_text())
    assert best["data_init"] is True and best["weight_averaging"] == "lookahead" and best["data_mode"] == "stream"
    assert best["workers_per_trial"] == 2
    # `nagexp reproduce` reruns a data-parallel trial with as many workers, streaming: exactly, on
    # CPU (`nagexp train` of a streamed best.yaml: test_stream_sweeps; of two workers: the test above)
    rep = reproduce(tmp_path / "recipe", warn=lambda _: None)
    assert rep.exact, (rep.original, rep.rerun)


def test_killed_worker_restarts_the_trial_from_its_checkpoint(tmp_path: Path) -> None:
    options = SweepOptions(space=space_file(tmp_path, epochs=5), trials=1, seed=3, scheduler="fifo",
                           workers_per_trial=2, name="killed", results_dir=tmp_path, track=False)  # fmt: skip
    spec = resolve_sweep(options)
    killer = KillWorkerOnce(epoch=2)
    outcome = run_sweep(spec, emit=lambda _: None, listeners=[killer])
    assert killer.killed
    (rec,) = outcome.records
    assert rec.state == "completed" and rec.retries == 1 and rec.epochs_run == 5
    assert [int(h["epoch"]) for h in rec.history] == [1, 2, 3, 4, 5]  # epochs replayed once
    # the final metrics of a run never interrupted (here: one process, which K=2 matches)
    uninterrupted = train(TrainConfig(**{**rec.config, "workers_per_trial": 1}), load_bundle("digits"))
    assert rec.final == pytest.approx(uninterrupted.final["val_acc"], abs=1e-4)
    assert rec.test_acc == pytest.approx(uninterrupted.test_acc, abs=1e-4)
    with (tmp_path / "killed" / "trials.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["retries"] == "1"
    assert Path(rec.checkpoint_file).is_file()  # the Ray Train run's last checkpoint, for the best model


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers-per-trial", "3"], "--workers-per-trial 3 with 1 CPU per worker needs 3 such bundles"),
        (["--workers-per-trial", "2", "--data-mode", "stream", "--dataset", f"imagefolder:{SLICE}"],
         "--workers-per-trial 2 x 1 CPU plus 1 for streaming the trial's data is more than the 2 CPUs Ray has"),
    ],
)
def test_impossible_data_parallel_sweeps_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sweep", str(space_file(tmp_path, 1)), "--trials", "1", "--no-track",
                                 "--results-dir", str(tmp_path / "out"), *args])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    out = tmp_path / "out"  # no sweep folder (a streamed dataset's prepared shards may be kept)
    assert not out.exists() or {p.name for p in out.iterdir()} <= {"data-cache"}


def test_workers_per_trial_cannot_be_searched(tmp_path: Path) -> None:
    space = space_file(tmp_path, 1, {"workers_per_trial": {"type": "int", "low": 1, "high": 2}})
    result = runner.invoke(app, ["sweep", str(space), "--dry-run"])
    assert result.exit_code == 2 and "fix it (`fixed:` or --workers-per-trial)" in result.stderr


def test_dry_run_shows_the_placement(tmp_path: Path) -> None:
    # a GPU cluster's plan, previewed from here: a cluster to join is sized once joined
    result = runner.invoke(app, ["sweep", str(space_file(tmp_path, 1)), "--dry-run", "--workers-per-trial", "4",
                                 "--gpus-per-worker", "1", "--cpus-per-worker", "8",
                                 "--address", "10.1.2.3:6379"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 workers x (8 CPU, 1 GPU) per trial, NCCL" in result.stdout
    assert '"num_threads": 8' in result.stdout  # each worker's torch threads


FAILING_MODEL = """
from torch import nn


class Net(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        c, h, w = input_shape
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))

    def forward(self, x):
        if self.training and len(x) > 8:
            raise RuntimeError("this model breaks on training batches")
        return self.body(x)


def net(input_shape, num_classes):
    return Net(input_shape, num_classes)
"""


def test_own_code_raising_in_the_workers_is_an_errored_trial_not_retried(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "breaking_model.py").write_text(FAILING_MODEL)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"fixed": {**CFG, "model": "breaking_model:net", "epochs": 2},
                                     "params": {"lr": {"type": "float", "low": 0.05, "high": 0.2}}}))  # fmt: skip
    options = SweepOptions(space=space, trials=1, workers_per_trial=2, name="breaks", results_dir=tmp_path,
                           track=False, code_dir=code)  # fmt: skip
    outcome = run_sweep(resolve_sweep(options), emit=lambda _: None)
    (rec,) = outcome.records
    assert rec.state == "errored" and rec.retries == 0
    assert "RuntimeError: this model breaks on training batches" in rec.reason


def test_streamed_data_is_split_across_the_workers_not_copied(tmp_path: Path) -> None:
    import torch

    from nagexp.data.loading import load_train_data

    cfg = TrainConfig(dataset=f"imagefolder:{SLICE}", data_mode="stream", batch_size=64, eval_batch_size=16)
    data = load_train_data(cfg, tmp_path / "cache", say=lambda _: None)
    assert data.mode == "stream"
    cpu = torch.device("cpu")

    def images(batches) -> list[float]:  # an image's pixel sum names it (no two are equal here)
        return sorted(round(float(v), 3) for x, _ in batches for v in x.sum(dim=(1, 2, 3)))

    sizes = (cfg.seed, cfg.batch_size, cfg.eval_batch_size)
    whole = data.batches(*sizes, cpu)
    parts = [data.batches(*sizes, cpu, rank, 2) for rank in range(2)]
    assert parts[0].steps_per_epoch == parts[1].steps_per_epoch == whole.steps_per_epoch
    for split in ("val", "test"):  # every image once, in one worker or the other
        seen = [images(p.eval_batches(split)) for p in parts]
        assert seen[0] and seen[1] and sorted(seen[0] + seen[1]) == images(whole.eval_batches(split))
    trained = [images(p.train_epoch(1)) for p in parts]
    assert not set(trained[0]) & set(trained[1])  # disjoint: no image read twice in an epoch
    assert len(trained[0]) == len(trained[1]) == whole.steps_per_epoch * 32  # each its part of every batch


def test_train_with_more_workers_than_fit_is_one_line_and_leaves_no_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--no-track",
                                 "--workers-per-trial", "3", "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--workers-per-trial 3 with 1 CPU per worker needs 3 such bundles" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "train").exists() or not any((tmp_path / "train").iterdir())


STALLED_MODEL = """
import time

import ray
from torch import nn


def net(input_shape, num_classes):
    if ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None:  # a worker, not the driver
        time.sleep(3600)  # the workers are up and have written their group down; they never report
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))
"""


def test_a_trial_stopped_before_its_first_report_gives_its_workers_back(tmp_path: Path) -> None:
    """A sweep stopped (Ctrl-C here; a time budget ends it the same way, in
    `on_experiment_end`) while a data-parallel trial's workers are up but have not reported:
    its worker group (which Ray Train would keep while the job lives) is removed, so the CPUs
    are free for whatever runs next on this Ray runtime. The stop comes once the workers have
    written their group down, however long they take to start."""
    import os
    import signal
    import threading
    import time

    import ray

    from nagexp.runtime.ray_session import WORKER_GROUP_FILE
    from nagexp.sweeps.trainable import train_run_dir

    code = tmp_path / "code"
    code.mkdir()
    (code / "stalled_model.py").write_text(STALLED_MODEL)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"fixed": {**CFG, "model": "stalled_model:net", "epochs": 2},
                                     "params": {"lr": {"type": "float", "low": 0.05, "high": 0.2}}}))  # fmt: skip
    # the budget only ends a hang: the workers of a healthy machine start within a minute
    options = SweepOptions(space=space, trials=1, workers_per_trial=2, cpus_per_worker=0.5, name="stopped",
                           results_dir=tmp_path, track=False, code_dir=code, time_budget=600)  # fmt: skip
    spec = resolve_sweep(options)
    group_file = train_run_dir(spec.sweep_dir, 0) / WORKER_GROUP_FILE
    swept, lock = threading.Event(), threading.Lock()

    def ctrl_c_once_the_workers_are_up() -> None:
        while not swept.wait(0.2):
            with lock:  # never after run_sweep has returned (pytest would take the Ctrl-C)
                if group_file.is_file() and not swept.is_set():
                    os.kill(os.getpid(), signal.SIGINT)  # the sweep's handler, in the main thread
                    return

    watcher = threading.Thread(target=ctrl_c_once_the_workers_are_up, daemon=True)
    watcher.start()
    try:
        outcome = run_sweep(spec, emit=lambda _: None)
    finally:
        with lock:
            swept.set()
        watcher.join()
    assert outcome.interrupted  # stopped by the Ctrl-C, not by the budget
    (rec,) = outcome.records
    assert rec.epochs_run == 0 and rec.state != "completed"
    deadline = time.monotonic() + 60  # removal is asynchronous
    while ray.available_resources().get("CPU", 0) < ray.cluster_resources()["CPU"] and time.monotonic() < deadline:
        time.sleep(0.25)
    assert ray.available_resources().get("CPU", 0) == ray.cluster_resources()["CPU"]
