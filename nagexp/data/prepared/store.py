"""The on-disk layout of a prepared dataset: `manifest.json` plus shards of samples.

    <cache>/<key>/manifest.json           what was read, dropped and kept; the shards
    <cache>/<key>/pool-00000.npy ...      kept training samples (N x C x H x W), source order
    <cache>/<key>/test-00000.npy ...      kept test samples, when the source has a test part
    <cache>/<key>/{pool,test}-labels.npy  one int64 label per kept sample
    <cache>/<key>/pool-sums.npy           per sample and channel: sum and sum of squares of
                                          the pixels (scaled to [0, 1]), so any split's
                                          normalization needs no second pass over pixels

Shards are plain .npy files (memory-mappable), about SHARD_BYTES each: a reader holds one
shard at a time. The cache may be a local folder or a URI (`s3://bucket/prefix`, see
location.py): a remote entry is written object by object, the manifest last, and read by
byte range. Pixels stay uint8 when the source has them (4x smaller than float32);
float sources (npz, python) keep float32.

Encoded shards (`"encoding": "files"`, image folders whose pixels would take ENCODED_RATIO x
their files' bytes or more, see prepare.py) keep the kept images' files instead:

    <cache>/<key>/pool-00000.bin          the files' bytes, one after another
    <cache>/<key>/pool-00000.offsets.npy  N + 1 byte offsets into it

and readers decode the rows they pick, with the same decoding as preparing used: the same
pixels as a pixel shard, in a fraction of the disk and page cache.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from nagexp.core.errors import ConfigError, DataError, first_line
from nagexp.core.version import __version__
from nagexp.data.prepared.location import Location, is_uri, location_of

__all__ = ["FORMAT", "SHARD_BYTES", "Prepared", "ShardWriter", "cache_dir_for", "given_cache", "open_prepared",
           "publish"]

BUCKET_SCHEMES = ("s3", "gs", "gcs")  # URIs whose first part names a bucket
FORMAT = 2  # bump when the layout changes: older caches are then prepared again (2: encoded shards)
SHARD_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Shard:
    file: str
    rows: int
    bytes: int
    offsets: str = ""  # encoded shards: the .npy of byte offsets of the rows in `file`


@dataclass(frozen=True)
class Prepared:
    """A prepared dataset on disk (see the module doc)."""

    folder: Location
    manifest: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.manifest["shape"]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return int(self.manifest["num_classes"])

    def shards(self, part: str) -> list[Shard]:
        entry = self.manifest["parts"].get(part)
        return [Shard(**s) for s in entry["shards"]] if entry else []

    def has_part(self, part: str) -> bool:
        return bool(self.manifest["parts"].get(part))

    def labels(self, part: str) -> np.ndarray:
        return self.folder.load_npy(f"{part}-labels.npy")

    def pool_sums(self) -> np.ndarray:
        """N x C x 2: per kept training sample and channel, sum and sum of squares."""
        return self.folder.load_npy("pool-sums.npy")

    @property
    def encoded(self) -> bool:
        return self.manifest.get("encoding") == "files"

    def shard_array(self, shard: Shard, mmap: bool = True) -> np.ndarray:
        """The shard's samples: memory-mapped pixels, or an encoded shard's decoded."""
        if self.encoded:
            return self.shard_rows(shard, np.arange(shard.rows))
        return self.folder.load_npy(shard.file, mmap=mmap)

    def shard_rows(self, shard: Shard, rows: np.ndarray) -> np.ndarray:
        """The samples at `rows` of the shard: only the span of rows they cover is read (and
        only they are decoded, if encoded)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, *self.shape), self.manifest["dtype"])
        lo, hi = int(rows.min()), int(rows.max()) + 1
        if not self.encoded:
            return np.asarray(self.folder.npy_rows(shard.file, lo, hi)[rows - lo])
        from nagexp.data.imagefolder import decode_files

        offsets = np.asarray(self.folder.npy_rows(shard.offsets, lo, hi + 1))
        data = self.folder.read_range(shard.file, int(offsets[0]), int(offsets[-1] - offsets[0]))
        start = offsets - offsets[0]
        blobs = [data[start[r - lo] : start[r - lo + 1]] for r in rows]
        pixels, ok = decode_files(blobs, int(self.manifest["image_size"]), self.manifest["mode"])
        if not ok.all():
            raise DataError(f"shard '{self.folder.show(shard.file)}' holds an image that no longer decodes; "
                            f"delete '{self.folder.show()}' to prepare the data again")  # fmt: skip
        return pixels

    def read_part(self, part: str) -> np.ndarray:
        """Every sample of `part`, in order (memory mode)."""
        arrays = [self.shard_array(s, mmap=False) for s in self.shards(part)]
        return np.concatenate(arrays) if arrays else np.zeros((0, *self.shape), self.manifest["dtype"])

    def iter_rows(self, part: str) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, shard array) for each shard of `part`, one mapped at a time."""
        start = 0
        for shard in self.shards(part):
            yield start, self.shard_array(shard)
            start += shard.rows


class ShardWriter:
    """Takes chunks of one part in order and writes shards of about SHARD_BYTES (of pixels,
    or with `encoded`, of the images' files)."""

    def __init__(self, folder: Location, part: str, sample_shape: tuple[int, ...], dtype: np.dtype,
                 encoded: bool = False) -> None:  # fmt: skip
        self.folder, self.part, self.dtype, self.encoded = folder, part, np.dtype(dtype), encoded
        per_sample = max(1, int(np.prod(sample_shape)) * self.dtype.itemsize)
        self.rows_per_shard = max(64, SHARD_BYTES // per_sample)
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._files: list[bytes] = []  # encoded: the pending rows' files
        self._file_bytes = 0
        self.shards: list[dict[str, Any]] = []
        self.labels: list[np.ndarray] = []
        self.sums: list[np.ndarray] = []

    def add(self, x: np.ndarray, y: np.ndarray, files: np.ndarray | None = None) -> None:
        """Decoded samples `x` with labels `y`; an encoded writer also takes their files' paths."""
        if not len(x):
            return
        x = np.ascontiguousarray(x, dtype=self.dtype)
        self.labels.append(y.astype(np.int64))
        if self.part == "pool":
            scaled = x.astype(np.float64) / (255.0 if self.dtype == np.uint8 else 1.0)
            self.sums.append(np.stack([scaled.sum(axis=(2, 3)), (scaled**2).sum(axis=(2, 3))], axis=-1))
        if self.encoded:
            assert files is not None and len(files) == len(x)
            for path in files:
                self._files.append(Path(path).read_bytes())
                self._file_bytes += len(self._files[-1])
                if self._file_bytes >= SHARD_BYTES:
                    self._flush_files()
            return
        self._pending.append(x)
        self._pending_rows += len(x)
        while self._pending_rows >= self.rows_per_shard:
            self._flush(self.rows_per_shard)

    def _flush_files(self) -> None:
        name = f"{self.part}-{len(self.shards):05d}"
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in self._files])]).astype(np.int64)
        self.folder.write_bytes(f"{name}.bin", b"".join(self._files))
        self.folder.save_npy(f"{name}.offsets.npy", offsets)
        self.shards.append({"file": f"{name}.bin", "rows": len(self._files), "bytes": int(offsets[-1]),
                            "offsets": f"{name}.offsets.npy"})  # fmt: skip
        self._files, self._file_bytes = [], 0

    def _flush(self, rows: int) -> None:
        joined = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        shard, rest = joined[:rows], joined[rows:]
        name = f"{self.part}-{len(self.shards):05d}.npy"
        self.shards.append({"file": name, "rows": len(shard), "bytes": self.folder.save_npy(name, shard)})
        self._pending = [rest] if len(rest) else []
        self._pending_rows = len(rest)

    def close(self) -> dict[str, Any]:
        if self._pending_rows:
            self._flush(self._pending_rows)
        if self._files:
            self._flush_files()
        labels = np.concatenate(self.labels) if self.labels else np.zeros(0, np.int64)
        self.folder.save_npy(f"{self.part}-labels.npy", labels)
        if self.part == "pool":
            sums = np.concatenate(self.sums) if self.sums else np.zeros((0, 1, 2))
            self.folder.save_npy("pool-sums.npy", sums)
        return {"rows": len(labels), "shards": self.shards}


def publish(staging: Location, final: Location, manifest: dict[str, Any]) -> Prepared:
    """Write the manifest last, then (local) move the finished folder into place: a crash
    mid-way leaves only a staging folder, or (remote, written in place) an entry without a
    manifest, which is prepared again; never a half-prepared entry that opens."""
    manifest = {"format": FORMAT, "nagexp": __version__, **manifest}
    staging.write_bytes("manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    if staging.local is not None and final.local is not None and staging != final:
        try:
            staging.local.rename(final.local)
        except OSError:  # prepared by another process meanwhile: keep theirs
            shutil.rmtree(staging.local, ignore_errors=True)
    return open_prepared(final)


def open_prepared(folder: Location | str | Path) -> Prepared:
    """A prepared dataset, checked: its format, and every shard there at its full size.
    DataError naming the file and what to do otherwise."""
    folder = location_of(folder)
    try:
        exists = folder.exists()
    except OSError as exc:
        raise DataError(f"cannot reach the prepared dataset '{folder.show()}': {first_line(exc)}") from None
    if not exists:
        raise DataError(f"prepared dataset '{folder.show()}' is gone (deleted while in use?); run again to "
                        "prepare the data again")  # fmt: skip
    try:
        manifest = json.loads(folder.read_text("manifest.json"))
    except (OSError, ValueError) as exc:
        raise DataError(f"prepared dataset '{folder.show()}' has no readable manifest ({exc}); "
                        f"delete that folder to prepare the data again") from None  # fmt: skip
    if manifest.get("format") != FORMAT:
        raise DataError(f"prepared dataset '{folder.show()}' has format {manifest.get('format')} (nagexp "
                        f"{manifest.get('nagexp')}), this nagexp reads format {FORMAT}; delete the folder "
                        "to prepare the data again")  # fmt: skip
    prepared = Prepared(folder, manifest)
    sizes = folder.sizes()  # one listing, not a request per shard
    for part in ("pool", "test"):
        for shard in prepared.shards(part):
            size = sizes.get(shard.file, -1)
            if size != shard.bytes:
                found = "missing" if size < 0 else f"{size} bytes, expected {shard.bytes}"
                raise DataError(f"shard '{folder.show(shard.file)}' is truncated or changed ({found}); "
                                f"delete '{folder.show()}' to prepare the data again")  # fmt: skip
    return prepared


def cache_dir_for(cache_dir: str | Path | None, results_dir: Path) -> Location:
    """The data cache: `--cache-dir` (a folder or a URI), or `data-cache` under the results root.
    A URI with credentials in it is refused: it is recorded in sweep.json and MLflow."""
    if cache_dir is not None and is_uri(cache_dir):
        location = Location(str(cache_dir))
        if location.show() != location.uri:
            raise ConfigError(f"--cache-dir '{location.show()}' has credentials in it, and it is recorded with the "
                              "sweep; give them in the environment instead (for S3: AWS_ACCESS_KEY_ID, "
                              "AWS_SECRET_ACCESS_KEY)")  # fmt: skip
        parts = urlsplit(location.uri)
        if not parts.netloc and (parts.scheme in BUCKET_SCHEMES or parts.path.strip("/") == ""):
            given = f"--cache-dir '{str(cache_dir).partition('?')[0]}'"  # as written (no host: no credentials)
            raise ConfigError(f"{given} names no bucket; give {parts.scheme}://BUCKET/PREFIX"
                              if parts.scheme in BUCKET_SCHEMES else f"{given} names no folder; give "
                              f"{parts.scheme}://HOST/PATH")  # fmt: skip
        return location
    return Location(Path(cache_dir or Path(results_dir) / "data-cache").expanduser().resolve())


def given_cache(cache_dir: str | Path | None, results_dir: Path) -> str | None:
    """The cache a run records for its reruns (best.yaml, config.yaml): the one it was given, as
    `cache_dir_for` resolves it; None for the default, which follows the rerun's results dir."""
    return None if cache_dir is None else str(cache_dir_for(cache_dir, results_dir))
