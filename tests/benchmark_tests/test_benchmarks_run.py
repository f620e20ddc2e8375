"""Every benchmark runs: each `benchmarks/*.py` with a `main` is called in its smallest form
(`--quick`, its JSON to a temporary `--out`, after the arguments `make bench` gives it) beside
the shared Ray runtime, and the JSON holds the fields its row of docs/benchmarks.md (and
README's figures) read. A benchmark that no longer runs against today's nagexp fails here, not
on the day someone re-measures it; a new benchmark fails here until it has a quick form and its
fields are listed below, and until `make bench` runs it or docs/benchmarks.md says why not.

The quick forms check code, not figures: their numbers measure nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shlex
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import CIFAR_SLICE, ROOT

BENCHMARKS = ROOT / "benchmarks"
SLICE = str(CIFAR_SLICE)


@dataclass(frozen=True)
class Quick:
    """A benchmark's smallest form: its arguments beyond `make bench`'s and `--quick --out FILE`, the JSON fields
    its docs row reads (`a.b`: a key in a mapping; `[]`: every item of a list; `*`: every value
    of a mapping), and what else its JSON must say."""

    args: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    check: Callable[[dict[str, Any], Path], None] | None = None


def _sweep_overhead_arms(payload: dict[str, Any], _out: Path) -> None:
    # both plain scripts (Tune's defaults and the tuned one) beside nagexp's sweep, untracked and tracked
    modes = [r["mode"] for r in payload["rows"]]
    assert modes == ["plain", "plain-tuned", "nagexp", "nagexp-tracked"]


def _search_quality_figures(payload: dict[str, Any], out: Path) -> None:
    assert len(payload["summary"]) == 4  # (a) to (d)
    for figure in ("anytime", "profile"):  # beside the JSON, named after it
        assert (out.parent / f"{out.stem}-{figure}.svg").is_file(), figure


def _both_encodings(payload: dict[str, Any], _out: Path) -> None:
    assert [r["encoding"] for r in payload["runs"]] == ["pixels", "files"]


def _four_arms(payload: dict[str, Any], _out: Path) -> None:
    assert sorted(payload["summary"]) == ["a: tpe + asha", "b: tpe", "c: random + asha", "d: random"]


def _gpu_or_cpu_check(payload: dict[str, Any], _out: Path) -> None:
    assert payload["cuda"] is torch.cuda.is_available()
    assert payload.get("skipped", False) is not torch.cuda.is_available()


GPU_FIELDS = (
    "time_to_accuracy.seconds_to_90",
    "time_to_accuracy.best_test_acc_10_epochs",
    "time_to_accuracy.samples_per_s",
    "sweeps[].gpus_per_trial",
    "sweeps[].trials_per_hour",
)
CPU_FIELDS = ("cpu_check.model", "cpu_check.samples_per_s")

QUICK: dict[str, Quick] = {
    "trainer_overhead": Quick(
        (),
        ("rows[].workload", "rows[].tracking", "rows[].ratio", "rows[].nagexp_samples_per_s",
         "rows[].minimal_samples_per_s"),
    ),
    "sweep_overhead": Quick(
        (),
        ("concurrency", "rows[].label", "rows[].overhead_per_trial_s", "rows[].wall_s", "rows[].work_s"),
        _sweep_overhead_arms,
    ),
    "sweep_latency": Quick(
        (),
        ("median_s.ray start-up", "median_s.plain Ray, same trial", "median_s.nagexp sweep, 1 trial",
         "ratio_to_floor", "runs_s.*"),
    ),
    "scale": Quick(
        (),
        ("first_100_s_per_trial", "last_100_s_per_trial", "ratio_last_first", "driver_peak_mb", "store_mb.*"),
    ),
    "search_efficiency": Quick(
        (),
        ("seeds", "trials", "summary.*.median_epochs_to_target", "summary.*.reached", "summary.*.epochs_ratio_vs_d"),
        _four_arms,
    ),
    "recipe_retrain": Quick(
        ("search_spaces/cifar10_resnet.yaml", "--values", "benchmarks/recipes/cifar10_resnet-classic.yaml",
         "--data", SLICE),
        ("train_images", "epochs", "seeds", "values.lr", "summary.mean_test_acc", "summary.sd_test_acc",
         "summary.mean_seconds"),
    ),
    "search_quality": Quick(
        ("--data", SLICE),
        ("target", "seeds", "profile.*", "summary.*.epochs_to_target", "summary.*.median_best_val",
         "summary.*.best_val_per_seed", "summary.*.median_epochs_run", "summary.*.retrained_test_acc_mean",
         "summary.*.retrained_test_acc_sd", "against_a.*.test_acc.mean", "against_a.*.best_val.low",
         "against_a.*.target_first"),
        _search_quality_figures,
    ),
    # airbench94's code is not in the project (it is read from --airbench): nagexp's side only
    "airbench_side_by_side": Quick(
        ("--only", "nagexp", "--data", SLICE),
        ("train_images", "epochs", "nagexp_config.lr", "summary.nagexp.mean_test_acc", "summary.nagexp.sd_test_acc",
         "summary.nagexp.mean_seconds", "runs.nagexp[].train_seconds"),
    ),
    "deterministic_cost": Quick(
        (),
        ("runs_s.default (ASHA as trials arrive)", "runs_s.--deterministic",
         "runs_s.--deterministic --trials-per-batch 8", "epochs_trained.*", "best_val_acc.*"),
    ),
    "warm_start": Quick(
        (),
        ("warm_start.summary.cold.reached", "warm_start.summary.warm.reached",
         "warm_start.summary.*.median_epochs_to_target", "objectives.single_best.val_acc",
         "objectives.single_best.param_count", "objectives.front[].val_acc", "objectives.front[].param_count"),
    ),
    "streaming": Quick(
        ("--cifar", SLICE),
        ("cifar.prepare_first_use_s", "cifar.stream_over_memory_epoch1", "cifar.stream_over_memory_epoch2",
         "flat_memory[].peak_above_base_mb", "flat_memory[].dataset_mb", "peak_ratio"),
    ),
    "encoded_shards": Quick(
        ("--data", SLICE),
        ("images", "runs[].cache_mb", "runs[].prepare_s", "runs[].samples_per_s"),
        _both_encodings,
    ),
    "data_parallel": Quick(
        (),
        ("startup.ray_train_cost_per_trial_s", "throughput.train_K1_over_single_last_epoch",
         "throughput.train_K2_over_single_last_epoch"),
    ),
    "gpu_trainer": Quick(
        ("--data", SLICE),
        GPU_FIELDS if torch.cuda.is_available() else CPU_FIELDS,
        _gpu_or_cpu_check,
    ),
    # one method of each kind: nagexp's sweep path (its other samplers differ by name only),
    # Optuna alone, the hand-wired Tune script and DEHB
    "league": Quick(
        ("--methods", "nagexp,optuna-hyperband,tune-script,dehb"),
        ("budget", "table.*.mean_rank", "table.*.regret_100", "table.*.test_acc", "table.*.seconds"),
    ),
    "rank_fidelity": Quick(
        (),
        ("summary.*.*.tau_val", "summary.*.*.tau_test", "summary.*.*.worst_best_rank",
         "summary.*.*.least_top_quarter_kept"),
    ),
}  # fmt: skip


# two workers of a trial at once; a streaming trial and its Ray Data tasks at once
NEEDS_TWO_CPUS = ("data_parallel", "streaming")

# what `make bench` leaves out, as docs/benchmarks.md says
NOT_IN_MAKE_BENCH = {
    "encoded_shards": "needs --data DIR",
    "airbench_side_by_side": "needs airbench's code",
    "recipe_retrain": "needs a space and its values",
}


def make_bench_args() -> dict[str, tuple[str, ...]]:
    """The benchmarks `make bench` runs, each with the arguments the Makefile gives it."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    commands = re.finditer(r"-m benchmarks\.(\w+)([^;&\n\\]*)", recipe)
    return {m[1]: tuple(a for a in shlex.split(m[2]) if not a.startswith("$(")) for m in commands}


def with_main() -> list[str]:
    """The benchmarks: every module of benchmarks/ with a `main` (as docs/benchmarks.md's test counts them)."""
    return sorted(p.stem for p in BENCHMARKS.glob("*.py") if "def main(" in p.read_text())


def values_at(payload: Any, path: str) -> list[Any]:
    """The values at `path` (see Quick); a missing key, or an empty list or mapping, fails naming the path."""
    found = [payload]
    for part in path.replace("[]", ".[]").split("."):
        step: list[Any] = []
        for value in found:
            if part in ("[]", "*"):
                items = value if part == "[]" else value.values()
                assert items, f"{path}: nothing at '{part}'"
                step.extend(items)
            else:
                assert isinstance(value, dict) and part in value, f"{path}: no '{part}'"
                step.append(value[part])
        found = step
    return found


def test_values_at_names_what_is_missing() -> None:
    payload = {"rows": [{"a": 1}, {"a": 2, "b": 3}], "summary": {"x": {"y": None}}, "none": []}
    assert values_at(payload, "rows[].a") == [1, 2]
    assert values_at(payload, "summary.*.y") == [None]
    with pytest.raises(AssertionError, match=r"rows\[\]\.b: no 'b'"):
        values_at(payload, "rows[].b")
    with pytest.raises(AssertionError, match="nothing at"):
        values_at(payload, "none[].a")


@contextlib.contextmanager
def benchmark_process_state() -> Iterator[None]:
    """A benchmark is a script: its plain Ray Tune arms leave Tune's SIGUSR1 handler and
    environment behind, as Tune does in any process. Put both back for the tests that follow."""
    environ, handler = dict(os.environ), signal.getsignal(signal.SIGUSR1)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        signal.signal(signal.SIGUSR1, handler)


@pytest.mark.parametrize("name", with_main())
def test_the_quick_form_writes_what_its_docs_row_reads(name: str, tmp_path: Path, ray_runtime: None,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       request: pytest.FixtureRequest) -> None:  # fmt: skip
    quick = QUICK.get(name)
    if name in NEEDS_TWO_CPUS:
        request.getfixturevalue("two_cpus")
    if quick is None:
        pytest.fail(f"benchmarks/{name}.py has a main but no quick form here: give it --quick and --out, and add "
                    "it to QUICK with the JSON fields its docs/benchmarks.md row reads")  # fmt: skip
    monkeypatch.chdir(ROOT)  # relative paths (search_spaces/...) as `make bench` runs them
    out = tmp_path / "out" / f"{name}.json"
    args = [*make_bench_args().get(name, ()), *quick.args, "--quick", "--out", str(out)]
    with benchmark_process_state():
        importlib.import_module(f"benchmarks.{name}").main(args)
    payload = json.loads(out.read_text())
    for field in quick.fields:
        values_at(payload, field)
    if quick.check is not None:
        quick.check(payload, out)


def test_make_bench_runs_every_benchmark_but_those_docs_name() -> None:
    in_make_bench = make_bench_args()
    assert in_make_bench["scale"] == ("--trials", "300")  # the parse reads each line's arguments
    assert set(with_main()) - set(in_make_bench) == set(NOT_IN_MAKE_BENCH)
    assert set(in_make_bench) <= set(with_main()), "make bench runs a module that is no benchmark"
    docs = (ROOT / "docs" / "benchmarks.md").read_text()
    left_out = docs.split("`make bench` runs", 1)[1].split("Every benchmark also", 1)[0]
    for name in NOT_IN_MAKE_BENCH:
        assert f"`{name}`" in left_out, f"docs/benchmarks.md does not say make bench leaves out {name}"
