"""Every command block in README and the user guide either runs here or says why it cannot.

A ```bash or ```python block preceded by `<!-- not-tested: REASON -->` needs data, a GPU, a
cluster or minutes; every other one is run, in order within its page, from a folder that sees
the repository's search spaces and examples (so results go to a temporary folder)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)?\s*$")
MARK = re.compile(r"^<!-- not-tested: (.+) -->$")
RUNNABLE = {"bash", "sh", "python"}


@dataclass
class Block:
    page: Path
    line: int
    language: str
    code: str
    reason: str | None  # why it is not run; None: it is run

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found, lines = [], page.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        mark = MARK.match(lines[i - 1]) if i > 0 else None
        found.append(Block(page, i + 1, fence.group(1) or "", "\n".join(lines[i + 1 : end]),
                           mark.group(1) if mark else None))  # fmt: skip
        i = end + 1
    return found


def runnable(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.language in RUNNABLE and b.reason is None]


@pytest.mark.fast
def test_every_command_block_is_run_or_says_why_not() -> None:
    checked = [b for page in PAGES for b in blocks(page) if b.language in RUNNABLE]
    assert len(checked) > 20  # the pages were read
    marked_elsewhere = [str(b) for page in PAGES for b in blocks(page) if b.reason and b.language not in RUNNABLE]
    assert not marked_elsewhere, f"a not-tested mark on a block that is never run: {marked_elsewhere}"
    too_many = {str(p.relative_to(ROOT)): n for p in PAGES if (n := len(runnable(p))) > 6}
    assert not too_many, f"keep the run blocks short and few (mark the rest not-tested): {too_many}"


def _workdir(tmp: Path) -> Path:
    """A folder that sees the repository's spaces and examples; results land in it."""
    for name in ("search_spaces", "examples"):
        (tmp / name).symlink_to(ROOT / name)
    return tmp


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_pages_command_blocks_run(page: Path, tmp_path: Path) -> None:
    cwd = _workdir(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    for block in runnable(page):
        command = [sys.executable, "-c", block.code] if block.language == "python" else ["bash", "-e", "-c", block.code]
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{block}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
