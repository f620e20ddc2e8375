"""README's quick-start output is what `make sweep`'s sweep prints here: the counts, the top
trials (params and values) and the best trial, line for line (`--deterministic`: the same on
any machine's CPU however its trials are timed). Timings and paths are left out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.config.space import SEARCH_SPACES_DIR

README = Path(__file__).resolve().parents[2] / "README.md"
MAKEFILE = README.parent / "Makefile"
ROW = re.compile(r"^\d+\s+(completed|pruned|diverged|errored)\s")
COUNTS = re.compile(r"^\d+ trials in [\d.]+ s: ")
BEST = re.compile(r"^best: trial \d+")


def demo_block() -> list[str]:
    """The output block under README's quick start."""
    text = README.read_text()
    start = text.index("```\n", text.index("`make sweep` runs `nagexp sweep")) + 4
    return text[start : text.index("```", start)].splitlines()


def what_is_compared(lines: list[str]) -> list[str]:
    kept = []
    for line in lines:
        if ROW.match(line):
            kept.append(" ".join(line.split()))
        elif COUNTS.match(line):
            kept.append(re.sub(r"in [\d.]+ s", "in _ s", line))
        elif BEST.match(line):
            kept.append(line)
    return kept


def test_the_makefile_runs_the_command_readme_shows() -> None:
    args = re.search(r"^SWEEP_ARGS \?= (.*)$", MAKEFILE.read_text(), re.M)
    assert args is not None
    assert f"`make sweep` runs `nagexp sweep {args.group(1)}`" in README.read_text()
    assert args.group(1) == "search_spaces/quick.yaml --trials 16 --seed 0 --deterministic --report"


@pytest.mark.slow
def test_readme_demo_output_is_reproduced(ray_runtime: None, tmp_path: Path) -> None:
    shown = what_is_compared(demo_block())
    assert len([s for s in shown if ROW.match(s)]) == 5 and len(shown) == 7, shown
    result = CliRunner().invoke(app, ["sweep", str(SEARCH_SPACES_DIR / "quick.yaml"), "--trials", "16", "--seed",
                                      "0", "--deterministic", "--no-track", "--name", "demo", "--results-dir",
                                      str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert what_is_compared(result.stdout.splitlines()) == shown
