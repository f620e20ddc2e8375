"""A dataset made by code: small colour images of four shapes on a noisy background.

nagexp calls `make_shapes(**arguments)` for `--dataset "python:own_model.shapes:make_shapes?n=1200&size=16"`
and takes the mapping it returns like an .npz file: `x` (N x C x H x W or N x H x W) and
`y`, optionally `x_test`, `y_test` and `class_names`. nagexp then cleans, splits,
normalizes and fingerprints it like any other source.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("disc", "square", "triangle", "cross")


def _draw(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = rng.uniform(0.15, 0.35) * size
    cy, cx = rng.uniform(r, size - r, 2)
    dy, dx = yy - cy, xx - cx
    if kind == 0:
        mask = dy**2 + dx**2 <= r**2
    elif kind == 1:
        mask = (np.abs(dy) <= r * 0.8) & (np.abs(dx) <= r * 0.8)
    elif kind == 2:
        mask = (dy >= -r) & (dy <= r * 0.7) & (np.abs(dx) <= (dy + r) * 0.6)
    else:
        mask = (np.abs(dy) <= r * 0.3) & (np.abs(dx) <= r) | (np.abs(dx) <= r * 0.3) & (np.abs(dy) <= r)
    colour = rng.uniform(0.1, 0.6, 3).astype(np.float32)  # faint against the noise: not trivial
    image = rng.normal(0.3, 0.25, (3, size, size)).astype(np.float32)
    image[:, mask] += colour[:, None]
    return np.clip(image, 0.0, 1.0)


def make_shapes(n: int = 1200, size: int = 16, seed: int = 0, test: int = 400) -> dict[str, np.ndarray]:
    """`n` training and `test` test images (3 x size x size, values in [0, 1]), classes balanced."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n + test) % len(CLASSES)
    images = np.stack([_draw(int(k), size, rng) for k in labels])
    return {"x": images[:n], "y": labels[:n], "x_test": images[n:], "y_test": labels[n:],
            "class_names": np.array(CLASSES)}  # fmt: skip


def stream_shapes(n: int = 100_000, size: int = 16, seed: int = 0, test: int = 2_000, chunk: int = 4_096) -> dict:
    """The same shapes, as chunks for data larger than memory: nagexp prepares them once
    into shards (in its data cache) and streams them (`--data-mode stream`); no chunk but
    the one being written is in memory. Bump `version` when the data changes but this code
    does not: the cache is keyed by this module's source, the arguments and `version`.

        nagexp sweep space.yaml --dataset "python:own_model.shapes:stream_shapes?n=200000" --data-mode stream
    """

    def chunks(count: int, part_seed: int):  # a fresh iterator each time nagexp reads the part
        rng = np.random.default_rng([seed, part_seed])
        for start in range(0, count, chunk):
            labels = (np.arange(start, min(start + chunk, count)) % len(CLASSES)).astype(np.int64)
            images = np.stack([_draw(int(k), size, rng) for k in labels])
            yield (images * 255).astype(np.uint8), labels

    return {"train": lambda: chunks(n, 0), "test": lambda: chunks(test, 1), "num_classes": len(CLASSES),
            "class_names": list(CLASSES), "version": 1}  # fmt: skip
