"""AWS behind moto for the quality-check handler, and a stand-in for the engine.

The handler's job is the wiring: which capture and ground-truth objects of which hours reach
the engine, where the report goes, and how the engine's metrics become EMF. So the engine
(`mlops_drift.quality`, tested on its own in `tests/quality/`) is replaced by `FakeEngine`,
which records what it was given and computes accuracy and label coverage of the joined
records by the plainest rule, so the tests can compare with numbers counted by hand.

The world: a capture bucket with SageMaker data capture (written with the capture proxy's own
`capture_record`) of one endpoint in the hours around the window and ground truth in Model
Monitor's layout, a model-artifact bucket with the model's baseline, a reports bucket (default
encryption SSE-KMS, as the data lake's).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from capture_format import capture_record
from mlops_drift import settings
from mlops_drift.baseline import baseline_to_dict

from tests.drift.conftest import churn_baseline
from tests.lambda_context import LambdaContext

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

REGION = "eu-west-1"
CAPTURE_BUCKET = "mlops-platform-dev-lake-capture"
BASELINE_BUCKET = "mlops-platform-dev-lake-model-artifacts"
REPORTS_BUCKET = "mlops-platform-dev-lake-reports"
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-4000-8000-000000000000"
MODEL = "churn"
ENDPOINT = "mlops-platform-dev-churn"
RUN = datetime(2026, 11, 27, 6, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures"


def load_event(name: str = "quality_request.json") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


@dataclass(frozen=True)
class FakeContext(LambdaContext):
    function_name: str = "mlops-platform-dev-quality-check"
    memory_limit_in_mb: int = 2048
    remaining_millis: int = 900_000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


# ---- the engine's stand-in ----------------------------------------------------------------------


class FakeInputError(ValueError):
    """The stand-in's `QualityInputError`."""


@dataclass(frozen=True)
class FakeMetric:
    name: str
    value: float | None
    dimensions: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeReport:
    document: dict[str, Any]
    points: list[FakeMetric]

    def to_json(self) -> dict[str, Any]:
        return self.document

    def metrics(self) -> list[FakeMetric]:
        return self.points


@dataclass
class FakeEngine:
    """`check_quality` as the interface promises it: captures and labels as `(uri, stream)`;
    joins on the event id; accuracy and label coverage of the predictions in `window`."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: str | None = None
    QualityInputError: type[ValueError] = FakeInputError

    def check_quality(
        self,
        baseline: Any,
        captures: Iterable[tuple[str, Any]],
        labels: Iterable[tuple[str, Any]],
        **options: Any,
    ) -> FakeReport:
        if self.fail is not None:
            raise FakeInputError(self.fail)
        predictions: dict[str, tuple[float, str]] = {}
        capture_uris = []
        start, end = options["window"]
        for uri, stream in captures:
            capture_uris.append(uri)
            for line in stream.read().splitlines():
                record = json.loads(line)
                moment = datetime.fromisoformat(record["eventMetadata"]["inferenceTime"])
                if start <= moment < end:
                    score = float(record["captureData"]["endpointOutput"]["data"])
                    contract = record["captureData"]["endpointInput"]["data"].split(",")[2]
                    predictions[record["eventMetadata"]["eventId"]] = (score, contract)
        truth: dict[str, str] = {}
        label_uris = []
        for uri, stream in labels:
            label_uris.append(uri)
            for line in stream.read().splitlines():
                record = json.loads(line)
                truth[record["eventMetadata"]["eventId"]] = record["groundTruthData"]["data"]
        joined = [(predictions[i], truth[i]) for i in sorted(predictions) if i in truth]
        right = [
            (score >= options["threshold"]) == (label == options["positive_label"])
            for (score, _), label in joined
        ]
        self.calls.append(
            {
                "baseline_rows": baseline.rows,
                "captures": capture_uris,
                "labels": label_uris,
                "joined": sorted(i for i in predictions if i in truth),
                **options,
            }
        )
        points = [
            FakeMetric("Accuracy", sum(right) / len(right)),
            FakeMetric("LabelCoverage", len(joined) / len(predictions)),
            FakeMetric("RocAuc", None),  # undefined: puts no data point
        ]
        for segment in sorted({c for (_, c), _ in joined}):
            hits = [r for ((_, c), _), r in zip(joined, right, strict=True) if c == segment]
            points.append(FakeMetric("Accuracy", sum(hits) / len(hits), {"Segment": segment}))
        if options["sensitive"] is not None:
            points.append(
                FakeMetric("DisparateImpact", 0.75, {"SensitiveAttribute": options["sensitive"]})
            )
        document = {
            "kind": "fake-quality-report",
            "rows": len(predictions),
            "labeled": len(joined),
            "metrics": [p.__dict__ for p in points],
        }
        return FakeReport(document, points)


@pytest.fixture(scope="session")
def quality_handler() -> types.ModuleType:
    """The handler module; while the engine is not there yet, a placeholder module stands in
    for `mlops_drift.quality` at import (every test replaces it by a `FakeEngine`)."""
    try:
        importlib.import_module("mlops_drift.quality")
    except ModuleNotFoundError:
        placeholder = types.ModuleType("mlops_drift.quality")
        placeholder.QualityInputError = FakeInputError  # type: ignore[attr-defined]
        sys.modules["mlops_drift.quality"] = placeholder
    return importlib.import_module("quality_handler")


@pytest.fixture
def engine(quality_handler: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(quality_handler, "quality", fake)
    return fake


# ---- AWS ----------------------------------------------------------------------------------------


@dataclass
class Aws:
    s3: Any

    def keys(self, bucket: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    spill = tmp_path / "spill"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        settings.QUALITY_ENV_CAPTURE_BUCKET: CAPTURE_BUCKET,
        settings.QUALITY_ENV_BASELINE_BUCKET: BASELINE_BUCKET,
        settings.QUALITY_ENV_REPORTS_BUCKET: REPORTS_BUCKET,
        settings.QUALITY_ENV_SPILL_DIR: str(spill),
    }.items():
        monkeypatch.setenv(name, value)
    return spill


@pytest.fixture
def aws(
    aws_env: Path, quality_handler: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Aws]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (CAPTURE_BUCKET, BASELINE_BUCKET, REPORTS_BUCKET):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        s3.put_bucket_encryption(
            Bucket=REPORTS_BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": KMS_KEY,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_object(
            Bucket=BASELINE_BUCKET,
            Key=settings.BASELINE_KEY.format(model=MODEL),
            Body=json.dumps(baseline_to_dict(churn_baseline())).encode(),
        )
        monkeypatch.setattr(quality_handler, "s3", s3)
        yield Aws(s3=s3)


# ---- capture and ground truth -------------------------------------------------------------------


def hour_path(moment: datetime) -> str:
    return moment.strftime("%Y/%m/%d/%H/")


def capture_lines(records: list[tuple[str, datetime, str, float]]) -> bytes:
    """Capture of `(event id, time, contract, score)`, as the capture proxy writes it."""
    return b"".join(
        capture_record(
            event_id,
            moment,
            "text/csv",
            f"12,70.5,{contract}".encode(),
            "text/csv",
            f"{score}".encode(),
        )
        for event_id, moment, contract, score in records
    )


def label_lines(labels: list[tuple[str, str]]) -> bytes:
    """Ground truth of `(event id, label)` in Model Monitor's format."""
    return b"".join(
        json.dumps(
            {
                "groundTruthData": {"data": label, "encoding": "CSV"},
                "eventMetadata": {"eventId": event_id},
                "eventVersion": "0",
            }
        ).encode()
        + b"\n"
        for event_id, label in labels
    )


def at(hour: int, minute: int = 10) -> datetime:
    return RUN.replace(hour=0) + timedelta(hours=hour, minutes=minute)
