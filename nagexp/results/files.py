"""A sweep's result files: trials.csv (one row per trial), best.yaml, summary.json."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from nagexp.io import atomic_write_text, to_yaml
from nagexp.results.cells import parse_cell
from nagexp.results.records import TrialRecord

__all__ = ["read_summary", "read_trials", "trials_csv", "write_best_yaml", "write_summary", "write_trials_csv"]

_FIXED_COLUMNS = ("test_acc", "epochs_run", "seconds", "node_id", "seed", "retries", "reason", "trial_id")


def _cell(value: Any) -> Any:
    return "" if value is None else value


# population-based sweeps (JSON cells): when the trial copied whose weights, and the
# piecewise schedule (knots [[step, value], ...]) its final weights were trained under
_POPULATION_COLUMNS = ("exploits", "lr_knots", "momentum_knots")


def _population_cells(r: TrialRecord) -> list[str]:
    schedule = r.schedule or {}
    return [json.dumps(r.exploits), json.dumps(schedule.get("lr_knots", [])),
            json.dumps(schedule.get("momentum_knots", []))]  # fmt: skip


def trials_csv(records: list[TrialRecord], param_names: list[str], metric: str) -> str:
    population = any(r.schedule or r.exploits for r in records)
    columns = ["number", "state", *param_names, f"final_{metric}", f"best_{metric}", *_FIXED_COLUMNS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns + list(_POPULATION_COLUMNS if population else ()))
    for r in sorted(records, key=lambda r: r.number):
        writer.writerow([r.number, r.state, *(_cell(r.params.get(p)) for p in param_names), _cell(r.final),
                         _cell(r.best), _cell(r.test_acc), r.epochs_run, round(r.seconds, 3), r.node_id,
                         _cell(r.seed), r.retries, r.reason, r.trial_id,
                         *(_population_cells(r) if population else ())])  # fmt: skip
    return buf.getvalue()


def write_trials_csv(path: Path, records: list[TrialRecord], param_names: list[str], metric: str) -> None:
    atomic_write_text(path, trials_csv(records, param_names, metric))


def read_trials(path: Path, param_names: list[str], metric: str) -> list[TrialRecord]:
    """trials.csv back into records (without per-epoch history), by trial number; [] when absent."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    records = []
    for row in rows:
        seed = parse_cell(row.get("seed", ""))
        records.append(
            TrialRecord(
                number=int(row["number"]),
                trial_id=row.get("trial_id", ""),
                state=row["state"],
                params={p: parse_cell(row[p]) for p in param_names if row.get(p, "") != ""},
                final=_float(row.get(f"final_{metric}", "")),
                best=_float(row.get(f"best_{metric}", "")),
                test_acc=_float(row.get("test_acc", "")),
                epochs_run=int(row.get("epochs_run") or 0),
                seconds=float(row.get("seconds") or 0.0),
                node_id=row.get("node_id", ""),
                seed=seed if isinstance(seed, int) else None,
                retries=int(row.get("retries") or 0),
                reason=row.get("reason", ""),
                exploits=json.loads(row.get("exploits") or "[]"),
                schedule=_schedule_cells(row),
            )
        )
    return sorted(records, key=lambda r: r.number)


def _schedule_cells(row: dict[str, str]) -> dict[str, Any] | None:
    """A population member's exported schedule, as far as trials.csv holds it (lr and momentum)."""
    lr, momentum = json.loads(row.get("lr_knots") or "[]"), json.loads(row.get("momentum_knots") or "[]")
    if not lr or not momentum:
        return None
    return {"lr_schedule": "piecewise", "lr_knots": lr, "momentum_schedule": "piecewise", "momentum_knots": momentum}


def _float(text: str) -> float | None:
    return None if text == "" else float(text)


def write_best_yaml(path: Path, record: TrialRecord, metric: str, extras: dict[str, Any] | None = None) -> None:
    """`extras`: what a rerun needs beside the config (`config.loading.rerun_extras`)."""
    from nagexp.config.train import TrainConfig

    header = f"# best trial {record.number}: final {metric} {record.final}\n# rerun: nagexp train {path}\n"
    if record.schedule:
        header += ("# lr and momentum: the piecewise schedule population-based training gave this trial's weights"
                   f" (exploits: {record.exploits or 'none of its own'})\n")  # fmt: skip
    full = TrainConfig(**record.replay_config).model_dump(mode="json")  # every field, defaults included
    atomic_write_text(path, header + to_yaml(full | (extras or {})))


def write_summary(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_summary(sweep_dir: Path) -> dict[str, Any]:
    """summary.json, or {} while the sweep runs (or when its driver died before writing it)."""
    try:
        return json.loads((sweep_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
