"""What a saved config (a sweep's best.yaml, a run's config.yaml) says before it is rerun with
`nagexp train`: code that changed since, CPU kernels other than this process's, its data cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nagexp.config.loading import stored_data_cache, stored_kernels, stored_user_code
from nagexp.config.train import TrainConfig
from nagexp.core.provenance import kernels_hint
from nagexp.runtime.user_code import changed_code_warning
from nagexp.training.optim import resolve_device

__all__ = ["note_saved_config"]


def note_saved_config(path: Path, cfg: TrainConfig, code_dir: str | Path | None, cache_dir: str | Path | None,
                      say: Callable[[str], None]) -> str | Path | None:  # fmt: skip
    """Say what the file records that the rerun should know; returns the data cache to use
    (`cache_dir`, else the one the file records)."""
    saved = stored_user_code(path)
    warning = changed_code_warning(saved, code_dir or Path.cwd()) if saved else None
    if warning:
        say(warning)
    # on CPU its values are this run's only on the same kernels (docs/guide/sweeps.md)
    if resolve_device(cfg.device).type == "cpu" and (hint := kernels_hint(stored_kernels(path))):
        say(f"warning: {path.name}: {hint}")
    if cache_dir is None and (cache_dir := stored_data_cache(path)):
        say(f"data cache: {cache_dir} (recorded in {path.name}; --cache-dir to use another)")
    return cache_dir
