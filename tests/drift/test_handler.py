"""The single-mode drift check (`handler.check_handler`) against moto, as the schedule runs it.

GIVEN a baseline and a window of capture in moto's S3, WHEN the scheduled event arrives, THEN
the report objects, the events a subscriber of the platform bus receives, and the EMF metrics
are asserted; then bad input (event, baseline, schema, empty window), faults moto cannot
produce (PutEvents partial failure, S3 throttling) through botocore's Stubber, and one run
over real HTTP against moto's server.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import handler
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from mlops_drift import settings
from mlops_drift.baseline import BaselineError, baseline_to_dict
from mlops_drift.events import CheckRequest
from pydantic import ValidationError

from tests.drift.conftest import (
    BASELINE_BUCKET,
    BUS,
    CAPTURE_BUCKET,
    ENDPOINT,
    MODEL,
    REGION,
    REPORTS_BUCKET,
    STAMP,
    WINDOW_END,
    Aws,
    FakeContext,
    capture_lines,
    churn_baseline,
    churn_records,
    load_event,
    metric_values,
    provision,
    write_window,
)

# A failed invocation flushes no metrics, and Powertools warns about it; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

REPORT_PREFIX = settings.report_prefix(MODEL, STAMP)
BASELINE_URI = f"s3://{BASELINE_BUCKET}/models/{MODEL}/drift/baseline.json"
WINDOW = {"start": "2026-11-27T03:00:00Z", "end": "2026-11-27T06:00:00Z", "hours": 3}
FEATURES = ["contract", "monthly_charges", "score", "tenure"]


def dims(**extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"service": settings.SERVICE_NAME, "model": MODEL, **extra}.items()))


# ---- a check that runs --------------------------------------------------------------------------


def test_window_without_drift_reports_completes_and_measures(
    aws: Aws, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the model's baseline and a window drawn like it, on two variants, with 3 malformed
    # lines, and capture outside the window (hours 02 and 06) that must not be read
    aws.put_baseline(churn_baseline())
    written = write_window(aws)

    # WHEN the schedule invokes the check
    answer = handler.check_handler(load_event("check_request.json"), context)

    # THEN report.json and report.html are under the model's path for the window end
    assert aws.keys(REPORTS_BUCKET) == [
        REPORT_PREFIX + "report.html",
        REPORT_PREFIX + "report.json",
    ]
    report = aws.report()
    assert report["status"] == "ok"
    assert report["drift"] is False
    assert report["drifted_share"] == 0.0
    assert report["rows"] == written.records == 606
    assert report["malformed"]["count"] == written.malformed == 3
    quoted = report["malformed"]["examples"]
    assert [(e["source"].rsplit("/", 1)[-1], e["line"]) for e in quoted] == [
        ("sample.jsonl", 5),
        ("sample.jsonl", 3),
        ("sample.jsonl", 4),
    ]
    assert quoted[1]["text"] == "not a capture line: the writer was interrupted"
    assert report["context"]["window"] == WINDOW
    assert report["context"]["capture"]["objects"] == len(written.keys) == 10
    assert report["context"]["capture"]["variants"] == ["AllTraffic", "Shadow"]
    assert report["context"]["baseline"] == BASELINE_URI
    assert sorted(f["name"] for f in report["features"]) == FEATURES
    html = aws.get(REPORTS_BUCKET, REPORT_PREFIX + "report.html").decode()
    assert html.lstrip().lower().startswith("<!doctype html")

    # AND one DriftCheckCompleted reaches the bus's subscribers, no DriftDetected
    received = aws.received()
    assert [(e["source"], e["detail-type"]) for e in received] == [
        ("mlops.drift", "DriftCheckCompleted")
    ]
    assert received[0]["detail"] == {
        "check_id": f"{MODEL}/{STAMP}",
        "model": MODEL,
        "endpoint": ENDPOINT,
        "window": WINDOW,
        "variants": ["AllTraffic", "Shadow"],
        "mode": "single",
        "baseline": BASELINE_URI,
        "report": {
            "json": f"s3://{REPORTS_BUCKET}/{REPORT_PREFIX}report.json",
            "html": f"s3://{REPORTS_BUCKET}/{REPORT_PREFIX}report.html",
        },
        "rows": 606,
        "malformed": 3,
        "status": "ok",
        "drift": False,
        "drifted_share": 0.0,
        "drifted_features": [],
        "critical_drifted": [],
    }

    # AND the metrics, in EMF, with the model (and the feature) as dimensions
    values = metric_values(capsys.readouterr().out)
    assert values[("RowsChecked", dims())] == 606
    assert values[("MalformedLines", dims())] == 3
    assert values[("CaptureObjects", dims())] == 10
    assert values[("DriftDetected", dims())] == 0
    assert values[("DriftedShare", dims())] == 0.0
    psi = {f["name"]: f["statistics"]["psi"]["value"] for f in report["features"]}
    for name in FEATURES:
        assert values[("FeaturePSI", dims(feature=name))] == pytest.approx(psi[name])
        assert values[("FeatureDrifted", dims(feature=name))] == 0
    assert ("FeatureWasserstein", dims(feature="tenure")) in values
    assert ("FeatureJS", dims(feature="contract")) in values
    assert ("FeatureJS", dims(feature="tenure")) not in values
    assert not any(name in {"SchemaMismatch", "InsufficientData"} for name, _ in values)

    # AND the handler answers with the verdict and where the report is
    assert answer["status"] == "ok"
    assert answer["drift"] is False
    assert answer["events"] == ["DriftCheckCompleted"]
    assert answer["report"]["json"] == f"s3://{REPORTS_BUCKET}/{REPORT_PREFIX}report.json"


def test_drifted_window_puts_drift_detected(
    aws: Aws, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a window whose inputs and outputs all moved
    aws.put_baseline(churn_baseline())
    write_window(aws, drifted=True)

    # WHEN the check runs
    answer = handler.check_handler(load_event("check_request.json"), context)

    # THEN the report says drift, with the drifted features first
    report = aws.report()
    assert report["drift"] is True
    assert report["drifted_share"] == 1.0
    assert [f["drifted"] for f in report["features"]] == [True] * 4

    # AND DriftCheckCompleted then DriftDetected reach the subscribers
    received = aws.received()
    assert [e["detail-type"] for e in received] == ["DriftCheckCompleted", "DriftDetected"]
    completed, detected = (e["detail"] for e in received)
    assert completed["drift"] is True
    assert sorted(completed["drifted_features"]) == FEATURES
    assert detected["drifted_share"] == 1.0
    assert sorted(detected["drifted_features"]) == FEATURES
    assert detected["check_id"] == completed["check_id"] == f"{MODEL}/{STAMP}"
    assert "status" not in detected

    # AND DriftDetected is 1
    values = metric_values(capsys.readouterr().out)
    assert values[("DriftDetected", dims())] == 1
    assert values[("DriftedShare", dims())] == 1.0
    assert values[("FeatureDrifted", dims(feature="contract"))] == 1
    assert answer["events"] == ["DriftCheckCompleted", "DriftDetected"]


def test_monitor_thresholds_and_critical_features_reach_the_report(
    aws: Aws, context: FakeContext
) -> None:
    # GIVEN a monitor with its own thresholds, per-feature thresholds and a critical feature
    aws.put_baseline(churn_baseline())
    write_window(aws, drifted=True)

    # WHEN the check runs
    handler.check_handler(load_event("check_request_tuned.json"), context)

    # THEN the stack defaults are overridden by the monitor's, then per feature
    report = aws.report()
    assert report["thresholds"]["psi"] == 0.25
    by_name = {f["name"]: f for f in report["features"]}
    assert by_name["monthly_charges"]["thresholds"]["psi"] == 0.3
    assert by_name["monthly_charges"]["thresholds"]["wasserstein"] == 0.2
    assert by_name["tenure"]["thresholds"]["psi"] == 0.25
    assert report["features"][0]["name"] == "contract"  # the critical drifted feature first
    completed, detected = (e["detail"] for e in aws.received())
    assert completed["critical_drifted"] == detected["critical_drifted"] == ["contract"]


# ---- bad input, and nothing lost ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "field", "message"),
    [
        ("bad_missing_model.json", "model", "Field required"),
        ("bad_unknown_field.json", "windowHours", "Extra inputs are not permitted"),
        (
            "bad_window_hours_zero.json",
            "window_hours",
            "Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_event_is_refused_at_the_door(
    aws: Aws, context: FakeContext, fixture: str, field: str, message: str
) -> None:
    # GIVEN a baseline and a window, WHEN a malformed event arrives
    aws.put_baseline(churn_baseline())
    write_window(aws)
    with pytest.raises(ValidationError) as raised:
        handler.check_handler(load_event(fixture), context)

    # THEN the invocation fails (to the DLQ) naming the field, and nothing was written or put
    errors = raised.value.errors()
    assert [(".".join(map(str, e["loc"])), e["msg"]) for e in errors] == [(field, message)]
    assert "CheckRequest" in str(raised.value)
    assert aws.keys(REPORTS_BUCKET) == []
    assert aws.received() == []


def test_bad_thresholds_are_refused_before_any_read(aws: Aws, context: FakeContext) -> None:
    # GIVEN no baseline at all, WHEN the event's thresholds are out of range
    with pytest.raises(handler.BadRequestError) as raised:
        handler.check_handler(load_event("bad_thresholds.json"), context)

    # THEN the engine's message names the key, before the (missing) baseline is even read
    assert (
        str(raised.value) == "thresholds: thresholds: 'psi' must be a non-negative number, got -1"
    )


def test_unknown_critical_feature_is_refused(aws: Aws, context: FakeContext) -> None:
    aws.put_baseline(churn_baseline())
    event = {**load_event("check_request.json"), "critical": ["tenure", "plan"]}
    with pytest.raises(handler.BadRequestError, match=r"critical names features not in the "):
        handler.check_handler(event, context)
    assert aws.keys(REPORTS_BUCKET) == []


def test_missing_baseline_fails_naming_bucket_and_key(aws: Aws, context: FakeContext) -> None:
    # GIVEN capture but no baseline, WHEN the check runs, THEN it fails naming the object
    write_window(aws)
    with pytest.raises(handler.BaselineNotFoundError) as raised:
        handler.check_handler(load_event("check_request.json"), context)
    assert str(raised.value).startswith(f"baseline {BASELINE_URI} not found (NoSuchKey): build it")
    assert aws.keys(REPORTS_BUCKET) == []
    assert aws.received() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"schema_version": 1, "kind": "mlops-drift-', "is not JSON"),
        (json.dumps({"schema_version": 7, "features": []}).encode(), ""),
    ],
    ids=["truncated", "wrong-document"],
)
def test_corrupt_baseline_fails_with_the_engine_message(
    aws: Aws, context: FakeContext, body: bytes, message: str
) -> None:
    aws.put_baseline(body)
    write_window(aws)
    with pytest.raises(BaselineError) as raised:
        handler.check_handler(load_event("check_request.json"), context)
    assert str(raised.value).startswith(f"baseline {BASELINE_URI}")
    assert message in str(raised.value)
    assert aws.keys(REPORTS_BUCKET) == []


def test_schema_mismatch_reports_and_fails_without_a_verdict(
    aws: Aws, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN capture from a model version that sends a fourth input column
    aws.put_baseline(churn_baseline())
    columns = churn_records(5, 200)
    lines = [
        line.replace(b'"data":"', b'"data":"1,', 1)
        for line in capture_lines(columns, "csv", WINDOW_END.replace(hour=4))
    ]
    aws.put_capture("AllTraffic", WINDOW_END.replace(hour=4), "new-model.jsonl", lines)

    # WHEN the check runs, THEN it returns normally: it ran, the data is wrong
    answer = handler.check_handler(load_event("check_request.json"), context)
    assert answer["status"] == "schema_mismatch"
    assert answer["drift"] is None

    # AND the report says so, with no features and no verdict
    report = aws.report()
    assert report["status"] == "schema_mismatch"
    assert report["drift"] is None
    assert report["features"] == []
    assert "input record has 4 fields, the baseline has 3 inputs" in report["message"]
    assert report["malformed"]["count"] == 200

    # AND DriftCheckFailed reaches the subscribers, nothing else
    received = aws.received()
    assert [e["detail-type"] for e in received] == ["DriftCheckFailed"]
    detail = received[0]["detail"]
    assert detail["reason"] == "schema_mismatch"
    assert detail["message"] == report["message"]
    assert detail["report"]["json"].endswith(REPORT_PREFIX + "report.json")

    # AND a SchemaMismatch metric, never a DriftDetected one
    values = metric_values(capsys.readouterr().out)
    assert values[("SchemaMismatch", dims())] == 1
    assert not any(name in {"DriftDetected", "DriftedShare", "FeaturePSI"} for name, _ in values)


@pytest.mark.parametrize("records", [0, 40], ids=["empty", "too-small"])
def test_small_window_gives_insufficient_data_never_a_verdict(
    aws: Aws, context: FakeContext, capsys: pytest.CaptureFixture[str], records: int
) -> None:
    # GIVEN a window with no capture, or fewer records than min_rows (100)
    aws.put_baseline(churn_baseline())
    if records:
        lines = capture_lines(churn_records(9, records, drifted=True), "csv", WINDOW_END)
        aws.put_capture("AllTraffic", WINDOW_END.replace(hour=5), "few.jsonl", lines)

    # WHEN the check runs
    handler.check_handler(load_event("check_request.json"), context)

    # THEN the report and DriftCheckCompleted say insufficient_data with drift null
    report = aws.report()
    assert report["status"] == "insufficient_data"
    assert report["drift"] is None
    assert report["rows"] == records
    received = aws.received()
    assert [e["detail-type"] for e in received] == ["DriftCheckCompleted"]
    assert received[0]["detail"]["status"] == "insufficient_data"
    assert received[0]["detail"]["drift"] is None
    assert received[0]["detail"]["drifted_share"] is None
    values = metric_values(capsys.readouterr().out)
    assert values[("InsufficientData", dims())] == 1
    assert values[("RowsChecked", dims())] == records
    assert not any(name.startswith(("Drift", "Feature")) for name, _ in values)


def test_missing_environment_fails_naming_the_variables(
    aws: Aws, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.ENV_EVENT_BUS)
    monkeypatch.delenv(settings.ENV_REPORTS_BUCKET)
    with pytest.raises(
        handler.DriftCheckError, match="DRIFT_REPORTS_BUCKET, DRIFT_EVENT_BUS not set"
    ):
        handler.check_handler(load_event("check_request.json"), context)


# ---- faults moto cannot produce -----------------------------------------------------------------


def test_put_events_partial_failure_fails_the_invocation(
    aws: Aws, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN EventBridge accepting one entry of two (drift: Completed and Detected)
    aws.put_baseline(churn_baseline())
    write_window(aws, drifted=True)
    client = boto3.client("events", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response(
        "put_events",
        {
            "FailedEntryCount": 1,
            "Entries": [
                {"EventId": "11111111-2222-3333-4444-555555555555"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service error"},
            ],
        },
    )
    monkeypatch.setattr(handler, "eventbridge", client)

    # WHEN the check runs, THEN the invocation fails, so Lambda retries it (then the DLQ)
    with stubber, pytest.raises(handler.DriftCheckError) as raised:
        handler.check_handler(load_event("check_request.json"), context)
    assert str(raised.value) == (
        "PutEvents failed for 1 of 2 entries: DriftDetected: InternalFailure Internal service error"
    )
    stubber.assert_no_pending_responses()
    # AND the report is in place; a retry overwrites the same keys
    assert aws.keys(REPORTS_BUCKET) == [
        REPORT_PREFIX + "report.html",
        REPORT_PREFIX + "report.json",
    ]


def test_s3_throttling_on_capture_propagates(
    aws_env: None, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN S3 that serves the baseline and the listing, then throttles the capture read
    baseline = json.dumps(baseline_to_dict(churn_baseline())).encode()
    key = f"datacapture/{ENDPOINT}/AllTraffic/2026/11/27/05/00-00-000-0000.jsonl"
    s3 = boto3.client("s3", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    stubber = Stubber(s3)
    stubber.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(baseline), len(baseline))},
        {"Bucket": BASELINE_BUCKET, "Key": f"models/{MODEL}/drift/baseline.json"},
    )
    stubber.add_response(
        "list_objects_v2",
        {"CommonPrefixes": [{"Prefix": f"datacapture/{ENDPOINT}/AllTraffic/"}], "KeyCount": 1},
        {"Bucket": CAPTURE_BUCKET, "Prefix": f"datacapture/{ENDPOINT}/", "Delimiter": "/"},
    )
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": key, "Size": 10}], "KeyCount": 1},
        {"Bucket": CAPTURE_BUCKET, "Prefix": f"datacapture/{ENDPOINT}/AllTraffic/2026/11/27/05/"},
    )
    stubber.add_client_error(
        "get_object",
        service_error_code="SlowDown",
        service_message="Please reduce your request rate.",
        http_status_code=503,
        expected_params={"Bucket": CAPTURE_BUCKET, "Key": key},
    )
    monkeypatch.setattr(handler, "s3", s3)
    monkeypatch.setattr(handler, "eventbridge", events)
    event = {**load_event("check_request.json"), "window_hours": 1}

    # WHEN the check runs, THEN S3's error reaches Lambda (which retries), nothing is published
    with Stubber(events) as no_events, stubber, pytest.raises(ClientError) as raised:
        handler.check_handler(event, context)
    assert raised.value.response["Error"]["Code"] == "SlowDown"
    assert "Please reduce your request rate." in str(raised.value)
    stubber.assert_no_pending_responses()
    no_events.assert_no_pending_responses()


# ---- plain functions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window_end", "now", "end", "first_hour"),
    [
        ("2026-11-27T06:00:00Z", None, "2026-11-27T06:00:00Z", "2026/11/27/03/"),
        ("2026-11-27T08:47:12+02:00", None, "2026-11-27T06:00:00Z", "2026/11/27/03/"),
        (
            None,
            datetime(2026, 1, 1, 1, 59, 59, tzinfo=UTC),
            "2026-01-01T01:00:00Z",
            "2025/12/31/22/",
        ),
    ],
    ids=["scheduled-time", "offset", "default-now"],
)
def test_window_is_whole_hours_ending_at_the_truncated_end(
    window_end: str | None, now: datetime | None, end: str, first_hour: str
) -> None:
    event: dict[str, Any] = {"model": MODEL, "endpoint": ENDPOINT, "window_hours": 3}
    if window_end:
        event["window_end"] = window_end
    window = handler.resolve_window(
        CheckRequest.model_validate(event), now or datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert window.as_dict()["end"] == end
    assert window.hour_paths()[0] == first_hour
    assert len(window.hour_paths()) == 3


def test_naive_window_end_is_refused() -> None:
    event = {
        "model": MODEL,
        "endpoint": ENDPOINT,
        "window_hours": 3,
        "window_end": "2026-11-27T06:00:00",
    }
    with pytest.raises(ValidationError, match="Input should have timezone info"):
        CheckRequest.model_validate(event)


# ---- over real HTTP -----------------------------------------------------------------------------


def test_check_over_http_against_moto_server(
    aws_env: None, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same check with every AWS call over HTTP to moto's server (botocore end to end)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION, endpoint_url=url)

        # GIVEN the account behind the server
        world = provision(client)
        world.put_baseline(churn_baseline())
        written = write_window(world, drifted=True)
        monkeypatch.setattr(handler, "s3", client("s3"))
        monkeypatch.setattr(handler, "eventbridge", client("events"))

        # WHEN the check runs
        answer = handler.check_handler(load_event("check_request.json"), context)

        # THEN the report and the events went over the wire
        assert answer["drift"] is True
        assert world.report()["rows"] == written.records
        assert [e["detail-type"] for e in world.received()] == [
            "DriftCheckCompleted",
            "DriftDetected",
        ]
        assert world.events.describe_event_bus(Name=BUS)["Name"] == BUS
    finally:
        import requests

        requests.post(f"{url}/moto-api/reset", timeout=10)
        server.stop()
