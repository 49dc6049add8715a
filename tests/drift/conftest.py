"""AWS behind moto for the drift-check handler tests: buckets, the platform bus, capture files.

The world the handlers meet in an account: a capture bucket holding SageMaker data capture of
one endpoint with two production variants (CSV payloads on `AllTraffic`, JSON and base64 JSON
on `Shadow`, a few malformed lines), a model-artifact bucket with the model's baseline, a
reports bucket, and the platform event bus with a rule sending the drift events to an SQS
queue, which the tests read to see exactly what a subscriber would receive.

The capture lines are built from the real-looking samples in `fixtures/handler/`, with the
values of seeded synthetic records put in.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlops_drift import settings
from mlops_drift.baseline import Baseline, baseline_to_dict, build_baseline

from tests.lambda_context import LambdaContext

# The handler module creates its boto3 clients at import, as in Lambda, where AWS_REGION is
# always set; give the tests a region before any test module imports it.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CAPTURE_BUCKET = "mlops-dev-capture-123456789012"
BASELINE_BUCKET = "mlops-dev-model-artifacts-123456789012"
REPORTS_BUCKET = "mlops-dev-reports-123456789012"
BUS = "mlops-dev-platform"
NAMESPACE = settings.METRICS_NAMESPACE
MODEL = "churn"
ENDPOINT = "churn-prod"
WINDOW_END = datetime(2026, 11, 27, 6, tzinfo=UTC)
WINDOW_HOURS = 3
STAMP = "2026-11-27T06-00-00Z"
FIXTURES = Path(__file__).parent / "fixtures" / "handler"
CONTRACTS = ("monthly", "yearly", "two-year")


def load_event(name: str) -> dict[str, Any]:
    """An event as the scheduler or the state machine passes it, from `fixtures/handler/`."""
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


@dataclass(frozen=True)
class FakeContext(LambdaContext):
    """This suite's function, as Lambda would describe it to the handler."""

    function_name: str = "mlops-dev-drift-check"
    memory_limit_in_mb: int = 2048
    remaining_millis: int = 600_000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


# ---- data ---------------------------------------------------------------------------------------


def churn_records(seed: int, n: int, *, drifted: bool = False) -> dict[str, np.ndarray]:
    """Columns of `n` synthetic churn-model records; `drifted` moves every input a lot."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, n).astype(np.float64)
    charges = np.round(np.clip(rng.normal(65.0, 30.0, n), 18.0, 120.0), 2)
    probs = [0.55, 0.25, 0.20]
    if drifted:
        tenure = np.minimum(tenure + 40.0, 110.0)
        charges = np.round(charges + 35.0, 2)
        probs = [0.10, 0.20, 0.70]
    contract = rng.choice(np.array(CONTRACTS, dtype=object), n, p=probs)
    logit = 1.5 - 0.05 * tenure + 0.01 * charges + (contract == "monthly") * 1.0
    score = np.round(1.0 / (1.0 + np.exp(-logit)), 4)
    return {"tenure": tenure, "monthly_charges": charges, "contract": contract, "score": score}


def churn_baseline() -> Baseline:
    return build_baseline(
        churn_records(seed=1, n=5000),
        categorical=["contract"],
        outputs=["score"],
        description="s3://mlops-dev-data-lake/churn/train.parquet",
        bins=200,
    )


def _sample(name: str) -> dict[str, Any]:
    line: dict[str, Any] = json.loads((FIXTURES / name).read_text().splitlines()[0])
    return line


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def capture_lines(
    columns: dict[str, np.ndarray], payload: str, start: datetime, *, first_id: int = 0
) -> list[bytes]:
    """Capture lines of these records: `csv`, `json` or `base64` (JSON, base64-encoded)."""
    sample = _sample("capture_csv.jsonl" if payload == "csv" else "capture_json.jsonl")
    lines = []
    for i in range(len(columns["tenure"])):
        tenure = _number(columns["tenure"][i])
        charges = _number(columns["monthly_charges"][i])
        contract = str(columns["contract"][i])
        score = _number(columns["score"][i])
        line = copy.deepcopy(sample)
        capture = line["captureData"]
        if payload == "csv":
            capture["endpointInput"]["data"] = f"{tenure},{charges},{contract}"
            capture["endpointOutput"]["data"] = score
        else:
            body = json.dumps(
                {"tenure": float(tenure), "monthly_charges": float(charges), "contract": contract}
            )
            answer = json.dumps({"predictions": [{"score": float(score), "label": 0}]})
            if payload == "base64":
                body = base64.b64encode(body.encode()).decode()
                answer = base64.b64encode(answer.encode()).decode()
            capture["endpointInput"].update(
                data=body, encoding="BASE64" if payload == "base64" else "JSON"
            )
            capture["endpointOutput"].update(
                data=answer, encoding="BASE64" if payload == "base64" else "JSON"
            )
        line["eventMetadata"]["eventId"] = f"{first_id + i:08d}-0000-4000-8000-000000000000"
        line["eventMetadata"]["inferenceTime"] = (start + timedelta(seconds=7 * i)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        lines.append(json.dumps(line, separators=(",", ":")).encode())
    return lines


def emf(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents Powertools printed (one JSON document per line)."""
    documents = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            if "_aws" in document:
                documents.append(document)
    return documents


def metric_values(stdout: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """`{(metric, sorted dimensions): value}` of every EMF data point printed."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for document in emf(stdout):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            dimensions = tuple(sorted((d, str(document[d])) for d in directive["Dimensions"][0]))
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                out[(metric["Name"], dimensions)] = float(
                    value[0] if isinstance(value, list) else value
                )
    return out


# ---- AWS ----------------------------------------------------------------------------------------


@dataclass
class Aws:
    """The account as the handlers see it, with the helpers the tests use to set it up."""

    s3: Any
    events: Any
    sqs: Any
    queue_url: str
    written: dict[str, int] = field(default_factory=dict)

    def put_baseline(self, baseline: Baseline | bytes, key: str | None = None) -> str:
        key = key or settings.BASELINE_KEY.format(model=MODEL)
        body = baseline if isinstance(baseline, bytes) else json.dumps(baseline_to_dict(baseline))
        self.s3.put_object(Bucket=BASELINE_BUCKET, Key=key, Body=body)
        return key

    def put_capture(
        self, variant: str, hour: datetime, name: str, lines: list[bytes], *, gz: bool = False
    ) -> str:
        key = f"{settings.capture_prefix(ENDPOINT)}{variant}/{hour:%Y/%m/%d/%H}/{name}"
        body = b"\n".join(lines) + b"\n"
        if gz:
            key += ".gz"
            body = gzip.compress(body)
        self.s3.put_object(Bucket=CAPTURE_BUCKET, Key=key, Body=body)
        return key

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def get(self, bucket: str, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def report(self, stamp: str = STAMP) -> dict[str, Any]:
        key = settings.report_prefix(MODEL, stamp) + "report.json"
        document: dict[str, Any] = json.loads(self.get(REPORTS_BUCKET, key))
        return document

    def received(self) -> list[dict[str, Any]]:
        """Every event the bus delivered to the queue so far (drains it)."""
        out: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = answer.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


def provision(client: Callable[[str], Any]) -> Aws:
    """Buckets, the bus, and a rule sending the drift events to a queue."""
    s3 = client("s3")
    for bucket in (CAPTURE_BUCKET, BASELINE_BUCKET, REPORTS_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    events = client("events")
    events.create_event_bus(Name=BUS)
    sqs = client("sqs")
    queue_url = sqs.create_queue(QueueName="drift-events-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="drift-events",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": [settings.EVENT_SOURCE]}),
    )
    events.put_targets(
        Rule="drift-events", EventBusName=BUS, Targets=[{"Id": "subscriber", "Arn": queue_arn}]
    )
    return Aws(s3=s3, events=events, sqs=sqs, queue_url=queue_url)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the component sets on the functions; fake credentials so nothing reaches AWS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        settings.ENV_CAPTURE_BUCKET: CAPTURE_BUCKET,
        settings.ENV_BASELINE_BUCKET: BASELINE_BUCKET,
        settings.ENV_REPORTS_BUCKET: REPORTS_BUCKET,
        settings.ENV_EVENT_BUS: BUS,
        settings.ENV_THRESHOLDS: json.dumps({"psi": 0.2, "drift_share": 0.5}),
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto in-process; the handler module's clients replaced by clients made under it."""
    import boto3
    import handler
    from moto import mock_aws

    with mock_aws():
        world = provision(lambda service: boto3.client(service, region_name=REGION))
        monkeypatch.setattr(handler, "s3", boto3.client("s3", region_name=REGION))
        monkeypatch.setattr(handler, "eventbridge", boto3.client("events", region_name=REGION))
        yield world


@dataclass(frozen=True)
class Written:
    """What a test put in the window, to compare with what the handler read."""

    keys: list[str]
    """Capture objects inside the window."""
    outside: list[str]
    """Capture objects of the endpoint outside it (the hour before and the end hour)."""
    records: int
    malformed: int


def write_window(world: Aws, *, drifted: bool = False, per_object: int = 75) -> Written:
    """Capture of the standard window (hours 03-05 of 2026-11-27), both variants.

    AllTraffic (CSV) in hours 03 and 05 (one object gzip'd), Shadow (JSON, base64 JSON) in
    hours 04 and 05, two generated objects each, plus the two real-looking samples with their
    malformed lines; and objects in hours 02 and 06, outside the window.
    """
    keys = []
    seed = 100 if not drifted else 200
    records = 0
    layout = [("AllTraffic", 3, "csv"), ("AllTraffic", 5, "csv"), ("Shadow", 4, "json"),
              ("Shadow", 5, "base64")]  # fmt: skip
    for n, (variant, hour, payload) in enumerate(layout):
        start = WINDOW_END.replace(hour=hour)
        for part in range(2):
            seed += 1
            columns = churn_records(seed, per_object, drifted=drifted)
            lines = capture_lines(columns, payload, start, first_id=seed * 1000)
            name = f"{part * 29:02d}-{n:02d}-{seed:03d}-6f1c2a4e-{seed:04d}-4b1e-9d2e-1b2c3d4e5f60"
            gz = variant == "AllTraffic" and hour == 5 and part == 1
            keys.append(world.put_capture(variant, start, f"{name}.jsonl", lines, gz=gz))
            records += per_object
    csv_sample = (FIXTURES / "capture_csv.jsonl").read_bytes().splitlines()
    json_sample = (FIXTURES / "capture_json.jsonl").read_bytes().splitlines()
    keys.append(
        world.put_capture("AllTraffic", WINDOW_END.replace(hour=3), "sample.jsonl", csv_sample)
    )
    keys.append(
        world.put_capture("Shadow", WINDOW_END.replace(hour=4), "sample.jsonl", json_sample)
    )
    records += 4 + 2
    outside = []
    for hour in (2, 6):
        start = WINDOW_END.replace(hour=hour)
        lines = capture_lines(churn_records(hour, 50, drifted=True), "csv", start)
        outside.append(world.put_capture("AllTraffic", start, "outside.jsonl", lines))
    return Written(keys=sorted(keys), outside=outside, records=records, malformed=1 + 2)
