"""Versions and git state recorded next to every result, so it can be rerun."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["KERNELS_KEY", "KERNELS_VARIABLE", "VERSIONS_KERNELS_KEY", "cpu_kernels", "git_sha", "kernels_hint",
           "merged_kernels", "package_versions"]  # fmt: skip

_PACKAGES = ("nagexp", "torch", "numpy", "ray", "optuna", "mlflow", "pydantic", "scikit-learn")
VERSIONS_KERNELS_KEY = "torch_cpu_kernels"  # in package_versions(): the kernels of the process that wrote them
# the kernels a CPU result was computed on, beside it: a trial's report and trials.csv (a
# data-parallel trial's: each worker's, in rank order, comma-separated), best.yaml, a train run's
# config.yaml; empty where it ran on a GPU
KERNELS_KEY = "cpu_kernels"
KERNELS_VARIABLE = "ATEN_CPU_CAPABILITY"  # torch's variable that pins them (read once, at its first CPU op)
# x86's kernels from the narrowest up, as get_cpu_capability() names them, with the value that pins
# each: a pin wider than the CPU is not checked by torch (illegal instructions), so only a pin at
# or below the kernels this process runs is suggested
_X86_KERNELS = {"NO AVX": "default", "DEFAULT": "default", "AVX2": "avx2", "AVX512": "avx512"}


def package_versions() -> dict[str, str]:
    """Python's and the packages' versions, and the CPU kernels torch runs in this process
    (`VERSIONS_KERNELS_KEY`: on a cluster, a node with another CPU can run others)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions[VERSIONS_KERNELS_KEY] = cpu_kernels()
    return versions


def cpu_kernels() -> str:
    """The vector kernels of torch's own CPU ops in this process (AVX2, AVX512, ...): torch picks
    them by the CPU, and they round differently, so a result computed on CPU reruns bit for bit
    only on the same (docs/guide/sweeps.md, deterministic mode)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def merged_kernels(before: str, reported: str) -> str:
    """A trial's kernels after another report: as reported while they stay the same; the kinds of
    both, sorted, once a report (a retry or a resume on another node) brings others."""
    if not before or not reported or before == reported:
        return reported or before
    return ",".join(sorted(set(before.split(",")) | set(reported.split(","))))


def kernels_hint(then: str | None) -> str | None:
    """Why a CPU rerun can differ from a result computed on the CPU kernels `then` (several,
    comma-separated: a data-parallel trial's workers, or a trial run on more than one node) when
    this process runs others, and how to run those; None when they are the same (or not recorded)."""
    now = cpu_kernels()
    kinds = sorted(set(then.split(","))) if then else []
    if not kinds or kinds == [now]:
        return None
    if len(kinds) > 1:
        return (f"it ran on torch's {' and '.join(kinds)} CPU kernels (CPUs of more than one kind), which round "
                "differently: a rerun on one kind of CPU cannot repeat that")  # fmt: skip
    then = kinds[0]
    order = list(_X86_KERNELS)
    if then in _X86_KERNELS and now in _X86_KERNELS and order.index(then) <= order.index(now):
        how = f"rerun with {KERNELS_VARIABLE}={_X86_KERNELS[then]} in the environment"
    else:
        how = f"rerun on a CPU where torch runs {then}"
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
