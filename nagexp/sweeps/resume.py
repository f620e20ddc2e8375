"""`nagexp sweep --resume NAME|PATH`: the sweep's plan as it was started, read back from
sweep.json.

The space comes from sweep.json, not from the space file, which may have changed since.
Only where things run and log may change: the Ray address, the tracking URI, the folder of the
user's code (a moved project; a new job's copy of its working_dir, taken by default under
`ray job submit --working-dir`; a changed hash is said in one line) and where the results are,
which a path names.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from pathlib import Path

from nagexp.config.sweep import SweepOptions, SweepSpec
from nagexp.core.errors import ConfigError
from nagexp.core.naming import check_name
from nagexp.results.folders import SweepFolder, results_dir_option, sweep_dir_of
from nagexp.results.plan import read_plan
from nagexp.results.state import sweep_state

__all__ = ["RESUMABLE_WITH", "ResumeError", "check_resumable", "check_resume_options", "load_resume_spec"]

MASK = "***@"
# where a sweep runs, logs and finds its code may change when it is resumed; everything else is as it started
RESUMABLE_WITH = ("results_dir", "address", "tracking_uri", "code_dir")


class ResumeError(ConfigError):
    pass


def check_resume_options(given: Iterable[str], name_of: Callable[[str], str] = str) -> None:
    """ConfigError naming the options (by `name_of`) a resume cannot take: the sweep continues
    with the options it started with."""
    changed = [name for name in given if name not in RESUMABLE_WITH]
    if changed:
        names = ", ".join(name_of(k) for k in changed)
        raise ResumeError(f"resuming continues a sweep with the options it started with; drop {names}")


def load_resume_spec(
    sweep: str | Path, results_dir: Path, address: str | None = None, tracking_uri: str | None = None,
    code_dir: Path | None = None,
) -> SweepSpec:
    """The spec of the sweep `sweep` names (a name in `results_dir`, or the sweep's folder);
    its code from `code_dir`, else from the submitted job's working_dir, else where it started."""
    from nagexp.runtime.ray_session import job_code_folder

    results_dir = results_dir.expanduser().resolve()
    if not Path(sweep).expanduser().is_dir() and not (results_dir / check_name(str(sweep), "sweep name")).is_dir():
        raise ResumeError(f"no sweep '{sweep}' in {results_dir} to resume; see `nagexp ls --results-dir "
                          f"{shlex.quote(str(results_dir))}`")  # fmt: skip
    sweep_dir = sweep_dir_of(sweep, results_dir)
    name, results_dir = sweep_dir.name, sweep_dir.parent
    plan = read_plan(sweep_dir)  # a damaged plan is said, finished or not
    if sweep_state(sweep_dir) == "finished":
        from nagexp.results.files import read_trials

        read_trials(SweepFolder(sweep_dir).trials_csv, plan.param_names, plan.metric)  # what its report reads
        raise ResumeError(
            f"sweep '{name}' has finished; nothing to resume (report it with `nagexp report {name}"
            f"{results_dir_option(results_dir)}`, "
            "or start a new sweep under another --name)"
        )
    name = plan.name  # the study's and the MLflow runs' name (the folder may have been renamed)
    stored = plan.options.model_dump()
    if tracking_uri is not None:
        stored["tracking_uri"] = tracking_uri
    elif MASK in (stored.get("tracking_uri") or ""):
        raise ResumeError(
            f"sweep '{name}' logs to a tracking server with credentials, which sweep.json keeps masked; "
            "pass --tracking-uri again to resume it"
        )
    stored["address"] = address
    stored["results_dir"] = results_dir
    if code_folder := code_dir or job_code_folder():
        stored["code_dir"] = Path(code_folder).expanduser().resolve()
    options = SweepOptions.model_validate(stored)
    spec = SweepSpec(name=name, options=options, space=plan.space, space_text=plan.space_text,
                     results_dir=results_dir, sweep_dir=sweep_dir)  # fmt: skip
    check_resumable(spec)
    return spec


def check_resumable(spec: SweepSpec) -> None:
    """The files a resume continues from read back (the journal, the Optuna study, trials.csv):
    one line naming a damaged one before anything starts or is written."""
    from nagexp.results.files import read_trials
    from nagexp.results.journal import replay
    from nagexp.search.study import check_study

    folder = SweepFolder(spec.sweep_dir)
    replay(folder.journal, spec.metric, spec.mode)
    check_study(spec)
    read_trials(folder.trials_csv, list(spec.space.params), spec.metric)
