"""Table cells: one way to show a value, one way to read a CSV cell back."""

from __future__ import annotations

from typing import Any

__all__ = ["parse_cell", "short_value"]


def short_value(value: Any) -> str:
    """A table cell: '-' for missing, 4 significant digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def parse_cell(text: str) -> Any:
    """A CSV cell as written by trials.csv: '' -> None, then int, float, bool, else the text."""
    if text == "":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return {"True": True, "False": False}.get(text, text)
