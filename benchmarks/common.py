"""Helpers shared by the benchmarks: machine description and JSON output."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

from nagexp.core.provenance import package_versions

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": package_versions(),
    }


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamp = {"benchmark": name, "date": datetime.date.today().isoformat(), "machine": machine()}
    path.write_text(json.dumps({**stamp, **payload}, indent=2) + "\n")
    return path


def seed_summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Mean and sd of the runs' `test_acc` over seeds, and their mean `seconds`."""
    accs = [r["test_acc"] for r in runs]
    return {"mean_test_acc": statistics.mean(accs), "sd_test_acc": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "mean_seconds": statistics.mean(r["seconds"] for r in runs)}  # fmt: skip
