"""Batched on-device augmentation: random crop after padding, and a random horizontal
flip, drawn from a generator the trainer seeds by (seed, epoch)."""

from __future__ import annotations

import torch

__all__ = ["augment_batch", "check_padding"]


def check_padding(pad: int, pad_mode: str, shape: tuple[int, ...]) -> None:
    """Reflect padding needs images larger than the padding (torch refuses it otherwise)."""
    if pad_mode == "reflect" and pad >= min(shape[-2:]):
        from nagexp.errors import ConfigError

        raise ConfigError(f"augment_pad {pad} with augment_pad_mode reflect needs images larger than {pad} px; "
                          f"these are {shape[-2]}x{shape[-1]}: lower augment_pad or use zeros")  # fmt: skip


def augment_batch(x: torch.Tensor, gen: torch.Generator, pad: int = 4, rows: slice | None = None,
                  total: int | None = None, pad_mode: str = "zeros") -> torch.Tensor:  # fmt: skip
    """Random crop after padding by `pad` pixels (`pad_mode` zeros, or reflect as airbench
    does), and a random horizontal flip.

    `rows`: a data-parallel worker's part of a global batch of `total` rows (default: x's
    rows, of which only `rows` are augmented; else `x` is that part already), augmented with
    the draws the whole batch would get, as one process would."""
    n = total or x.shape[0]
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(x.device)
    if rows is not None:
        dy, dx, flip = dy[rows], dx[rows], flip[rows]
        if total is None:
            x = x[rows]
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect" if pad_mode == "reflect" else "constant")
    rows_at = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # n,1,h,1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # n,1,1,w
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    cropped = padded[batch, chans, rows_at, cols]
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)
