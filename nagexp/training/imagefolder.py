"""ImageFolder datasets (DIR/<class>/<image>, or DIR/train/<class> and DIR/test/<class>),
decoded in parallel over the machine's cores.

Decoding is most of the cost of an image folder (CIFAR-10's 60,000 JPEGs: about 40 s on
one core here), so files are decoded in chunks by a process pool; the result is the same
arrays, in the same order, as a one-core loop gives.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from nagexp.errors import DataError
from nagexp.training.dataset_spec import DatasetSpec
from nagexp.training.sources import RawData, existing_dir

__all__ = ["IMAGE_SUFFIXES", "decode_files", "read_imagefolder"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
PARALLEL_FROM = 2_000  # files; below this a process pool costs more than it saves
CHUNK = 1_000  # files per task


def decode_files(files: list[str], image_size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N x C x size x size uint8, readable mask) for `files`, in order."""
    from PIL import Image, UnidentifiedImageError

    channels = 1 if mode == "L" else 3
    out = np.zeros((len(files), channels, image_size, image_size), np.uint8)
    ok = np.zeros(len(files), bool)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as img:
                arr = np.asarray(img.convert(mode).resize((image_size, image_size), Image.BILINEAR), dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError):
            continue
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        ok[i] = True
    return out, ok


def _decode_all(files: list[str], image_size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    workers = min(os.cpu_count() or 1, max(1, len(files) // CHUNK))
    if len(files) < PARALLEL_FROM or workers == 1:
        return decode_files(files, image_size, mode)
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    # spawn: the parent may hold CUDA or Ray state that a forked child must not inherit
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        parts = list(pool.map(decode_files, chunks, [image_size] * len(chunks), [mode] * len(chunks)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read_tree(root: Path, classes: list[str], image_size: int, mode: str) -> tuple[np.ndarray, np.ndarray, int]:
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        if folder.is_dir():
            found = [str(f) for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
            files += found
            labels += [label] * len(found)
    x, ok = _decode_all(files, image_size, mode)
    return x[ok], np.asarray(labels, dtype=np.int64)[ok], int((~ok).sum())


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


def read_imagefolder(spec: DatasetSpec, image_size: int) -> RawData:
    root = existing_dir(spec.path, spec.kind)
    split_root = root / "train" if (root / "train").is_dir() and (root / "test").is_dir() else None
    train_root = split_root or root
    classes = sorted(d.name for d in train_root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"'{train_root}' has no class sub-folders (expected {train_root}/<class>/<image>)")
    mode = _tree_mode(train_root, classes)
    x, y, bad = _read_tree(train_root, classes, image_size, mode)
    x_test = y_test = None
    if split_root is not None:
        x_test, y_test, bad_test = _read_tree(root / "test", classes, image_size, mode)
        bad += bad_test
    return RawData(x, y, x_test, y_test, len(classes), tuple(classes), unreadable=bad)
