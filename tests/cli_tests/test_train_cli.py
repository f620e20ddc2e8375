"""`nagexp train` end to end, and its bad-input catalogue (exit 2, one line, no traceback)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from nagexp.cli import app
from tests.conftest import NagexpProcess

runner = CliRunner()




def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("nagexp ")


def test_train_writes_results(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--epochs", "2", "--set", "width=0.5", "--device", "cpu", "--no-track",
                                 "--name", "r1", "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "val_acc" in result.stdout and "test accuracy" in result.stdout
    out = tmp_path / "train" / "r1"
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["epochs"] == 2 and cfg["width"] == 0.5
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(float(r["epoch"])) for r in rows] == [1, 2]
    state = torch.load(out / "model.pt", weights_only=True)
    assert state["num_classes"] == 10 and state["config"]["width"] == 0.5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_acc"] > 0.5 and summary["data_fingerprint"]


def test_config_file_reruns_the_same_run(tmp_path: Path) -> None:
    args = ["--epochs", "2", "--set", "width=0.5", "--device", "cpu", "--no-track", "--results-dir", str(tmp_path)]
    assert runner.invoke(app, ["train", *args, "--name", "a"]).exit_code == 0
    config = tmp_path / "train" / "a" / "config.yaml"
    here = torch.backends.cpu.get_cpu_capability()
    assert yaml.safe_load(config.read_text())["cpu_kernels"] == here  # what its values were computed on
    rerun = runner.invoke(app, ["train", str(config), "--no-track", "--results-dir", str(tmp_path), "--name", "b"])
    assert rerun.exit_code == 0 and "CPU kernels" not in rerun.output
    a = (tmp_path / "train" / "a" / "summary.json").read_text()
    b = (tmp_path / "train" / "b" / "summary.json").read_text()
    assert json.loads(a)["final"]["val_acc"] == json.loads(b)["final"]["val_acc"]
    assert json.loads(a)["test_acc"] == json.loads(b)["test_acc"]
    # a config computed on other kernels (another kind of CPU): the rerun says its values can differ, and why
    other = tmp_path / "other.yaml"
    other.write_text(config.read_text().replace(f"cpu_kernels: {here}", "cpu_kernels: NO AVX"))
    rerun = runner.invoke(app, ["train", str(other), "--epochs", "1", "--no-track", "--results-dir", str(tmp_path),
                                "--name", "c"])  # fmt: skip
    assert rerun.exit_code == 0, rerun.output
    warned = (f"warning: other.yaml: it ran on torch's NO AVX CPU kernels and this process runs {here}, which round "
              "differently: rerun with ATEN_CPU_CAPABILITY=default in the environment")
    assert warned in rerun.output.splitlines()


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, list[str]]:
    (tmp_path / "empty").mkdir()
    np.savez(tmp_path / "noxy.npz", images=np.zeros((4, 8, 8)))
    np.savez(tmp_path / "mismatch.npz", x=np.zeros((4, 8, 8)), y=np.zeros(3))
    (tmp_path / "bad.yaml").write_text("lr: [0.1\n")
    return {
        "unknown dataset kind": ["--dataset", "imagenet:/data"],
        "missing path": ["--dataset", f"mnist:{tmp_path / 'nope'}"],
        "empty folder": ["--dataset", f"imagefolder:{tmp_path / 'empty'}"],
        "npz without x/y": ["--dataset", f"npz:{tmp_path / 'noxy.npz'}"],
        "npz lengths differ": ["--dataset", f"npz:{tmp_path / 'mismatch.npz'}"],
        "unknown model": ["--model", "vit"],
        "unknown lr schedule": ["--lr-schedule", "exp"],
        "unknown momentum schedule": ["--momentum-schedule", "adaptive"],
        "unknown optimizer": ["--optimizer", "adam"],
        "negative lr": ["--lr", "-0.1"],
        "momentum 1": ["--momentum", "1.0"],
        "nesterov with momentum 0": ["--momentum", "0"],
        "invalid yaml": [str(tmp_path / "bad.yaml")],
        "missing config file": [str(tmp_path / "missing.yaml")],
        "unknown --set field": ["--set", "colour=red"],
        "an option and --set apart": ["--epochs", "1", "--set", "epochs=2"],
        "--set twice": ["--set", "epochs=2", "--set", "epochs=3"],
        "empty run name": ["--name", ""],
        "bad run name": ["--name", "../escape"],
        "unavailable device": ["--device", "cuda:7"],
        "missing code folder": ["--code-dir", str(tmp_path / "nocode")],  # checked though nothing imports from it
    }


EXPECTED = {
    "unknown dataset kind": "error: --dataset: field 'dataset': unknown dataset kind 'imagenet'",  # by its option
    "missing path": "does not exist",
    "empty folder": "no class sub-folders",
    "npz without x/y": "must hold 'x' and 'y'",
    "npz lengths differ": "'x' has 4 samples but 'y' has 3",
    "unknown model": "field 'model'",
    "unknown lr schedule": "field 'lr_schedule'",
    "unknown momentum schedule": "field 'momentum_schedule'",
    "unknown optimizer": "field 'optimizer'",
    "negative lr": "error: --lr: field 'lr'",
    "momentum 1": "field 'momentum'",
    "nesterov with momentum 0": "needs momentum > 0",
    "invalid yaml": "YAML syntax error at line",
    "missing config file": "not found",
    "unknown --set field": "error: --set: unknown field 'colour'",
    "an option and --set apart": "--epochs 1 and --set epochs=2 both set epochs; give it once",
    "--set twice": "--set epochs is given twice; give it once",
    "empty run name": "run name is empty: give one, or leave it out",
    "bad run name": "may only use letters, digits",
    "missing code folder": "nocode' does not exist; pass --code-dir with the folder of your code",
    "unavailable device": "device 'cuda:7' is not available here",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_bad_input_one_line_exit_2(case: str, bad_inputs: dict[str, list[str]], tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", *bad_inputs[case], "--results-dir", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert EXPECTED[case] in lines[0]
    assert "Traceback" not in result.output
    if "name" in case or "device" in case:  # said before the run's header, as a sweep says it
        assert "training " not in result.stdout, result.stdout
    assert not (tmp_path / "out" / "train").exists() or not any((tmp_path / "out" / "train").iterdir())


def test_real_process_bad_input_has_no_traceback(tmp_path: Path, nagexp_process: NagexpProcess) -> None:
    proc = nagexp_process.run("train", "--dataset", "npz:/no/such.npz", "--results-dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: npz file '/no/such.npz' does not exist"
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.slow
def test_default_train_reaches_98_percent(tmp_path: Path, nagexp_process: NagexpProcess) -> None:
    proc = nagexp_process.run("train", "--results-dir", str(tmp_path), "--name", "default")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "train" / "default" / "summary.json").read_text())
    assert summary["test_acc"] >= 0.98  # its time is a benchmark's figure (benchmarks.trainer_overhead), not a test's


def test_disk_full_while_writing_is_one_line_and_keeps_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import pathlib

    real_write_text = pathlib.Path.write_text

    def full_disk(self: pathlib.Path, *args: object, **kwargs: object) -> int:
        if self.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full_disk)
    result = runner.invoke(app, ["train", "--epochs", "1", "--no-track", "--name", "full",
                                 "--results-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1
    assert "no space left on the device writing" in result.stderr and "Traceback" not in result.output
    leftovers = [p.name for p in (tmp_path / "train" / "full").iterdir()]
    assert not [n for n in leftovers if n.endswith(".tmp")]  # no half-written file stays behind
