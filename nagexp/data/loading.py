"""The one entry point for a run's data: `load_train_data(cfg, cache_dir)` reads, cleans, splits
and normalizes the dataset a TrainConfig names, in the mode it asks for.

Modes: `memory` (tensors, the fast path for data that fits), `stream` (batches from prepared
shards through Ray Data), or `auto`: memory mode when the dataset as float32 tensors (what
memory mode holds, in the driver and in each trial worker) fits within the memory budget,
stream mode otherwise. The budget is `--memory-budget`, by default a quarter of this machine's
RAM; when trials train on a GPU this machine has, also at most a quarter of that GPU's memory
(times the share of it a trial gets), since memory mode keeps the data on the device.

Sources read from files are prepared once into the cache (decoded, cleaned, sharded) and read
back from there; the embedded digits and `python:` datasets that return arrays are read in
memory (the registry's `from_files`); a `python:` dataset that returns chunks is prepared.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nagexp.config.sizes import format_size, parse_size
from nagexp.core.errors import ConfigError, DataError
from nagexp.data.bundle import DataBundle, build_bundle
from nagexp.data.prepared.location import Location
from nagexp.data.sources import call_python_dataset, check_source_exists, raw_from_arrays, read_source
from nagexp.registries.datasets import parse_dataset_spec

if TYPE_CHECKING:
    from nagexp.config.train import TrainConfig
    from nagexp.data.batches import TrainData

__all__ = ["DEFAULT_BUDGET_FRACTION", "check_data_source", "load_train_data", "memory_budget"]

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


def _no_stream(dataset: str) -> ConfigError:
    return ConfigError(f"data_mode stream needs a dataset read from files, or a python: dataset that returns "
                       f"chunks; '{dataset}' is read in memory (use data_mode memory or auto)")  # fmt: skip


def check_data_source(dataset: str, data_mode: str) -> None:
    """What can be told of a dataset without reading it (`--dry-run`): its DIR or FILE is
    there, and stream mode is asked only of data read from files (a python: dataset's chunks
    are known once it is called)."""
    spec = parse_dataset_spec(dataset)
    if data_mode == "stream" and not spec.facts.from_files and spec.kind != "python":
        raise _no_stream(dataset)
    check_source_exists(spec)  # as the run's reader words it


def load_train_data(cfg: TrainConfig, cache_dir: Location | str | Path | None, budget: str | None = None,
                    say: Callable[[str], None] = print, gpu_share: float = 0.0) -> TrainData:  # fmt: skip
    """The data `cfg` asks for (its data fields), in memory or stream mode (`.mode` says which).
    A source read from files is prepared into `cache_dir` once (`cache_dir` None: such sources
    are refused). `gpu_share`: the GPU (fraction) each trial trains on (the auto rule)."""
    from nagexp.data.prepared.prepare import prepare

    spec = parse_dataset_spec(cfg.dataset)
    fractions = {"val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction, "split_seed": cfg.split_seed}
    python_result = call_python_dataset(spec) if spec.kind == "python" else None
    chunked = python_result is not None and "train" in python_result
    if not spec.facts.from_files and not chunked:
        if cfg.data_mode == "stream":
            raise _no_stream(cfg.dataset)
        where = f"dataset '{cfg.dataset}'"
        # a python dataset's arrays as returned (its function is not called twice)
        raw = raw_from_arrays(python_result, where) if python_result is not None else read_source(spec, cfg.image_size)
        if len(raw.x_train) == 0:
            raise DataError(f"{where} holds no samples")
        return build_bundle(raw, cfg.dataset, **fractions)
    if cache_dir is None:
        raise ConfigError(f"dataset '{cfg.dataset}' is prepared into a data cache; give one (--cache-dir)")
    prepared = prepare(cfg.dataset, cfg.image_size, cache_dir, say, python_result if chunked else None)
    mode = cfg.data_mode
    if mode == "auto":
        parts = prepared.manifest["parts"]
        samples = sum(int(p["rows"]) for p in parts.values() if p)
        c, h, w = prepared.shape
        size, limit = samples * c * h * w * 4, memory_budget(budget, gpu_share)
        mode = "memory" if size <= limit else "stream"
        say(f"data mode {mode}: {format_size(size)} as float32 tensors, memory budget {format_size(limit)}")
    if mode == "memory":
        from nagexp.data.prepared.load import load_bundle

        bundle: DataBundle = load_bundle(prepared, cfg.dataset, **fractions)
        return bundle
    from nagexp.data.prepared.stream import stream_data

    return stream_data(prepared, cfg.dataset, **fractions)
