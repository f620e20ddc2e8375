"""Dataset readers: each turns a local path into raw arrays (N x C x H x W) and labels.

Readers do no cleaning; they only read the on-disk format. Nothing is downloaded.
The dataset registry (`dataset_spec.DATASET_KINDS`) names the reader of each kind.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nagexp.core.errors import DataError
from nagexp.core.imports import resolve_import_path
from nagexp.registries.datasets import DATASET_KINDS, DatasetSpec, python_source

__all__ = ["RawData", "call_python_dataset", "check_source_exists", "existing_dir", "python_chunks",
           "python_dataset_function", "raw_from_arrays", "read_source"]


@dataclass
class RawData:
    """Arrays as read. x: N x C x H x W (uint8 or float), y: N labels (any numeric dtype)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    num_classes: int
    class_names: tuple[str, ...]
    unreadable: int = 0  # image files that could not be decoded and were skipped


Reader = Callable[[DatasetSpec, int], RawData]  # (spec, image_size) -> RawData


def existing_dir(path: str | None, kind: str) -> Path:
    p = Path(path or "").expanduser()
    if not p.exists():
        raise DataError(f"dataset path '{p}' for '{kind}' does not exist: give the folder as --dataset {kind}:DIR")
    if not p.is_dir():
        raise DataError(f"dataset '{kind}' needs a directory, '{p}' is a file")
    return p


# ---- digits: scikit-learn's bundled copy, the embedded default ------------------------


def read_digits(spec: DatasetSpec, image_size: int) -> RawData:
    """The file `sklearn.datasets.load_digits` reads, read the same way without importing
    scikit-learn (about a second of every sweep's and every `nagexp train`'s start)."""
    import importlib.util

    found = importlib.util.find_spec("sklearn")
    if found is None or not found.submodule_search_locations:
        raise DataError("the embedded 'digits' dataset needs scikit-learn: pip install scikit-learn")
    csv_file = Path(next(iter(found.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(csv_file, "rt") as f:
        table = np.loadtxt(f, delimiter=",")  # 1797 rows: 64 pixels (0..16), then the label
    x = table[:, :-1].reshape(-1, 1, 8, 8).astype(np.float32)  # N x 1 x 8 x 8
    return RawData(x, table[:, -1].astype(int), None, None, 10, tuple(str(c) for c in range(10)))


# ---- MNIST / Fashion-MNIST: IDX files, gzipped or not ---------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip


def read_idx(path: Path) -> np.ndarray:
    """One IDX array (the MNIST file format): magic, dims, then big-endian data."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"'{path}' is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise DataError(f"'{path}' is truncated or corrupt: {len(raw) - offset} data bytes, expected {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims)


def _find_idx(root: Path, stem: str) -> Path:
    # torchvision keeps files under <root>/<Name>/raw; accept that or the files directly.
    for folder in (root, root / "raw", *root.glob("*/raw")):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise DataError(f"'{stem}' (or {stem}.gz) not found under '{root}'")


def _read_idx_pair(root: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(_find_idx(root, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(_find_idx(root, f"{prefix}-labels-idx1-ubyte"))
    if len(x) != len(y):
        raise DataError(f"'{root}': {prefix} images ({len(x)}) and labels ({len(y)}) differ in count")
    return x[:, None], y


def read_mnist(spec: DatasetSpec, image_size: int) -> RawData:
    root = existing_dir(spec.path, spec.kind)
    x_train, y_train = _read_idx_pair(root, "train")
    x_test, y_test = _read_idx_pair(root, "t10k")
    names = _FASHION_NAMES if spec.kind == "fashion-mnist" else tuple(str(c) for c in range(10))
    return RawData(x_train, y_train, x_test, y_test, 10, names)


# ---- npz and python: arrays x (N x H x W or N x C x H x W) and y ------------------------


def raw_from_arrays(arrays: Mapping[str, Any], where: str) -> RawData:
    """RawData from the keys an .npz file holds: `x`, `y`, optionally `x_test`, `y_test`,
    `num_classes`, `class_names`. `where` names the source in errors."""
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DataError(f"{where} must hold 'x' and 'y' (found: {', '.join(map(str, arrays)) or 'none'})")

    def images(name: str) -> np.ndarray:
        x = np.asarray(arrays[name])
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4:
            raise DataError(f"{where}: '{name}' has shape {x.shape}, expected N x H x W or N x C x H x W")
        return x

    def pair(xk: str, yk: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = images(xk), np.asarray(arrays[yk]).reshape(-1)
        if len(x) != len(y):
            raise DataError(f"{where}: '{xk}' has {len(x)} samples but '{yk}' has {len(y)}; give one label per image")
        return x, y

    x, y = pair("x", "y")
    x_test = y_test = None
    if arrays.get("x_test") is not None and arrays.get("y_test") is not None:
        x_test, y_test = pair("x_test", "y_test")
    labels = np.concatenate([y, y_test]) if y_test is not None else y
    if labels.dtype.kind not in "iuf":
        raise DataError(f"{where}: labels must be numbers (got dtype {labels.dtype})")
    finite = labels[np.isfinite(labels)] if labels.dtype.kind == "f" else labels
    valid = finite[(finite >= 0) & (finite == np.round(finite))]
    num_classes = int(arrays["num_classes"]) if "num_classes" in arrays else int(valid.max()) + 1 if valid.size else 0
    names = tuple(str(c) for c in range(num_classes))
    if arrays.get("class_names") is not None:
        names = tuple(str(c) for c in arrays["class_names"])
        if len(names) < num_classes:
            raise DataError(f"{where}: {len(names)} class_names for {num_classes} classes")
        num_classes = len(names)
    return RawData(x, y, x_test, y_test, num_classes, names)


def read_npz(spec: DatasetSpec, image_size: int) -> RawData:
    path = Path(spec.path or "").expanduser()
    if not path.is_file():
        raise DataError(f"npz file '{path}' does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:  # zip or header errors: a corrupt file
        raise DataError(f"'{path}' is not a readable .npz file: {exc}") from None
    return raw_from_arrays(arrays, f"'{path}'")


def python_dataset_function(spec: DatasetSpec) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The callable a `python:pkg.mod:fn?key=value` spec names (imported, not called) and its
    keyword arguments; ConfigError / DataError in one line when it does not import."""
    target, kwargs = python_source(spec.path or "")
    function = resolve_import_path(target, "dataset")
    if not callable(function):
        raise DataError(f"dataset 'python:{spec.path}': '{target}' is a {type(function).__name__}, not a callable "
                        "returning arrays")  # fmt: skip
    return function, kwargs


def call_python_dataset(spec: DatasetSpec) -> Mapping[str, Any]:
    """What `python:pkg.mod:fn?key=value` returns: fn(**kwargs), checked to be a mapping.

    Either arrays (the keys of an .npz file: `x`, `y`, ...), or chunks for data larger than
    memory: `train` (and optionally `test`), each an iterable (or a callable returning one)
    of `(x, y)` array pairs, with `num_classes` and optionally `class_names` and `version`."""
    function, kwargs = python_dataset_function(spec)
    where = f"dataset 'python:{spec.path}'"
    try:
        result = function(**kwargs)
    except Exception as exc:  # the user's function raised: say so in its own words
        raise DataError(f"{where} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(result, Mapping):
        raise DataError(f"{where} returned a {type(result).__name__}; return a mapping with 'x' and 'y' "
                        "(and optionally 'x_test', 'y_test', 'class_names'), or with 'train' chunks")  # fmt: skip
    if "train" in result and "num_classes" not in result:
        raise DataError(f"{where} returned 'train' chunks without 'num_classes'")
    return result


def python_chunks(result: Mapping[str, Any], part: str) -> Iterator[tuple[np.ndarray, np.ndarray]] | None:
    """The `(x, y)` chunks of `part` (train or test) of a chunked python dataset, N x C x H x W."""
    chunks = result.get(part)
    if chunks is None:
        return None
    for x, y in chunks() if callable(chunks) else chunks:
        x, y = np.asarray(x), np.asarray(y).reshape(-1)
        yield (x[:, None] if x.ndim == 3 else x), y


def read_python(spec: DatasetSpec, image_size: int) -> RawData:
    """A python dataset in memory: its arrays, or its chunks joined."""
    result = call_python_dataset(spec)
    where = f"dataset 'python:{spec.path}'"
    if "train" not in result:
        return raw_from_arrays(result, where)
    arrays: dict[str, Any] = {"num_classes": result["num_classes"], "class_names": result.get("class_names")}
    for part, (xk, yk) in (("train", ("x", "y")), ("test", ("x_test", "y_test"))):
        parts = list(python_chunks(result, part) or [])
        if parts:
            arrays[xk], arrays[yk] = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return raw_from_arrays(arrays, where)


def check_source_exists(spec: DatasetSpec, image_size: int = 32) -> None:
    """A source read from a DIR or FILE that is not there: its reader says so in the words of its
    format (`npz file '...' does not exist`), else one line for any (reading nothing: it is not there)."""
    root = Path(spec.path or "").expanduser()
    if spec.facts.takes not in ("DIR", "FILE") or not spec.path or root.exists():
        return
    read_source(spec, image_size)
    raise DataError(f"dataset path '{root.resolve()}' for '{spec.kind}' does not exist")


def read_source(spec: DatasetSpec, image_size: int = 32) -> RawData:
    """Read `spec` with the reader its kind names in the dataset registry."""
    reader: Reader = resolve_import_path(DATASET_KINDS[spec.kind].reader, "dataset reader")
    return reader(spec, image_size)
