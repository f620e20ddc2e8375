"""A data cache on object storage (`--cache-dir s3://...`), against a real S3-compatible
server on 127.0.0.1: prepared once, read by byte range, the same data as a local cache."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.fs
import pytest
import yaml
from pytest import MonkeyPatch
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.core.errors import ConfigError, DataError, NagexpError
from nagexp.data.prepared import prepare as prepare_module
from nagexp.data.prepared.load import load_bundle
from nagexp.data.prepared.location import Location
from nagexp.data.prepared.prepare import prepare
from nagexp.data.prepared.store import cache_dir_for
from nagexp.data.prepared.stream import stream_data
from tests.data_tests.test_prepared import FOLDER, FRACTIONS, assert_same_streamed_batches


def remote_file(prepared_folder: Location, name: str) -> tuple[pyarrow.fs.FileSystem, str]:
    fs, path = pyarrow.fs.FileSystem.from_uri(str(prepared_folder))
    return fs, f"{path}/{name}"


@pytest.mark.parametrize("encoded", [False, True], ids=["pixels", "files"])
def test_a_cache_on_s3_holds_the_same_data_as_a_local_one(tmp_path: Path, s3_cache: str, encoded: bool,
                                                          monkeypatch: MonkeyPatch) -> None:  # fmt: skip
    if encoded:
        monkeypatch.setattr(prepare_module, "ENCODED_RATIO", 2.0)
    said: list[str] = []
    remote = prepare(FOLDER, 32, s3_cache, say=said.append)
    local = prepare(FOLDER, 32, tmp_path)
    assert remote.folder.local is None and remote.encoded == local.encoded == encoded
    assert said[0].startswith("preparing") and "endpoint_override" not in said[0]
    assert [line.split(":")[0] for line in said[1:]] == ["  training files", "  test files"]  # progress
    said.clear()
    assert remote.manifest["parts"] == local.manifest["parts"]
    for part in ("pool", "test"):
        assert np.array_equal(remote.read_part(part), local.read_part(part))
        assert np.array_equal(remote.labels(part), local.labels(part))
    shard = remote.shards("pool")[0]
    rows = np.array([30, 2, 17, 9])  # a read task's picked rows: only their span is fetched
    assert np.array_equal(remote.shard_rows(shard, rows), local.shard_rows(local.shards("pool")[0], rows))
    a, b = (load_bundle(p, FOLDER, **FRACTIONS) for p in (remote, local))
    assert a.fingerprint == b.fingerprint and a.report == b.report
    s, t = (stream_data(p, FOLDER, **FRACTIONS) for p in (remote, local))
    assert s.fingerprint == t.fingerprint == a.fingerprint and s.mean == t.mean
    assert np.array_equal(s.rows("train"), t.rows("train"))

    again = prepare(FOLDER, 32, s3_cache, say=said.append)
    assert said == [] and again.manifest == remote.manifest  # reused, not prepared again


def test_a_truncated_remote_shard_and_an_unfinished_upload(s3_cache: str) -> None:
    prepared = prepare(FOLDER, 32, s3_cache, say=lambda _: None)
    fs, shard = remote_file(prepared.folder, prepared.shards("pool")[0].file)
    with fs.open_output_stream(shard) as f:
        f.write(b"\x93NUMPY")
    with pytest.raises(DataError, match=r"shard 's3://.*/pool-00000\.npy' is truncated or changed \(6 bytes"):
        prepare(FOLDER, 32, s3_cache, say=lambda _: None)

    fs.delete_file(remote_file(prepared.folder, "manifest.json")[1])  # an upload that died before its manifest
    said: list[str] = []
    again = prepare(FOLDER, 32, s3_cache, say=said.append)
    assert said and said[0].startswith("preparing") and again.manifest["parts"] == prepared.manifest["parts"]


def test_an_unreachable_storage_is_one_line(tmp_path: Path) -> None:
    unreachable = "s3://KEY:hunter2@nobucket/cache?endpoint_override=127.0.0.1:9&scheme=http&region=us-east-1"
    unwritable = r"^cannot write the data cache 's3://nobucket/cache': .*pass a writable"
    with pytest.raises(NagexpError, match=unwritable) as e:
        prepare(FOLDER, 32, unreachable, say=lambda _: None)
    with pytest.raises(NagexpError, match=r"^cannot open 's3://nobucket\?nonsense=1': .*'nonsense'") as f:
        prepare(FOLDER, 32, "s3://KEY:hunter2@nobucket?nonsense=1", say=lambda _: None)
    assert "hunter2" not in str(e.value) + str(f.value) and "\n" not in str(e.value) + str(f.value)
    # a sweep records its --cache-dir: credentials written into it are refused before anything runs
    with pytest.raises(ConfigError, match=r"^--cache-dir 's3://nobucket/cache' has credentials in it") as g:
        cache_dir_for(unreachable, tmp_path)
    assert "hunter2" not in str(g.value)


@pytest.mark.usefixtures("ray_runtime")
def test_streamed_batches_from_s3_are_the_local_batches(tmp_path: Path, s3_cache: str) -> None:
    """Ray Data's read tasks fetch byte ranges from the server: the same batches, in the same order."""
    remote = stream_data(prepare(FOLDER, 32, s3_cache, say=lambda _: None), FOLDER, **FRACTIONS)
    local = stream_data(prepare(FOLDER, 32, tmp_path, say=lambda _: None), FOLDER, **FRACTIONS)
    assert_same_streamed_batches(remote, local)


@pytest.mark.usefixtures("two_cpus")  # a trial and its Ray Data tasks at once
def test_stream_sweep_with_its_cache_on_s3(tmp_path: Path, s3_cache: str) -> None:
    result = CliRunner().invoke(app, [
        "sweep", "quick.yaml", "--dataset", FOLDER, "--trials", "2", "--epochs", "1", "--scheduler", "fifo",
        "--data-mode", "stream", "--cache-dir", s3_cache, "--no-track", "--results-dir", str(tmp_path),
        "--name", "on-s3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "preparing imagefolder:" in result.stdout and "into s3://" in result.stdout
    with (tmp_path / "on-s3" / "trials.csv").open() as f:
        assert [r["state"] for r in csv.DictReader(f)] == ["completed", "completed"]
    plan = yaml.safe_load((tmp_path / "on-s3" / "sweep.json").read_text())
    assert plan["options"]["cache_dir"] == s3_cache  # recorded as given: `nagexp reproduce` reads the same cache
    # best.yaml records it too: `nagexp train best.yaml` reads the prepared data there, and so
    # does a rerun of that run's config.yaml
    best = tmp_path / "on-s3" / "best.yaml"
    assert yaml.safe_load(best.read_text())["data_cache"] == s3_cache
    for config, name in ((best, "again"), (tmp_path / "train" / "again" / "config.yaml", "once-more")):
        rerun = CliRunner().invoke(app, ["train", str(config), "--data-mode", "memory", "--epochs", "1", "--no-track",
                                         "--results-dir", str(tmp_path), "--name", name])  # fmt: skip
        assert rerun.exit_code == 0, rerun.output
        assert f"data cache: {s3_cache} (recorded in {config.name}" in rerun.stdout and "preparing" not in rerun.stdout
    assert not (tmp_path / "data-cache").exists()  # nothing prepared under the results dir
