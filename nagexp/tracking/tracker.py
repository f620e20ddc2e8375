"""MLflow runs for sweeps and single trainings, written only by the driver.

Layout in the UI: one experiment (default `nagexp`); a parent run per sweep named after
it; a child run per trial, `trial-<number>`, linked with MLflow's parent-run tag. Metrics,
params and tags of one moment go out as one `log_batch` (one store write).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from nagexp.config.train import ARGS_FIELDS
from nagexp.core.errors import NagexpError, first_text_line
from nagexp.integrations.mlflow_store import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, remember_new_store, seed_new_store
from nagexp.results.trial_report import EXPLOIT_KEY, RUNG_SIGNAL_KEY, TRIAL_NUMBER_KEY
from nagexp.tracking.store import TrackingStore, check_reachable

__all__ = ["Tracker", "numeric_metrics", "store_errors"]

# RUNG_SIGNAL_KEY and the cooldown probe's metrics: what ASHA ranked the epoch on (results/rung_signals.py)
# EXPLOIT_KEY: a population-based trial's epoch that continued another trial's weights (its number)
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "momentum", "weight_decay",
                 EXPLOIT_KEY, "epoch_seconds", "samples_per_s", "train_seconds", "param_count", "test_loss",
                 "test_acc", RUNG_SIGNAL_KEY, "cooldown_val_acc", "cooldown_val_loss", "probe_steps",
                 "probe_seconds")  # fmt: skip
PARAM_CHARS = 500  # longer values (a piecewise schedule's knots) are cut: the full config is an artifact


def store_errors() -> tuple[type[BaseException], ...]:
    """What a failing store raises: MLflow's own error, or its connection's (HTTP, sqlite, disk)."""
    from mlflow.exceptions import MlflowException
    from requests import RequestException
    from sqlalchemy.exc import SQLAlchemyError

    return MlflowException, RequestException, SQLAlchemyError, OSError


def config_params(config: dict[str, Any]) -> dict[str, Any]:
    """A config dump as MLflow params: `model_args` entries as `model_args.NAME`, and a
    schedule's arguments alike (searchable and comparable in the UI, like every other field)."""
    params = {k: v for k, v in config.items() if k not in ARGS_FIELDS}
    for field in ARGS_FIELDS:
        params.update({f"{field}.{k}": v for k, v in (config.get(field) or {}).items()})
    return {k: (str(v)[: PARAM_CHARS - 3] + "...") if len(str(v)) > PARAM_CHARS else v for k, v in params.items()}


def code_tags(user_code: dict[str, Any] | None) -> dict[str, str]:
    """Tags naming the user's code a run used (its folder and content hash)."""
    if not user_code:
        return {}
    return {"nagexp.code_hash": str(user_code["hash"]), "nagexp.code_dir": str(user_code["dir"])}


def numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(metrics[k]) for k in EPOCH_METRICS if k in metrics and metrics[k] is not None}


def _now_ms() -> int:
    return int(time.time() * 1000)


class Tracker:
    """A thin layer over MlflowClient with the nagexp run layout."""

    def __init__(self, store: TrackingStore) -> None:
        # A dead server must fail in seconds, not after MLflow's default minutes of retries.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        from mlflow import MlflowClient

        # after the import, which sets MLflow's own levels: no "Creating initial tables" chatter
        logging.getLogger("mlflow").setLevel(logging.WARNING)

        self.store = store
        check_reachable(store)
        db = Path(store.uri.removeprefix("sqlite:///")) if store.uri.startswith("sqlite:///") else None
        made_slowly = db is not None and not db.exists() and not seed_new_store(db)
        self.client = MlflowClient(tracking_uri=store.uri)
        if made_slowly and db is not None:
            self.client.search_experiments(max_results=1)  # MLflow creates the store now
            remember_new_store(db)  # before any experiment or run is in it
        self.experiment_id = self._experiment()

    def _experiment(self) -> str:
        """Get or create the experiment, then write to it once: reachable *and* writable."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_experiment_by_name(self.store.experiment)
            if found is None:
                exp_id = self.client.create_experiment(self.store.experiment,
                                                       artifact_location=self.store.artifact_location,
                                                       tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})  # fmt: skip
            else:
                exp_id = found.experiment_id
                if EXPERIMENT_KIND_TAG not in found.tags:  # made by an older nagexp: say what it holds
                    self.client.set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
            self.client.set_experiment_tag(exp_id, "nagexp.last_checked_ms", str(_now_ms()))
            return exp_id
        except MlflowException as exc:
            message = str(exc.message if hasattr(exc, "message") else exc)
            first = first_text_line(message.split(". Response body")[0])  # not a page of HTML in one line
            raise NagexpError(f"MLflow store {self.store.shown} is not usable: {first}; check --tracking-uri") from None
        except Exception as exc:  # connection errors surface as requests/sqlalchemy exceptions
            raise NagexpError(
                f"MLflow store {self.store.shown} is not reachable or writable ({type(exc).__name__}); "
                "check --tracking-uri"
            ) from None

    # -- runs ----------------------------------------------------------------------------

    def start_run(self, name: str, tags: dict[str, str], parent_id: str | None = None) -> str:
        if parent_id:
            tags = {**tags, "mlflow.parentRunId": parent_id}
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        return run.info.run_id

    def log(
        self,
        run_id: str,
        metrics: dict[str, float] | None = None,
        step: int = 0,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        """One store write: metrics (at `step`), params and tags together."""
        from mlflow.entities import Metric, Param, RunTag

        ts = _now_ms()
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, step) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()],
            synchronous=True,
        )

    def end_run(self, run_id: str, failed: bool = False, status: str | None = None) -> None:
        self.client.set_terminated(run_id, status=status or ("FAILED" if failed else "FINISHED"))

    def reopen_run(self, run_id: str) -> None:
        """Mark a run RUNNING again (a resumed sweep continues it)."""
        self.client.update_run(run_id, status="RUNNING")

    def find_sweep_runs(self, sweep_dir: Path) -> tuple[str | None, dict[int, tuple[str, str, bool]]]:
        """The parent run of the sweep in `sweep_dir` and its child runs:
        number -> (run id, status, whether its params are logged)."""
        quoted = str(sweep_dir).replace("'", "\\'")
        parents = self.client.search_runs([self.experiment_id], f"tags.`nagexp.sweep_dir` = '{quoted}'",
                                          max_results=1, order_by=["attributes.start_time DESC"])  # fmt: skip
        if not parents:
            return None, {}
        parent_id = parents[0].info.run_id
        children: dict[int, tuple[str, str, bool]] = {}
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'",
                                           max_results=1000, page_token=token)  # fmt: skip
            for run in page:
                number = run.data.tags.get(TRIAL_NUMBER_KEY)
                if number is not None and number.isdigit():
                    children.setdefault(int(number), (run.info.run_id, run.info.status, bool(run.data.params)))
            token = page.token
            if not token:
                return parent_id, children

    def log_dataset(self, run_id: str, data: Any, spec: str) -> None:
        """The run's data as a dataset input (see nagexp.tracking.datasets)."""
        from nagexp.tracking.datasets import dataset_input

        self.client.log_inputs(run_id, datasets=[dataset_input(data, spec)])

    def log_text(self, run_id: str, text: str, path: str) -> None:
        self.client.log_text(run_id, text, path)

    def log_file(self, run_id: str, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), folder)

    def log_dict(self, run_id: str, data: dict, path: str) -> None:
        self.client.log_text(run_id, json.dumps(data, indent=2, default=str), path)
