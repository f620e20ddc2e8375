"""The CIFAR-10/100 reader: the python pickle batches (`cifar-10-batches-py`,
`cifar-100-python`), unpickled with numpy arrays as the only globals allowed."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np

from nagexp.core.errors import DataError
from nagexp.data.sources import RawData, existing_dir
from nagexp.registries.datasets import DatasetSpec

__all__ = ["read_cifar"]


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and numpy arrays; refuses any other global (no code)."""

    _allowed: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy.core.numeric", "_frombuffer"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _load_cifar_pickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"CIFAR batch '{path}' not found")
    try:
        data = _ArrayOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except Exception as exc:  # any decoding failure means a corrupt or foreign file
        raise DataError(f"'{path}' is not a readable CIFAR pickle batch: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"'{path}' is not a CIFAR batch (no dict inside)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def _cifar_arrays(batch: dict, label_key: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in batch or label_key not in batch:
        raise DataError(f"'{path}' lacks 'data' or '{label_key}'")
    x = np.asarray(batch["data"], dtype=np.uint8)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DataError(f"'{path}': data has shape {x.shape}, expected N x 3072")
    return x.reshape(-1, 3, 32, 32), np.asarray(batch[label_key])


def _names(meta: Path, key: str, count: int) -> tuple[str, ...]:
    if meta.is_file():
        names = _load_cifar_pickle(meta).get(key)
        if names and len(names) == count:
            return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return tuple(str(c) for c in range(count))


def read_cifar(spec: DatasetSpec, image_size: int) -> RawData:
    root = existing_dir(spec.path, spec.kind)
    if spec.kind == "cifar10":
        folder = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
        train_files = [folder / f"data_batch_{i}" for i in range(1, 6)]
        test_file, label_key, classes = folder / "test_batch", "labels", 10
        names = _names(folder / "batches.meta", "label_names", classes)
    else:
        folder = root / "cifar-100-python" if (root / "cifar-100-python").is_dir() else root
        train_files = [folder / "train"]
        test_file, label_key, classes = folder / "test", "fine_labels", 100
        names = _names(folder / "meta", "fine_label_names", classes)
    parts = [_cifar_arrays(_load_cifar_pickle(f), label_key, f) for f in train_files]
    x_test, y_test = _cifar_arrays(_load_cifar_pickle(test_file), label_key, test_file)
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return RawData(x_train, y_train, x_test, y_test, classes, names)
