"""Dataset spec strings (`digits`, `mnist:DIR`, `npz:FILE`, ...): the registry of dataset
kinds and the parser, without I/O (and without torch)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DATASET_KINDS", "DatasetKind", "DatasetSpec", "allowed_specs", "parse_dataset_spec"]


class DatasetKind(NamedTuple):
    takes: str | None  # what the part after the colon names (None: the kind takes no path)
    reader: str  # import path of `reader(spec, image_size) -> RawData`
    description: str


_SOURCES = "nagexp.training.sources"
DATASET_KINDS: dict[str, DatasetKind] = {
    "digits": DatasetKind(None, f"{_SOURCES}:read_digits", "scikit-learn's bundled 8x8 digits (embedded)"),
    "mnist": DatasetKind("DIR", f"{_SOURCES}:read_mnist", "MNIST IDX files"),
    "fashion-mnist": DatasetKind("DIR", f"{_SOURCES}:read_mnist", "Fashion-MNIST IDX files"),
    "cifar10": DatasetKind("DIR", f"{_SOURCES}:read_cifar", "CIFAR-10 python pickle batches"),
    "cifar100": DatasetKind("DIR", f"{_SOURCES}:read_cifar", "CIFAR-100 python pickle batches"),
    "imagefolder": DatasetKind("DIR", "nagexp.training.imagefolder:read_imagefolder",
                               "DIR/<class>/<image> (or train/ and test/)"),
    "npz": DatasetKind("FILE", f"{_SOURCES}:read_npz", "arrays x, y (optional x_test, y_test)"),
}


class DatasetSpec(NamedTuple):
    kind: str
    path: str | None


def allowed_specs(sep: str = ", ") -> str:
    """`digits | mnist:DIR | ...` for help texts and error messages."""
    return sep.join(k if d.takes is None else f"{k}:{d.takes}" for k, d in DATASET_KINDS.items())


def parse_dataset_spec(spec: str) -> DatasetSpec:
    """Split `kind:path` and check the kind; raises ValueError with what is allowed."""
    kind, _, path = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in DATASET_KINDS:
        raise ValueError(f"unknown dataset kind '{kind}' in '{spec}'; allowed: {allowed_specs()}")
    needs = DATASET_KINDS[kind].takes
    if needs is None and path:
        raise ValueError(f"dataset '{kind}' takes no path (got '{spec}')")
    if needs is not None and not path:
        raise ValueError(f"dataset '{kind}' needs a path: '{kind}:{needs}'")
    return DatasetSpec(kind, path or None)
