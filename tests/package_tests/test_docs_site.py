"""The documentation site's generated and measured pages: the CLI reference lists every command
and option the Typer app has; the benchmarks page has one row per benchmark, naming its JSON."""

from __future__ import annotations

import importlib.util
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


def test_the_cli_reference_lists_every_command_and_option() -> None:
    page = _hook().cli_reference()
    commands = _commands(typer.main.get_command(app), ["nagexp"])
    assert len(commands) >= 10  # train, sweep, ls, report, reproduce, compare, ui, spaces list/show/validate
    for path, command in commands:
        section = page.split(f"## `{' '.join(path)}`\n", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            for name in [*param.opts, *param.secondary_opts] if param.param_type_name == "option" else [param.name]:
                assert name in section, f"{' '.join(path)}: {name} missing from the CLI reference"


def test_the_benchmarks_page_has_one_row_per_benchmark() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    named = [re.match(r"\| `(\w+)`", row).group(1) for row in rows]
    benchmarks = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if "def main(" in p.read_text())
    assert sorted(named) == benchmarks  # each exactly once
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 6, row
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", cells[4]), f"no date: {row[:60]}"
        assert re.search(r"torch \d+\.\d+", cells[3]) and "Ray " in cells[3], f"machine and versions: {row[:60]}"
        json_cell = cells[5].strip("`")
        assert json_cell == "not kept" or (ROOT / "benchmarks" / "measured" / json_cell).is_file(), json_cell
