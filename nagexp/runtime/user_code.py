"""The user's own code (models, datasets and schedules named by import path): the folder it lives in,
importable on the driver and on every Ray worker, and a content hash stored with results.

The folder is the current directory or `--code-dir`. What is hashed is what is shipped: its
`*.py` files (virtual environments, caches and hidden folders left out), copied to a
snapshot that Ray's runtime environment (`working_dir`) brings to every node, so trials run
the code as it was when the sweep started even if the files change meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nagexp.core.errors import ConfigError

__all__ = ["CodeSnapshot", "changed_code_warning", "code_folder", "make_importable", "snapshot", "staged_snapshot",
           "uses_user_code"]  # fmt: skip

MAX_FILES = 2000  # more is a home folder or an environment, not a project
MAX_BYTES = 50 * 2**20
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "build", "dist", "results", "mlruns"}


@dataclass(frozen=True)
class CodeSnapshot:
    root: Path  # absolute
    files: tuple[str, ...]  # relative POSIX paths of the *.py files, sorted
    digest: str  # sha256 (first 16 hex digits) of every file's path and bytes

    def record(self) -> dict[str, Any]:
        """What results store about the code: where it was and its hash."""
        return {"dir": str(self.root), "hash": self.digest, "files": len(self.files)}


def uses_user_code(models: Iterable[str], datasets: Iterable[str], lr_schedules: Iterable[str] = (),
                   momentum_schedules: Iterable[str] = ()) -> bool:  # fmt: skip
    """True when a model, dataset or schedule is named by import path rather than built in."""
    from nagexp.registries.datasets import made_by_user_code
    from nagexp.registries.models import is_builtin_model
    from nagexp.registries.schedules import is_builtin_schedule

    return (any(not is_builtin_model(m) for m in models) or any(made_by_user_code(d) for d in datasets)
            or any(not is_builtin_schedule("lr", s) for s in lr_schedules)
            or any(not is_builtin_schedule("momentum", s) for s in momentum_schedules))  # fmt: skip


def _python_files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        # hidden folders, caches, builds and virtual environments (they hold a pyvenv.cfg)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS
                         and not d.endswith(".egg-info") and not (here / d / "pyvenv.cfg").exists())  # fmt: skip
        yield from (here / f for f in sorted(files) if f.endswith(".py"))


def code_folder(root: str | Path) -> Path:
    """`root` resolved; ConfigError in one line when it is not a folder."""
    folder = Path(root).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(f"code folder '{folder}' does not exist; pass --code-dir with the folder of your code")
    return folder


def snapshot(root: str | Path) -> CodeSnapshot:
    """The *.py files under `root` and their hash; ConfigError for a missing folder or one
    too large to be a project's code."""
    root = code_folder(root)
    digest = hashlib.sha256()
    files: list[str] = []
    size = 0
    for path in _python_files(root):
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        size += len(data)
        files.append(rel)
        if len(files) > MAX_FILES or size > MAX_BYTES:
            raise ConfigError(
                f"code folder '{root}' holds more than {MAX_FILES} Python files or {MAX_BYTES // 2**20} MB; "
                "pass --code-dir with the folder that holds your model and dataset code"
            )
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return CodeSnapshot(root, tuple(files), digest.hexdigest()[:16])


def make_importable(root: str | Path) -> None:
    """Put `root` first on this process's import path (once)."""
    folder = str(Path(root).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
        import importlib

        importlib.invalidate_caches()


@contextlib.contextmanager
def staged_snapshot(code: CodeSnapshot) -> Iterator[Path]:
    """A copy of exactly the hashed files, for Ray to ship (`runtime_env={"working_dir": ...}`):
    the same code reaches every worker on every node, and nothing else (data, environments).
    Removed when the block ends: ray.init uploads it as a package named by its content, and
    workers get that package, never this folder. A folder of its own for each call, so a
    concurrent sweep of the same code never loses the copy it is shipping."""
    stage = Path(tempfile.mkdtemp(prefix=f"nagexp-code-{code.digest}-"))
    try:
        for rel in code.files:
            target = stage / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(code.root / rel, target)
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def changed_code_warning(saved: dict[str, Any] | None, root: str | Path) -> str | None:
    """One line when the code in `root` is not the code `saved` recorded (None when it is)."""
    if not saved or not saved.get("hash"):
        return None
    try:
        now = snapshot(root).digest
    except ConfigError:
        now = "missing"
    if now == saved["hash"]:
        return None
    return (f"warning: your code in {Path(root).resolve()} changed since this result was made "
            f"(code hash {saved['hash']} then, {now} now); the result may not repeat")  # fmt: skip
