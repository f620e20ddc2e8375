"""Each data source read from small files written in its real on-disk format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from nagexp.core.errors import DataError
from tests.conftest import read_bundle
from tests.data_tests.formats import (
    random_images,
    write_cifar10,
    write_cifar100,
    write_idx,
    write_imagefolder,
    write_mnist,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def balanced_labels(n: int, classes: int) -> np.ndarray:
    return (np.arange(n) % classes).astype(np.uint8)


def test_digits_is_embedded() -> None:
    b = read_bundle("digits")
    assert b.input_shape == (1, 8, 8)
    assert b.num_classes == 10
    assert b.report.read_train == 1797
    assert b.report.train + b.report.val + b.report.test == 1797 - b.report.dropped_duplicates
    assert b.report.test_source == "held-out"


def test_digits_are_scikit_learns_digits_read_without_importing_it() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom nagexp.data.sources import read_digits\n"
            "from nagexp.registries.datasets import DatasetSpec\n"
            "raw = read_digits(DatasetSpec('digits', None), 32)\nprint('sklearn' in sys.modules)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    from sklearn.datasets import load_digits

    from nagexp.data.sources import read_digits
    from nagexp.registries.datasets import DatasetSpec

    bunch, raw = load_digits(), read_digits(DatasetSpec("digits", None), 32)
    assert np.array_equal(raw.x_train, bunch.images.astype(np.float32)[:, None])
    assert np.array_equal(raw.y_train, bunch.target)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("kind", ["mnist", "fashion-mnist"])
def test_mnist_idx(tmp_path: Path, rng: np.random.Generator, gz: bool, kind: str) -> None:
    x_train, x_test = random_images(rng, 200, (28, 28)), random_images(rng, 50, (28, 28))
    root = write_mnist(tmp_path, x_train, balanced_labels(200, 10), x_test, balanced_labels(50, 10), gz=gz)
    b = read_bundle(f"{kind}:{root}")
    assert b.input_shape == (1, 28, 28)
    assert b.report.read_train == 200 and b.report.read_test == 50
    assert b.report.test == 50 and b.report.test_source == "dataset"
    assert b.report.train + b.report.val == 200
    assert len(b.class_names) == 10
    if kind == "fashion-mnist":
        assert b.class_names[0] == "T-shirt/top"


def test_mnist_files_directly_in_dir(tmp_path: Path, rng: np.random.Generator) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte", random_images(rng, 40, (28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte", balanced_labels(40, 10))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", random_images(rng, 20, (28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", balanced_labels(20, 10))
    assert read_bundle(f"mnist:{tmp_path}").report.read_train == 40


def test_truncated_idx_is_a_clear_error(tmp_path: Path, rng: np.random.Generator) -> None:
    root = write_mnist(tmp_path, random_images(rng, 20, (28, 28)), balanced_labels(20, 10),
                       random_images(rng, 10, (28, 28)), balanced_labels(10, 10))  # fmt: skip
    f = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_bundle(f"mnist:{root}")


def test_cifar10_batches(tmp_path: Path, rng: np.random.Generator) -> None:
    x_train, x_test = random_images(rng, 100, (3, 32, 32)), random_images(rng, 30, (3, 32, 32))
    root = write_cifar10(tmp_path, x_train, balanced_labels(100, 10), x_test, balanced_labels(30, 10))
    b = read_bundle(f"cifar10:{root}")
    assert b.input_shape == (3, 32, 32)
    assert b.num_classes == 10 and b.class_names[3] == "class3"
    assert (b.report.read_train, b.report.read_test) == (100, 30)
    # channel order: CIFAR rows are R(1024) G(1024) B(1024); the bundle keeps C x H x W
    assert len(b.mean) == 3


def test_cifar100(tmp_path: Path, rng: np.random.Generator) -> None:
    x_train, x_test = random_images(rng, 300, (3, 32, 32)), random_images(rng, 100, (3, 32, 32))
    root = write_cifar100(tmp_path, x_train, (np.arange(300) % 100), x_test, (np.arange(100) % 100))
    b = read_bundle(f"cifar100:{root}")
    assert b.num_classes == 100
    assert b.report.test == 100


def test_cifar_pickle_with_code_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()

    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("pwned",))

    (folder / "train").write_bytes(pickle.dumps({b"data": Evil()}))
    (folder / "test").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match="not a readable CIFAR pickle"):
        read_bundle(f"cifar100:{tmp_path}")


def test_imagefolder_with_corrupt_file(tmp_path: Path, rng: np.random.Generator) -> None:
    images = {"cat": list(random_images(rng, 12, (20, 24, 3))), "dog": list(random_images(rng, 12, (20, 24, 3)))}
    root = write_imagefolder(tmp_path / "tree", images)
    (root / "cat" / "broken.png").write_bytes(b"not a png at all")
    b = read_bundle(f"imagefolder:{root}", image_size=16)
    assert b.input_shape == (3, 16, 16)
    assert b.class_names == ("cat", "dog")
    assert b.report.unreadable_files == 1
    assert b.report.read_train == 24


def test_imagefolder_grayscale_and_train_test_dirs(tmp_path: Path, rng: np.random.Generator) -> None:
    for split, n in (("train", 10), ("test", 4)):
        write_imagefolder(tmp_path / split, {c: list(random_images(rng, n, (12, 12))) for c in ("a", "b", "c")})
    b = read_bundle(f"imagefolder:{tmp_path}", image_size=12)
    assert b.input_shape == (1, 12, 12)
    assert b.report.test_source == "dataset" and b.report.test == 12


def test_imagefolder_train_val_layout_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    """Read as class folders, train/ and val/ would make a 2-class dataset: one line says what to do."""
    for split in ("train", "val"):
        write_imagefolder(tmp_path / split, {c: list(random_images(rng, 4, (12, 12))) for c in ("a", "b")})
    with pytest.raises(DataError, match=r"holds train/ and val/ but no test/.*rename val/ to test/"):
        read_bundle(f"imagefolder:{tmp_path}", image_size=12)


def test_imagefolder_only_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="no samples"):
        read_bundle(f"imagefolder:{tmp_path}")


def test_npz_channel_first_and_3d(tmp_path: Path, rng: np.random.Generator) -> None:
    np.savez(tmp_path / "a.npz", x=random_images(rng, 60, (2, 10, 10)), y=np.arange(60) % 3)
    b = read_bundle(f"npz:{tmp_path / 'a.npz'}")
    assert b.input_shape == (2, 10, 10) and b.num_classes == 3
    np.savez(tmp_path / "b.npz", x=rng.normal(size=(60, 9, 9)).astype(np.float32), y=np.arange(60) % 4)
    assert read_bundle(f"npz:{tmp_path / 'b.npz'}").input_shape == (1, 9, 9)


def test_npz_with_own_test_split(tmp_path: Path, rng: np.random.Generator) -> None:
    np.savez(tmp_path / "a.npz", x=random_images(rng, 60, (8, 8)), y=np.arange(60) % 3,
             x_test=random_images(rng, 15, (8, 8)), y_test=np.arange(15) % 3)  # fmt: skip
    b = read_bundle(f"npz:{tmp_path / 'a.npz'}")
    assert b.report.test_source == "dataset" and b.report.test == 15


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((4, 8, 8))}, "must hold 'x' and 'y'"),
        ({"x": np.zeros((4, 8, 8)), "y": np.zeros(3)}, "'x' has 4 samples but 'y' has 3"),
        ({"x": np.zeros((4, 8)), "y": np.zeros(4)}, "expected N x H x W"),
        # every image NaN: one line saying nothing is left, not numpy's reshape error
        ({"x": np.full((5, 8, 8), np.nan), "y": np.arange(5) % 2, "num_classes": 2},
         r"no training sample of .* is left after cleaning: all 5 were dropped \(5 with non-finite pixels"),
    ],
)
def test_npz_bad_arrays(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        read_bundle(f"npz:{tmp_path / 'bad.npz'}")


def test_corrupt_npz(tmp_path: Path) -> None:
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        read_bundle(f"npz:{tmp_path / 'c.npz'}")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("imagenet:/x", "unknown dataset kind 'imagenet'"),
        ("mnist", "needs a path"),
        ("digits:/x", "takes no path"),
        ("mnist:/definitely/missing", "does not exist"),
        ("npz:/definitely/missing.npz", "does not exist"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_bundle(spec)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no class sub-folders"):
        read_bundle(f"imagefolder:{tmp_path}")
    with pytest.raises(DataError, match="not found"):
        read_bundle(f"mnist:{tmp_path}")


SLICE = Path(__file__).resolve().parents[1] / "data" / "cifar10-slice"


def test_real_cifar10_jpeg_slice_decodes_the_same_in_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real CIFAR-10 JPEGs (a committed slice: 200 train, 50 test): the process pool gives the
    arrays a one-core loop gives, in the same order."""
    from nagexp.data import imagefolder
    from nagexp.registries.datasets import parse_dataset_spec

    spec = parse_dataset_spec(f"imagefolder:{SLICE}")
    serial = imagefolder.read_imagefolder(spec, 32)
    monkeypatch.setattr(imagefolder, "PARALLEL_FROM", 1)
    monkeypatch.setattr(imagefolder, "CHUNK", 37)  # several chunks, uneven
    monkeypatch.setattr(imagefolder.os, "cpu_count", lambda: 2)
    parallel = imagefolder.read_imagefolder(spec, 32)
    assert serial.x_train.shape == (200, 3, 32, 32) and serial.x_test.shape == (50, 3, 32, 32)
    assert np.array_equal(serial.x_train, parallel.x_train) and np.array_equal(serial.y_train, parallel.y_train)
    assert np.array_equal(serial.x_test, parallel.x_test)
    assert serial.class_names[:2] == ("airplane", "automobile") and serial.unreadable == 0
    bundle = read_bundle(f"imagefolder:{SLICE}")
    assert bundle.report.read_train == 200 and bundle.report.test_source == "dataset"
