"""A sweep's result files: trials.csv (one row per trial), best.yaml, summary.json."""

from __future__ import annotations

import csv
import io
import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nagexp.config.loading import saved_config_text
from nagexp.core.errors import ConfigError, first_line
from nagexp.core.io import atomic_write_text
from nagexp.core.provenance import KERNELS_KEY
from nagexp.registries.trainers import is_builtin_trainer
from nagexp.results.cells import parse_cell
from nagexp.results.folders import TRIALS_FILE, SweepFolder
from nagexp.results.ranking import Ranking, pareto_front
from nagexp.results.records import TrialRecord, TrialState

__all__ = ["TRIALS_FILE", "read_summary", "read_trials", "trials_csv", "write_best_yaml", "write_summary",
           "write_trials_csv"]  # fmt: skip

RANKED_COLUMN = "ranked_on"  # a pruned trial's rung signal (sweeps ranked on one)
_FIXED_COLUMNS = ("test_acc", "epochs_run", "seconds", "node_id", KERNELS_KEY, "seed", "retries", "reason", "trial_id")


def _cell(value: Any) -> Any:
    return "" if value is None else value


# population-based sweeps (JSON cells): when the trial copied whose weights, the piecewise
# schedule (knots [[step, value], ...]) its final weights were trained under, and their lineage
# (who trained them from which epoch, with which config: what `nagexp reproduce` replays)
_POPULATION_COLUMNS = ("exploits", "lr_knots", "momentum_knots", "weight_decay_knots", "lineage")


def _population_cells(r: TrialRecord) -> list[str]:
    schedule = r.schedule or {}
    decay = schedule.get("weight_decay_knots") or ([[0, schedule["weight_decay"]]] if "weight_decay" in schedule
                                                   else [])  # fmt: skip
    return [json.dumps(r.exploits), json.dumps(schedule.get("lr_knots", [])),
            json.dumps(schedule.get("momentum_knots", [])), json.dumps(decay), json.dumps(r.lineage or [])]


def ranked_value(r: TrialRecord) -> float | None:
    """What ASHA ranked a pruned trial on when the sweep's rung signal is not the raw metric (its
    final value is the raw one beside it); None for other trials."""
    return r.ranked if r.state == TrialState.PRUNED else None


def trials_csv(records: list[TrialRecord], param_names: list[str], metric: str, ranking: Ranking | None = None) -> str:
    """Several objectives (`ranking`): each other objective's final value, and `pareto` (true for
    the trials on the front) after the primary's columns. A sweep ranked on a rung signal:
    `ranked_on`, the signal a pruned trial was stopped on, beside its raw final value."""
    population = any(r.schedule or r.exploits for r in records)
    signal = any(r.ranked is not None for r in records)
    others = list(ranking.metrics[1:]) if ranking is not None and ranking.several else []
    front = {t.number for t in pareto_front(records, ranking)} if ranking is not None and others else set()
    objective_columns = [f"final_{metric}", f"best_{metric}", *([RANKED_COLUMN] if signal else []),
                         *(f"final_{m}" for m in others),
                         *(["pareto"] if others else [])]  # fmt: skip
    columns = ["number", "state", *param_names, *objective_columns, *_FIXED_COLUMNS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns + list(_POPULATION_COLUMNS if population else ()))
    for r in sorted(records, key=lambda r: r.number):
        writer.writerow([r.number, r.state, *(_cell(r.params.get(p)) for p in param_names), _cell(r.final),
                         _cell(r.best), *([_cell(ranked_value(r))] if signal else []),
                         *(_cell(r.finals.get(m)) for m in others),
                         *([str(r.number in front).lower()] if others else []), _cell(r.test_acc),
                         r.epochs_run, round(r.seconds, 3), r.node_id, r.cpu_kernels, _cell(r.seed), r.retries,
                         r.reason, r.trial_id,
                         *(_population_cells(r) if population else ())])  # fmt: skip
    return buf.getvalue()


def write_trials_csv(path: Path, records: list[TrialRecord], param_names: list[str], metric: str,
                     ranking: Ranking | None = None) -> None:  # fmt: skip
    atomic_write_text(path, trials_csv(records, param_names, metric, ranking))


def read_trials(path: Path, param_names: list[str], metric: str, must_exist: bool = False) -> list[TrialRecord]:
    """trials.csv back into records (without per-epoch history), by trial number; [] when absent
    (a sweep whose first trial has not ended), unless `must_exist`. ConfigError naming the file
    and the row when it is garbled or cut short."""
    if not path.exists():
        if must_exist:
            raise ConfigError(f"'{path}' is missing: the sweep ended without it (deleted?); restore it from a copy")
        return []
    damaged = f"'{path}' is damaged ({{}}); restore it from a copy (a sweep that has not finished rewrites it " \
              "from journal.jsonl when it is resumed)"
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(damaged.format(type(exc).__name__)) from None
    if "number" not in header or "state" not in header:
        raise ConfigError(damaged.format("empty" if not header else "no header of trial columns"))
    records = []
    for line, row in enumerate(rows, start=2):
        try:
            records.append(_record(row, param_names, metric))
        except (KeyError, ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            why = f"no column {exc}" if isinstance(exc, KeyError) else first_line(exc, 120)
            raise ConfigError(damaged.format(f"line {line}: {why}")) from None
    return sorted(records, key=lambda r: r.number)


def _record(row: Mapping[str, str | None], param_names: list[str], metric: str) -> TrialRecord:
    """One row of trials.csv; ValueError/KeyError for a row that is not one."""
    if None in row.values() or None in row:  # a row cut short, or with more cells than the header
        raise ValueError("its number of cells differs from the header's")
    cells: dict[str, str] = {k: v for k, v in row.items() if k is not None and v is not None}
    try:
        state = TrialState(cells["state"])
    except ValueError:
        raise ValueError(f"unknown state {cells['state']!r}") from None
    seed = parse_cell(cells.get("seed", ""))
    return TrialRecord(
        number=int(cells["number"]),
        trial_id=cells.get("trial_id", ""),
        state=state,
        params={p: parse_cell(cells[p]) for p in param_names if cells.get(p, "") != ""},
        final=_float(cells.get(f"final_{metric}", "")),
        finals={k.removeprefix("final_"): float(v) for k, v in cells.items() if k.startswith("final_") and v != ""},
        best=_float(cells.get(f"best_{metric}", "")),
        test_acc=_float(cells.get("test_acc", "")),
        epochs_run=int(cells.get("epochs_run") or 0),
        seconds=float(cells.get("seconds") or 0.0),
        node_id=cells.get("node_id", ""),
        cpu_kernels=cells.get(KERNELS_KEY, ""),  # not in a sweep's from before nagexp recorded it
        seed=seed if isinstance(seed, int) else None,
        retries=int(cells.get("retries") or 0),
        reason=cells.get("reason", ""),
        exploits=json.loads(cells.get("exploits") or "[]"),
        schedule=_schedule_cells(cells),
        lineage=json.loads(cells.get("lineage") or "null") or None,
        ranked=_float(cells.get(RANKED_COLUMN, "")),
    )


def _schedule_cells(row: Mapping[str, str]) -> dict[str, Any] | None:
    """A population member's exported schedule, as trials.csv holds it."""
    lr, momentum = json.loads(row.get("lr_knots") or "[]"), json.loads(row.get("momentum_knots") or "[]")
    if not lr or not momentum:
        return None
    schedule: dict[str, Any] = {"lr_schedule": "piecewise", "lr_knots": lr, "momentum_schedule": "piecewise",
                                "momentum_knots": momentum, "knot_interpolation": "constant"}  # fmt: skip
    decay = json.loads(row.get("weight_decay_knots") or "[]")
    if len(decay) > 1:
        schedule["weight_decay_knots"] = decay
    elif decay:
        schedule["weight_decay"] = decay[0][1]
    return schedule


def _float(text: str) -> float | None:
    return None if text == "" else float(text)


def write_best_yaml(path: Path, record: TrialRecord, metric: str, fixed: Mapping[str, Any],
                    extras: dict[str, Any] | None = None) -> None:  # fmt: skip
    """The best trial's config (`fixed`: the sweep's fixed values); `extras`: what a rerun needs
    beside it (`config.loading.rerun_extras`)."""
    config = record.train_config(fixed)
    if is_builtin_trainer(config.trainer):
        rerun = shlex.join(["nagexp", "train", str(path)])
    else:  # `nagexp train` runs the built-in trainer; reproduce calls the function again
        rerun = shlex.join(["nagexp", "reproduce", str(path.parent), "--trial", str(record.number)])
    header = f"best trial {record.number}: final {metric} {record.final}\nrerun: {rerun}\n"
    if record.schedule:
        header += ("lr and momentum: the piecewise schedule population-based training gave this trial's weights"
                   f" (exploits: {record.exploits or 'none of its own'})\n")  # fmt: skip
    full = config.model_dump(mode="json")  # every field, defaults included
    atomic_write_text(path, saved_config_text(header, full | (extras or {})))


def write_summary(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_summary(sweep_dir: Path) -> dict[str, Any]:
    """summary.json, or {} while the sweep runs (or when its driver died before writing it);
    ConfigError naming the file when it is there but cut short or garbled."""
    path = SweepFolder(Path(sweep_dir)).summary
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"'{path}' cannot be read ({type(exc).__name__}); restore it from a copy") from None
    try:
        summary = json.loads(text)
    except json.JSONDecodeError:
        summary = None
    if not isinstance(summary, dict) or not isinstance(summary.get("state", ""), str):
        raise ConfigError(f"'{path}' is damaged (not the summary a sweep writes); restore it from a copy")
    return summary
