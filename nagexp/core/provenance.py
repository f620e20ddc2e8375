"""Versions and git state recorded next to every result, so it can be rerun."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["CPU_KERNELS_KEY", "cpu_kernels", "git_sha", "kernels_hint", "package_versions"]

_PACKAGES = ("nagexp", "torch", "numpy", "ray", "optuna", "mlflow", "pydantic", "scikit-learn")
CPU_KERNELS_KEY = "torch_cpu_kernels"  # in package_versions(): what a result on CPU was computed with
KERNELS_VARIABLE = "ATEN_CPU_CAPABILITY"  # torch's variable that pins them (read once, at its first CPU op)
_PINNABLE = ("default", "avx2", "avx512")  # values of it on x86 (get_cpu_capability() names them in capitals)


def package_versions() -> dict[str, str]:
    """Python's and the packages' versions, and the CPU kernels torch runs here (`CPU_KERNELS_KEY`)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions[CPU_KERNELS_KEY] = cpu_kernels()
    return versions


def cpu_kernels() -> str:
    """The vector kernels torch's CPU ops run in this process (AVX2, AVX512, ...): torch picks them
    by the CPU, and $ATEN_CPU_CAPABILITY pins them. They round differently, so a result computed
    on CPU reruns bit for bit only on the same kernels."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def kernels_hint(recorded: dict[str, str]) -> str | None:
    """Why a CPU rerun can differ from a result whose `recorded` versions name other CPU kernels
    than this process runs, and how to pin them; None when they are the same (or not recorded)."""
    then, now = recorded.get(CPU_KERNELS_KEY), cpu_kernels()
    if then is None or then == now:
        return None
    how = (f"rerun with {KERNELS_VARIABLE}={then.lower()} in the environment" if then.lower() in _PINNABLE
           else f"rerun where torch runs {then}")
    return f"it ran on torch's {then} CPU kernels and this process runs {now}, which round differently: {how}"


def git_sha(path: str | Path | None = None) -> str | None:
    """The commit of the checkout holding `path` (default: this package), with '+dirty'."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
