"""The league table's arithmetic over tasks: ranks (ties share), regret normalized per task at
each share of the budget, the test accuracy of each run's choice. The quick form of the league
(test_benchmarks_run) runs one task; these runs are written by hand, so every figure is known."""

from __future__ import annotations

import pytest

from benchmarks.league import best_so_far, league_table


def run(method: str, task: str, best: list[list[float]], seconds: float) -> dict:
    return {"method": method, "task": task, "seed": 0, "best": best, "seconds": seconds}


@pytest.mark.fast
def test_the_table_averages_ranks_and_per_task_regrets_over_tasks() -> None:
    runs = [  # points: [epoch index, val, test] where val first beats every earlier one
        run("a", "t1", [[0, 0.5, 0.4], [2, 0.9, 0.8]], 1.0),  # t1: a best (0.9), b 0.6
        run("b", "t1", [[0, 0.6, 0.5]], 2.0),
        run("a", "t2", [[0, 0.7, 0.6]], 3.0),  # t2: both reach 0.7, b only at its second epoch
        run("b", "t2", [[0, 0.3, 0.2], [1, 0.7, 0.65]], 2.0),
    ]
    table = league_table(runs, budget=4)
    assert table["a"]["mean_rank"] == pytest.approx((1 + 1.5) / 2)  # first on t1, tied on t2
    assert table["b"]["mean_rank"] == pytest.approx((2 + 1.5) / 2)
    # regret on a task: (its best val - a method's) / (its best - the worst first value)
    # t1: best 0.9, worst first 0.5; t2: best 0.7, worst first 0.3. Budget shares 10/25/50/100 %
    # of 4 epochs see 1, 1, 2 and 4 epochs.
    assert [table["a"][f"regret_{s}"] for s in (10, 25, 50, 100)] == pytest.approx([0.5, 0.5, 0.5, 0.0])
    assert [table["b"][f"regret_{s}"] for s in (10, 25, 50, 100)] == pytest.approx([0.875, 0.875, 0.375, 0.375])
    # the test accuracy of the epoch each run chose (its best val), and seconds, averaged
    assert table["a"]["test_acc"] == pytest.approx((0.8 + 0.6) / 2) and table["a"]["seconds"] == 2.0
    assert table["b"]["test_acc"] == pytest.approx((0.5 + 0.65) / 2) and table["b"]["seconds"] == 2.0


@pytest.mark.fast
def test_a_trace_keeps_its_first_epoch_and_each_new_best() -> None:
    trace = [(0.4, 0.3), (float("nan"), 0.0), (0.6, 0.5), (0.5, 0.9), (0.7, 0.6)]
    assert best_so_far(trace) == [[0, 0.4, 0.3], [2, 0.6, 0.5], [4, 0.7, 0.6]]
