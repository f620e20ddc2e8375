"""ImageFolder datasets (DIR/<class>/<image>, or DIR/train/<class> and DIR/test/<class>),
decoded in parallel over the machine's cores.

Decoding is most of the cost of an image folder (CIFAR-10's 60,000 JPEGs: about 40 s on
one core here), so files are decoded in chunks by a process pool; the result is the same
arrays, in the same order, as a one-core loop gives. `ImageFolderChunks` hands the chunks
out one at a time, with the paths of the images in them (preparing a folder larger than
memory into shards, which may keep the files themselves); `read_imagefolder` joins them
(the whole folder in memory).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from nagexp.core.errors import DataError
from nagexp.data.sources import RawData, existing_dir
from nagexp.registries.datasets import DatasetSpec

__all__ = ["IMAGE_SUFFIXES", "ImageFolderChunks", "decode_files", "imagefolder_chunks", "read_imagefolder"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
PARALLEL_FROM = 2_000  # files; below this a process pool costs more than it saves
CHUNK = 1_000  # files per task


def decode_files(files: list[str] | list[bytes], image_size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N x C x size x size uint8, readable mask) for `files` (paths, or the files'
    bytes as prepared shards keep them: the same pixels either way), in order."""
    from PIL import Image, UnidentifiedImageError

    channels = 1 if mode == "L" else 3
    out = np.zeros((len(files), channels, image_size, image_size), np.uint8)
    ok = np.zeros(len(files), bool)
    for i, f in enumerate(files):
        try:
            with Image.open(io.BytesIO(f) if isinstance(f, bytes) else f) as img:
                arr = np.asarray(img.convert(mode).resize((image_size, image_size), Image.BILINEAR), dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError):
            continue
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        ok[i] = True
    return out, ok


Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]  # images, labels, their files' paths


def _decode_chunks(files: list[str], labels: np.ndarray, image_size: int, mode: str,
                   unreadable: list[int]) -> Iterator[Chunk]:  # fmt: skip
    """(images, labels, paths) of the readable files, chunk by chunk in file order; decoded by
    a process pool with a bounded window of chunks in flight (memory does not grow with the
    folder). Unreadable files are counted into `unreadable[0]`."""
    chunks = [(files[i : i + CHUNK], labels[i : i + CHUNK]) for i in range(0, len(files), CHUNK)]
    workers = min(os.cpu_count() or 1, max(1, len(files) // CHUNK))
    if len(files) < PARALLEL_FROM or workers == 1:
        for names, y in chunks:
            x, ok = decode_files(names, image_size, mode)
            unreadable[0] += int((~ok).sum())
            yield x[ok], y[ok], np.asarray(names)[ok]
        return
    # spawn: the parent may hold CUDA or Ray state that a forked child must not inherit
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending: deque = deque()
        queued = iter(chunks)
        with _main_script_hidden():  # the first `workers` submits start every worker process
            for names, y in itertools.islice(queued, 2 * workers):
                pending.append((pool.submit(decode_files, names, image_size, mode), y, names))
        while pending:
            future, y, names = pending.popleft()
            x, ok = future.result()
            for names_next, y_next in itertools.islice(queued, 1):
                pending.append((pool.submit(decode_files, names_next, image_size, mode), y_next, names_next))
            unreadable[0] += int((~ok).sum())
            yield x[ok], y[ok], np.asarray(names)[ok]


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Spawned workers run the parent's main script again before their first task (Python's
    spawn start method does, to find functions defined there). A script calling nagexp without
    an `if __name__ == "__main__":` guard would then start its work again in each worker and
    break the pool. The workers only run `decode_files`, so they are told there is no script."""
    main = sys.modules["__main__"]
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)
        if "__spec__" not in saved:
            del main.__spec__


def _listing(root: Path, classes: list[str]) -> tuple[list[str], np.ndarray]:
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        if folder.is_dir():
            found = [str(f) for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
            files += found
            labels += [label] * len(found)
    return files, np.asarray(labels, dtype=np.int64)


def _tree_mode(root: Path, classes: list[str]) -> str:
    """Grayscale ('L') when every sampled image is single-channel, else RGB."""
    from PIL import Image

    modes = set()
    for name in classes:
        for f in sorted((root / name).iterdir())[:3] if (root / name).is_dir() else []:
            try:
                with Image.open(f) as img:
                    modes.add(img.mode)
            except Exception:  # unreadable files are counted later
                continue
    return "L" if modes and modes <= {"L", "1", "I", "I;16"} else "RGB"


class ImageFolderChunks:
    """An image folder as decoded chunks: its classes, the training part, the test part."""

    def __init__(self, spec: DatasetSpec, image_size: int) -> None:
        root = existing_dir(spec.path, spec.kind)
        split_root = root / "train" if (root / "train").is_dir() and (root / "test").is_dir() else None
        if split_root is None and (root / "train").is_dir() and any((root / v).is_dir() for v in ("val", "valid")):
            # read as classes, a train/val split would train a 2-class model of "train" against "val"
            raise DataError(f"'{root}' holds train/ and val/ but no test/: nagexp reads DIR/train/<class> with "
                            "DIR/test/<class> (it holds its own validation split out of train/); rename val/ to "
                            "test/, or point at DIR/train")  # fmt: skip
        self.train_root = split_root or root
        self.test_root = root / "test" if split_root is not None else None
        self.classes = tuple(sorted(d.name for d in self.train_root.iterdir() if d.is_dir()
                                    and not d.name.startswith(".")))  # fmt: skip
        if not self.classes:
            raise DataError(
                f"'{self.train_root}' has no class sub-folders (expected {self.train_root}/<class>/<image>)"
            )
        self.image_size = image_size
        self.mode = _tree_mode(self.train_root, list(self.classes))
        self._unreadable = [0]
        self._listings: dict[Path, tuple[list[str], np.ndarray]] = {}

    @property
    def unreadable(self) -> int:
        return self._unreadable[0]

    def _files(self, root: Path) -> tuple[list[str], np.ndarray]:
        if root not in self._listings:
            self._listings[root] = _listing(root, list(self.classes))
        return self._listings[root]

    def _chunks(self, root: Path) -> Iterator[Chunk]:
        files, labels = self._files(root)
        return _decode_chunks(files, labels, self.image_size, self.mode, self._unreadable)

    def sizes(self) -> tuple[int, int | None]:
        """Image files in the training part and the test part (None: no test part)."""
        test = len(self._files(self.test_root)[0]) if self.test_root is not None else None
        return len(self._files(self.train_root)[0]), test

    def train(self) -> Iterator[Chunk]:
        return self._chunks(self.train_root)

    def test(self) -> Iterator[Chunk] | None:
        return self._chunks(self.test_root) if self.test_root is not None else None


def imagefolder_chunks(spec: DatasetSpec, image_size: int) -> ImageFolderChunks:
    return ImageFolderChunks(spec, image_size)


def _joined(chunks: Iterator[Chunk], channels: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    parts = list(chunks)
    if not parts:
        return np.zeros((0, channels, size, size), np.uint8), np.zeros(0, np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_imagefolder(spec: DatasetSpec, image_size: int) -> RawData:
    folder = ImageFolderChunks(spec, image_size)
    channels = 1 if folder.mode == "L" else 3
    x, y = _joined(folder.train(), channels, image_size)
    x_test = y_test = None
    test = folder.test()
    if test is not None:
        x_test, y_test = _joined(test, channels, image_size)
    return RawData(x, y, x_test, y_test, len(folder.classes), folder.classes, unreadable=folder.unreadable)
