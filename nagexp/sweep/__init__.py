"""Sweeps: plan, Ray Tune runner, trainable adapter, result files."""

from __future__ import annotations

from nagexp.sweep.spec import DEFAULT_SPACE, SweepOptions, SweepSpec, resolve_sweep

__all__ = ["DEFAULT_SPACE", "SweepOptions", "SweepSpec", "resolve_sweep"]
