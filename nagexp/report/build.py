"""`nagexp report`: results/<sweep>/ -> report/index.html (self-contained) and report/report.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nagexp.config.space import SearchSpace
from nagexp.core.io import atomic_write_text
from nagexp.registries.schedules import Kind, is_builtin_schedule
from nagexp.report.data import collect
from nagexp.report.figures import render_figures
from nagexp.report.render import render_html, render_markdown
from nagexp.results.folders import SweepFolder

__all__ = ["build_report", "log_report", "publish_report"]


def build_report(sweep_dir: Path, fmt: str = "both") -> list[Path]:
    """Build the report (data, then figures, then rendering); returns the files written.
    The same results always give byte-identical files. A schedule of the user's is drawn only
    where its code is importable (publish_report sees to that)."""
    data = collect(sweep_dir)
    figures = render_figures(data)
    out = SweepFolder(Path(sweep_dir)).report_dir
    written = []
    if fmt in ("html", "both"):
        written.append(atomic_write_text(out / "index.html", render_html(data, figures)))
    if fmt in ("md", "both"):
        for stem, svg in figures.items():
            written.append(atomic_write_text(out / "figures" / f"{stem}.svg", svg))
        for stale in (out / "figures").glob("*.svg"):  # a figure an earlier build drew that no longer applies
            if stale.stem not in figures:
                stale.unlink()
        written.append(atomic_write_text(out / "report.md", render_markdown(data, figures=figures)))
    return written


def log_report(sweep_dir: Path, tracking_uri: str | None, results_dir: Path) -> str | None:
    """Attach the report folder to the sweep's MLflow parent run (in `tracking_uri`, by default
    the store the sweep logged to); returns its run id or None."""
    from mlflow.exceptions import MlflowException

    from nagexp.core.errors import NagexpError, first_line
    from nagexp.results.files import read_summary

    mlflow_info = read_summary(Path(sweep_dir)).get("mlflow") or {}
    run_id = mlflow_info.get("parent_run_id")
    if not run_id:
        return None
    from nagexp.tracking.store import check_reachable, sweep_store
    from nagexp.tracking.tracker import Tracker

    store = sweep_store(tracking_uri, mlflow_info.get("tracking_uri"), results_dir,
                        mlflow_info.get("experiment", "nagexp"))  # fmt: skip
    check_reachable(store)
    try:
        Tracker(store).client.log_artifacts(run_id, str(SweepFolder(Path(sweep_dir)).report_dir), "report")
    except MlflowException as exc:  # a store that does not hold the sweep's run
        raise NagexpError(f"the sweep's MLflow run {run_id} cannot take it: {first_line(exc)}") from None
    return run_id


def publish_report(
    sweep_dir: Path,
    fmt: str,
    tracking_uri: str | None,
    results_dir: Path,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
    code_dir: Path | None = None,
) -> list[Path]:
    """Build the report, say where it is, and attach it to the sweep's MLflow run (a store
    that cannot take it is a warning: the report is on disk). A sweep of the user's code
    imports it (for the figure of a user's schedule) from `code_dir`, by default the recorded
    folder; where that is gone, a warning, and the figure says so."""
    from nagexp.core.errors import ConfigError, NagexpError
    from nagexp.results.plan import read_plan
    from nagexp.runtime.recorded_code import import_recorded_code

    plan = read_plan(Path(sweep_dir))  # a damaged sweep.json: its own one-line error
    if _own_schedules(plan.space):
        try:
            import_recorded_code(plan.user_code, code_dir, warn)
        except ConfigError as exc:
            if code_dir is not None:  # the folder the user named is not there: their mistake, one line
                raise
            warn(f"warning: {exc} (the report draws no schedule of that code)")
    written = build_report(sweep_dir, fmt)
    for path in written:
        if path.name in ("index.html", "report.md"):
            say(f"report: {path}")
    try:
        run_id = log_report(sweep_dir, tracking_uri, results_dir)
    except NagexpError as exc:
        warn(f"warning: report not attached to MLflow ({exc})")
        return written
    if run_id:
        say(f"report attached to MLflow run {run_id} (artifacts/report)")
    return written


def _own_schedules(space: SearchSpace) -> list[str]:
    """The schedules of the user's that a sweep over `space` can have run (fixed or among a
    parameter's choices): the report runs them, so their code must import."""
    kinds: tuple[Kind, ...] = ("lr", "momentum")
    return [name for kind in kinds for name in space.values_of(f"{kind}_schedule")
            if not is_builtin_schedule(kind, name)]  # fmt: skip
