"""Your own model and dataset by import path: config, checks, the python: source, code hashing."""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from nagexp.config.loading import load_train_config
from nagexp.config.space import parse_space
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError, DataError
from nagexp.data.bundle import DataBundle
from nagexp.registries.datasets import python_source
from nagexp.registries.models import build_model
from nagexp.runtime.user_code import changed_code_warning, make_importable, snapshot, staged_snapshot, uses_user_code
from nagexp.space.sampling import model_probes
from nagexp.training.model_check import check_model
from tests.conftest import load_bundle

_count = itertools.count()


def user_module(folder: Path, source: str) -> str:
    """Write a module with a fresh name into `folder` (importable) and return its name."""
    name = f"user_mod_{next(_count)}_{abs(hash(str(folder))) % 10**6}"
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    make_importable(folder)
    return name


NET = """
    from torch import nn

    def net(input_shape, num_classes, hidden=16):
        c, h, w = input_shape
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
"""


def test_model_args_fold_from_dotted_names_and_reach_the_callable(tmp_path: Path, digits: DataBundle) -> None:
    mod = user_module(tmp_path, NET)
    cfg = load_train_config(None, {"model": f"{mod}:net", "model_args.hidden": 7})
    assert cfg.model_args == {"hidden": 7} and cfg.model_arguments() == {"hidden": 7}
    model = build_model(cfg.model, digits.input_shape, digits.num_classes, **cfg.model_arguments())
    assert model[1].out_features == 7
    # built-ins take the same path: width is their argument
    assert TrainConfig(model="cnn", width=0.5).model_arguments() == {"width": 0.5}


def test_width_is_for_builtins_only() -> None:
    with pytest.raises(ConfigError, match=r"width scales the built-in models; give your model 'pkg\.mod:Net'"):
        load_train_config(None, {"model": "pkg.mod:Net", "width": 2.0})
    allowed = r"allowed: mlp, cnn, resnet, fastnet, or your own as package\.module:callable"
    with pytest.raises(ConfigError, match=allowed):
        load_train_config(None, {"model": "not a path"})
    with pytest.raises(ConfigError, match="model_args names must be Python identifiers"):
        load_train_config(None, {"model": "pkg.mod:Net", "model_args": {"bad-name": 1}})


def test_space_searches_model_args_and_probes_each_model(tmp_path: Path) -> None:
    space = parse_space({
        "fixed": {"model": "pkg.mod:Net", "model_args": {"width_px": 3}},
        "params": {
            "model": {"type": "categorical", "choices": ["pkg.mod:Net", "cnn"]},
            "model_args.depth": {"type": "int", "low": 2, "high": 6, "when": {"model": "pkg.mod:Net"}},
            "lr": {"type": "float", "low": 0.01, "high": 0.1},
        },
    }, "space.yaml")  # fmt: skip
    probes = model_probes(space)
    assert [(p.model, p.model_arguments()) for p in probes] == [
        ("pkg.mod:Net", {"width_px": 3, "depth": 2}),  # searched arguments at the low end
        ("cnn", {"width": 1.0, "width_px": 3}),
    ]
    with pytest.raises(ConfigError, match=r"param 'modelargs.depth': unknown TrainConfig field"):
        parse_space({"params": {"modelargs.depth": {"type": "int", "low": 1, "high": 2}}}, "s.yaml")


CATALOGUE = {
    "module missing": ("no_such_module_xyz:net", None, "module 'no_such_module_xyz' not found; run from the folder"),
    "attribute missing": ("{mod}:nett", NET, "has no attribute 'nett'"),
    "not callable": ("{mod}:VALUE", "VALUE = 3\n", "is a int, not a callable"),
    "not a module": ("{mod}:net", "def net(shape, classes):\n    return [shape, classes]\n",
                     "returned a list, not a torch.nn.Module"),
    "wrong logits": ("{mod}:net", "from torch import nn\ndef net(shape, classes):\n"
                     "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))\n",
                     "gave [4, 3] for a batch of 4; it must return logits of shape [4, 10]"),
    "forward raises": ("{mod}:Net", "from torch import nn\nclass Net(nn.Module):\n"
                       "    def __init__(self, shape, classes):\n        super().__init__()\n"
                       "    def forward(self, x):\n        raise ValueError('no forward yet')\n",
                       "the forward pass on a batch of shape [4, 1, 8, 8] raised ValueError: no forward yet"),
    "unknown argument": ("{mod}:net", NET, "raised TypeError: net() got an unexpected keyword argument 'depth'"),
    "import raises": ("{mod}:net", "raise RuntimeError('broken module')\n", "raised RuntimeError: broken module"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_model_check_catalogue(case: str, tmp_path: Path, digits: DataBundle) -> None:
    path, source, message = CATALOGUE[case]
    if source is not None:
        path = path.format(mod=user_module(tmp_path, source))
    args = {"depth": 3} if case == "unknown argument" else {}
    with pytest.raises(ConfigError) as err:
        check_model(path, args, digits)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"model '{path}'")


def test_builtins_pass_the_same_check(digits: DataBundle) -> None:
    for name in ("mlp", "cnn", "resnet", "fastnet"):
        check_model(name, {"width": 0.25}, digits)


SHAPES = """
    import numpy as np

    def make(n=40, classes=4, mismatch=False, as_list=False, fail=""):
        if fail:
            raise ValueError(fail)
        rng = np.random.default_rng(0)
        x = rng.random((n, 3, 6, 6)).astype(np.float32)
        y = np.arange(n - int(mismatch)) % classes
        if as_list:
            return [x, y]
        return {"x": x, "y": y, "class_names": [f"c{i}" for i in range(classes)]}
"""


def test_python_dataset_goes_through_the_same_pipeline(tmp_path: Path) -> None:
    mod = user_module(tmp_path, SHAPES)
    data = load_bundle(f"python:{mod}:make?n=60&classes=3")
    assert data.input_shape == (3, 6, 6) and data.num_classes == 3
    assert data.class_names == ("c0", "c1", "c2")
    assert data.report.read_train == 60 and data.report.test > 0  # held-out test split made here
    assert data.fingerprint == load_bundle(f"python:{mod}:make?n=60&classes=3").fingerprint
    assert data.fingerprint != load_bundle(f"python:{mod}:make?n=61&classes=3").fingerprint
    assert python_source("a.b:c?n=5&name=x&flag=true") == ("a.b:c", {"n": 5, "name": "x", "flag": True})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("mismatch=true", "'x' has 40 samples but 'y' has 39; give one label per image"),
        ("as_list=true", "returned a list; return a mapping with 'x' and 'y'"),
        ("fail=disk%20gone", "raised ValueError: disk gone"),
    ],
)
def test_python_dataset_errors(query: str, message: str, tmp_path: Path) -> None:
    mod = user_module(tmp_path, SHAPES)
    with pytest.raises(DataError, match=message):
        load_bundle(f"python:{mod}:make?{query}")


def test_python_dataset_spec_is_checked_with_the_config() -> None:
    with pytest.raises(ConfigError, match=r"write it as python:package\.module:callable"):
        load_train_config(None, {"dataset": "python:just_a_module"})


def test_snapshot_hashes_python_files_only(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "net.py").write_text("A = 1\n")
    (tmp_path / "data.bin").write_bytes(b"\0" * 1000)
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "big.py").write_text("B = 2\n")
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "env" / "site.py").write_text("C = 3\n")
    first = snapshot(tmp_path)
    assert first.files == ("pkg/net.py",)
    (tmp_path / "data.bin").write_bytes(b"\1" * 1000)
    assert snapshot(tmp_path).digest == first.digest  # not code
    (tmp_path / "pkg" / "net.py").write_text("A = 2\n")
    assert snapshot(tmp_path).digest != first.digest
    warning = changed_code_warning(first.record(), tmp_path)
    assert warning is not None and f"code hash {first.digest} then" in warning
    assert changed_code_warning(snapshot(tmp_path).record(), tmp_path) is None


def test_the_shipped_copy_is_the_hashed_files_and_goes_when_its_block_ends(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "net.py").write_text("A = 1\n")
    (tmp_path / "notes.txt").write_text("not code\n")
    code = snapshot(tmp_path)
    with staged_snapshot(code) as one, staged_snapshot(code) as two:  # two sweeps of the same code at once
        assert one != two and one.name.startswith(f"nagexp-code-{code.digest}-")
        assert sorted(p.relative_to(one).as_posix() for p in one.rglob("*") if p.is_file()) == ["pkg/net.py"]
        assert (two / "pkg" / "net.py").read_text() == "A = 1\n"
    assert not one.exists() and not two.exists()


def test_uses_user_code() -> None:
    assert not uses_user_code(["cnn", "fastnet"], ["digits", "npz:/x.npz"])
    assert uses_user_code(["cnn", "pkg.mod:Net"], ["digits"])
    assert uses_user_code(["cnn"], ["python:pkg.mod:make"])


def test_user_model_trains(tmp_path: Path, digits: DataBundle) -> None:
    from nagexp.training.trainer import train

    mod = user_module(tmp_path, NET)
    cfg = TrainConfig(model=f"{mod}:net", model_args={"hidden": 32}, epochs=2, device="cpu", lr=0.05)
    result = train(cfg, digits)
    assert result.final["val_acc"] > 0.5
    assert isinstance(result.model, torch.nn.Module) and f"{mod}" in sys.modules
    assert np.isfinite(result.final["train_loss"])
