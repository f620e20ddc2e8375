"""Writers for small datasets in the real on-disk formats (IDX, CIFAR pickles, PNG trees, npz)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    assert array.dtype == np.uint8
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    raw = header + array.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def write_mnist(root: Path, x_train, y_train, x_test, y_test, gz: bool = False) -> Path:
    """torchvision's layout: <root>/MNIST/raw/<idx files>."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "train-images-idx3-ubyte", x_train, gz)
    write_idx(raw / "train-labels-idx1-ubyte", y_train, gz)
    write_idx(raw / "t10k-images-idx3-ubyte", x_test, gz)
    write_idx(raw / "t10k-labels-idx1-ubyte", y_test, gz)
    return root


def write_cifar10(root: Path, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> Path:
    """<root>/cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta (N x 3072 uint8)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, (xs, ys) in enumerate(zip(np.array_split(x_train, 5), np.array_split(y_train, 5), strict=True), 1):
        batch = {b"batch_label": b"b", b"labels": [int(v) for v in ys], b"data": xs.reshape(len(xs), -1)}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    test = {b"labels": [int(v) for v in y_test], b"data": x_test.reshape(len(x_test), -1)}
    (folder / "test_batch").write_bytes(pickle.dumps(test, protocol=2))
    names = [f"class{i}".encode() for i in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return root


def write_cifar100(
    root: Path, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
        batch = {
            b"fine_labels": [int(v) for v in ys],
            b"coarse_labels": [0] * len(ys),
            b"data": xs.reshape(len(xs), -1),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    return root


def write_imagefolder(root: Path, images_per_class: dict[str, list[np.ndarray]]) -> Path:
    from PIL import Image

    for name, images in images_per_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(images):
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


def random_images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
