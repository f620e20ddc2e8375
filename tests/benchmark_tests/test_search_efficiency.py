"""The search-efficiency benchmark's counting: epochs in report order until the first hit."""

from __future__ import annotations

import math
from pathlib import Path

from benchmarks.search_efficiency import EpochTrace


def test_first_hit_and_best_within() -> None:
    trace = EpochTrace("val_acc")
    for value in (0.5, float("nan"), 0.9, 0.97, 0.99, 0.98):
        trace.on_trial_epoch(None, {"val_acc": value})
    epochs, seconds = trace.first_hit(0.97)
    assert epochs == 4 and seconds is not None and seconds >= 0
    assert trace.first_hit(0.995) == (None, None)
    assert trace.best_within(3) == 0.9  # a diverged (NaN) epoch never counts as best
    assert trace.best_within(100) == 0.99
    assert math.isnan(EpochTrace("val_acc").best_within(10))


def test_search_quality_best_so_far_on_a_time_grid() -> None:
    from benchmarks.search_quality_report import _best_so_far_on

    curve = _best_so_far_on([0.0, 1.0, 2.5, 4.0, 9.0], [1.0, 2.0, 3.0, 8.0], [0.3, 0.2, 0.6, 0.5])
    assert math.isnan(curve[0])
    assert curve[1:] == [0.3, 0.3, 0.6, 0.6]


def test_search_quality_draws_both_anytime_curves_and_the_profile(tmp_path) -> None:
    from benchmarks.search_quality_report import draw_figures

    payload = {"target": 0.5, "taus": [1.0, 2.0], "profile": {"a": [0.5, 1.0], "b": [0.0, 0.5]},
               "traces": {"a": [[0.2, 0.6], [0.4, 0.5, 0.55]], "b": [[0.1, 0.3], [0.2]]},
               "trace_seconds": {"a": [[1.0, 2.0], [1.5, 3.0, 4.0]], "b": [[2.0, 5.0], [6.0]]}}  # fmt: skip
    anytime, profile = draw_figures(payload, tmp_path)
    text = anytime.read_text()
    assert text.startswith("<?xml") or "<svg" in text[:500]
    assert "seconds since the sweep started" in text and "epochs spent by the sweep" in text
    assert profile.exists()
    del payload["trace_seconds"]  # an older JSON: the epochs curve only
    assert "seconds since" not in draw_figures(payload, tmp_path)[0].read_text()


def test_search_quality_a_diverged_report_is_never_the_best() -> None:
    from benchmarks.search_quality_report import _best_so_far_on

    curve = _best_so_far_on([1, 2, 3], [1, 2, 3], [float("nan"), 0.4, float("nan")])
    assert math.isnan(curve[0]) and curve[1:] == [0.4, 0.4]


def test_search_quality_pairs_a_with_each_arm_by_seed() -> None:
    from benchmarks.search_quality_report import against_a

    def arm(best: list[float], test: list[float], hits: list[int | None]) -> dict:
        return {"best_val_per_seed": best, "retrained_test_acc_per_seed": test, "epochs_to_target": hits}

    table = against_a({"a: nagexp tpe+asha": arm([0.7, 0.6, 0.65], [0.6, 0.62, 0.61], [10, None, 5]),
                       "b: tune+optuna script": arm([0.6, 0.62, 0.6], [0.6, 0.6, 0.6], [12, 9, 5])},
                      {"a: nagexp tpe+asha": [[0.7], [0.6, 0.5], [0.65]],
                       "b: tune+optuna script": [[0.5, 0.6], [0.62], [0.6]]})  # fmt: skip
    row = table["b: tune+optuna script"]
    assert abs(row["best_val"]["mean"] - (0.1 - 0.02 + 0.05) / 3) < 1e-12
    assert row["test_acc"]["low"] < row["test_acc"]["mean"] < row["test_acc"]["high"]
    assert row["target_first"] == {"a": 1, "tie": 1, "b": 1}  # never reaching it counts as last
    # within the epochs (a) spent on each seed (1, 2, 1), b had found 0.5, 0.62, 0.6
    assert abs(row["best_val_at_a_epochs"]["mean"] - (0.2 - 0.02 + 0.05) / 3) < 1e-12


def test_search_quality_continue_keeps_the_seeds_written(tmp_path) -> None:
    """--continue: the seeds of a written JSON put back give the summary written (what a run
    continued over sessions adds to); a JSON that holds the seeds asked for runs nothing, and
    one of another task is refused."""
    import argparse
    import json

    import pytest

    from benchmarks.search_quality import FIXED, ProbedTrace, kept_seeds, main, summarise

    arms = ("a: nagexp tpe+asha", "b: tune+optuna script", "c: random+asha", "d: no search")
    args = argparse.Namespace(train=1000, epochs=2, trials=2, retrain_seeds=1, target=None, out=tmp_path / "sq.json")
    traces: dict = {a: [] for a in arms}
    for seed in range(2):
        for i, arm in enumerate(arms):
            trace = ProbedTrace("val_acc")
            trace.values = [(1.0 + k, 0.3 + 0.1 * i + 0.05 * seed + 0.01 * k) for k in range(3 - seed)]
            trace.probe_steps = {0: 25 * (i + 1)} if arm.startswith("a") else {}
            traces[arm].append(trace)
    chosen = {a: [{"lr": 0.1 * s} for s in (1, 2)] for a in arms}
    tests = {a: [0.5 + 0.01 * s for s in (1, 2)] for a in arms}
    written = json.loads(json.dumps(summarise(traces, chosen, tests, args)))
    args.out.write_text(json.dumps(written))

    again: dict = {a: [] for a in arms}
    kept_chosen: dict = {a: [] for a in arms}
    kept_tests: dict = {a: [] for a in arms}
    kept_seeds(written, args, again, kept_chosen, kept_tests)
    resumed = json.loads(json.dumps(summarise(again, kept_chosen, kept_tests, args)))
    assert resumed["traces"] == written["traces"] and resumed["profile"] == written["profile"]
    for arm in arms:  # what the docs read; the traces kept to 5 digits move the means in the 16th
        for key in ("best_val_per_seed", "epochs_to_target", "retrained_test_acc_per_seed", "probe_epochs_per_seed"):
            assert resumed["summary"][arm][key] == pytest.approx(written["summary"][arm][key], abs=1e-5), key
    assert written["summary"][arms[0]]["probe_epochs_per_seed"] == [
        round(25 * FIXED["batch_size"] / (1000 * (1 - FIXED["val_fraction"])), 2)] * 2
    for arm in arms:  # the probes' steps kept as they were, not rebuilt from the rounded epochs
        assert resumed["summary"][arm]["probe_steps_per_seed"] == written["summary"][arm]["probe_steps_per_seed"]
    assert written["summary"][arms[0]]["probe_steps_per_seed"] == [25, 25]
    older = json.loads(json.dumps(written))  # a JSON from before probe_steps_per_seed: from the epochs
    for arm in arms:
        del older["summary"][arm]["probe_steps_per_seed"]
    from_epochs: dict = {a: [] for a in arms}
    kept_seeds(older, args, from_epochs, {a: [] for a in arms}, {a: [] for a in arms})
    assert [t.probe_steps for t in from_epochs[arms[0]]] == [{-1: 25}] * 2 and from_epochs[arms[1]][0].probe_steps == {}

    slice_ = str(Path(__file__).resolve().parents[1] / "data" / "cifar10-slice")
    task = ["--train", "1000", "--epochs", "2", "--trials", "2", "--data", slice_]
    assert main(["--continue", "--out", str(args.out), "--seeds", "2", *task]) == args.out  # nothing to run
    with pytest.raises(SystemExit) as refused:
        main(["--continue", "--out", str(args.out), "--seeds", "3", *task[2:], "--train", "2000"])
    assert refused.value.code == 2  # a usage error, before anything starts
