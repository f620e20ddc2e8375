"""Dataset spec strings (`digits`, `mnist:DIR`, `npz:FILE`, ...), parsed without I/O."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DATASET_KINDS", "DatasetSpec", "parse_dataset_spec"]

# kind -> what the part after the colon names (None: the kind takes no path)
DATASET_KINDS: dict[str, str | None] = {
    "digits": None,
    "mnist": "DIR",
    "fashion-mnist": "DIR",
    "cifar10": "DIR",
    "cifar100": "DIR",
    "imagefolder": "DIR",
    "npz": "FILE",
}


class DatasetSpec(NamedTuple):
    kind: str
    path: str | None


def _allowed() -> str:
    return ", ".join(k if p is None else f"{k}:{p}" for k, p in DATASET_KINDS.items())


def parse_dataset_spec(spec: str) -> DatasetSpec:
    """Split `kind:path` and check the kind; raises ValueError with what is allowed."""
    kind, _, path = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in DATASET_KINDS:
        raise ValueError(f"unknown dataset kind '{kind}' in '{spec}'; allowed: {_allowed()}")
    needs = DATASET_KINDS[kind]
    if needs is None and path:
        raise ValueError(f"dataset '{kind}' takes no path (got '{spec}')")
    if needs is not None and not path:
        raise ValueError(f"dataset '{kind}' needs a path: '{kind}:{needs}'")
    return DatasetSpec(kind, path or None)
