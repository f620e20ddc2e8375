"""DataReport: what the data pipeline read, dropped and kept, as one row of counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DataReport"]


@dataclass(frozen=True)
class DataReport:
    """What the pipeline read, dropped and kept."""

    dataset: str
    read_train: int  # samples in the source's training part
    read_test: int  # samples in the source's test part (0 when it has none)
    unreadable_files: int  # image files that failed to decode, skipped
    dropped_nonfinite: int  # samples with NaN/inf pixels
    dropped_bad_label: int  # labels not an integer in [0, num_classes)
    dropped_duplicates: int  # exact duplicate images inside the training data
    dropped_test_leaks: int  # test images identical to a training image
    train: int
    val: int
    test: int
    test_source: str  # "dataset" (its own test split) or "held-out" (split here)
    stratified: bool  # False when a class was too small to stratify

    def summary(self) -> str:
        dropped = (
            f"dropped {self.dropped_nonfinite} non-finite, {self.dropped_bad_label} bad-label, "
            f"{self.dropped_duplicates} duplicate, {self.dropped_test_leaks} test-leak"
        )
        unreadable = f", {self.unreadable_files} unreadable files skipped" if self.unreadable_files else ""
        return (
            f"{self.dataset}: read {self.read_train}+{self.read_test}; {dropped}{unreadable}; "
            f"split train {self.train} / val {self.val} / test {self.test} ({self.test_source} test)"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
