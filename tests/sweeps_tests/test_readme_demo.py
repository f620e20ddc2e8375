"""README's quick-start output is `make sweep`'s demo as it runs here, every line of it.

The pages do not quote the demo by hand: each output block that follows a
`<!-- demo-output (KIND): ... -->` line is written from one real run of the Makefile's
`SWEEP_ARGS` (`--deterministic`: the same trials and values on every run), and the slow test
reruns the demo and compares every line, after masking only what differs from run to run
(`VARYING`). Both run the trials on torch's AVX2 kernels (`PAGES_KERNELS`), so the pages agree on
machines whose CPUs have AVX2 or AVX-512 (both seen in CI). After a change to what a sweep
prints, regenerate them with one command:

    .venv/bin/python -m tests.sweeps_tests.test_readme_demo --write     (or: make readme-demo)
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import re
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nagexp.cli import app
from nagexp.core.provenance import KERNELS_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
PAGES = [README, ROOT / "docs" / "getting-started.md", ROOT / "docs" / "index.md"]
REGENERATE = "python -m tests.sweeps_tests.test_readme_demo --write"
# `<!-- demo-output (KIND): ... -->`, then a fenced block: KIND says which view of the run it holds
MARKER = re.compile(r"^<!-- demo-output \((make sweep|sweep|excerpt)\): .* -->$")
PROGRESS = re.compile(r"^\[\d\d:\d\d\] done ")
HOME = "/home/you/nagexp"  # the folder the pages show the demo run from (the run's is a temporary one)
# torch picks its CPU kernels by the CPU (AVX-512 where it has them, else AVX2), and they round
# differently: enough to flip a pruning decision between two of the demo's trials (143
# validation images), so that a VM with AVX-512 printed trial 9 best where one with AVX2 printed
# trial 5. The demo's trial processes run AVX2's (with this pin alone, the AVX-512 VM printed the
# pages' run: oneDNN's convolutions and MKL's products, which pick their own, agreed there).
PAGES_KERNELS = {KERNELS_VARIABLE: "avx2"}

# ---- what differs from run to run: masked before comparing, and nothing else is ----------------
VARYING: list[tuple[re.Pattern[str], str]] = [
    # elapsed time on the progress lines and the sweep's wall time: the machine and its load
    (re.compile(r"^\[\d\d:\d\d\]"), "[mm:ss]"),
    (re.compile(r" trials in \d+ s: "), " trials in _ s: "),
    # how many trials Ray had started when the first epoch came in (or the first heartbeat): timing
    (re.compile(r"^(\[mm:ss\] done 0/\d+ \| running )\d+"), r"\1_"),
    # the default sweep name is its start time
    (re.compile(r"\bquick-\d{8}-\d{6}\b"), "quick-<started>"),
    # MLflow's run ids are random
    (re.compile(r"\bMLflow run [0-9a-f]{32}\b"), "MLflow run <id>"),
]
# (the run's temporary folder is shown as HOME by `run_demo`; the lines' trailing blanks are dropped)


def masked(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for pattern, replacement in VARYING:
            line = pattern.sub(replacement, line)
        out.append(line)
    return out


# ---- the run and its views ----------------------------------------------------------------------
def sweep_args() -> list[str]:
    """The demo's arguments, from the Makefile (what `make sweep` runs)."""
    found = re.search(r"^SWEEP_ARGS \?= (.*)$", MAKEFILE.read_text(), re.M)
    assert found is not None, "Makefile: no `SWEEP_ARGS ?= ...` line"
    return found.group(1).split()


def run_demo(workdir: Path) -> list[str]:
    """stdout of `nagexp sweep SWEEP_ARGS` run from `workdir` (results in `workdir/results`, as
    `make sweep` leaves them in the repository's), `workdir` shown as HOME. Ray must be up with
    2 CPUs (the pages show a 2-core machine)."""
    (workdir / "search_spaces").symlink_to(ROOT / "search_spaces")
    with contextlib.chdir(workdir):
        result = CliRunner().invoke(app, ["sweep", *sweep_args()])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for folder in {str(workdir.resolve()), str(workdir)}:
        text = text.replace(folder, HOME)
    return [line.rstrip() for line in text.splitlines()]


def make_sweep_view(run: list[str]) -> list[str]:
    """What `make sweep` prints: the run, its progress lines between the first and the last
    elided (how many there are depends on timing), then the Makefile's own `next:` line."""
    progress = [i for i, line in enumerate(run) if PROGRESS.match(line)]
    assert len(progress) >= 2, run
    shown = run[: progress[0] + 1] + (["..."] if len(progress) > 2 else []) + run[progress[-1] :]
    echo = re.search(r'^\t@echo "(next: .*)"$', MAKEFILE.read_text(), re.M)
    assert echo is not None, "Makefile: the sweep target's `next:` echo is gone"
    return [*shown, echo.group(1).replace("$(BIN)", ".venv/bin")]


def views(run: list[str]) -> dict[str, list[str]]:
    """Each KIND of block the pages hold, from one run."""
    full = make_sweep_view(run)
    sweep = full[:-1]  # `nagexp sweep` alone: without the Makefile's line
    pick = [line for line in sweep if re.match(r"^\d+ trials in |^best: |^rerun it: ", line)]
    return {"make sweep": full, "sweep": sweep,
            "excerpt": [f"$ nagexp sweep {' '.join(sweep_args())}", "...", *pick]}  # fmt: skip


# ---- the pages' blocks ----------------------------------------------------------------------------
def page_blocks(page: Path) -> list[tuple[str, int, int]]:
    """(KIND, first line, end line) of each block after a demo-output marker: lines[first:end]."""
    lines, found = page.read_text().splitlines(), []
    for i, line in enumerate(lines):
        mark = MARKER.match(line)
        if mark is None:
            continue
        assert lines[i + 1].startswith("```"), f"{page.name}:{i + 2}: a demo-output marker is not followed by a fence"
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        found.append((mark.group(1), i + 2, end))
    return found


def shown_blocks() -> list[tuple[str, str, list[str]]]:
    """(where, KIND, lines) of every generated block on the pages."""
    out = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        for kind, first, end in page_blocks(page):
            out.append((f"{page.relative_to(ROOT)}:{first + 1}", kind, lines[first:end]))
    return out


def write_pages(run: list[str]) -> list[str]:
    """Every generated block replaced by its view of `run`; returns the pages changed."""
    written, expected = [], views(run)
    for page in PAGES:
        text = page.read_text()
        lines = text.splitlines()
        for kind, first, end in reversed(page_blocks(page)):
            lines[first:end] = expected[kind]
        new = "\n".join(lines) + ("\n" if text.endswith("\n") else "")
        if new != text:
            page.write_text(new)
            written.append(str(page.relative_to(ROOT)))
    return written


def differences(run: list[str]) -> str:
    """A diff per page block that is not what `run` shows (masked); empty when all agree."""
    expected, out = views(run), []
    for where, kind, lines in shown_blocks():
        if masked(lines) != masked(expected[kind]):
            out += [f"{where} ({kind}):", *difflib.unified_diff(masked(lines), masked(expected[kind]), "page", "run",
                                                                lineterm="")]  # fmt: skip
    return "\n".join(out)


# ---- the tests --------------------------------------------------------------------------------
def test_the_makefile_runs_the_command_readme_shows() -> None:
    args = " ".join(sweep_args())
    assert f"`make sweep` runs `nagexp sweep {args}`" in README.read_text()
    assert args == "search_spaces/quick.yaml --trials 16 --seed 0 --deterministic --report"


def test_every_page_holds_its_generated_blocks() -> None:
    kinds = {str(page.relative_to(ROOT)): [k for k, _, _ in page_blocks(page)] for page in PAGES}
    assert kinds == {"README.md": ["make sweep"], "docs/getting-started.md": ["sweep"], "docs/index.md": ["excerpt"]}


def test_the_masks_leave_the_values() -> None:
    """Only timings, names and ids are masked: the table's rows, the counts and the best are
    compared as they are."""
    (_, _, block), *_ = shown_blocks()
    kept = [line for line in block if re.match(r"^\d+\s+(completed|pruned|diverged|errored)\s|^best: ", line)]
    assert len(kept) == 6 and masked(kept) == kept
    counts = next(line for line in block if re.match(r"^\d+ trials in ", line))
    assert masked([counts])[0].split(": ")[1] == counts.split(": ")[1]
    last = [line for line in block if PROGRESS.match(line)][-1]
    assert masked([last])[0][len("[mm:ss]") :] == last[len("[00:00]") :]


@pytest.mark.slow
@pytest.mark.worker_env(**PAGES_KERNELS)
def test_readme_demo_output_is_reproduced(two_cpus: None, tmp_path: Path) -> None:  # the pages show 2 cores
    diff = differences(run_demo(tmp_path))
    assert not diff, f"the pages' demo output is not what the demo prints; regenerate it: {REGENERATE}\n{diff}"


# ---- regenerating ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sweeps_tests.test_readme_demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--write", action="store_true", help="rewrite the pages' blocks (default: only compare)")
    write = parser.parse_args(argv).write
    import ray

    from nagexp.runtime.ray_session import connect_ray, ray_settings

    with ray_settings(), pytest.MonkeyPatch.context() as patch:  # as the test's `two_cpus` and `worker_env`:
        for name, value in PAGES_KERNELS.items():  # the pages show a 2-core machine, on these kernels
            patch.setenv(name, value)
        connect_ray(None, num_cpus=2)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run = run_demo(Path(tmp))
    finally:
        ray.shutdown()
    if write:
        print("rewrote: " + (", ".join(write_pages(run)) or "nothing (the pages were up to date)"))
        return 0
    diff = differences(run)
    print(diff or "the pages' demo output is what the demo prints")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
