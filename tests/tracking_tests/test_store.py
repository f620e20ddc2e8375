from __future__ import annotations

from pathlib import Path

import pytest

from nagexp.errors import NagexpError
from nagexp.tracking.store import mask_uri, resolve_store


def test_mask_uri() -> None:
    assert mask_uri("http://user:pw@host:5000/x") == "http://***@host:5000/x"
    assert mask_uri("postgresql://u:p@db/mlflow") == "postgresql://***@db/mlflow"
    assert mask_uri("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_default_store_is_absolute_sqlite_in_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    store = resolve_store(None, Path("results"))
    assert store.uri == f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    assert store.artifact_location == (tmp_path / "results" / "mlartifacts").as_uri()


def test_env_then_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_store(None, tmp_path).uri == "http://127.0.0.1:5999"
    assert not resolve_store(None, tmp_path).is_local
    assert resolve_store("sqlite:////x/y.db", tmp_path).uri == "sqlite:////x/y.db"


def test_relative_uri_without_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NagexpError, match="has no scheme"):
        resolve_store("mlruns", tmp_path)


def _schema(db: Path) -> tuple[set[str], list]:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        names = {tuple(r) for r in con.execute("select type, name, tbl_name from sqlite_master")}
        return names, con.execute("select * from alembic_version").fetchall()
    finally:
        con.close()


def test_new_store_from_the_template_is_the_store_mlflow_makes(tmp_path: Path, monkeypatch) -> None:
    """A new local store is a copy of an empty one (no 1.5 s of migrations); without a template
    for the installed MLflow, MLflow makes it and an empty copy is kept for the next one."""
    from mlflow import MlflowClient

    from nagexp.tracking import store_template
    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.tracker import Tracker

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    reference = tmp_path / "reference.db"
    MlflowClient(f"sqlite:///{reference}").search_experiments()  # MLflow's own migrations

    assert (store_template.PACKAGED / store_template.template_name()).exists(), "ship the template"
    seeded = Tracker(resolve_store(None, tmp_path / "a"))
    assert _schema(tmp_path / "a" / "mlflow.db") == _schema(reference)
    assert seeded.client.get_experiment("0").name == "Default"  # added by MLflow on opening the copy

    monkeypatch.setattr(store_template, "PACKAGED", tmp_path / "none")  # an MLflow version nagexp has no template for
    Tracker(resolve_store(None, tmp_path / "b"))  # made the slow way, remembered
    assert (tmp_path / "cache" / "nagexp" / "store-templates" / store_template.template_name()).exists()
    assert store_template.seed_new_store(tmp_path / "c" / "mlflow.db")  # the next new store is a copy
    assert _schema(tmp_path / "c" / "mlflow.db") == _schema(reference)
    assert not store_template.seed_new_store(tmp_path / "c" / "mlflow.db")  # never over an existing store
