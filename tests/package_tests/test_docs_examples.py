"""Every command block in README and the user guide either runs here or says why it cannot,
and prints what the page shows it printing.

A ```bash or ```python block preceded by `<!-- not-tested: REASON -->` needs data, a GPU, a
cluster or minutes; every other one is run, in order within its page, from a folder that sees
the repository's search spaces and examples (so results go to a temporary folder), joined to
the suite's shared Ray runtime through $RAY_ADDRESS rather than starting one each. A ```text
block right after a run block (blank lines between at most) is what the page says it prints:
each of its lines must be among the lines the block printed, in that order (a page may leave
lines out), after masking only what differs from run to run (`VARYING`).
"""

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
HERE = "<here>"  # the folder a page's command ran in (the page's author's; the test's temporary one)

# ---- what differs from run to run: masked on both sides before comparing, nothing else is -------
VARYING: list[tuple[re.Pattern[str], str]] = [
    # the default sweep and run names are their start time
    (re.compile(r"\b([a-z0-9][\w.]*(?:-[a-z][\w.]*)*)-\d{8}-\d{6}\b"), r"\1-<started>"),
    # the absolute folder the command ran in, before the folders a user sees in it
    (re.compile(r"(?<![\w/])(?:/[\w.+-]+)+?/(?=(?:search_spaces|results|examples)\b)"), f"{HERE}/"),
    # `nagexp train`'s epoch table: its last two columns are seconds and samples/s
    (re.compile(r"^(\s+\d+(?:\s+\S+)+?)\s+\d+\.\d+\s+\d+$"), r"\1  <sec> <samples/s>"),
    # the Ray runtime: the pages' commands start one (`local`), the test's join its shared one
    (re.compile(r"^(  ray        )\S+$"), r"\1<ray>"),
    # `nagexp ls`: the outcome of a sweep run without --deterministic (ASHA stops the second
    # trial to reach a rung if it is behind the first: which is second is timing)
    (re.compile(r"^(\S+-<started>\s+finished\s+\d+/\d+)\s+\d+\s+\d+\s+(\d+\s+\d+\s+\w+) \d\.\d+ \(trial \d+\)$"),
     r"\1  <completed> <pruned>  \2 <best>"),
]


@dataclass
class Block:
    page: Path
    line: int
    language: str
    code: str
    reason: str | None  # why it is not run; None: it is run
    shown: list[str] | None = None  # the output the page shows for it (a text block right after it)

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
        if found[-1].language == "text" and len(found) > 1 and found[-2].language in RUNNABLE:
            between = lines[found[-2].line + found[-2].code.count("\n") + 2 : i]  # after the run block's fence
            if not any(line.strip() for line in between):
                found[-2].shown = found[-1].code.splitlines()
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


def masked(lines: list[str], here: list[str] = ()) -> list[str]:
    """`lines` without their trailing blanks, with what varies masked (`here`: the folders the
    command ran in, shown as HERE)."""
    out = []
    for line in lines:
        for folder in sorted(here, key=len, reverse=True):
            line = line.replace(folder, HERE)
        for pattern, replacement in VARYING:
            line = pattern.sub(replacement, line)
        out.append(line.rstrip())
    return out


def unprinted(shown: list[str], printed: list[str]) -> list[str]:
    """The lines of `shown` not found among `printed` in order (both masked)."""
    rest, missing = iter(printed), []
    for line in shown:
        if line and not any(p == line for p in rest):
            missing.append(line)
            rest = iter(printed)  # report every missing line, not only the first
    return missing


@pytest.mark.fast
def test_the_pages_show_output_and_the_masks_leave_the_values() -> None:
    shown = [b for page in PAGES for b in runnable(page) if b.shown]
    assert len(shown) >= 4, [str(b) for b in shown]  # the pages were read: their outputs are checked
    train = next(b for b in shown if b.code.strip().startswith("nagexp train"))
    table = [line for line in train.shown if re.match(r"^\s+\d+\s", line)]
    assert table and all(masked([line])[0].endswith("  <sec> <samples/s>") for line in table)
    assert masked(table)[0].split()[:7] == table[0].split()[:7]  # the losses, accuracies and lr are compared
    ls_row = "quick-20261202-125917  finished  2/2     2          0       0         0        val_acc 0.9860 (trial 1)"
    assert masked(["  space      /x/y/search_spaces/quick.yaml", "in /tmp/a/results/cnn-nag-20261204-045802"]) == [
        "  space      <here>/search_spaces/quick.yaml", "in <here>/results/cnn-nag-<started>"]  # fmt: skip
    (row,) = masked([ls_row])  # the sweep, its state and trials stay
    assert row == "quick-<started>  finished  2/2  <completed> <pruned>  0         0        val_acc <best>"
    assert unprinted(["b", "d"], ["a", "b", "c", "d"]) == [] and unprinted(["d", "b"], ["a", "b", "c", "d"]) == ["b"]


def _workdir(tmp: Path) -> Path:
    """A folder that sees the repository's spaces and examples; results land in it."""
    for name in ("search_spaces", "examples"):
        (tmp / name).symlink_to(ROOT / name)
    return tmp


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_pages_command_blocks_run(page: Path, tmp_path: Path, joined_env: dict[str, str]) -> None:
    cwd = _workdir(tmp_path)
    env = {**joined_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    for block in runnable(page):
        command = [sys.executable, "-c", block.code] if block.language == "python" else ["bash", "-e", "-c", block.code]
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{block}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        if block.shown:
            printed = masked((done.stdout + done.stderr).splitlines(), here=[str(cwd.resolve()), str(cwd), str(ROOT)])
            missing = unprinted(masked(block.shown), printed)
            assert not missing, (f"{block}: the page shows lines it did not print (masked):\n" + "\n".join(missing)
                                 + "\n--- it printed:\n" + "\n".join(printed))  # fmt: skip
