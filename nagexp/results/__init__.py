"""A sweep's results on disk, as plain data: trial records, the ranking rule, result files,
the sweep's state. No Ray, Optuna, MLflow or torch: `nagexp ls`, reports and trackers read
results without starting anything."""

from __future__ import annotations

from nagexp.results.ranking import best_trial, count_states, ranked_trials
from nagexp.results.records import RUNNING, STATES, TrialRecord

__all__ = ["RUNNING", "STATES", "TrialRecord", "best_trial", "count_states", "ranked_trials"]
