"""The capture proxy in front of a serverless endpoint: passthrough, capture, sampling, faults.

Firehose and S3 run under moto in-process (moto's Firehose delivers each PutRecord to the S3
destination as an object under the stream's prefix plus `YYYY/MM/DD/HH/`; it does not evaluate
`!{timestamp:…}` expressions, so the stream here is created with the literal prefix up to the
variant, which moto completes with the same hour folders). `sagemaker-runtime` is botocore's
Stubber with InvokeEndpoint's real response shapes, since moto cannot run a model.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

import capture_settings as settings
import proxy  # makes its clients at import: the region above comes first
from botocore.response import StreamingBody
from botocore.stub import Stubber
from mlops_drift.baseline import build_baseline
from mlops_drift.capture import profile_capture, read_capture_columns
from pydantic import ValidationError

from tests.lambda_context import LambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ENDPOINT = "churn-serverless"
VARIANT = "AllTraffic"
STREAM = "mlops-dev-capture-churn-serverless"
BUCKET = "mlops-dev-capture-123456789012"
FIXTURES = Path(__file__).parent / "fixtures"
PREFIX = f"{settings.CAPTURE_PREFIX}/{ENDPOINT}/{VARIANT}/"


def load_event(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


@dataclass(frozen=True)
class FakeContext(LambdaContext):
    """This suite's function, as Lambda would describe it to the handler."""

    function_name: str = "mlops-dev-capture-proxy-churn"
    remaining_millis: int = 30_000
    aws_request_id: str = "3f9c2b1a-7d4e-4c5f-8a6b-0e1d2c3b4a59"


@dataclass
class World:
    s3: Any
    firehose: Any
    runtime: Stubber

    def answers(self, body: bytes, content_type: str, expected: dict[str, Any]) -> None:
        """InvokeEndpoint's next response, as the real service returns it."""
        self.runtime.add_response(
            "invoke_endpoint",
            {
                "Body": StreamingBody(io.BytesIO(body), len(body)),
                "ContentType": content_type,
                "InvokedProductionVariant": VARIANT,
            },
            expected,
        )

    def captured(self) -> bytes:
        """Every object Firehose delivered under the variant's prefix, concatenated by key."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        return b"".join(self.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.captured().splitlines()]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        settings.ENV_ENDPOINT_NAME: ENDPOINT,
        settings.ENV_VARIANT_NAME: VARIANT,
        settings.ENV_DELIVERY_STREAM: STREAM,
        settings.ENV_SAMPLING_PERCENT: "100",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def world(env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        firehose = boto3.client("firehose", region_name=REGION)
        firehose.create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-capture-firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": PREFIX,
                "ErrorOutputPrefix": settings.firehose_error_prefix(ENDPOINT, VARIANT),
            },
        )
        runtime = boto3.client("sagemaker-runtime", region_name=REGION)
        stubber = Stubber(runtime)
        monkeypatch.setattr(proxy, "firehose", firehose)
        monkeypatch.setattr(proxy, "runtime", runtime)
        with stubber:
            yield World(s3=s3, firehose=firehose, runtime=stubber)
            stubber.assert_no_pending_responses()


def metric_values(stdout: str) -> dict[str, float]:
    """`{metric: value}` of the EMF documents Powertools printed."""
    out: dict[str, float] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                assert directive["Namespace"] == settings.METRICS_NAMESPACE
                assert document["endpoint"] == ENDPOINT
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    out[metric["Name"]] = float(value[0] if isinstance(value, list) else value)
    return out


CSV_EXPECTED = {
    "EndpointName": ENDPOINT,
    "Body": b"12,29.85,monthly",
    "ContentType": "text/csv",
    "Accept": "text/csv",
}


# ---- passthrough and the exact record -----------------------------------------------------------


def test_csv_invocation_is_passed_through_and_captured_exactly(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a Function URL invocation with a CSV row, and the model answering a score
    world.answers(b"0.6171", "text/csv; charset=utf-8", CSV_EXPECTED)
    # WHEN the proxy serves it
    response = proxy.lambda_handler(load_event("function_url_csv.json"), FakeContext())
    # THEN the caller gets the model's answer unchanged
    assert response == {
        "statusCode": 200,
        # The record's eventId comes back, so the caller can send the ground truth under it.
        "headers": {
            "content-type": "text/csv; charset=utf-8",
            "x-inference-id": "3f9c2b1a-7d4e-4c5f-8a6b-0e1d2c3b4a59",
        },
        "body": "0.6171",
        "isBase64Encoded": False,
    }
    # AND exactly one record in SageMaker's data-capture shape, one line ending in "\n"
    raw = world.captured()
    assert raw.endswith(b"\n")
    assert raw.count(b"\n") == 1
    assert json.loads(raw) == {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": "12,29.85,monthly",
                "encoding": "CSV",
            },
            "endpointOutput": {
                "observedContentType": "text/csv; charset=utf-8",
                "mode": "OUTPUT",
                "data": "0.6171",
                "encoding": "CSV",
            },
        },
        "eventMetadata": {
            "eventId": "3f9c2b1a-7d4e-4c5f-8a6b-0e1d2c3b4a59",
            # The event's time is 10:00:00; the record carries when the proxy received it.
            "inferenceTime": json.loads(raw)["eventMetadata"]["inferenceTime"],
        },
        "eventVersion": "0",
    }
    stamp = json.loads(raw)["eventMetadata"]["inferenceTime"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    # AND it lands in the drift checks' layout: datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/
    key = world.s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"][0]["Key"]
    assert re.fullmatch(re.escape(PREFIX) + r"\d{4}/\d\d/\d\d/\d\d/[^/]+", key)
    assert metric_values(capsys.readouterr().out) == {settings.METRIC_CAPTURED: 1.0}


def test_json_and_binary_payloads_are_encoded_as_sagemaker_does(world: World) -> None:
    # GIVEN a JSON invocation and a binary (base64 in the event) one
    body = b'{"tenure": 34, "monthly_charges": 56.95, "contract": "yearly"}'
    answer = b'{"predictions": [{"score": 0.1893}]}'
    world.answers(
        answer,
        "application/json",
        {"EndpointName": ENDPOINT, "Body": body, "ContentType": "application/json",
         "Accept": "application/json"},
    )  # fmt: skip
    npy = base64.b64decode(load_event("function_url_binary.json")["body"])
    world.answers(
        b"[0.5]",
        "application/json",
        {"EndpointName": ENDPOINT, "Body": npy, "ContentType": "application/x-npy",
         "Accept": "application/json"},
    )  # fmt: skip
    # WHEN both are served
    first = proxy.lambda_handler(load_event("function_url_json.json"), FakeContext())
    second = proxy.lambda_handler(load_event("function_url_binary.json"), FakeContext())
    # THEN the answers pass through
    assert (first["statusCode"], first["body"]) == (200, answer.decode())
    assert (second["statusCode"], second["body"]) == (200, "[0.5]")
    # AND JSON is captured as text with encoding JSON, anything else as BASE64
    by_id = {r["eventMetadata"]["eventId"]: r["captureData"] for r in world.records()}
    assert by_id["b2a4c6e8-1f3d-4b5a-9c7e-2d4f6a8b0c1e"]["endpointInput"] == {
        "observedContentType": "application/json",
        "mode": "INPUT",
        "data": body.decode(),
        "encoding": "JSON",
    }
    binary = by_id["c0ffee00-1234-4abc-8def-0123456789ab"]
    assert binary["endpointInput"] == {
        "observedContentType": "application/x-npy",
        "mode": "INPUT",
        "data": base64.b64encode(npy).decode(),
        "encoding": "BASE64",
    }
    assert binary["endpointOutput"]["encoding"] == "JSON"


def test_binary_answer_is_returned_base64_and_captured_base64() -> None:
    # GIVEN a model answering bytes that are not UTF-8
    body = bytes([0x93, 0xFF, 0x00, 0x10])
    request = proxy.Request(b"1,2", "text/csv", None, "e", datetime(2026, 11, 27, tzinfo=UTC))
    answer = proxy.Answer(body, "application/x-npy")
    # THEN the HTTP body is base64 of the same bytes, and the record carries them as BASE64
    response = proxy.http_response(200, answer.body, answer.content_type)
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == body
    record = json.loads(proxy.capture_record(request, answer))
    assert record["captureData"]["endpointOutput"]["encoding"] == "BASE64"
    assert record["eventMetadata"]["inferenceTime"] == "2026-11-27T00:00:00.000Z"
    # AND text/csv that is not UTF-8 falls back to BASE64 rather than lying
    part = proxy.capture_part("text/csv", b"\xff,1", "INPUT")
    assert (part["encoding"], part["data"]) == ("BASE64", base64.b64encode(b"\xff,1").decode())


def test_http_api_event_with_non_uuid_request_id_gets_a_uuid_event_id(world: World) -> None:
    world.answers(
        b"0.6171",
        "text/csv",
        {**CSV_EXPECTED, "ContentType": "text/csv; charset=utf-8"},
    )
    response = proxy.lambda_handler(load_event("http_api_csv.json"), FakeContext())
    assert response["statusCode"] == 200
    (record,) = world.records()
    event_id = record["eventMetadata"]["eventId"]
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", event_id
    )
    assert event_id == proxy.event_id_of("JKJaXmPLvHcESHA=")


# ---- ids for ground truth: the caller's X-Inference-Id ------------------------------------------


def named_event(inference_id: str, header: str = "x-inference-id") -> dict[str, Any]:
    """The CSV Function URL event with the caller's inference id (Function URLs and HTTP APIs
    hand the handler lower-case header names)."""
    event = load_event("function_url_csv.json")
    event["headers"][header] = inference_id
    return event


@pytest.mark.parametrize("header", ["x-inference-id", "X-Inference-Id"])
def test_a_valid_inference_id_names_the_invocation_the_record_and_the_answer(
    world: World, header: str
) -> None:
    # GIVEN a caller naming its invocation, and the model answering
    given = "order-42:2026.11.27_a"
    world.answers(b"0.6171", "text/csv", {**CSV_EXPECTED, "InferenceId": given})
    # WHEN the proxy serves it
    response = proxy.lambda_handler(named_event(given, header), FakeContext())
    # THEN InvokeEndpoint got it as InferenceId (the Stubber checked the exact parameters)
    # AND the answer echoes it
    assert response["statusCode"] == 200
    assert response["headers"] == {"content-type": "text/csv", "x-inference-id": given}
    # AND the record carries it as eventId and inferenceId, as SageMaker's own capture does
    (record,) = world.records()
    assert record["eventMetadata"] == {
        "eventId": given,
        "inferenceId": given,
        "inferenceTime": record["eventMetadata"]["inferenceTime"],
    }


@pytest.mark.parametrize("bad", ["", "a" * 65, "has space", "slash/no", "ünïcode", "a\nb"])
def test_an_invalid_inference_id_is_a_400_and_nothing_is_invoked_or_captured(
    world: World, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    # GIVEN no InvokeEndpoint answer queued: a call would fail the Stubber
    # WHEN the caller sends an id outside the rule
    response = proxy.lambda_handler(named_event(bad), FakeContext())
    # THEN a 400 naming the header and what it accepts, with no id echoed
    assert response["statusCode"] == 400
    assert response["headers"] == {"content-type": "application/json"}
    message = json.loads(response["body"])["message"]
    assert message.startswith("header X-Inference-Id=")
    assert "1 to 64 characters of A-Z a-z 0-9 . _ : -" in message
    assert message.endswith("or leave it out and the proxy makes one")
    # AND nothing was captured, and the refusal is counted with the failed invocations
    assert world.captured() == b""
    assert metric_values(capsys.readouterr().out) == {settings.METRIC_INVOKE_FAILED: 1.0}


def test_a_very_long_invalid_inference_id_is_shortened_in_the_message(world: World) -> None:
    response = proxy.lambda_handler(named_event("x" * 200), FakeContext())
    message = json.loads(response["body"])["message"]
    assert f"={'x' * 80 + '...'!r} is not accepted" in message


def test_without_an_inference_id_the_record_has_the_request_id_and_no_inference_id(
    world: World,
) -> None:
    # GIVEN no header: InvokeEndpoint is called without InferenceId (exact parameters)
    world.answers(b"0.6171", "text/csv", CSV_EXPECTED)
    response = proxy.lambda_handler(load_event("function_url_csv.json"), FakeContext())
    # THEN the eventId is today's (the Function URL's request id), echoed on the answer
    (record,) = world.records()
    assert record["eventMetadata"]["eventId"] == "3f9c2b1a-7d4e-4c5f-8a6b-0e1d2c3b4a59"
    assert "inferenceId" not in record["eventMetadata"]
    assert response["headers"]["x-inference-id"] == "3f9c2b1a-7d4e-4c5f-8a6b-0e1d2c3b4a59"


def test_a_failed_invocation_still_echoes_the_callers_id(world: World) -> None:
    world.runtime.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="worker died",
        http_status_code=424,
        modeled_fields={"OriginalStatusCode": 500, "OriginalMessage": "worker died"},
        expected_params={**CSV_EXPECTED, "InferenceId": "order-43"},
    )
    response = proxy.lambda_handler(named_event("order-43"), FakeContext())
    assert response["statusCode"] == 424
    assert response["headers"]["x-inference-id"] == "order-43"
    assert world.captured() == b""


def test_the_record_builder_writes_inference_id_only_when_given() -> None:
    received = datetime(2026, 11, 27, 10, 0, 0, 123_000, tzinfo=UTC)
    named = proxy.Request(b"1,2", "text/csv", None, "order-1", received, inference_id="order-1")
    unnamed = proxy.Request(b"1,2", "text/csv", None, "6d1b2e3f-aaaa-4bbb-8ccc-0123456789ab",
                            received)  # fmt: skip
    answer = proxy.Answer(b"0.5", "text/csv")
    # SageMaker's order: eventId, inferenceId (when there is one), inferenceTime.
    assert json.loads(proxy.capture_record(named, answer))["eventMetadata"] == {
        "eventId": "order-1",
        "inferenceId": "order-1",
        "inferenceTime": "2026-11-27T10:00:00.123Z",
    }
    assert b'"eventMetadata":{"eventId":"order-1","inferenceId":"order-1","inferenceTime"' in (
        proxy.capture_record(named, answer)
    )
    assert json.loads(proxy.capture_record(unnamed, answer))["eventMetadata"] == {
        "eventId": "6d1b2e3f-aaaa-4bbb-8ccc-0123456789ab",
        "inferenceTime": "2026-11-27T10:00:00.123Z",
    }


def test_get_is_refused_without_invoking(world: World) -> None:
    response = proxy.lambda_handler(load_event("function_url_get.json"), FakeContext())
    assert response["statusCode"] == 405
    assert world.captured() == b""


@pytest.mark.parametrize("source_ip", [[], {"ip": "10.0.0.1"}])
def test_an_event_whose_source_ip_is_not_text_is_refused_without_invoking(
    world: World, source_ip: object
) -> None:
    """Found by `make fuzz`: Powertools' sourceIp validator assumes text and raised a bare
    AttributeError on a list (a direct invocation's event, never a Function URL's)."""
    event = load_event("function_url_csv.json")
    event["requestContext"]["http"]["sourceIp"] = source_ip
    with pytest.raises((proxy.MalformedEventError, ValidationError)) as raised:
        proxy.lambda_handler(event, FakeContext())
    assert "sourceIp" in str(raised.value) or "Function URL request" in str(raised.value)
    assert world.captured() == b""


# ---- sampling -----------------------------------------------------------------------------------


def _serve(world: World, request_ids: list[str]) -> set[str]:
    event = load_event("function_url_csv.json")
    for request_id in request_ids:
        event["requestContext"]["requestId"] = request_id
        world.answers(b"0.5", "text/csv", CSV_EXPECTED)
        assert proxy.lambda_handler(event, FakeContext())["statusCode"] == 200
    return {r["eventMetadata"]["eventId"] for r in world.records()}


IDS = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(200)]


@pytest.mark.parametrize(("percent", "expected"), [("0", 0), ("100", 200)])
def test_sampling_none_and_all(
    world: World, monkeypatch: pytest.MonkeyPatch, percent: str, expected: int
) -> None:
    monkeypatch.setenv(settings.ENV_SAMPLING_PERCENT, percent)
    assert len(_serve(world, IDS)) == expected


def test_sampling_half_is_deterministic_per_event_id(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.ENV_SAMPLING_PERCENT, "50")
    first = _serve(world, IDS)
    # About half (a binomial(200, 0.5) falls in 70..130 with probability > 0.99999)
    assert 70 <= len(first) <= 130
    # AND serving the same ids again captures exactly the same ones again
    again = _serve(world, IDS)
    assert again == first
    assert len(world.records()) == 2 * len(first)
    # AND the decision is the pure function, nested across shares (25% ⊂ 50%)
    assert first == {i for i in IDS if proxy.sampled(i, 50)}
    assert {i for i in IDS if proxy.sampled(i, 25)} < first


@pytest.mark.parametrize("raw", ["101", "-1", "half", "12.5"])
def test_bad_sampling_percent_is_a_config_error(raw: str) -> None:
    environ = {
        settings.ENV_ENDPOINT_NAME: ENDPOINT,
        settings.ENV_VARIANT_NAME: VARIANT,
        settings.ENV_DELIVERY_STREAM: STREAM,
        settings.ENV_SAMPLING_PERCENT: raw,
    }
    with pytest.raises(proxy.ConfigError, match=settings.ENV_SAMPLING_PERCENT):
        proxy.Env.read(environ)


def test_missing_endpoint_is_a_config_error() -> None:
    with pytest.raises(proxy.ConfigError, match=settings.ENV_ENDPOINT_NAME):
        proxy.Env.read({settings.ENV_VARIANT_NAME: VARIANT, settings.ENV_DELIVERY_STREAM: STREAM})


# ---- faults -------------------------------------------------------------------------------------


def test_firehose_failure_still_answers_and_counts(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN Firehose throttling every PutRecord
    stub = Stubber(world.firehose)
    stub.add_client_error(
        "put_record",
        service_error_code="ServiceUnavailableException",
        service_message="Slow down.",
        http_status_code=503,
    )
    world.answers(b"0.6171", "text/csv", CSV_EXPECTED)
    # WHEN an invocation is served
    with stub:
        response = proxy.lambda_handler(load_event("function_url_csv.json"), FakeContext())
    # THEN the caller still gets the answer
    assert (response["statusCode"], response["body"]) == (200, "0.6171")
    # AND the failure is counted, nothing captured
    assert metric_values(capsys.readouterr().out) == {settings.METRIC_CAPTURE_FAILED: 1.0}
    assert any(
        r.levelname == "ERROR" and "capture failed" in r.getMessage() for r in caplog.records
    )
    assert world.captured() == b""


def test_missing_delivery_stream_still_answers(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(settings.ENV_DELIVERY_STREAM, "no-such-stream")
    world.answers(b"0.6171", "text/csv", CSV_EXPECTED)
    response = proxy.lambda_handler(load_event("function_url_csv.json"), FakeContext())
    assert response["statusCode"] == 200
    assert metric_values(capsys.readouterr().out) == {settings.METRIC_CAPTURE_FAILED: 1.0}


def test_record_over_firehose_limit_is_skipped_and_counted(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    big = b"0." + b"1" * settings.FIREHOSE_MAX_RECORD_BYTES
    world.answers(big, "text/csv", CSV_EXPECTED)
    response = proxy.lambda_handler(load_event("function_url_csv.json"), FakeContext())
    assert response["body"] == big.decode()
    assert metric_values(capsys.readouterr().out) == {settings.METRIC_CAPTURE_TOO_LARGE: 1.0}
    assert world.captured() == b""


@pytest.mark.parametrize(
    ("code", "status", "fields", "expected_status", "message"),
    [
        ("ModelError", 424, {"OriginalStatusCode": 400, "OriginalMessage": "bad feature count"},
         400, "bad feature count"),
        ("ModelError", 424, {"OriginalStatusCode": 500, "OriginalMessage": "worker died"},
         424, "worker died"),
        ("ValidationError", 400, {}, 400, "Endpoint churn-serverless of account not found."),
        ("ThrottlingException", 400, {}, 503, "throttling"),
        ("ServiceUnavailable", 503, {}, 503, "unavailable"),
        ("ModelNotReadyException", 429, {}, 503, "unavailable"),
        ("InternalFailure", 500, {}, 502, "failed"),
    ],
)  # fmt: skip
def test_invoke_errors_map_to_statuses_and_are_not_captured(
    world: World,
    capsys: pytest.CaptureFixture[str],
    code: str,
    status: int,
    fields: dict[str, Any],
    expected_status: int,
    message: str,
) -> None:
    world.runtime.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message="Endpoint churn-serverless of account not found."
        if code == "ValidationError"
        else f"{code} happened",
        http_status_code=status,
        modeled_fields=fields or None,
        expected_params=CSV_EXPECTED,
    )
    response = proxy.lambda_handler(load_event("function_url_csv.json"), FakeContext())
    assert response["statusCode"] == expected_status
    assert response["headers"]["content-type"] == "application/json"
    assert message in json.loads(response["body"])["message"]
    if expected_status == 503:
        assert int(response["headers"]["retry-after"]) > 0
    assert world.captured() == b""
    assert metric_values(capsys.readouterr().out) == {settings.METRIC_INVOKE_FAILED: 1.0}


def test_firehose_prefix_is_the_drift_layout() -> None:
    assert (
        settings.firehose_prefix(ENDPOINT, VARIANT)
        == "datacapture/churn-serverless/AllTraffic/!{timestamp:yyyy/MM/dd/HH}/"
    )
    assert not settings.firehose_error_prefix(ENDPOINT, VARIANT).startswith("datacapture/")


# ---- the key test: the drift engine reads what the proxy wrote ---------------------------------


def test_records_written_by_the_proxy_parse_with_the_drift_reader(world: World) -> None:
    # GIVEN a small baseline of the churn model: two numeric inputs, one categorical, a score
    rng = np.random.default_rng(7)
    n = 400
    baseline = build_baseline(
        {
            "tenure": rng.integers(0, 73, n).astype(np.float64),
            "monthly_charges": np.round(rng.uniform(18.0, 120.0, n), 2),
            "contract": rng.choice(np.array(["monthly", "yearly", "two-year"], dtype=object), n),
            "score": np.round(rng.uniform(0.0, 1.0, n), 4),
        },
        categorical=["contract"],
        outputs=["score"],
        bins=20,
    )
    # AND invocations through the proxy: CSV ones and JSON ones
    rows = [(12.0, 29.85, "monthly", 0.6171), (34.0, 56.95, "yearly", 0.1893),
            (70.0, 110.5, "two-year", 0.0412), (3.0, 89.1, "monthly", 0.8837)]  # fmt: skip
    csv_event = load_event("function_url_csv.json")
    json_event = load_event("function_url_json.json")
    for i, (tenure, charges, contract, score) in enumerate(rows):
        if i % 2 == 0:
            body = f"{tenure:g},{charges},{contract}"
            csv_event["body"] = body
            csv_event["requestContext"]["requestId"] = f"00000000-0000-4000-8000-{i:012d}"
            world.answers(
                f"{score}".encode(),
                "text/csv; charset=utf-8",
                {**CSV_EXPECTED, "Body": body.encode()},
            )
            proxy.lambda_handler(csv_event, FakeContext())
        else:
            document = {"tenure": tenure, "monthly_charges": charges, "contract": contract}
            body = json.dumps(document)
            json_event["body"] = body
            json_event["requestContext"]["requestId"] = f"00000000-0000-4000-8000-{i:012d}"
            world.answers(
                json.dumps({"predictions": [{"score": score}]}).encode(),
                "application/json",
                {"EndpointName": ENDPOINT, "Body": body.encode(),
                 "ContentType": "application/json", "Accept": "application/json"},
            )  # fmt: skip
            proxy.lambda_handler(json_event, FakeContext())
    # WHEN the objects Firehose delivered are read, concatenated as one window, by the engine
    raw = world.captured()
    assert raw.count(b"\n") == len(rows)
    profile, stats = profile_capture(baseline, [("firehose", io.BytesIO(raw))])
    # THEN every line parses: no malformed lines, every record profiled
    assert (stats.lines, stats.records, stats.malformed) == (4, 4, 0)
    assert profile is not None
    # AND the values are the ones sent: each delivered object (one record each here, as moto
    # delivers every PutRecord on its own) read alone gives back exactly one sent row
    pages = world.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    read_back = set()
    for key in keys:
        body = world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        (chunk,) = read_capture_columns(baseline, [(key, io.BytesIO(body))])
        read_back.add(
            tuple(
                chunk[name].tolist()[0]
                for name in ("tenure", "monthly_charges", "contract", "score")
            )
        )
    assert read_back == set(rows)
