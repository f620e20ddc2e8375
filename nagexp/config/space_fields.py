"""The names a search-space file may use: TrainConfig's fields and argument entries; for a name
that is none of them, the likeliest one meant."""

from __future__ import annotations

import difflib

from nagexp.config.train import TrainConfig, args_entry

__all__ = ["is_config_key", "unknown_fields"]

_MEANT = {"learning_rate": "lr", "wd": "weight_decay", "bs": "batch_size", "lr_scheduler": "lr_schedule"}


def is_config_key(name: str) -> bool:
    """A TrainConfig field, or an entry of its model_args (`model_args.depth`) or a schedule's
    arguments (`lr_schedule_args.warm`)."""
    return name in TrainConfig.model_fields or args_entry(name) is not None


def unknown_fields(fixed: list[str], params: list[str]) -> list[str]:
    """A name under `fixed:` or `params:` that is no TrainConfig field, with the likeliest one
    meant; the known names once, after the last."""
    fields = list(TrainConfig.model_fields)
    problems = []
    for section, names in (("fixed", fixed), ("params", params)):
        for name in (n for n in names if not is_config_key(n)):
            said = f"fixed: unknown field '{name}'" if section == "fixed" else \
                f"param '{name}': unknown TrainConfig field"
            meant = _MEANT.get(name) or next(iter(difflib.get_close_matches(name, fields, n=1)), None)
            problems.append(said + (f" (did you mean '{meant}'?)" if meant else ""))
    if problems:
        problems[-1] += (f"; known: {', '.join(fields)}, model_args.NAME, lr_schedule_args.NAME, "
                         "momentum_schedule_args.NAME")  # fmt: skip
    return problems
