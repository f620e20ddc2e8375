"""Where a prepared dataset lives: a local folder, or a folder behind a URI that pyarrow's
filesystems open (`s3://bucket/prefix`, `gs://...`, `hdfs://...`).

Local folders keep the fast path: files are memory-mapped. Remote ones are read by byte
range (a read task fetches the rows it picks, not the shard) and written object by object;
credentials and endpoints come from the environment as the filesystem's own tools take
them (for S3: `AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, ... or the URI's query, e.g.
`s3://bucket/cache?endpoint_override=host:9000&scheme=http`).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from nagexp.core.errors import NagexpError, first_line
from nagexp.core.io import atomic_write

__all__ = ["Location", "is_uri", "location_of"]

NPY_HEADER_PROBE = 4096  # bytes read to parse a .npy header (numpy's are a few hundred)


def is_uri(text: str | Path) -> bool:
    return "://" in str(text)


def _redacted(uri: str) -> str:
    """`uri` without credentials written into it (s3://KEY:SECRET@bucket/...)."""
    return re.sub(r"://[^/@]*@", "://", uri)


@cache
def _filesystem(root: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) for a URI; one per URI and process (each opens a client)."""
    import pyarrow.fs

    try:
        return pyarrow.fs.FileSystem.from_uri(root)
    except (ValueError, OSError) as exc:  # ArrowInvalid is a ValueError
        raise NagexpError(f"cannot open '{_redacted(root)}': {exc}; give a local folder or a URI pyarrow reads "
                          "(s3://bucket/prefix, gs://bucket/prefix)") from None  # fmt: skip


class Location:
    """A folder: `Location("/data/cache")` or `Location("s3://bucket/cache?query")`.
    Names passed to its methods are relative to it ("pool-00000.npy", "splits/ab/train.npy")."""

    def __init__(self, where: str | Path) -> None:
        text = str(where)
        if is_uri(text):
            base, _, query = text.partition("?")
            self.uri, self._query = base.rstrip("/"), f"?{query}" if query else ""
            self.local: Path | None = None
        else:
            self.local = Path(text).expanduser().resolve()
            self.uri, self._query = str(self.local), ""

    def __str__(self) -> str:
        return self.uri + self._query

    def __repr__(self) -> str:
        return f"Location({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def show(self, name: str = "") -> str:
        """The folder, or a file in it, as messages name it (no query: it may hold settings)."""
        return _redacted(f"{self.uri}/{name}" if name else self.uri)

    def child(self, name: str) -> Location:
        return Location(f"{self.uri}/{name}{self._query}")

    def _remote(self, name: str = "") -> tuple[Any, str]:
        fs, path = _filesystem(str(self))
        return fs, f"{path.rstrip('/')}/{name}" if name else path

    # -- reading -----------------------------------------------------------------------

    def exists(self, name: str = "") -> bool:
        if self.local is not None:
            return (self.local / name).exists()
        import pyarrow.fs

        fs, path = self._remote(name)
        return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound

    def sizes(self) -> dict[str, int]:
        """{file name: bytes} of the files directly in the folder (one listing)."""
        if self.local is not None:
            return {p.name: p.stat().st_size for p in self.local.iterdir() if p.is_file()}
        import pyarrow.fs

        fs, path = self._remote()
        infos = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
        return {i.base_name: i.size for i in infos if i.type == pyarrow.fs.FileType.File}

    def read_bytes(self, name: str) -> bytes:
        if self.local is not None:
            return (self.local / name).read_bytes()
        fs, path = self._remote(name)
        with fs.open_input_file(path) as f:
            return f.read()

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        if self.local is not None:
            with (self.local / name).open("rb") as f:
                f.seek(offset)
                return f.read(length)
        fs, path = self._remote(name)
        with fs.open_input_file(path) as f:
            return f.read_at(length, offset)

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode()

    def load_npy(self, name: str, mmap: bool = False) -> np.ndarray:
        """A .npy file: memory-mapped when local and `mmap`, else read whole."""
        if self.local is not None:
            return np.load(self.local / name, mmap_mode="r" if mmap else None)
        return np.load(io.BytesIO(self.read_bytes(name)))

    def npy_rows(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi of a .npy array (C order), reading only their bytes."""
        if self.local is not None:
            return np.asarray(np.load(self.local / name, mmap_mode="r")[lo:hi])
        head = io.BytesIO(self.read_range(name, 0, NPY_HEADER_PROBE))
        fmt = np.lib.format
        version = fmt.read_magic(head)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(head)
        if fortran:
            raise ValueError(f"'{self.show(name)}' is in Fortran order")
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        data = self.read_range(name, head.tell() + lo * row_bytes, (hi - lo) * row_bytes)
        return np.frombuffer(data, dtype).reshape((hi - lo, *shape[1:]))

    # -- writing -----------------------------------------------------------------------

    def write_bytes(self, name: str, data: bytes) -> None:
        if self.local is not None:  # all or nothing, like an object store's put
            atomic_write(self.local / name, lambda tmp: tmp.write_bytes(data))
            return
        fs, path = self._remote(name)
        with fs.open_output_stream(path) as f:  # an object store's put: all or nothing
            f.write(data)

    def save_npy(self, name: str, array: np.ndarray) -> int:
        """Write `array` as .npy; its size in bytes."""
        if self.local is not None:  # straight to the file, no copy in memory

            def write(tmp: Path) -> None:
                with tmp.open("wb") as f:
                    np.save(f, array)

            return atomic_write(self.local / name, write).stat().st_size
        buffer = io.BytesIO()
        np.save(buffer, array)
        self.write_bytes(name, buffer.getbuffer())
        return buffer.getbuffer().nbytes

    def delete(self, name: str) -> None:
        if self.local is not None:
            (self.local / name).unlink(missing_ok=True)
            return
        fs, path = self._remote(name)
        fs.delete_file(path)

    def remove(self) -> None:
        """Delete the folder and everything in it (nothing when it is not there)."""
        if self.local is not None:
            import shutil

            shutil.rmtree(self.local, ignore_errors=True)
            return
        fs, path = self._remote()
        with contextlib.suppress(OSError):
            fs.delete_dir(path)

    def check_writable(self) -> None:
        """Create the folder and write a probe file; one line saying what to do when that fails."""
        probe = f".write-test-{os.getpid()}"
        try:
            if self.local is not None:
                self.local.mkdir(parents=True, exist_ok=True)
            self.write_bytes(probe, b"")
            self.delete(probe)
        except OSError as exc:
            reason = exc.strerror or first_line(exc)
            raise NagexpError(f"cannot write the data cache '{self.show()}': {reason}; pass a writable "
                              "--cache-dir (a URI needs the storage's credentials and endpoint in the "
                              "environment)") from None  # fmt: skip


def location_of(where: str | Path | Location) -> Location:
    return where if isinstance(where, Location) else Location(where)
