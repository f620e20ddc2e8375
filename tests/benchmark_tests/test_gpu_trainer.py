"""gpu_trainer under `make bench`: its GPU parts need CUDA and the CIFAR-10 JPEGs; lacking either,
they are skipped with the reason (after the CPU check) instead of failing the whole list."""

from __future__ import annotations

import tarfile
from pathlib import Path

from benchmarks.common import jpeg_folder
from benchmarks.gpu_trainer import gpu_parts_need


def test_the_gpu_parts_say_what_they_lack() -> None:
    assert gpu_parts_need(False, Path("cifar")) == "CUDA"
    assert gpu_parts_need(True, None) == "the CIFAR-10 JPEGs: --data DIR"
    assert gpu_parts_need(True, Path("cifar")) is None


def test_data_is_a_folder_or_its_tarball(tmp_path: Path) -> None:
    tree = tmp_path / "tree" / "cifar10"
    for split in ("train", "test"):
        (tree / split / "cat").mkdir(parents=True)
        (tree / split / "cat" / "0.jpg").write_bytes(b"jpeg")
    assert jpeg_folder(tree, tmp_path / "unused") == tree
    with tarfile.open(tmp_path / "c.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname="cifar10")
    found = jpeg_folder(tmp_path / "c.tar.gz", tmp_path / "x")
    assert found == tmp_path / "x" / "full" / "cifar10"
    assert (found / "test" / "cat" / "0.jpg").read_bytes() == b"jpeg"
