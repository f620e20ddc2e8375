"""Prepare a dataset once: read (image folders: decoded in parallel, chunk by chunk), clean,
and write shards into the cache; later runs open the shards instead of reading again.

The cache key is the source's identity (its path, and the name, size and modification time
of every file in it) with the preprocessing that changes pixels (image size) and the
layout's format: a source that changes on disk gets a new entry, never a stale one.
Datasets made by user code (`python:`) are not cached: only their code knows when they change.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nagexp.core.errors import DataError
from nagexp.data.bundle import check_clean
from nagexp.data.cleaning import Cleaner
from nagexp.data.prepared.location import Location, location_of
from nagexp.data.prepared.progress import PrepareProgress
from nagexp.data.prepared.store import FORMAT, Prepared, ShardWriter, open_prepared, publish
from nagexp.data.sources import RawData, check_source_exists, python_chunks, read_source
from nagexp.registries.datasets import DatasetSpec, parse_dataset_spec, python_source

__all__ = ["CHUNK_ROWS", "ENCODED_RATIO", "prepare", "source_identity"]

CHUNK_ROWS = 4096  # samples cleaned and written at a time from an array source
# An image folder's shards keep the images' files instead of their pixels when the pixels
# take this many times the files' bytes or more (measured on the first chunk). Small images
# (CIFAR-10's 32 px JPEGs: 3.3x) keep pixels: reading 3 KB is cheaper than decoding every
# epoch on the CPUs that train. Large ones (often 5x or more at 128 px and up) keep their files: the cache,
# the page cache and the disk reads shrink by that factor, and the trial's Ray Data tasks
# decode the rows they read.
ENCODED_RATIO = 4.0


def python_identity(spec: DatasetSpec, result: Any) -> str:
    """A chunked python dataset's key: its spec, the source of the function's module, and
    the `version` it returns (bump it when the data changes but the code does not)."""
    import inspect

    target, _ = python_source(spec.path or "")
    module = sys.modules.get(target.partition(":")[0])
    try:
        source = inspect.getsource(module) if module else ""
    except (OSError, TypeError):
        source = ""
    text = json.dumps([FORMAT, spec.path, str(result.get("version", "")), hashlib.sha256(source.encode()).hexdigest()])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def source_identity(spec: DatasetSpec, image_size: int) -> str:
    """A digest that changes whenever the source's files, or the pixels made from them, do."""
    parts: list = [FORMAT, spec.kind, image_size if spec.facts.sized else None]
    check_source_exists(spec, image_size)
    root = Path(spec.path or "").expanduser().resolve()
    parts.append(str(root))
    if root.is_file():
        st = root.stat()
        parts.append([root.name, st.st_size, st.st_mtime_ns])
    else:
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                st = os.stat(os.path.join(folder, name))
                parts.append([os.path.relpath(os.path.join(folder, name), root), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


class _Chunks:
    """A source as chunks: the classes, then the training part's chunks, then the test part's."""

    def __init__(self, num_classes: int, class_names: tuple[str, ...], train: Iterator, test: Iterator | None,
                 unreadable: Callable[[], int], mode: str | None = None,
                 sizes: tuple[int | None, int | None] = (None, None)) -> None:  # fmt: skip
        self.num_classes, self.class_names = num_classes, class_names
        self.train, self.test, self.unreadable = train, test, unreadable
        self.mode = mode  # an image folder's: how its files decode (RGB or L)
        self.sizes = sizes  # rows (files) of the training and test parts, where known before reading


def _array_chunks(raw: RawData) -> _Chunks:
    def chunks(x: np.ndarray, y: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(x), CHUNK_ROWS):
            yield x[start : start + CHUNK_ROWS], y[start : start + CHUNK_ROWS]

    test = chunks(raw.x_test, raw.y_test) if raw.x_test is not None and raw.y_test is not None else None
    sizes = (len(raw.x_train), len(raw.x_test) if raw.x_test is not None else None)
    return _Chunks(raw.num_classes, raw.class_names, chunks(raw.x_train, raw.y_train), test, lambda: raw.unreadable,
                   sizes=sizes)  # fmt: skip


def _source_chunks(spec: DatasetSpec, image_size: int, python_result: Any = None) -> _Chunks:
    if python_result is not None:
        names = python_result.get("class_names")
        classes = int(python_result["num_classes"])
        class_names = tuple(str(c) for c in names) if names is not None else tuple(map(str, range(classes)))
        return _Chunks(classes, class_names, python_chunks(python_result, "train"),
                       python_chunks(python_result, "test"), lambda: 0)  # fmt: skip
    if spec.kind == "imagefolder":
        from nagexp.data.imagefolder import imagefolder_chunks

        folder = imagefolder_chunks(spec, image_size)
        return _Chunks(len(folder.classes), folder.classes, folder.train(), folder.test(),
                       lambda: folder.unreadable, folder.mode, folder.sizes())  # fmt: skip
    return _array_chunks(read_source(spec, image_size))


def prepare(dataset: str, image_size: int, cache_dir: Location | str | Path, say: Callable[[str], None] = print,
            python_result: Any = None) -> Prepared:  # fmt: skip
    """The prepared shards of `dataset`: opened from the cache, or made now (once).
    `python_result`: what a chunked `python:` dataset returned."""
    spec = parse_dataset_spec(dataset)
    if python_result is not None:
        key = f"python-{python_identity(spec, python_result)}"
    elif spec.facts.from_files:
        key = f"{spec.kind}-{source_identity(spec, image_size)}"
    else:
        raise DataError(f"dataset '{dataset}' is read in memory, not prepared into a cache")
    cache_dir = location_of(cache_dir)
    cache_dir.check_writable()  # created, or one line saying what to do
    final = cache_dir.child(key)
    if final.exists() if final.local else final.exists("manifest.json"):  # remote: written in place, manifest last
        return open_prepared(final)
    say(f"preparing {dataset} once into {final.show()} (later runs reuse it)")
    staging = Location(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir.local)) if cache_dir.local else final
    try:
        chunks = _source_chunks(spec, image_size, python_result)
        cleaner = Cleaner(chunks.num_classes)
        noun = "files" if spec.kind == "imagefolder" else "samples"
        progress = PrepareProgress(say, f"training {noun}", chunks.sizes[0])
        parts = {"pool": _write(staging, "pool", chunks.train, cleaner.train_kept, progress)}
        encoded = bool(parts["pool"] and parts["pool"]["encoded"])
        if chunks.test is not None:
            progress = PrepareProgress(say, f"test {noun}", chunks.sizes[1])
            parts["test"] = _write(staging, "test", chunks.test, cleaner.test_kept, progress, encoded)
        counts = cleaner.counts
        pool = parts["pool"]
        if pool is None:
            if counts.read_train:
                check_clean(counts, 0, dataset, chunks.num_classes)
            unreadable = f" ({chunks.unreadable()} unreadable files)" if chunks.unreadable() else ""
            raise DataError(f"dataset '{dataset}' holds no samples{unreadable}")
        if chunks.num_classes < 2:
            raise DataError(f"'{dataset}' has {chunks.num_classes} classes; at least 2 are needed")
        manifest = {
            "source": dataset,
            "identity": key,
            "image_size": image_size,
            "shape": pool.pop("shape"),
            "dtype": pool.pop("dtype"),
            "encoding": "files" if encoded else "pixels",
            "mode": chunks.mode,
            "num_classes": chunks.num_classes,
            "class_names": list(chunks.class_names),
            "counts": {**counts.__dict__, "unreadable_files": chunks.unreadable()},
            "parts": {part: _layout(entry) for part, entry in parts.items()},
        }
        return publish(staging, final, manifest)
    except BaseException:
        staging.remove()
        raise


def _layout(entry: dict | None) -> dict | None:
    return None if entry is None else {k: v for k, v in entry.items() if k not in ("shape", "dtype", "encoded")}


def _keeps_files(x: np.ndarray, files: np.ndarray | None) -> bool:
    """The ENCODED_RATIO rule, on a chunk of decoded images and their files."""
    if files is None or x.dtype != np.uint8:
        return False
    return x.nbytes >= ENCODED_RATIO * sum(os.path.getsize(f) for f in files)


def _write(staging: Location, part: str, chunks: Iterator, kept: Callable, progress: PrepareProgress,
           encoded: bool | None = None) -> dict | None:  # fmt: skip
    """Clean and write one part; `encoded` None: decided on its first chunk (the pool's)."""
    writer: ShardWriter | None = None
    shape = dtype = None
    for chunk in chunks:
        x, y, files = chunk if len(chunk) == 3 else (*chunk, None)  # image folders give their files' paths
        progress.add(len(x))
        keep = kept(x, y)
        x, y, files = x[keep], y[keep].astype(np.int64), files[keep] if files is not None else None
        if writer is None:
            if not len(x):
                continue
            shape, dtype = list(x.shape[1:]), x.dtype if x.dtype == np.uint8 else np.dtype(np.float32)
            encoded = _keeps_files(x, files) if encoded is None else encoded
            writer = ShardWriter(staging, part, tuple(shape), dtype, encoded=encoded)
        writer.add(x, y, files)
    progress.finish()
    if writer is None:
        return None
    return {**writer.close(), "shape": shape, "dtype": str(np.dtype(dtype)), "encoded": bool(encoded)}
