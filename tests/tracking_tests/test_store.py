from __future__ import annotations

from pathlib import Path

import pytest

from nagexp.core.errors import NagexpError
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


def test_a_finished_sweeps_store_is_the_option_then_the_environment_then_the_recorded_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nagexp.tracking.store import sweep_store

    db = tmp_path / "elsewhere" / "mlflow.db"
    db.parent.mkdir()
    db.write_bytes(b"")
    recorded, results = f"sqlite:///{db}", tmp_path / "results"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert sweep_store(None, recorded, results).uri == recorded
    assert sweep_store("http://127.0.0.1:1", recorded, results).uri == "http://127.0.0.1:1"
    default = f"sqlite:///{results.resolve() / 'mlflow.db'}"
    assert sweep_store(None, "http://***@host:5000", results).uri == default  # masked: never used
    assert sweep_store(None, f"sqlite:///{tmp_path / 'moved' / 'mlflow.db'}", results).uri == default  # gone
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:2")
    assert sweep_store(None, recorded, results).uri == "http://127.0.0.1:2"
