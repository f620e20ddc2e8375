"""Memory mode from prepared shards: the cleaned arrays read back (no decoding), then the
same split, normalization and fingerprint as data read straight from its source."""

from __future__ import annotations

from nagexp.data.bundle import CleanData, DataBundle, bundle_from_clean
from nagexp.data.cleaning import CleaningCounts
from nagexp.data.prepared.store import Prepared

__all__ = ["clean_counts", "load_bundle"]


def clean_counts(prepared: Prepared) -> tuple[CleaningCounts, int]:
    """What cleaning dropped when the data was prepared, and the unreadable files."""
    counts = dict(prepared.manifest["counts"])
    unreadable = int(counts.pop("unreadable_files", 0))
    return CleaningCounts(**counts), unreadable


def load_bundle(prepared: Prepared, dataset: str, *, val_fraction: float, test_fraction: float,
                split_seed: int) -> DataBundle:  # fmt: skip
    counts, unreadable = clean_counts(prepared)
    has_test = prepared.has_part("test")
    clean = CleanData(
        x_pool=prepared.read_part("pool"),
        y_pool=prepared.labels("pool"),
        x_test=prepared.read_part("test") if has_test else None,
        y_test=prepared.labels("test") if has_test else None,
        counts=counts,
        unreadable=unreadable,
        num_classes=prepared.num_classes,
        class_names=tuple(prepared.manifest["class_names"]),
    )
    return bundle_from_clean(clean, dataset, val_fraction=val_fraction, test_fraction=test_fraction,
                             split_seed=split_seed)  # fmt: skip
