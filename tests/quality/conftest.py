"""Builders for the quality tests: a baseline, capture records in the platform's own format
(`capture_format.capture_record`), SageMaker ground-truth lines, and streams of them."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from capture_format import capture_record
from mlops_drift.baseline import Baseline, build_baseline
from mlops_drift.capture import BinaryReadable

START = datetime(2026, 11, 27, 6, tzinfo=UTC)
"""The window's start; the test records are captured in its first hours."""


def make_baseline(*, label_output: bool = False, outputs: bool = True) -> Baseline:
    """Inputs `age` (numeric), `region` and `group` (categorical); output `score` (numeric)
    or `label` (categorical, when `label_output`)."""
    rng = np.random.default_rng(0)
    n = 200
    columns: dict[str, np.ndarray] = {
        "age": rng.integers(18, 90, n).astype(np.float64),
        "region": np.array(["north", "south", "east"] * 66 + ["west", "west"], dtype=object),
        "group": np.array(["a", "b"] * 100, dtype=object),
    }
    categorical = ["region", "group"]
    if outputs and label_output:
        columns["label"] = np.array(["0", "1"] * 100, dtype=object)
        categorical.append("label")
    elif outputs:
        columns["score"] = rng.random(n)
    names = [name for name in ("score", "label") if name in columns]
    return build_baseline(columns, categorical=categorical, outputs=names, bins=10)


@dataclass(frozen=True)
class Record:
    """One invocation: its event id, inputs, answer and when it happened."""

    event_id: str
    age: float = 40.0
    region: str = "north"
    group: str = "a"
    output: str = "0.5"
    at: datetime = START
    output_type: str = "text/csv"


def capture_bytes(records: Sequence[Record]) -> bytes:
    """The records as SageMaker data capture, written by the platform's own record builder."""
    return b"".join(
        capture_record(
            r.event_id,
            r.at,
            "text/csv",
            f"{r.age:g},{r.region},{r.group}".encode(),
            r.output_type,
            r.output.encode(),
        )
        for r in records
    )


def label_line(event_id: str | None, data: Any, encoding: str = "CSV") -> bytes:
    """One ground-truth line in SageMaker's format (no eventId when `event_id` is None)."""
    metadata: dict[str, Any] = {} if event_id is None else {"eventId": event_id}
    record = {
        "groundTruthData": {"data": data, "encoding": encoding},
        "eventMetadata": metadata,
        "eventVersion": "0",
    }
    return json.dumps(record).encode() + b"\n"


def labels_bytes(labels: Sequence[tuple[str, Any]]) -> bytes:
    return b"".join(label_line(event_id, data) for event_id, data in labels)


def streams(*parts: bytes) -> list[tuple[str, BinaryReadable]]:
    """In-memory streams named `part-<i>`."""
    return [(f"part-{i}", io.BytesIO(part)) for i, part in enumerate(parts)]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture(scope="session")
def baseline() -> Baseline:
    return make_baseline()


@pytest.fixture(scope="session")
def label_baseline() -> Baseline:
    return make_baseline(label_output=True)


def check(
    baseline: Baseline,
    records: Sequence[Record],
    labels: Sequence[tuple[str, Any]] | bytes,
    **options: Any,
) -> dict[str, Any]:
    """The report document of a check over the records and the labels (pairs or raw lines)."""
    from mlops_drift.quality import check_quality

    raw = labels if isinstance(labels, bytes) else labels_bytes(labels)
    options.setdefault("problem", "classification")
    report = check_quality(baseline, streams(capture_bytes(records)), streams(raw), **options)
    return report.to_json()


def value(block: dict[str, Any], name: str) -> Any:
    """A metric's value in a report block (overall or a segment)."""
    return block["metrics"][name]["value"]


def reason(block: dict[str, Any], name: str) -> Any:
    return block["metrics"][name]["reason"]


def segment_block(document: dict[str, Any], name: str | None) -> dict[str, Any]:
    for block in document["segments"]:
        if block["value"] == name:
            found: dict[str, Any] = block
            return found
    raise AssertionError(f"no segment {name!r} in {[b['value'] for b in document['segments']]}")
