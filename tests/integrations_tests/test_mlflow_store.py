"""MLflow internals behind integrations/mlflow_store.py: a new local store starts as a copy of
an empty one (the schema MLflow's migrations make, without their 1.5 s), and the UI link."""

from __future__ import annotations

import sqlite3
from importlib import metadata
from pathlib import Path

import pytest

from nagexp.integrations import mlflow_store

CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints.txt"


def _schema(db: Path) -> tuple[set, list]:
    con = sqlite3.connect(db)
    try:
        names = {tuple(r) for r in con.execute("select type, name, tbl_name from sqlite_master")}
        return names, con.execute("select * from alembic_version").fetchall()
    finally:
        con.close()


def test_a_new_store_is_the_store_mlflow_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever MLflow is installed: the first new store is made by MLflow and an empty copy kept;
    the next is that copy, with MLflow's own schema and its Default experiment."""
    from mlflow import MlflowClient

    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.tracker import Tracker

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mlflow_store, "PACKAGED", tmp_path / "none")  # as for an MLflow nagexp ships none for
    reference = tmp_path / "reference.db"
    MlflowClient(f"sqlite:///{reference}").search_experiments()  # MLflow's own migrations
    Tracker(resolve_store(None, tmp_path / "a"))  # made the slow way, remembered
    assert (tmp_path / "cache" / "nagexp" / "store-templates" / mlflow_store.template_name()).exists()
    seeded = tmp_path / "b" / "mlflow.db"
    assert mlflow_store.seed_new_store(seeded)  # the next new store is a copy
    assert _schema(seeded) == _schema(reference)
    assert Tracker(resolve_store(None, tmp_path / "b")).client.get_experiment("0").name == "Default"
    assert not mlflow_store.seed_new_store(seeded)  # never over an existing store


def test_the_shipped_template_is_mlflows_schema(tmp_path: Path) -> None:
    """The template shipped for the MLflow of constraints.txt (what `make` installs) is the
    schema that MLflow makes; used only by that version."""
    pinned = next(line.split("==")[1].strip() for line in CONSTRAINTS.read_text().splitlines()
                  if line.lower().startswith("mlflow=="))  # fmt: skip
    shipped = mlflow_store.PACKAGED / f"mlflow-{pinned}.db.gz"
    assert shipped.exists(), "rebuild it: python -m nagexp.integrations.mlflow_store"
    assert mlflow_store.TESTED.covers(pinned)
    if metadata.version("mlflow") != pinned:
        return  # another MLflow (make test-latest): its stores are made as in the test above
    from mlflow import MlflowClient

    reference = tmp_path / "reference.db"
    MlflowClient(f"sqlite:///{reference}").search_experiments()
    assert mlflow_store.seed_new_store(tmp_path / "copy.db")
    assert _schema(tmp_path / "copy.db") == _schema(reference)


def test_the_runs_link() -> None:
    assert mlflow_store.runs_link("http://127.0.0.1:5000/", "7") == "http://127.0.0.1:5000/#/experiments/7/runs"
