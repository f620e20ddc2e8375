"""The data a run used, as an MLflow dataset input (the UI's Dataset column): the spec as
its name, the content fingerprint as its digest, the cleaning report as its profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["dataset_input"]


def dataset_input(data: Any, spec: str, context: str = "training") -> Any:
    """An `mlflow.entities.DatasetInput` for `data` (nagexp.data.batches.TrainData) read from `spec`."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from nagexp.registries.datasets import parse_dataset_spec

    parsed = parse_dataset_spec(spec)
    path = parsed.path
    if path and parsed.facts.from_files:
        source_type, source = "local", {"uri": str(Path(path).expanduser().resolve())}
    else:  # the embedded dataset or the user's function: read by code, not from a path
        source_type, source = "code", {"tags": {"mlflow.source.name": f"nagexp dataset '{spec}'"}}
    report = data.report
    profile = {"train": report.train, "val": report.val, "test": report.test, "num_classes": data.num_classes,
               "input_shape": list(data.input_shape), "test_source": report.test_source,
               "dropped": report.read_train + report.read_test - report.train - report.val - report.test}  # fmt: skip
    dataset = Dataset(name=spec, digest=data.fingerprint, source_type=source_type, source=json.dumps(source),
                      profile=json.dumps(profile))  # fmt: skip
    return DatasetInput(dataset=dataset, tags=[InputTag(key="mlflow.data.context", value=context)])
