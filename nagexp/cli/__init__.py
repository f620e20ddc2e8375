"""Typer CLI: thin commands over plain functions."""

from __future__ import annotations

from nagexp.cli.app import app, main

__all__ = ["app", "main"]
