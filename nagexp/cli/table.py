"""A live per-epoch table printed row by row (works in a terminal and in a log file)."""

from __future__ import annotations

import typer

__all__ = ["EpochTable"]

_COLUMNS = [  # (metric key, header, format)
    ("epoch", "epoch", "{:>5.0f}"),
    ("train_loss", "train_loss", "{:>10.4f}"),
    ("train_acc", "train_acc", "{:>9.4f}"),
    ("val_loss", "val_loss", "{:>8.4f}"),
    ("val_acc", "val_acc", "{:>7.4f}"),
    ("lr", "lr", "{:>9.3g}"),
    ("momentum", "momentum", "{:>8.4f}"),
    ("epoch_seconds", "sec", "{:>6.2f}"),
    ("samples_per_s", "samples/s", "{:>9.0f}"),
]


class EpochTable:
    def __init__(self) -> None:
        self._printed_header = False

    def header(self) -> str:
        widths = [len(fmt.format(0)) for _, _, fmt in _COLUMNS]
        return "  ".join(h.rjust(w) for (_, h, _), w in zip(_COLUMNS, widths, strict=True))

    def row(self, metrics: dict[str, float]) -> str:
        return "  ".join(fmt.format(metrics[key]) for key, _, fmt in _COLUMNS)

    def __call__(self, metrics: dict[str, float]) -> None:
        if not self._printed_header:
            typer.echo(self.header())
            self._printed_header = True
        typer.echo(self.row(metrics))
