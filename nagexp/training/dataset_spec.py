"""Dataset spec strings (`digits`, `mnist:DIR`, `npz:FILE`, ...): the registry of dataset
kinds and the parser, without I/O (and without torch)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DATASET_KINDS", "DatasetKind", "DatasetSpec", "allowed_specs", "parse_dataset_spec"]


class DatasetKind(NamedTuple):
    takes: str | None  # what the part after the colon names (None: the kind takes no path)
    reader: str  # import path of `reader(spec, image_size) -> RawData`


_SOURCES = "nagexp.training.sources"
DATASET_KINDS: dict[str, DatasetKind] = {
    "digits": DatasetKind(None, f"{_SOURCES}:read_digits"),
    "mnist": DatasetKind("DIR", f"{_SOURCES}:read_mnist"),
    "fashion-mnist": DatasetKind("DIR", f"{_SOURCES}:read_mnist"),
    "cifar10": DatasetKind("DIR", f"{_SOURCES}:read_cifar"),
    "cifar100": DatasetKind("DIR", f"{_SOURCES}:read_cifar"),
    "imagefolder": DatasetKind("DIR", "nagexp.training.imagefolder:read_imagefolder"),  # or train/, test/
    "npz": DatasetKind("FILE", f"{_SOURCES}:read_npz"),
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
