"""The serving sidecar under test: the real proxy on ephemeral ports, a stdlib fake of the
model server (SageMaker's container contract), S3, KMS and SageMaker under moto in-process."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_sidecar.config import CaptureConfig, ProxyConfig
from serving_sidecar.proxy import Sidecar

REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUCKET = "mlops-dev-capture-123456789012"
ENDPOINT = "churn-k8s"
VARIANT = "AllTraffic"
POD = "churn-k8s-7d9c5b8f6-x2x4q"


@pytest.fixture(autouse=True)
def _no_leftover_log_handler() -> Iterator[None]:
    """The entry points add a JSON stdout handler to the root logger; a test's handler would
    outlive the captured stdout it writes to, so it goes with the test."""
    import logging

    before = list(logging.getLogger().handlers)
    level = logging.getLogger().level
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    root.setLevel(level)


# ---- the fake model server ----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str | None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeModel:
    """What the model server answers, and what it was sent."""

    answer: Callable[[Seen], Answer] = lambda seen: Answer(200, b"0.5", "text/csv")
    ping: Answer = Answer(200, b"", None)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event | None = None
    """When set, /invocations waits for it before answering (a slow model)."""
    port: int = 0


def _model_handler(model: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
            model.seen.append(seen)
            if self.path == "/ping":
                answer = model.ping
            else:
                if model.release is not None:
                    model.release.wait(10)
                answer = model.answer(seen)
            self.send_response(answer.status)
            if answer.content_type is not None:
                self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def model() -> Iterator[FakeModel]:
    fake = FakeModel()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _model_handler(fake))
    server.daemon_threads = True
    fake.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


# ---- AWS under moto -----------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@dataclass
class Store:
    s3: Any
    key_arn: str

    def objects(self, prefix: str = "datacapture/") -> dict[str, bytes]:
        """Key -> body of every object under the prefix."""
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return {
            item["Key"]: self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            for item in listing.get("Contents", [])
        }


@pytest.fixture
def store(aws: None) -> Store:
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    return Store(s3=s3, key_arn=key_arn)


# ---- the sidecar --------------------------------------------------------------------------------


class Clock:
    """A settable clock: every call returns `now`, then advances it by `step`."""

    def __init__(self, now: datetime, step: timedelta = timedelta(milliseconds=1)) -> None:
        self.now = now
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            moment = self.now
            self.now += self.step
            return moment


T0 = datetime(2026, 11, 27, 10, 15, 0, tzinfo=UTC)


def capture_config(store: Store, **changes: Any) -> CaptureConfig:
    base = CaptureConfig(
        endpoint=ENDPOINT,
        variant=VARIANT,
        pod=POD,
        bucket=BUCKET,
        kms_key_arn=store.key_arn,
        sampling_percent=100,
        flush_records=1000,
        flush_bytes=5 * 1024 * 1024,
        # Long: the tests flush on purpose, unless they test the timer.
        flush_seconds=3600.0,
        max_buffer_records=10_000,
    )
    return replace(base, **changes)


def proxy_config(model: FakeModel, capture: CaptureConfig, **changes: Any) -> ProxyConfig:
    base = ProxyConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        model_port=model.port,
        metrics_port=0,
        model_timeout=5.0,
        drain_seconds=5.0,
        log_level="INFO",
        capture=capture,
    )
    return replace(base, **changes)


@dataclass
class Running:
    """A started sidecar and how to talk to it."""

    sidecar: Sidecar
    clock: Clock
    stopped: bool = False

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        connection = http.client.HTTPConnection("127.0.0.1", self.sidecar.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            answered = response.status, response.read(), response.headers
        finally:
            connection.close()
        # The record is offered just after the answer is sent: let it be, before asserting.
        assert self.sidecar.wait_idle(5) == 0
        return answered

    def invoke(
        self, body: bytes, content_type: str | None = "text/csv", **headers: str
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        sent = dict(headers)
        if content_type is not None:
            sent["Content-Type"] = content_type
        return self.call("POST", "/invocations", body, sent)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """`{(sample name, sorted labels): value}` of the /metrics page."""
        connection = http.client.HTTPConnection("127.0.0.1", self.sidecar.metrics_port, timeout=5)
        try:
            connection.request("GET", "/metrics")
            text = connection.getresponse().read().decode("utf-8")
        finally:
            connection.close()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.sidecar.stop()


@pytest.fixture
def start(store: Store, model: FakeModel) -> Iterator[Callable[..., Running]]:
    """`start(s3=..., clock=..., **capture_changes)`: a running sidecar, stopped at the end."""
    running: list[Running] = []

    def _start(
        *,
        s3: Any = None,
        clock: Clock | None = None,
        proxy: dict[str, Any] | None = None,
        **capture: Any,
    ) -> Running:
        config = proxy_config(model, capture_config(store, **capture), **(proxy or {}))
        clock = clock or Clock(T0)
        sidecar = Sidecar(config, s3 if s3 is not None else store.s3, clock=clock)
        sidecar.start()
        running.append(Running(sidecar, clock))
        return running[-1]

    yield _start
    for item in running:
        item.stop()


def read_json(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    return document
