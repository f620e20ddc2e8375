"""The package's shape, checked as CI checks it: every import points down (import-linter's
contracts in pyproject.toml, which fail on a planted upward import), no cycle between files, and
library internals (private attributes and modules of Ray, Optuna, MLflow, ...) only under
nagexp/integrations/."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "nagexp"
LIBRARIES = ("ray", "optuna", "mlflow", "torch", "pyarrow", "typer", "pydantic")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_layers_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout


@pytest.mark.parametrize(("module", "planted"), [
    ("data/bundle.py", "from nagexp.sweeps import runner as _planted  # an import that runs back up\n"),
    ("results/records.py", "def _planted() -> None:\n    import nagexp.report.data  # still an import\n"),
])  # fmt: skip
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, planted: str) -> None:
    shutil.copytree(PACKAGE, tmp_path / "nagexp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "nagexp" / module
    target.write_text(target.read_text() + "\n" + planted)
    done = _lint_imports(tmp_path)
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout[-3000:]


def _imports(path: Path, module: str, is_package: bool) -> tuple[set[str], list[str]]:
    """(nagexp modules `path` imports, its uses of other libraries' private names)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    private: list[str] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                found.add(a.name)
                aliases[(a.asname or a.name).split(".")[0]] = a.name
                if any(p.startswith("_") and not p.startswith("__") for p in a.name.split(".")[1:]):
                    private.append(f"{path.name}:{node.lineno} import {a.name}")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*parts, base] if base else parts)
            for a in node.names:
                found.add(f"{base}.{a.name}")
                aliases[a.asname or a.name] = f"{base}.{a.name}"
                if a.name.startswith("_") and not a.name.startswith("__") and base.split(".")[0] in LIBRARIES:
                    private.append(f"{path.name}:{node.lineno} from {base} import {a.name}")
            if base.split(".")[0] in LIBRARIES and any(p.startswith("_") for p in base.split(".")):
                private.append(f"{path.name}:{node.lineno} from {base} import ...")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            head = node.value
            while isinstance(head, ast.Attribute):
                head = head.value
            if isinstance(head, ast.Name) and aliases.get(head.id, "").split(".")[0] in LIBRARIES:
                private.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return {m for m in found if m.split(".")[0] == "nagexp"}, private


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_library_internals_only_behind_the_door() -> None:
    found = []
    for module, path in _modules().items():
        if not module.startswith("nagexp.integrations"):
            found += _imports(path, module, path.name == "__init__.py")[1]
    assert found == [], "private library uses outside nagexp/integrations/: " + "; ".join(found)


def test_no_cycle_between_files() -> None:
    modules = _modules()
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in _imports(path, module, path.name == "__init__.py")[0]:
            while name and name not in modules:  # `from nagexp.x import name` ties to nagexp.x
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        edges[module] = targets
    # a file reaching back to itself through others is a cycle
    for start in modules:
        stack, seen = list(edges[start]), set()
        while stack:
            node = stack.pop()
            assert node != start or start == "nagexp", f"{start} imports itself through {sorted(seen)}"
            if node not in seen and node != "nagexp":  # the package face imports the API by design
                seen.add(node)
                stack.extend(edges.get(node, ()))
