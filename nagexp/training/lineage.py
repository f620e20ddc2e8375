"""What a checkpoint's weights were trained under: the schedule step by step, and who trained
them from which epoch with which config (the lineage). Population-based training copies one
trial's checkpoint into another and changes its hyperparameters; both records travel with the
weights, so a member's schedule can be exported and replayed from scratch (best.yaml), and its
lineage replayed segment by segment (`nagexp reproduce`, which matches exactly on CPU)."""

from __future__ import annotations

import itertools
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.training.checkpoint import CheckpointState, LineageEntry
from nagexp.training.schedules import knots_of, lr_values, weight_decay_values

__all__ = ["exploit_at", "exploits", "exported_schedule", "lineage_segments", "schedule_record"]


Schedule = dict[str, list[float]]  # lr, momentum, weight_decay -> a value per step


def schedule_record(cfg: TrainConfig, momenta: list[float], steps_per_epoch: int, resume: CheckpointState | None,
                    start_epoch: int, label: int | None) -> tuple[Schedule, list[LineageEntry]]:  # fmt: skip
    """The per-step lr (as scheduled), momentum and weight decay of a run's weights: the
    checkpoint's up to where it ends, this config's from there; and the lineage, with a new
    entry when the checkpoint came from another run (`label` differs) or goes on under another
    config (a population member's perturbed one)."""
    total = steps_per_epoch * cfg.epochs
    mine = {"lr": lr_values(cfg, total), "momentum": momenta, "weight_decay": weight_decay_values(cfg, total)}
    done = start_epoch * steps_per_epoch
    before = (resume or {}).get("schedule") or {}
    schedule = {k: [*before.get(k, v)[:done], *v[done:]] for k, v in mine.items()}
    lineage = [LineageEntry(**e) for e in (resume or {}).get("lineage", [])]  # type: ignore[typeddict-item]
    config = cfg.model_dump(mode="json")
    if not lineage or lineage[-1]["label"] != label or lineage[-1].get("config", config) != config:
        lineage.append(LineageEntry(epoch=start_epoch, label=label, config=config))
    return schedule, lineage


def exported_schedule(schedule: dict[str, list[float]]) -> dict[str, Any]:
    """TrainConfig fields that replay `schedule` exactly: piecewise-constant knots for lr and
    momentum, and weight-decay knots when it changed."""
    fields: dict[str, Any] = {
        "lr_schedule": "piecewise",
        "lr_knots": knots_of(schedule["lr"]),
        "momentum_schedule": "piecewise",
        "momentum_knots": knots_of(schedule["momentum"]),
        "knot_interpolation": "constant",
    }
    decay = knots_of(schedule["weight_decay"])
    if len(decay) > 1:
        fields["weight_decay_knots"] = decay
    elif decay:
        fields["weight_decay"] = decay[0][1]
    return fields


def exploits(lineage: list[LineageEntry]) -> list[dict[str, Any]]:
    """Each time the weights passed from one run to another: at which epoch, from and to whom."""
    return [{"epoch": int(b["epoch"]), "from": a["label"], "to": b["label"]}
            for a, b in itertools.pairwise(lineage) if a["label"] != b["label"]]  # fmt: skip


def exploit_at(lineage: list[LineageEntry], epoch: int) -> int | None:
    """The trial whose weights an epoch's run went on from, when `epoch` is the first one after
    an exploit (None otherwise): what a population member reports as `exploit_from`."""
    events = exploits(lineage)
    return events[-1]["from"] if events and events[-1]["epoch"] == epoch - 1 else None


def lineage_segments(lineage: list[LineageEntry], epochs: int) -> list[tuple[int, int, LineageEntry]]:
    """(first epoch, end epoch, entry) of each stretch of training one config did, in order,
    up to `epochs`: what replaying the weights' history runs."""
    ends = [int(e["epoch"]) for e in lineage[1:]] + [epochs]
    return [(int(e["epoch"]), end, e) for e, end in zip(lineage, ends, strict=True) if end > int(e["epoch"])]
