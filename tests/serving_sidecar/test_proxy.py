"""The proxy's HTTP contract: pass-through, errors, ids, health and its Prometheus metrics."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Callable

import capture_format
import pytest
from serving_sidecar import settings

from tests.serving_sidecar.conftest import Answer, FakeModel, Running, Seen, read_json

BINARY = bytes(range(256)) * 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- pass-through -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_type", "accept", "body", "answer"),
    [
        ("text/csv", "text/csv", b"12,29.85,monthly", Answer(200, b"0.6171\n", "text/csv")),
        (
            "application/json",
            "application/json",
            b'{"instances": [[1, 2.5]]}',
            Answer(200, b'{"predictions":[0.25]}', "application/json; charset=utf-8"),
        ),
        ("application/x-npy", None, BINARY, Answer(201, BINARY[::-1], "application/x-npy")),
        ("text/csv", None, b"1,2", Answer(200, b"", None)),
    ],
)
def test_invocation_bodies_status_and_types_pass_through_byte_exact(
    start: Callable[..., Running],
    model: FakeModel,
    request_type: str,
    accept: str | None,
    body: bytes,
    answer: Answer,
) -> None:
    # GIVEN a model that answers `answer`
    model.answer = lambda seen: answer
    running = start()
    headers = {"Accept": accept} if accept else {}
    # WHEN a client invokes through the sidecar
    status, got, response = running.invoke(body, request_type, **headers)
    # THEN the client gets the model's status, bytes and content type unchanged
    assert (status, got, response.get("Content-Type")) == (
        answer.status,
        answer.body,
        answer.content_type,
    )
    # AND the model got the client's bytes, content type and accept
    (seen,) = model.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/invocations", body)
    assert seen.headers.get("Content-Type") == request_type
    assert seen.headers.get("Accept") == accept


@pytest.mark.parametrize("status", [400, 404, 422, 500, 503])
def test_model_errors_pass_through_and_are_not_captured(
    start: Callable[..., Running], model: FakeModel, status: int
) -> None:
    model.answer = lambda seen: Answer(status, b'{"error":"bad row"}', "application/json")
    running = start()

    got, body, headers = running.invoke(b"1,2")
    assert (got, body, headers["Content-Type"]) == (
        status,
        b'{"error":"bad row"}',
        "application/json",
    )
    assert headers["X-Inference-Id"]
    running.sidecar.capture.flush()
    assert running.sidecar.capture.buffered() == 0
    metrics = running.metrics()
    assert metrics[("mlops_inference_requests_total", (("code", str(status)),))] == 1
    assert metrics[("mlops_capture_records_total", (("outcome", "captured"),))] == 0


def test_model_down_is_a_502_naming_the_model_server(
    start: Callable[..., Running], model: FakeModel
) -> None:
    port = free_port()
    running = start(proxy={"model_port": port})

    status, body, headers = running.invoke(b"1,2")

    assert status == 502
    assert headers["Content-Type"] == "application/json"
    message = read_json(body)["message"]
    assert f"model server on 127.0.0.1:{port} could not be reached" in message
    assert running.metrics()[("mlops_inference_requests_total", (("code", "502"),))] == 1


def test_slow_model_is_a_504(start: Callable[..., Running], model: FakeModel) -> None:
    model.release = threading.Event()
    running = start(proxy={"model_timeout": 0.2})
    try:
        status, body, _ = running.invoke(b"1,2")
    finally:
        model.release.set()
    assert status == 504
    assert "did not answer POST /invocations within 0.2 s" in read_json(body)["message"]


# ---- inference ids ------------------------------------------------------------------------------


def test_a_valid_inference_id_is_used_and_echoed(start: Callable[..., Running]) -> None:
    running = start()
    _, _, headers = running.invoke(b"1,2", **{"X-Inference-Id": "order-42:2026.11.27_a"})
    assert headers["X-Inference-Id"] == "order-42:2026.11.27_a"


def test_the_sidecar_and_the_capture_proxy_accept_the_same_inference_ids() -> None:
    """One header name and one rule on every capture path (`capture_format`, which the sidecar
    imports; its settings module imports nothing, so it names the header itself)."""
    assert settings.INFERENCE_ID_HEADER == capture_format.INFERENCE_ID_HEADER
    for good in ("a", "order-42:2026.11.27_a", "A" * 64, str(uuid.uuid4())):
        assert capture_format.valid_inference_id(good)
    for bad in ("", "a" * 65, "has space", "slash/no", "ünïcode", "tab\t", "new\nline"):
        assert not capture_format.valid_inference_id(bad)


def test_without_an_inference_id_a_uuid4_is_made(start: Callable[..., Running]) -> None:
    running = start()
    _, _, first = running.invoke(b"1,2")
    _, _, second = running.invoke(b"1,2")
    ids = [uuid.UUID(first["X-Inference-Id"]), uuid.UUID(second["X-Inference-Id"])]
    assert [i.version for i in ids] == [4, 4]
    assert ids[0] != ids[1]


@pytest.mark.parametrize("bad", ["", "a" * 65, "has space", "slash/no", "ünïcode"])
def test_an_invalid_inference_id_is_a_400_naming_the_header(
    start: Callable[..., Running], model: FakeModel, bad: str
) -> None:
    running = start()
    status, body, _ = running.call(
        "POST",
        "/invocations",
        b"1,2",
        {"Content-Type": "text/csv", "X-Inference-Id": bad.encode("utf-8").decode("latin-1")},
    )
    assert status == 400
    message = read_json(body)["message"]
    assert message.startswith("header X-Inference-Id=")
    assert "1 to 64 characters of A-Z a-z 0-9 . _ : -" in message
    assert model.seen == []


# ---- health, routes -----------------------------------------------------------------------------


def test_ping_is_the_models_readiness(start: Callable[..., Running], model: FakeModel) -> None:
    running = start()
    model.ping = Answer(200, b"healthy", "text/plain")
    assert running.call("GET", "/ping")[:2] == (200, b"healthy")
    model.ping = Answer(500, b"loading", "text/plain")
    assert running.call("GET", "/ping")[:2] == (500, b"loading")


def test_ping_with_the_model_down_is_not_ready(
    start: Callable[..., Running], model: FakeModel
) -> None:
    running = start(proxy={"model_port": free_port()})
    status, body, _ = running.call("GET", "/ping")
    assert status == 503
    assert read_json(body)["message"].startswith("not ready: the model server on 127.0.0.1:")
    # AND liveness does not depend on the model
    assert running.call("GET", "/healthz")[:2] == (200, b'{"status":"ok"}')


def test_unknown_routes_and_methods(start: Callable[..., Running], model: FakeModel) -> None:
    running = start()
    status, body, _ = running.call("GET", "/models")
    assert status == 404
    assert "POST /invocations, GET /ping, GET /healthz" in read_json(body)["message"]
    status, _, headers = running.call("GET", "/invocations")
    assert (status, headers["Allow"]) == (405, "POST")
    assert model.seen == []


def test_a_body_over_the_limit_is_a_413(start: Callable[..., Running], model: FakeModel) -> None:
    running = start()
    status, body, _ = running.call(
        "POST", "/invocations", b"", {"Content-Length": str(6 * 1024 * 1024 + 1)}
    )
    assert status == 413
    assert "at most 6291456" in read_json(body)["message"]
    assert model.seen == []


# ---- metrics ------------------------------------------------------------------------------------


def test_metrics_count_every_invocation_by_code(
    start: Callable[..., Running], model: FakeModel
) -> None:
    # GIVEN a model answering 200 to rows starting with 1, 400 to the others
    def answer(seen: Seen) -> Answer:
        return (
            Answer(200, b"0.5", "text/csv")
            if seen.body.startswith(b"1")
            else Answer(400, b"no", None)
        )

    model.answer = answer
    running = start()
    # WHEN 7 good, 3 bad and 2 invalid-id invocations are made, and 2 pings
    for _ in range(7):
        running.invoke(b"1,2")
    for _ in range(3):
        running.invoke(b"9,9")
    for _ in range(2):
        running.invoke(b"1,2", **{"X-Inference-Id": "bad id"})
    running.call("GET", "/ping")
    running.call("GET", "/ping")
    running.sidecar.capture.flush()
    # THEN the page has exact counts (pings are not invocations)
    metrics = running.metrics()
    requests = {
        dict(labels)["code"]: value
        for (name, labels), value in metrics.items()
        if name == "mlops_inference_requests_total"
    }
    assert requests == {"200": 7, "400": 5}
    assert metrics[("mlops_inference_request_duration_seconds_count", ())] == 12
    assert metrics[("mlops_inference_request_duration_seconds_bucket", (("le", "+Inf"),))] == 12
    assert metrics[("mlops_inference_in_flight", ())] == 0
    outcomes = {
        dict(labels)["outcome"]: value
        for (name, labels), value in metrics.items()
        if name == "mlops_capture_records_total"
    }
    assert outcomes == {"captured": 7, "not_sampled": 0, "too_large": 0, "failed": 0}
    assert metrics[("mlops_capture_buffered_records", ())] == 0
    # AND the histogram's buckets are the serving ones, 5 ms to 10 s
    bounds = sorted(
        float(dict(labels)["le"])
        for (name, labels), _ in metrics.items()
        if name == "mlops_inference_request_duration_seconds_bucket"
    )
    assert bounds[0] == 0.005
    assert bounds[-2:] == [10.0, float("inf")]
    # AND no label carries an id or a path
    labels = {key for (_, pairs), _ in metrics.items() for key, _ in pairs}
    assert labels <= {"code", "outcome", "le"}


def test_in_flight_gauge_counts_invocations_being_answered(
    start: Callable[..., Running], model: FakeModel
) -> None:
    model.release = threading.Event()
    running = start()
    threads = [threading.Thread(target=running.invoke, args=(b"1,2",)) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 5
        while running.metrics()[("mlops_inference_in_flight", ())] < 3:
            assert time.monotonic() < deadline, "the three invocations never were in flight"
            time.sleep(0.01)
    finally:
        model.release.set()
        for thread in threads:
            thread.join()
    assert running.metrics()[("mlops_inference_in_flight", ())] == 0


def test_the_metrics_page_is_prometheus_text(start: Callable[..., Running]) -> None:
    import http.client

    running = start()
    connection = http.client.HTTPConnection("127.0.0.1", running.sidecar.metrics_port, timeout=5)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    assert response.getheader("Content-Type", "").startswith("text/plain")
    assert re.search(r"^# TYPE mlops_inference_request_duration_seconds histogram$", text, re.M)
