"""journal.jsonl: the driver's append-only log of what each trial did, for `--resume`.

trials.csv is a view rewritten as trials end; the journal is the record a resumed driver
rebuilds its state from: every trial's config, every epoch it reported, how it ended. One
JSON line per event, appended and flushed (no rewrite), so a driver killed at any moment
leaves at most one torn last line, which replay ignores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

from nagexp.core.errors import ConfigError
from nagexp.results.records import TrialRecord, TrialState

__all__ = ["Journal", "replay"]


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf: a diverged epoch's loss is written as null and read back as NaN."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in metrics.items()}


def _drop_torn_tail(path: Path) -> None:
    """A killed driver can leave a last line without its newline: cut it off before appending,
    or the next event would be written onto it (replay reads past a torn *last* line only)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, 2)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def _write(self, event: dict[str, Any]) -> None:
        if self._file is None:
            _drop_torn_tail(self.path)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
        self._file.flush()  # in the OS before the next event: survives the driver being killed

    def started(self, rec: TrialRecord) -> None:
        self._write({"event": "start", "number": rec.number, "trial_id": rec.trial_id, "config": rec.config,
                     "params": rec.params})  # fmt: skip

    def epoch(self, rec: TrialRecord, metrics: dict[str, Any]) -> None:
        self._write({"event": "epoch", "number": rec.number, "metrics": _finite(metrics)})

    def ended(self, rec: TrialRecord) -> None:
        self._write({"event": "end", "number": rec.number, "trial_id": rec.trial_id, "state": rec.state,
                     "reason": rec.reason, "retries": rec.retries, "checkpoint_file": rec.checkpoint_file})  # fmt: skip

    def reconfigured(self, rec: TrialRecord) -> None:
        self._write({"event": "config", "number": rec.number, "config": rec.config})

    def retried(self, rec: TrialRecord) -> None:
        self._write({"event": "retry", "number": rec.number})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def replay(path: Path, metric: str, mode: str) -> dict[int, TrialRecord]:
    """The records the journal describes, by trial number (empty when there is none). A torn
    last line (a driver killed while writing it) is skipped; any other line that is not an
    event is damage: ConfigError naming the file and the line."""
    records: dict[int, TrialRecord] = {}
    if not path.exists():
        return records
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"'{path}' cannot be read ({type(exc).__name__}); restore it from a copy") from None
    for number_of_line, line in enumerate(lines, start=1):
        try:
            _apply(records, json.loads(line), metric, mode)
        except json.JSONDecodeError:
            if number_of_line == len(lines):
                continue  # the torn last line of a killed driver
            raise ConfigError(f"'{path}' is damaged (line {number_of_line} is not JSON); restore it from a copy, "
                              "or start a new sweep") from None  # fmt: skip
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"'{path}' is damaged (line {number_of_line}: not a journal event: "
                              f"{type(exc).__name__} {exc}); restore it from a copy, or start a new sweep") from None
    return records


def _apply(records: dict[int, TrialRecord], event: dict[str, Any], metric: str, mode: str) -> None:
    number = int(event["number"])
    kind = event["event"]
    if kind == "start":
        previous = records.get(number)
        records[number] = previous or TrialRecord(
            number=number, trial_id=event["trial_id"], params=dict(event["params"]), config=dict(event["config"]),
            seed=event["config"].get("seed"),
        )  # fmt: skip
        return
    rec = records.get(number)
    if rec is None:
        return
    if kind == "epoch":
        metrics = {k: (math.nan if v is None else v) for k, v in event["metrics"].items()}
        rec.observe(metrics, metric, mode)
    elif kind == "config":
        rec.config = dict(event["config"])
    elif kind == "retry":
        rec.retries += 1
    elif kind == "end":
        rec.state, rec.reason = TrialState(event["state"]), event["reason"]
        rec.retries, rec.checkpoint_file = int(event["retries"]), event["checkpoint_file"]
        rec.trial_id = event["trial_id"]
    else:
        raise ValueError(f"unknown event {kind!r}")
