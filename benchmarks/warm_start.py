"""Warm starts and several objectives, measured on the embedded digits data (a task on which
the schedule matters less than on CIFAR-10: say so with the figures).

Warm start: for each seed, an earlier sweep A (seed s), then the same space swept again with
another seed, cold and warm-started from A (`--warm-start`). For each: the training epochs
(summed over all trials, in the order they were reported) until a trial first reaches A's best
validation accuracy, and the best value within equal epoch budgets.

Several objectives: `accuracy_vs_size.yaml` (val_acc max, param_count min) against the same
space with val_acc alone, the same trials and seed: the single objective's best trial against
the Pareto front.

    python -m benchmarks.warm_start [--seeds 3] [--trials 20] [--out FILE]
    python -m benchmarks.warm_start --quick --out FILE   # 1 seed, 2 trials of 1 epoch (the tests)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import write_result
from benchmarks.search_efficiency import EpochTrace


def sweep(space: Path, seed: int, trials: int, folder: Path, name: str, **options: Any) -> tuple[Any, EpochTrace]:
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.runner import run_sweep
    from nagexp.sweeps.spec import resolve_sweep

    spec = resolve_sweep(SweepOptions(space=space, trials=trials, seed=seed, max_concurrent=2, track=False,
                                      name=name, results_dir=folder, **options))  # fmt: skip
    trace = EpochTrace(spec.metric)
    outcome = run_sweep(spec, emit=lambda _: None, listeners=[trace])
    return outcome, trace


def warm_starts(seeds: int, trials: int, folder: Path, trial_epochs: int | None = None) -> dict[str, Any]:
    from nagexp.config.sweep import DEFAULT_SPACE

    rows = []
    for seed in range(seeds):
        earlier, _ = sweep(DEFAULT_SPACE, seed, trials, folder, f"a{seed}", epochs=trial_epochs)
        target = earlier.best.final
        row: dict[str, Any] = {"seed": seed, "target": target}
        for arm, extra in (("cold", {}), ("warm", {"warm_start": (f"a{seed}",)})):
            _, trace = sweep(DEFAULT_SPACE, seed + 1000, trials, folder, f"{arm}{seed}", epochs=trial_epochs, **extra)
            epochs, _ = trace.first_hit(target)
            row[arm] = {"epochs_to_target": epochs, "total_epochs": len(trace.values),
                        "best_at_30": trace.best_within(30), "best_at_60": trace.best_within(60)}  # fmt: skip
            hit = f"{epochs} epochs" if epochs else "not reached"
            print(f"seed {seed} {arm}: A's best {target:.4f}: {hit} ({len(trace.values)} epochs run)", flush=True)
        rows.append(row)
    summary = {}
    for arm in ("cold", "warm"):
        epochs = [r[arm]["epochs_to_target"] or r[arm]["total_epochs"] + 1 for r in rows]
        summary[arm] = {"median_epochs_to_target": statistics.median(epochs),
                        "reached": sum(r[arm]["epochs_to_target"] is not None for r in rows),
                        "median_best_at_30": statistics.median(r[arm]["best_at_30"] for r in rows),
                        "median_best_at_60": statistics.median(r[arm]["best_at_60"] for r in rows)}  # fmt: skip
    return {"rows": rows, "summary": summary}


def objectives(trials: int, folder: Path, trial_epochs: int | None = None) -> dict[str, Any]:
    from nagexp.config.space import SEARCH_SPACES_DIR

    two = SEARCH_SPACES_DIR / "accuracy_vs_size.yaml"
    one = folder / "accuracy_only.yaml"
    space = yaml.safe_load(two.read_text())
    space["objective"] = {"metric": "val_acc", "mode": "max"}
    one.write_text(yaml.safe_dump(space))
    single, _ = sweep(one, 0, trials, folder, "single", epochs=trial_epochs)
    several, _ = sweep(two, 0, trials, folder, "several", epochs=trial_epochs)
    summary = json_of(several.spec.sweep_dir)
    front = [r for r in several.records if r.number in summary["pareto_front"]]
    return {
        "single_best": {"val_acc": single.best.final, "param_count": single.best.finals.get("param_count")},
        "front": [{"trial": r.number, "val_acc": r.final, "param_count": r.finals.get("param_count")}
                  for r in sorted(front, key=lambda r: r.finals.get("param_count", 0))],
        "picked": several.best.number,
    }


def json_of(sweep_dir: Path) -> dict[str, Any]:
    import json

    return json.loads((sweep_dir / "summary.json").read_text())


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: benchmarks/results/...)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 trials of 1 epoch a sweep (the tests)")
    args = parser.parse_args(argv)
    trial_epochs = 1 if args.quick else None  # None: the spaces' own
    objective_trials = 16
    if args.quick:
        args.seeds, args.trials, objective_trials = 1, 2, 2

    from nagexp.runtime.ray_session import connect_ray

    connect_ray(None, num_cpus=2)
    with tempfile.TemporaryDirectory() as folder:
        warm = warm_starts(args.seeds, args.trials, Path(folder), trial_epochs)
        several = objectives(objective_trials, Path(folder), trial_epochs)
    print(f"\nwarm start, nag_default.yaml on digits, {args.trials} trials per sweep, {args.seeds} seeds:")
    for arm, s in warm["summary"].items():
        print(f"  {arm}: reached the earlier sweep's best in {s['reached']}/{args.seeds}, median epochs "
              f"{s['median_epochs_to_target']:.0f}; best within 30 / 60 epochs {s['median_best_at_30']:.4f} / "
              f"{s['median_best_at_60']:.4f}")  # fmt: skip
    best = several["single_best"]
    print(f"\naccuracy_vs_size.yaml, {objective_trials} trials, seed 0: val_acc alone: best {best['val_acc']:.4f} at "
          f"{best['param_count']:.0f} params; Pareto front (picked: trial {several['picked']}):")  # fmt: skip
    for p in several["front"]:
        print(f"  trial {p['trial']}: val_acc {p['val_acc']:.4f}, {p['param_count']:.0f} params")
    written = write_result("warm_start", {"quick": args.quick, "warm_start": warm, "objectives": several}, args.out)
    print(f"written: {written}")
    return written


if __name__ == "__main__":
    main()
