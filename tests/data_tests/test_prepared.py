"""Datasets prepared once into shards: the same data as read straight from the source, reused
without decoding, streamed in a seeded order; broken caches are one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from pytest import MonkeyPatch

from nagexp.config.sizes import parse_size
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError, DataError, NagexpError
from nagexp.data.bundle import DataBundle
from nagexp.data.loading import load_train_data
from nagexp.data.prepared import prepare as prepare_module
from nagexp.data.prepared import store
from nagexp.data.prepared.prepare import prepare
from nagexp.data.prepared.stream import StreamedData, stream_data
from tests.conftest import load_bundle, read_bundle
from tests.data_tests.test_bundle import planted_npz

SLICE = Path(__file__).resolve().parents[1] / "data" / "cifar10-slice"
FOLDER = f"imagefolder:{SLICE}"
FRACTIONS = {"val_fraction": 0.1, "test_fraction": 0.2, "split_seed": 0}


def test_prepared_data_is_the_data_read_straight(tmp_path: Path) -> None:
    """Real JPEGs: the shards give the same report, fingerprint and tensors as reading the
    folder whole, in memory mode and (report, fingerprint, normalization) in stream mode."""
    direct = read_bundle(FOLDER)
    cached = load_bundle(FOLDER, cache_dir=tmp_path)
    assert cached.report == direct.report and cached.fingerprint == direct.fingerprint
    assert np.array_equal(cached.x_train.numpy(), direct.x_train.numpy()) and cached.mean == direct.mean
    streamed = stream_data(prepare(FOLDER, 32, tmp_path), FOLDER, **FRACTIONS)
    assert streamed.report == direct.report and streamed.fingerprint == direct.fingerprint
    assert np.allclose(streamed.mean, direct.mean, atol=1e-12) and np.allclose(streamed.std, direct.std, atol=1e-12)
    assert np.allclose(streamed.example_batch(3).numpy(), direct.x_val[:3].numpy(), atol=1e-5)


def test_chunked_cleaning_equals_cleaning_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NaNs, bad labels and duplicates spread over many small chunks: the same counts and data."""
    spec = f"npz:{planted_npz(tmp_path / 'p.npz')}"
    direct = read_bundle(spec)
    monkeypatch.setattr(prepare_module, "CHUNK_ROWS", 7)
    cached = load_bundle(spec, cache_dir=tmp_path / "cache")
    assert cached.report == direct.report and cached.fingerprint == direct.fingerprint
    assert cached.report.dropped_duplicates == 5 and cached.report.dropped_nonfinite == 4


def test_second_use_reads_shards_without_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nagexp.data import imagefolder

    said: list[str] = []
    first = load_bundle(FOLDER, cache_dir=tmp_path, say=said.append)
    assert said[0].startswith(f"preparing {FOLDER} once into {tmp_path}")
    assert [line.split(" in ")[0] for line in said[1:]] == ["  training files: 200", "  test files: 50"]
    said.clear()

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(imagefolder, "decode_files", no_decoding)
    again = load_bundle(FOLDER, cache_dir=tmp_path, say=said.append)
    assert said == [] and again.fingerprint == first.fingerprint


def test_a_changed_source_is_prepared_again(tmp_path: Path) -> None:
    source = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(source, x=rng.integers(0, 255, (40, 6, 6), dtype=np.uint8), y=np.arange(40) % 2)
    first = prepare(f"npz:{source}", 32, tmp_path / "cache")
    np.savez(source, x=rng.integers(0, 255, (41, 6, 6), dtype=np.uint8), y=np.arange(41) % 2)
    os.utime(source, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    second = prepare(f"npz:{source}", 32, tmp_path / "cache")
    assert second.folder != first.folder and second.manifest["counts"]["read_train"] == 41


def test_truncated_shard_and_other_format_are_one_line(tmp_path: Path) -> None:
    prepared = prepare(FOLDER, 32, tmp_path)
    shard = prepared.folder.local / prepared.shards("pool")[0].file
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"shard '.*pool-00000\.npy' is truncated or changed .* delete '") as err:
        prepare(FOLDER, 32, tmp_path)
    assert "\n" not in str(err.value)
    manifest = prepared.folder.local / "manifest.json"
    manifest.write_text(manifest.read_text().replace(f'"format": {store.FORMAT}', '"format": 99'))
    with pytest.raises(DataError, match=rf"has format 99 .* this nagexp reads format {store.FORMAT}; delete the"):
        prepare(FOLDER, 32, tmp_path)


def test_large_images_keep_their_files_decoded_to_the_same_pixels(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    """The ENCODED_RATIO rule: the slice's 32 px JPEGs (about 3x) keep pixels; at a ratio they
    meet, the shards keep the files, and every reader decodes them into the same pixels."""
    pixels = prepare(FOLDER, 32, tmp_path / "pixels")
    assert pixels.manifest["encoding"] == "pixels" and pixels.shards("pool")[0].file.endswith(".npy")
    monkeypatch.setattr(prepare_module, "ENCODED_RATIO", 2.0)
    files = prepare(FOLDER, 32, tmp_path / "files")
    assert files.manifest["encoding"] == "files" and files.shards("pool")[0].file.endswith(".bin")
    stored = sum(s.bytes for part in ("pool", "test") for s in files.shards(part))
    as_pixels = sum(s.bytes for part in ("pool", "test") for s in pixels.shards(part))
    assert stored < as_pixels / 2  # the files, not their pixels
    for part in ("pool", "test"):
        assert np.array_equal(files.read_part(part), pixels.read_part(part))
        assert np.array_equal(files.labels(part), pixels.labels(part))
    assert np.array_equal(files.pool_sums(), pixels.pool_sums())
    rows = np.array([7, 0, 3])
    assert np.array_equal(files.shard_rows(files.shards("pool")[0], rows), pixels.read_part("pool")[rows])
    from_files, from_pixels = (stream_data(p, FOLDER, **FRACTIONS) for p in (files, pixels))
    assert from_files.report == from_pixels.report and from_files.fingerprint == from_pixels.fingerprint
    bin_file = files.folder.local / files.shards("pool")[0].file
    bin_file.write_bytes(bin_file.read_bytes()[:100])
    with pytest.raises(DataError, match=r"shard '.*pool-00000\.bin' is truncated or changed"):
        prepare(FOLDER, 32, tmp_path / "files")


def assert_same_streamed_batches(a: StreamedData, b: StreamedData) -> None:
    """The same training batches (an epoch of the slice: 9 of 20) in the same order, and the
    same validation batches."""
    import torch

    cpu = torch.device("cpu")
    train_a, train_b = (list(d.batches(0, 20, 1024, cpu).train_epoch(1)) for d in (a, b))
    assert len(train_a) == len(train_b) == 9
    val_a, val_b = (list(d.batches(0, 20, 1024, cpu).eval_batches("val")) for d in (a, b))
    for (xa, ya), (xb, yb) in zip(train_a + val_a, train_b + val_b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.usefixtures("ray_runtime")
def test_streamed_batches_from_encoded_shards_are_the_pixel_batches(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    pixels = stream_data(prepare(FOLDER, 32, tmp_path / "pixels"), FOLDER, **FRACTIONS)
    monkeypatch.setattr(prepare_module, "ENCODED_RATIO", 2.0)
    decoded_in_ray_data = stream_data(prepare(FOLDER, 32, tmp_path / "files"), FOLDER, **FRACTIONS)
    assert_same_streamed_batches(decoded_in_ray_data, pixels)


def test_unwritable_cache_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NagexpError, match=r"cannot write the data cache .*; pass a writable --cache-dir"):
        prepare(FOLDER, 32, blocker / "cache")


def test_shards_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "SHARD_BYTES", 3072 * 64)  # 64 CIFAR images a shard
    prepared = prepare(FOLDER, 32, tmp_path)
    rows = [s.rows for s in prepared.shards("pool")]
    assert rows == [64, 64, 64, 8] and sum(s.rows for s in prepared.shards("test")) == 50


def test_auto_mode_follows_the_budget(tmp_path: Path) -> None:
    cfg = TrainConfig(dataset=FOLDER)
    data = load_train_data(cfg, tmp_path, "1MB", say=lambda _: None)  # 250 images: 3 MB as float32
    assert data.mode == "stream" and isinstance(data, StreamedData)
    data = load_train_data(cfg, tmp_path, "1GB", say=lambda _: None)
    assert data.mode == "memory" and isinstance(data, DataBundle)
    with pytest.raises(ConfigError, match="data_mode stream needs a dataset read from files"):
        load_train_data(TrainConfig(dataset="digits", data_mode="stream"), tmp_path)
    assert parse_size("64MB") == 64 * 2**20 and parse_size("1.5 gb") == int(1.5 * 2**30)
    with pytest.raises(ConfigError, match="must be a size like 512MB"):
        parse_size("lots")


@pytest.mark.usefixtures("ray_runtime")
def test_stream_mode_is_seeded_and_sees_every_sample_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from nagexp.training.trainer import train

    monkeypatch.setattr(store, "SHARD_BYTES", 3072 * 48)  # several shards: their order is shuffled too
    streamed = stream_data(prepare(FOLDER, 32, tmp_path), FOLDER, **FRACTIONS)
    cfg = TrainConfig(dataset=FOLDER, model="cnn", width=0.25, epochs=2, batch_size=20, device="cpu",
                      data_mode="stream")  # fmt: skip
    source = streamed.batches(cfg.seed, cfg.batch_size, cfg.eval_batch_size, torch.device("cpu"))

    def image_ids(epoch: int) -> list[float]:  # a number per image (its pixel sum), in batch order
        return [round(float(s), 3) for x, _ in source.train_epoch(epoch) for s in x.flatten(1).sum(1)]

    first_epoch, second_epoch = image_ids(0), image_ids(1)
    assert streamed.train_size == 180 and source.steps_per_epoch == 9 and len(first_epoch) == 180
    assert len(set(first_epoch)) == 180 and set(first_epoch) == set(second_epoch)  # every image once an epoch
    assert first_epoch != second_epoch  # in another order each epoch
    assert image_ids(0) == first_epoch  # the same order for the same seed and epoch
    import logging

    import ray.data

    before = ray.data.DataContext.get_current()
    order, strategy, level = (before.execution_options.preserve_order, before.scheduling_strategy,
                              logging.getLogger("ray.data").level)  # fmt: skip
    first, second = train(cfg, streamed), train(cfg, streamed)
    assert first.history[-1]["val_loss"] == second.history[-1]["val_loss"]
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    # the process's own Ray Data settings are untouched (each dataset carries its own)
    after = ray.data.DataContext.get_current()
    assert after is before and (after.execution_options.preserve_order, after.scheduling_strategy) == (order, strategy)
    assert logging.getLogger("ray.data").level == level


def test_python_dataset_of_chunks_is_prepared_and_streamed(tmp_path: Path) -> None:
    """A `python:` dataset that returns chunks (data larger than memory) is prepared once
    like a folder; read whole, the same chunks give the same report and fingerprint."""
    import sys

    example = Path(__file__).resolve().parents[2] / "examples" / "own_model"
    sys.path.insert(0, str(example))
    try:
        spec = "python:own_model.shapes:stream_shapes?n=300&test=60&chunk=64&size=8"
        said: list[str] = []
        cfg = TrainConfig(dataset=spec, data_mode="stream")
        streamed = load_train_data(cfg, tmp_path, say=said.append)
        whole = read_bundle(spec)  # the chunks joined, read in memory
        again = load_train_data(cfg, tmp_path, say=said.append)
    finally:
        sys.path.remove(str(example))
    assert streamed.mode == "stream" and isinstance(streamed, StreamedData)
    assert streamed.report == whole.report and streamed.fingerprint == whole.fingerprint
    assert streamed.report.read_train == 300 and streamed.report.test_source == "dataset"
    prepared = [line.split(" once")[0] for line in said if not line.startswith("  ")]
    assert prepared == [f"preparing {spec}"]  # once: the second use reads the shards
    assert any(line.startswith("  training samples: 300 in ") for line in said)  # a chunked python source
    assert again.fingerprint == streamed.fingerprint and streamed.class_names[0] == "disc"


def test_default_budget_counts_the_gpu_memory_data_would_sit_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory mode keeps the data on the trial's GPU: the default budget is then also at most
    a quarter of that GPU's share (a GPU is mocked: none here)."""
    from nagexp.data import loading as modes

    ram_budget = modes.memory_budget(None)
    monkeypatch.setattr(modes, "gpu_memory", lambda: 8 * 2**30)
    assert modes.memory_budget(None, gpu_share=0.5) == min(ram_budget, 2**30)  # 1/4 of half of 8 GiB
    assert modes.memory_budget(None, gpu_share=0.0) == ram_budget  # CPU trials: RAM only
    assert modes.memory_budget("3GB", gpu_share=0.5) == 3 * 2**30  # given: as given
