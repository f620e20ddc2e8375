"""Seeded batch order and batched on-device augmentation for in-memory tensors.

Each epoch's randomness comes from its own generator seeded by (seed, epoch), so a run
resumed at epoch k draws exactly what an uninterrupted run draws (no RNG state to carry).
"""

from __future__ import annotations

import torch

__all__ = ["augment_batch", "epoch_generator", "epoch_permutation"]


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return gen


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    # Drawn on the CPU so the order is the same on every device, then moved.
    return torch.randperm(n, generator=epoch_generator(seed, epoch, torch.device("cpu"))).to(device)


def augment_batch(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop after zero padding by `pad` pixels, and a random horizontal flip."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # n,1,h,1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # n,1,1,w
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    cropped = padded[batch, chans, rows, cols]
    flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)
