"""Batched on-device augmentation: random crop after padding, and a horizontal flip, drawn
from a generator the trainer seeds by (seed, epoch), or alternating by epoch (airbench's
derandomized flip)."""

from __future__ import annotations

import functools

import torch

__all__ = ["alternating_flips", "augment_batch", "check_padding"]


def check_padding(pad: int, pad_mode: str, shape: tuple[int, ...]) -> None:
    """Reflect padding needs images larger than the padding (torch refuses it otherwise)."""
    if pad_mode == "reflect" and pad >= min(shape[-2:]):
        from nagexp.core.errors import ConfigError

        raise ConfigError(f"augment_pad {pad} with augment_pad_mode reflect needs images larger than {pad} px; "
                          f"these are {shape[-2]}x{shape[-1]}: lower augment_pad or use zeros")  # fmt: skip


HASHED_PIXELS = 4096  # at most this many pixel positions (seeded) decide an image's flip phase


@functools.lru_cache(maxsize=8)
def _hash_plan(numel: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel positions, integer weights): the seeded hash of an image of `numel` values."""
    gen = torch.Generator().manual_seed(seed)
    positions = torch.randperm(numel, generator=gen)[:HASHED_PIXELS]
    weights = torch.randint(0, 1 << 20, (len(positions),), generator=gen, dtype=torch.int64)
    return positions.to(device), weights.to(device)


def alternating_flips(x: torch.Tensor, epoch: int, seed: int) -> torch.Tensor:
    """airbench's derandomized flip: each image is mirrored in every other epoch, whether from
    epoch 0 or 1 decided by a seeded hash of its own pixels. The image is its own identity, so
    the flips need no sample index: they are the same in any batch and any data-parallel
    worker. Integer arithmetic on a few thousand pixels: exact on every device, little memory."""
    positions, weights = _hash_plan(x[0].numel(), seed, x.device)
    pixels = torch.round(x.flatten(1)[:, positions].float() * 64).to(torch.int64)
    digest = (pixels * weights).sum(1)
    return ((digest >> 10) & 1).bool() ^ bool(epoch % 2)


def augment_batch(x: torch.Tensor, gen: torch.Generator, pad: int = 4, rows: slice | None = None,
                  total: int | None = None, pad_mode: str = "zeros", flip: torch.Tensor | None = None,
                  alternate: tuple[int, int] | None = None) -> torch.Tensor:  # fmt: skip
    """Random crop after padding by `pad` pixels (`pad_mode` zeros, or reflect as airbench
    does), and a horizontal flip: random, or `flip` (one bool per row of the returned batch,
    e.g. `alternating_flips`; the random draws are made all the same, so the crops do not change),
    or `alternate` = (epoch, seed): `alternating_flips` of the rows returned.

    `rows`: a data-parallel worker's part of a global batch of `total` rows (default: x's
    rows, of which only `rows` are augmented; else `x` is that part already), augmented with
    the draws the whole batch would get, as one process would."""
    n = total or x.shape[0]
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    drawn = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(x.device)
    if rows is not None:
        dy, dx, drawn = dy[rows], dx[rows], drawn[rows]
        if total is None:
            x = x[rows]
    if alternate is not None:
        flip = alternating_flips(x, *alternate)
    flip = drawn if flip is None else flip
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect" if pad_mode == "reflect" else "constant")
    rows_at = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # n,1,h,1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # n,1,1,w
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    cropped = padded[batch, chans, rows_at, cols]
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)
