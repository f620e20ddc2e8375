"""Which folder a sweep argument names: a sweep's folder given as a path, or the sweep of that
name in the results dir, which a plain folder of the same name here does not hide."""

from __future__ import annotations

from pathlib import Path

import pytest

from nagexp.core.errors import ConfigError
from nagexp.results.folders import sweep_dir_of


def make_sweep(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text("{}")
    return folder


def test_a_name_finds_the_results_dirs_sweep_past_a_plain_folder_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cifar").mkdir()  # the user's code folder, say, named as the sweep
    sweep = make_sweep(tmp_path / "results" / "cifar")
    assert sweep_dir_of("cifar", tmp_path / "results") == sweep.resolve()


def test_a_sweeps_folder_given_as_a_path_is_used_and_a_plain_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    here = make_sweep(tmp_path / "s")
    make_sweep(tmp_path / "results" / "s")
    assert sweep_dir_of("s", tmp_path / "results") == here.resolve()  # a sweep here, named: this one
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="is not a sweep's folder"):
        sweep_dir_of(str(tmp_path / "plain"), tmp_path / "results")
    with pytest.raises(ConfigError, match="no sweep 'gone'"):
        sweep_dir_of("gone", tmp_path / "results")


def test_the_commands_a_message_gives_keep_a_path_with_a_space_one_word(tmp_path: Path) -> None:
    import shlex

    from nagexp.config.space import SEARCH_SPACES_DIR
    from nagexp.config.sweep import SweepOptions
    from nagexp.results.folders import results_dir_option
    from nagexp.sweeps.folder import resume_command
    from nagexp.sweeps.spec import resolve_sweep

    spaced = tmp_path / "my results"
    assert shlex.split(results_dir_option(spaced)) == ["--results-dir", str(spaced)]
    spec = resolve_sweep(SweepOptions(space=SEARCH_SPACES_DIR / "quick.yaml", name="s", results_dir=spaced))
    assert shlex.split(resume_command(spec)) == ["nagexp", "sweep", "--resume", "s", "--results-dir", str(spaced)]
    moved = spec.model_copy(update={"sweep_dir": spaced / "renamed"})  # a folder renamed since: its path
    assert shlex.split(resume_command(moved)) == ["nagexp", "sweep", "--resume", str(spaced / "renamed")]
