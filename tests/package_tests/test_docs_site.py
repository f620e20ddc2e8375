"""The documentation site's generated and measured pages: the CLI reference page, as MkDocs
builds it, lists every command and option the Typer app has with its help; the benchmarks page
has one row per benchmark, and a row that quotes a kept JSON names the machine and versions
that JSON recorded."""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from nagexp.cli import app

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parents[2]


def _hook() -> Any:
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs" / "hooks" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    found = [(path, command)]
    if hasattr(command, "list_commands"):
        ctx = command.context_class(command, info_name=" ".join(path))
        for name in command.list_commands(ctx):
            found += _commands(command.get_command(ctx, name), [*path, name])
    return found


def _shown(text: str) -> str:
    """Help text as the reference's table cells hold it (one line, HTML-escaped, pipes escaped)."""
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def test_the_cli_reference_lists_every_command_and_option() -> None:
    assert "docs/hooks/cli_reference.py" in yaml_hooks()  # MkDocs runs the hook
    source = (ROOT / "docs" / "reference" / "cli.md").read_text()
    assert source.count(_hook().MARKER) == 1
    page = _hook().on_page_markdown(source)  # the page as the site shows it
    assert _hook().MARKER not in page
    commands = _commands(typer.main.get_command(app), ["nagexp"])
    assert len(commands) >= 10  # train, sweep, ls, report, reproduce, compare, ui, spaces list/show/validate
    for path, command in commands:
        section = page.split(f"## `{' '.join(path)}`\n", 1)[1].split("\n## ", 1)[0]
        assert _shown((command.help or "").split("\n\n")[0]) in section, f"{' '.join(path)}: its help"
        for param in command.params:
            for name in [*param.opts, *param.secondary_opts] if param.param_type_name == "option" else [param.name]:
                assert name in section, f"{' '.join(path)}: {name} missing from the CLI reference"
            if getattr(param, "help", None):
                assert _shown(param.help) in section, f"{' '.join(path)}: the help of {param.name}"


def yaml_hooks() -> list[str]:
    found = re.search(r"^hooks:\n((?:  - .*\n)+)", (ROOT / "mkdocs.yml").read_text(), re.M)
    return [line.strip()[2:] for line in found.group(1).splitlines()] if found else []


def test_the_benchmarks_page_has_one_row_per_benchmark() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    named = [re.match(r"\| `(\w+)`", row).group(1) for row in rows]
    benchmarks = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if "def main(" in p.read_text())
    assert sorted(named) == benchmarks  # each exactly once
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 6, row
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(, \d{4}-\d{2}-\d{2})*", cells[4]), f"no date: {row[:60]}"
        assert re.search(r"torch \d+\.\d+", cells[3]) and "Ray " in cells[3], f"machine and versions: {row[:60]}"
        if cells[5] == "not kept":
            continue
        for json_cell in (name.strip().strip("`") for name in cells[5].split(",")):  # one JSON per task
            assert (ROOT / "benchmarks" / "measured" / json_cell).is_file(), json_cell
            _row_names_its_machine(cells, json.loads((ROOT / "benchmarks" / "measured" / json_cell).read_text()))


def machine_parts(cell: str) -> list[str]:
    """A machine-and-versions cell cut where each machine's description begins (`2-core ...` or
    `NVIDIA ...`): a row of a CPU and a GPU run names each machine with its own versions."""
    return [part for part in re.split(r"(?=\b\d+-core\b|\bNVIDIA )", cell) if re.search(r"core|NVIDIA", part)]


def _row_names_its_machine(cells: list[str], measured: dict[str, Any]) -> None:
    """The row's machine-and-versions and date cells say what its JSON recorded: the machine
    (cores, GPU) and, in the part of the cell that names that machine, its versions."""
    machine, name = measured["machine"], cells[0]
    gpu = machine["cuda"] or "no GPU"
    parts = [p for p in machine_parts(cells[3]) if gpu in p and re.search(rf"\b{machine['cores']}[- ]cores?\b", p)]
    assert parts, f"{name}: no {machine['cores']}-core machine with {gpu} in '{cells[3]}'"
    labels = {"python": "Python", "torch": "torch", "ray": "Ray", "optuna": "Optuna", "mlflow": "MLflow"}
    for key, label in labels.items():
        if version := machine["versions"].get(key):
            assert f"{label} {version.split('+')[0]}" in parts[0], f"{name}: {label} {version} ({gpu})"
    if "date" in measured:  # a row of several JSONs (a CPU and a GPU run) lists each one's date
        assert measured["date"] in cells[4].split(", "), f"{name}: measured on {measured['date']}"
