"""The package version, in its own module so that any layer can record it without importing
the package face (which imports the Python API)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
