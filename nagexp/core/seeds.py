"""The seed rule: one master seed determines the sampler and every trial's training seed."""

from __future__ import annotations

import hashlib

__all__ = ["TRIAL_SEED_RULE", "sampler_seed", "trial_seed"]

TRIAL_SEED_RULE = "blake2b('nagexp:<master>:<trial number>') mod 2^31-1"  # recorded in sweep.json


def trial_seed(master_seed: int, trial_number: int) -> int:
    """A trial's training seed: a stable hash of (master seed, trial number), 31 bits."""
    digest = hashlib.blake2b(f"nagexp:{master_seed}:{trial_number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1)


def sampler_seed(master_seed: int, trial_number: int) -> int:
    """The seed of the sampler that proposes one trial in deterministic mode (not its training
    seed): a stable hash of (master seed, trial number), 31 bits."""
    digest = hashlib.blake2b(f"nagexp-sampler:{master_seed}:{trial_number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1)
