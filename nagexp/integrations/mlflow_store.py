"""MLflow internals nagexp relies on (tested on MLflow 3.17): the schema of an empty sqlite
store, the experiment-kind tag its UI reads, and the UI's route to an experiment's runs.

New local MLflow stores start as a copy of an empty store made by the same MLflow version.

Creating a sqlite store runs MLflow's schema migrations (about 1.5 s of CPU here), which a
sweep's first trials would compete with. An empty store of the installed MLflow version,
schema only (no experiment: MLflow adds its Default experiment when it opens the copy, with
this store's own paths and times), is copied instead. It comes with nagexp for the MLflow
version it was built with (`python -m nagexp.integrations.mlflow_store`), or is kept in the
user's cache after the first store made the slow way. A version without one falls back to
MLflow's own migrations: never wrong, only slower.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import sqlite3
from importlib import metadata
from pathlib import Path

from nagexp.integrations.versions import Tested

__all__ = ["EXPERIMENT_KIND", "EXPERIMENT_KIND_TAG", "PACKAGED", "STORE_LOGGERS", "TESTED", "make_template",
           "remember_new_store", "runs_link", "seed_new_store", "template_name"]  # fmt: skip

TESTED = Tested("mlflow", "3.17", "3.18", "the schema copy of an empty store (alembic_version, workspaces), the "
                "experiment-kind tag and the UI's #/experiments/<id>/runs link")  # fmt: skip
TESTED.check()

# MLflow 3's UI names what an experiment holds by this tag; without it the UI guesses and can show
# the GenAI overview (traces, tokens) instead of the training runs
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

# MLflow's sqlite store logs a database error, traceback text and all, on this logger before it
# raises its own error (MLflow 3.17)
STORE_LOGGERS = ("mlflow.store.db.utils",)

PACKAGED = Path(__file__).resolve().parent / "store_templates"
_KEPT_TABLES = {"alembic_version", "workspaces"}  # the schema revision and MLflow's static rows


def template_name() -> str:
    return f"mlflow-{metadata.version('mlflow')}.db.gz"


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nagexp" / "store-templates"


def seed_new_store(db: Path) -> bool:
    """Copy the empty store of this MLflow version to `db` when `db` does not exist yet;
    False when there is no such template (MLflow then creates the store itself)."""
    if db.exists():
        return False
    for template in (PACKAGED / template_name(), _cache_dir() / template_name()):
        if not template.exists():
            continue
        db.parent.mkdir(parents=True, exist_ok=True)
        tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
        try:
            with gzip.open(template) as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            os.link(tmp, db)  # never replaces a store another process made a moment ago
        except FileExistsError:
            pass
        except OSError:
            return False  # an unreadable template or a full disk: MLflow's own way still works
        finally:
            tmp.unlink(missing_ok=True)
        return True
    return False


def make_template(store: Path, target: Path) -> None:
    """An empty, schema-only copy of `store` (an MLflow sqlite store), gzipped to `target`."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    empty = tmp.with_suffix(".db")
    source, copy = sqlite3.connect(store), sqlite3.connect(empty)
    try:
        source.backup(copy)
        tables = [r[0] for r in copy.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            if table not in _KEPT_TABLES and not table.startswith("sqlite_"):
                copy.execute(f'delete from "{table}"')
        copy.commit()
        copy.execute("vacuum")
    finally:
        source.close()
        copy.close()
    try:
        with empty.open("rb") as src, gzip.open(tmp, "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
    finally:
        empty.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def remember_new_store(db: Path) -> None:
    """After MLflow made `db` the slow way: keep its empty schema for the next new store."""
    target = _cache_dir() / template_name()
    if target.exists():
        return
    with contextlib.suppress(OSError, sqlite3.Error):  # no cache: the next new store is slow too
        make_template(db, target)


def runs_link(base_url: str, experiment_id: str) -> str:
    """The UI page of an experiment's training runs: a fresh browser opens MLflow 3.17's UI on
    its GenAI overview even for an experiment tagged as model development; this route opens the
    runs table (with its Dataset column)."""
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs"


if __name__ == "__main__":  # build the template shipped with nagexp for the installed MLflow
    import tempfile

    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as folder:
        fresh = Path(folder) / "mlflow.db"
        MlflowClient(f"sqlite:///{fresh}").search_experiments(max_results=1)  # MLflow's migrations
        make_template(fresh, PACKAGED / template_name())
    print(f"written: {PACKAGED / template_name()}")
