"""Which data mode a run uses, and its data: `memory` (tensors, the fast path for data that
fits), `stream` (batches from prepared shards through Ray Data), or `auto`.

Rule for `auto`: memory mode when the dataset as float32 tensors (what memory mode holds,
in the driver and in each trial worker) fits within the memory budget, stream mode
otherwise. The budget is `--memory-budget`, by default a quarter of this machine's RAM;
when trials train on a GPU this machine has, also at most a quarter of that GPU's memory
(times the share of it a trial gets), since memory mode keeps the data on the device.
Datasets not read from files (the embedded digits, `python:` datasets) are read in memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nagexp.config.sizes import format_size, parse_size
from nagexp.errors import ConfigError
from nagexp.prepared.location import Location
from nagexp.training.data import DataBundle, build_bundle, load_dataset_for
from nagexp.training.dataset_spec import parse_dataset_spec
from nagexp.training.sources import call_python_dataset, raw_from_arrays

__all__ = ["DEFAULT_BUDGET_FRACTION", "load_train_data", "memory_budget"]

DEFAULT_BUDGET_FRACTION = 0.25  # of the machine's RAM
def gpu_memory() -> int | None:
    """Bytes of the first CUDA device this process sees (None without one)."""
    import torch

    return int(torch.cuda.get_device_properties(0).total_memory) if torch.cuda.is_available() else None


def memory_budget(text: str | None, gpu_share: float = 0.0) -> int:
    """`--memory-budget`, or the default: a quarter of RAM and, for trials on `gpu_share` of
    a GPU (0: none), a quarter of that share of the GPU's memory."""
    if text:
        return parse_size(text)
    budget = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * DEFAULT_BUDGET_FRACTION)
    device_bytes = gpu_memory() if gpu_share > 0 else None
    if device_bytes:
        budget = min(budget, int(device_bytes * min(gpu_share, 1.0) * DEFAULT_BUDGET_FRACTION))
    return budget


def load_train_data(cfg: Any, cache_dir: Location | str | Path, budget: str | None = None,
                    say: Callable[[str], None] = print, gpu_share: float = 0.0) -> tuple[Any, str]:  # fmt: skip
    """(the data, the mode used: memory or stream) for `cfg`; a source read from files is
    prepared into `cache_dir` once. `gpu_share`: the GPU (fraction) each trial trains on."""
    from nagexp.prepared.prepare import cacheable, prepare

    spec = parse_dataset_spec(cfg.dataset)
    python_result = call_python_dataset(spec) if spec.kind == "python" else None
    chunked = python_result is not None and "train" in python_result
    if not cacheable(spec) and not chunked:
        if cfg.data_mode == "stream":
            raise ConfigError(f"data_mode stream needs a dataset read from files, or a python: dataset that "
                              f"returns chunks; '{cfg.dataset}' is read in memory (use data_mode memory or "
                              "auto)")  # fmt: skip
        if python_result is not None:  # its arrays, as returned (the function is not called twice)
            raw = raw_from_arrays(python_result, f"dataset '{cfg.dataset}'")
            fractions = {"val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction,
                         "split_seed": cfg.split_seed}  # fmt: skip
            return build_bundle(raw, cfg.dataset, **fractions), "memory"
        return load_dataset_for(cfg, say=say), "memory"
    prepared = prepare(cfg.dataset, cfg.image_size, cache_dir, say, python_result if chunked else None)
    mode = cfg.data_mode
    if mode == "auto":
        parts = prepared.manifest["parts"]
        samples = sum(int(p["rows"]) for p in parts.values() if p)
        c, h, w = prepared.shape
        size, limit = samples * c * h * w * 4, memory_budget(budget, gpu_share)
        mode = "memory" if size <= limit else "stream"
        say(f"data mode {mode}: {format_size(size)} as float32 tensors, memory budget {format_size(limit)}")
    fractions = {"val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction, "split_seed": cfg.split_seed}
    if mode == "memory":
        from nagexp.prepared.load import load_bundle

        data: DataBundle | Any = load_bundle(prepared, cfg.dataset, **fractions)
    else:
        from nagexp.prepared.stream import stream_data

        data = stream_data(prepared, cfg.dataset, **fractions)
    return data, mode
