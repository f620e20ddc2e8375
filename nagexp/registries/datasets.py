"""Dataset spec strings (`digits`, `mnist:DIR`, `npz:FILE`, `python:pkg.mod:fn?n=500`, ...):
the registry of dataset kinds with every fact about a kind, and the parser; no I/O, no torch."""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from nagexp.core.imports import is_import_path

__all__ = ["DATASET_KINDS", "DatasetKind", "DatasetSpec", "allowed_specs", "made_by_user_code", "parse_dataset_spec",
           "python_source"]


class DatasetKind(NamedTuple):
    takes: str | None  # what the part after the colon names (None: the kind takes no path)
    reader: str  # import path of `reader(spec, image_size) -> RawData`
    sized: bool = False  # the reader resizes images to `image_size`
    # read from files: prepared once into the data cache (keyed by the files), streamable;
    # otherwise read in memory every time (the embedded digits cost nothing to read)
    from_files: bool = True
    user_code: bool = False  # made by the user's own code (shipped to workers, hashed with results)


_SOURCES = "nagexp.data.sources"
DATASET_KINDS: dict[str, DatasetKind] = {
    "digits": DatasetKind(None, f"{_SOURCES}:read_digits", from_files=False),
    "mnist": DatasetKind("DIR", f"{_SOURCES}:read_mnist"),
    "fashion-mnist": DatasetKind("DIR", f"{_SOURCES}:read_mnist"),
    "cifar10": DatasetKind("DIR", "nagexp.data.cifar_pickle:read_cifar"),
    "cifar100": DatasetKind("DIR", "nagexp.data.cifar_pickle:read_cifar"),
    "imagefolder": DatasetKind("DIR", "nagexp.data.imagefolder:read_imagefolder", sized=True),  # or train/, test/
    "npz": DatasetKind("FILE", f"{_SOURCES}:read_npz"),
    # your own: a callable returning the arrays an .npz file would hold (or chunks of them,
    # which are prepared like files: only its code knows when the data changes otherwise)
    "python": DatasetKind("package.module:callable[?key=value&...]", f"{_SOURCES}:read_python", from_files=False,
                          user_code=True),
}


class DatasetSpec(NamedTuple):
    kind: str
    path: str | None

    @property
    def facts(self) -> DatasetKind:
        return DATASET_KINDS[self.kind]


def allowed_specs(sep: str = ", ") -> str:
    """`digits | mnist:DIR | ...` for help texts and error messages."""
    return sep.join(k if d.takes is None else f"{k}:{d.takes}" for k, d in DATASET_KINDS.items())


def parse_dataset_spec(spec: str) -> DatasetSpec:
    """Split `kind:path` and check the kind; raises ValueError with what is allowed."""
    kind, _, path = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in DATASET_KINDS:
        inside = f" in '{spec}'" if spec.strip().lower() != kind else ""
        raise ValueError(f"unknown dataset kind '{kind}'{inside}; allowed: {allowed_specs()}")
    needs = DATASET_KINDS[kind].takes
    if needs is None and path:
        raise ValueError(f"dataset '{kind}' takes no path (got '{spec}')")
    if needs is not None and not path:
        raise ValueError(f"dataset '{kind}' needs a path: '{kind}:{needs}'")
    if kind == "python":
        python_source(path)
    return DatasetSpec(kind, path or None)


def python_source(path: str) -> tuple[str, dict[str, Any]]:
    """`pkg.mod:fn?n=500&noise=0.1` -> ("pkg.mod:fn", {"n": 500, "noise": 0.1}): the import
    path and its keyword arguments (YAML scalars); ValueError for a malformed spec."""
    import yaml

    target, _, query = path.partition("?")
    if not is_import_path(target):
        raise ValueError(f"dataset 'python:{path}': write it as python:package.module:callable[?key=value&...]")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"dataset 'python:{path}': arguments must be key=value pairs joined by '&'") from None
    kwargs: dict[str, Any] = {}
    for key, raw in pairs:
        try:
            kwargs[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            kwargs[key] = raw
    return target, kwargs


def made_by_user_code(spec: str) -> bool:
    """True for a dataset the user's own code makes (`python:...`)."""
    kind = spec.partition(":")[0].strip().lower()
    return kind in DATASET_KINDS and DATASET_KINDS[kind].user_code
