"""The live view of a sweep, in place of Ray's console output."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from nagexp.results.cells import short_value
from nagexp.results.ranking import Ranking, best_trial, count_states, finished_count, pareto_front, ranked_trials
from nagexp.results.records import STATES, TrialRecord, TrialState

__all__ = ["LiveView", "top_table"]


class LiveView:
    """One status line: done / running / pruned / diverged / errored, best so far, elapsed
    (from `started`, a time.monotonic(); default now).

    In a terminal the line is rewritten in place; in a log a line is printed when a trial ends,
    when the sweep's first epoch is reported, and every `HEARTBEAT` quiet seconds while trials
    run (`tick`: a streamed epoch can take minutes)."""

    HEARTBEAT = 30.0

    def __init__(self, total: int, metric: str, ranking: Ranking | str,
                 emit: Callable[[str], None] | None = None, started: float | None = None) -> None:  # fmt: skip
        self.total, self.metric = total, metric
        self.ranking = Ranking.single(ranking) if isinstance(ranking, str) else ranking
        self.started = time.monotonic() if started is None else started
        self.emit = emit
        self.tty = emit is None and sys.stdout.isatty()
        self._last = ""
        self._epochs = 0  # epochs reported so far, all trials together
        self._printed_at = time.monotonic()  # the heartbeat counts from here

    def line(self, records: list[TrialRecord]) -> str:
        c = count_states(records)
        done = finished_count(c)
        best = best_trial(records, self.ranking)
        best_txt = f"best {self.metric} {best.final:.4f} (trial {best.number})" if best else f"best {self.metric} -"
        elapsed = time.monotonic() - self.started
        return (
            f"[{int(elapsed // 60):02d}:{int(elapsed % 60):02d}] done {done}/{self.total} | "
            f"running {c[TrialState.RUNNING]} | {' '.join(f'{s} {c[s]}' for s in STATES)} | {best_txt}"
        )

    def update(self, records: list[TrialRecord], trial_ended: bool) -> None:
        text = self.line(records)
        epochs = sum(r.epochs_run for r in records)
        first_epoch, self._epochs = self._epochs == 0 and epochs > 0, max(epochs, self._epochs)
        if self.tty:
            self._rewrite(text)
        elif (trial_ended and text != self._last) or first_epoch:
            self._print(text)
        self._last = text

    def tick(self, records: list[TrialRecord]) -> None:
        """Every turn of Tune's loop: while trials run, the line again after HEARTBEAT quiet
        seconds in a log (a streamed epoch can take minutes); in a terminal, the clock moves."""
        if not any(r.state == TrialState.RUNNING for r in records):
            return
        text = self.line(records)
        if self.tty:
            if text != self._last:
                self._rewrite(text)
                self._last = text
        elif time.monotonic() - self._printed_at >= self.HEARTBEAT:
            self._print(text)
            self._last = text

    def _rewrite(self, text: str) -> None:
        sys.stdout.write("\r\x1b[2K" + text)
        sys.stdout.flush()

    def _print(self, text: str) -> None:
        (self.emit or print)(text)
        self._printed_at = time.monotonic()

    def emit_line(self, text: str) -> None:
        if self.tty:
            sys.stdout.write("\r\x1b[2K")
        (self.emit or print)(text)

    def close(self) -> None:
        if self.tty:
            sys.stdout.write("\n")
            sys.stdout.flush()


def top_table(records: list[TrialRecord], param_names: list[str], metric: str, ranking: Ranking | str,
              k: int = 5) -> str:  # fmt: skip
    """The best k trials (by the one ranking rule) as an aligned text table; several objectives:
    a column each, and `pareto` marking the trials on the front."""
    ranked = ranked_trials(records, ranking)
    several = isinstance(ranking, Ranking) and ranking.several
    others = list(ranking.metrics[1:]) if isinstance(ranking, Ranking) and several else []
    front = {t.number for t in pareto_front(records, ranking)} if isinstance(ranking, Ranking) and several else set()
    header = ["trial", "state", metric, *others, *(["pareto"] if several else []), "epochs", *param_names]
    rows = [[str(r.number), r.state, f"{r.final:.4f}", *(short_value(r.finals.get(m)) for m in others),
             *(["yes" if r.number in front else "-"] if several else []), str(r.epochs_run),
             *(short_value(r.params.get(p)) for p in param_names)] for r in ranked[:k]]  # fmt: skip
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
