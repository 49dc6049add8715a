"""Capture: the objects the sidecar writes to S3, their records, and every way capture can
fail without touching inference."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber
from capture_format import capture_record, sampled
from mlops_drift.baseline import build_baseline
from mlops_drift.capture import read_capture_columns

from tests.serving_sidecar.conftest import (
    BUCKET,
    ENDPOINT,
    POD,
    REGION,
    T0,
    VARIANT,
    Answer,
    Clock,
    FakeModel,
    Running,
    Store,
)

PREFIX = f"datacapture/{ENDPOINT}/{VARIANT}/"
KEY = re.compile(
    rf"{PREFIX}(?P<hour>\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}})/"
    rf"(?P<stamp>\d{{8}}T\d{{9}}Z)-{POD}-(?P<seq>\d{{6}})\.jsonl"
)


def outcomes(running: Running) -> dict[str, float]:
    return {
        dict(labels)["outcome"]: value
        for (name, labels), value in running.metrics().items()
        if name == "mlops_capture_records_total"
    }


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# ---- the objects and their records ------------------------------------------------------------


def test_records_land_at_the_exact_key_encrypted_and_byte_identical(
    start: Callable[..., Running], store: Store, model: FakeModel
) -> None:
    # GIVEN a model that answers JSON, and a clock at 10:15 on 27 November 2026, 1 ms a tick
    model.answer = lambda seen: Answer(200, b'{"score":0.25}', "application/json")
    clock = Clock(T0)
    running = start(clock=clock)
    # WHEN three invocations are made, one binary, and the buffer is flushed
    sent = [
        (b"12,29.85,monthly", "text/csv"),
        (b'{"tenure": 3}', "application/json"),
        (b"\x93NUMPY\x00\xff", "application/x-npy"),
    ]
    ids = []
    for body, content_type in sent:
        _, _, headers = running.invoke(body, content_type)
        ids.append(headers["X-Inference-Id"])
    # The flush's own clock reading comes after the three invocations' readings.
    flushed_at = clock.now
    assert running.sidecar.capture.flush() == 3
    # THEN one object, at SageMaker's layout: the hour folder, the flush time, pod, sequence
    objects = store.objects()
    (key,) = objects
    stamp = flushed_at.strftime("%Y%m%dT%H%M%S") + f"{flushed_at.microsecond // 1000:03d}Z"
    assert key == f"{PREFIX}2026/11/27/10/{stamp}-{POD}-000001.jsonl"
    # AND encrypted with the platform key
    head = store.s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == store.key_arn
    # AND its lines are exactly what capture_format builds, in order
    expected = b"".join(
        capture_record(event_id, T0 + timedelta(milliseconds=i), ctype, body, "application/json",
                       b'{"score":0.25}')
        for i, (event_id, (body, ctype)) in enumerate(zip(ids, sent, strict=True))
    )  # fmt: skip
    assert objects[key] == expected
    assert outcomes(running)["captured"] == 3


def test_a_captured_record_reads_back_through_the_drift_engine(
    start: Callable[..., Running], store: Store, model: FakeModel
) -> None:
    # GIVEN a baseline of the churn model: two numeric inputs, one categorical, a score
    rng = np.random.default_rng(7)
    n = 300
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
    scores = {b"12,29.85,monthly": b"0.6171", b'{"tenure": 34, "monthly_charges": 56.95, '
              b'"contract": "yearly"}': b'{"predictions": [{"score": 0.1893}]}'}  # fmt: skip

    def answer(seen: Any) -> Answer:
        ctype = "text/csv" if seen.body[:1].isdigit() else "application/json"
        return Answer(200, scores[seen.body], ctype)

    model.answer = answer
    running = start()
    # WHEN a CSV and a JSON invocation go through the sidecar and are flushed
    running.invoke(b"12,29.85,monthly", "text/csv")
    running.invoke(
        b'{"tenure": 34, "monthly_charges": 56.95, "contract": "yearly"}', "application/json"
    )
    running.sidecar.capture.flush()
    ((key, body),) = store.objects().items()
    # THEN the drift engine's reader gives back the values sent and answered
    (chunk,) = read_capture_columns(baseline, [(key, io.BytesIO(body))])
    rows = list(
        zip(
            *(chunk[name].tolist() for name in ("tenure", "monthly_charges", "contract", "score")),
            strict=True,
        )
    )
    assert rows == [(12.0, 29.85, "monthly", 0.6171), (34.0, 56.95, "yearly", 0.1893)]


def test_a_flush_spanning_two_hours_writes_one_object_per_hour(
    start: Callable[..., Running], store: Store
) -> None:
    # GIVEN invocations at 10:59:59.998, 10:59:59.999, 11:00:00.000 and 11:00:00.001
    clock = Clock(datetime(2026, 11, 27, 10, 59, 59, 998_000, tzinfo=UTC))
    running = start(clock=clock)
    ids = [running.invoke(b"1,2")[2]["X-Inference-Id"] for _ in range(4)]
    # WHEN one flush writes them
    running.sidecar.capture.flush()
    # THEN two objects, in the hour folders of their inference time, in sequence
    found = {}
    for key, body in store.objects().items():
        match = KEY.fullmatch(key)
        assert match is not None, key
        events = [json.loads(line)["eventMetadata"]["eventId"] for line in body.splitlines()]
        found[match["hour"]] = (match["seq"], events)
    assert found == {"2026/11/27/10": ("000001", ids[:2]), "2026/11/27/11": ("000002", ids[2:])}


def test_a_callers_inference_id_is_the_records_event_id_and_inference_id(
    start: Callable[..., Running], store: Store
) -> None:
    # GIVEN one invocation named by its caller and one not
    running = start()
    _, _, named = running.invoke(b"1,2", **{"X-Inference-Id": "order-42:2026.11.27_a"})
    _, _, unnamed = running.invoke(b"3,4")
    running.sidecar.capture.flush()
    # WHEN the records are read back
    records = [
        json.loads(line)["eventMetadata"]
        for body in store.objects().values()
        for line in body.splitlines()
    ]
    # THEN the named one carries the caller's id as eventId and inferenceId (as SageMaker
    # records InvokeEndpoint's InferenceId), the other its made-up eventId only
    assert [{k: v for k, v in r.items() if k != "inferenceTime"} for r in records] == [
        {"eventId": "order-42:2026.11.27_a", "inferenceId": "order-42:2026.11.27_a"},
        {"eventId": unnamed["X-Inference-Id"]},
    ]
    assert named["X-Inference-Id"] == "order-42:2026.11.27_a"


# ---- sampling -----------------------------------------------------------------------------------


def test_sampling_is_deterministic_by_inference_id(
    start: Callable[..., Running], store: Store
) -> None:
    # GIVEN a 30 % share, and 40 invocations with known ids
    running = start(sampling_percent=30)
    ids = [f"order-{i}" for i in range(40)]
    for event_id in ids:
        running.invoke(b"1,2", **{"X-Inference-Id": event_id})
    running.sidecar.capture.flush()
    # THEN exactly the ids capture_format samples at 30 % are captured, and the rest counted
    captured = [
        json.loads(line)["eventMetadata"]["eventId"]
        for body in store.objects().values()
        for line in body.splitlines()
    ]
    wanted = [event_id for event_id in ids if sampled(event_id, 30)]
    assert captured == wanted
    assert 0 < len(wanted) < len(ids)
    counts = outcomes(running)
    assert (counts["captured"], counts["not_sampled"]) == (len(wanted), len(ids) - len(wanted))


def test_sampling_zero_writes_nothing(start: Callable[..., Running], store: Store) -> None:
    running = start(sampling_percent=0)
    for _ in range(3):
        assert running.invoke(b"1,2")[0] == 200
    assert outcomes(running)["not_sampled"] == 3
    running.stop()
    assert store.objects() == {}


# ---- limits -------------------------------------------------------------------------------------


def test_a_record_over_one_mib_is_counted_too_large(
    start: Callable[..., Running], store: Store, model: FakeModel
) -> None:
    model.answer = lambda seen: Answer(200, b"0" * (1024 * 1024), "text/csv")
    running = start()
    status, body, _ = running.invoke(b"1,2")
    assert (status, len(body)) == (200, 1024 * 1024)
    running.sidecar.capture.flush()
    assert store.objects() == {}
    assert outcomes(running)["too_large"] == 1


def test_a_full_buffer_drops_new_records_and_counts_them(
    start: Callable[..., Running], store: Store
) -> None:
    # GIVEN a buffer of 3 records that flushes only on demand
    running = start(max_buffer_records=3, flush_records=3)
    running.sidecar.capture.close()  # no background flusher: the buffer stays full
    # WHEN 5 invocations are made
    ids = [running.invoke(b"1,2")[2]["X-Inference-Id"] for _ in range(5)]
    # THEN every one was answered, 2 were dropped and counted, 3 are buffered
    metrics = running.metrics()
    assert metrics[("mlops_inference_requests_total", (("code", "200"),))] == 5
    assert outcomes(running)["failed"] == 2
    assert metrics[("mlops_capture_buffered_records", ())] == 3
    # AND the flush writes the first three
    running.sidecar.capture.flush()
    ((_, body),) = store.objects().items()
    assert [json.loads(line)["eventMetadata"]["eventId"] for line in body.splitlines()] == ids[:3]


# ---- S3 failures --------------------------------------------------------------------------------


def test_an_s3_failure_is_counted_retried_once_and_never_reaches_the_client(
    start: Callable[..., Running], store: Store
) -> None:
    # GIVEN a sidecar whose capture bucket does not exist (yet)
    missing = boto3.client("s3", region_name=REGION)
    running = start(s3=missing, bucket="mlops-dev-capture-missing")
    # WHEN two invocations are answered and a flush fails
    assert [running.invoke(b"1,2")[0] for _ in range(2)] == [200, 200]
    assert running.sidecar.capture.flush() == 0
    # THEN the failure is counted, the records are kept for one more try
    metrics = running.metrics()
    assert metrics[("mlops_capture_upload_failures_total", ())] == 1
    assert metrics[("mlops_capture_buffered_records", ())] == 2
    assert outcomes(running)["failed"] == 0
    # AND a third invocation arrives; the second flush fails too: the two retried records are
    # lost (counted), the new one is kept for its own retry
    assert running.invoke(b"1,2")[0] == 200
    assert running.sidecar.capture.flush() == 0
    metrics = running.metrics()
    assert metrics[("mlops_capture_upload_failures_total", ())] == 2
    assert outcomes(running)["failed"] == 2
    assert metrics[("mlops_capture_buffered_records", ())] == 1


def test_a_retried_record_is_written_when_s3_recovers(
    start: Callable[..., Running], store: Store
) -> None:
    # GIVEN S3 that refuses the first PutObject (throttled), then works
    s3 = boto3.client("s3", region_name=REGION)
    running = start(s3=s3)
    event_id = running.invoke(b"1,2")[2]["X-Inference-Id"]
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", "SlowDown", "Please reduce your request rate.", 503)
        assert running.sidecar.capture.flush() == 0
    # WHEN the next flush runs
    assert running.sidecar.capture.flush() == 1
    # THEN the record is in S3, once
    ((_, body),) = store.objects().items()
    assert [json.loads(line)["eventMetadata"]["eventId"] for line in body.splitlines()] == [
        event_id
    ]
    counts = outcomes(running)
    assert (counts["captured"], counts["failed"]) == (1, 0)


# ---- when flushes happen ------------------------------------------------------------------------


def test_the_record_threshold_wakes_the_flusher(
    start: Callable[..., Running], store: Store
) -> None:
    running = start(flush_records=3)
    for _ in range(3):
        running.invoke(b"1,2")
    wait_for(lambda: len(store.objects()) == 1)
    assert running.sidecar.capture.buffered() == 0


def test_the_byte_threshold_wakes_the_flusher(start: Callable[..., Running], store: Store) -> None:
    # GIVEN a byte threshold just above one record of this exchange
    size = len(capture_record(str(uuid.uuid4()), T0, "text/csv", b"1,2", "text/csv", b"0.5"))
    running = start(flush_bytes=size + 1)
    # WHEN one record is buffered, nothing is written; a second one passes the threshold
    running.invoke(b"1,2")
    time.sleep(0.1)
    assert store.objects() == {}
    running.invoke(b"1,2")
    # THEN the flusher writes both, in one object
    wait_for(lambda: len(store.objects()) == 1)
    assert [len(body.splitlines()) for body in store.objects().values()] == [2]


def test_the_timer_flushes_a_quiet_buffer(start: Callable[..., Running], store: Store) -> None:
    running = start(flush_seconds=0.1)
    running.invoke(b"1,2")
    wait_for(lambda: len(store.objects()) == 1)


def test_shutdown_waits_for_in_flight_invocations_and_flushes(
    start: Callable[..., Running], store: Store, model: FakeModel
) -> None:
    # GIVEN two answered invocations buffered, and a third the model is still working on
    running = start()
    running.invoke(b"1,2")
    running.invoke(b"1,2")
    model.release = threading.Event()
    slow: list[int] = []
    client = threading.Thread(target=lambda: slow.append(running.invoke(b"3,4")[0]))
    client.start()
    wait_for(lambda: len(model.seen) == 3)
    # WHEN the sidecar is stopped (what SIGTERM does) while the model answers
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    time.sleep(0.05)
    model.release.set()
    stopper.join(10)
    client.join(10)
    # THEN the slow invocation was answered, and all three records are in S3
    assert slow == [200]
    ((_, body),) = store.objects().items()
    assert len(body.splitlines()) == 3
    # AND the sidecar no longer accepts connections
    with pytest.raises(ConnectionRefusedError):
        running.call("GET", "/healthz")
