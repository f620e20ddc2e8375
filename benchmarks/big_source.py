"""A `python:` dataset of any size, made chunk by chunk (never whole in memory): random uint8
CIFAR-shaped images whose label is the sample's index mod 10, for the larger-than-RAM run of
benchmarks/streaming.py. Each chunk is drawn from (seed, part, chunk index), so every read of
a part gives the same images.

    python:benchmarks.big_source:random_images?n=8500000
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CLASSES = 10


def random_images(n: int, test: int = 10_000, chunk: int = 8_192, seed: int = 0) -> dict:
    def chunks(count: int, part: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for index, start in enumerate(range(0, count, chunk)):
            rows = min(chunk, count - start)
            rng = np.random.default_rng([seed, part, index])
            yield rng.integers(0, 256, (rows, 3, 32, 32), dtype=np.uint8), np.arange(start, start + rows) % CLASSES

    return {"train": lambda: chunks(n, 0), "test": lambda: chunks(test, 1), "num_classes": CLASSES, "version": 1}
