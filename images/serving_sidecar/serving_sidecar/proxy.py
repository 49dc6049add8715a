"""`python -m serving_sidecar.proxy`: the reverse proxy in front of the model server.

Listens on LISTEN_PORT and forwards `POST /invocations` and `GET /ping` to the model server on
127.0.0.1:MODEL_PORT (SageMaker's container contract), answering with the model's status, body
and content type unchanged; `GET /healthz` is the sidecar's own liveness. Prometheus metrics
are served on METRICS_PORT. Each successful invocation is offered to the capture buffer
(`capture.py`) after its answer has been sent, so capture adds no latency.

SIGTERM (what Kubernetes sends before killing the pod): stop accepting, let in-flight
invocations finish (up to DRAIN_SECONDS), flush the capture, exit 0.
"""

from __future__ import annotations

import http.client
import json
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import boto3
from botocore.config import Config
from capture_format import INFERENCE_ID_RULE, valid_inference_id
from prometheus_client import MetricsHandler

from serving_sidecar import logs, settings
from serving_sidecar.capture import CaptureBuffer, Clock, utc_now
from serving_sidecar.config import ConfigError, ProxyConfig
from serving_sidecar.metrics import Metrics

logger = logging.getLogger("serving_sidecar.proxy")

# What a served invocation leaves to capture: its eventId, the caller's inference id (or None),
# and the content type and body of the request and of the answer.
_Captured = tuple[str, str | None, tuple[str | None, bytes], tuple[str | None, bytes]]
# Each path and the one method it answers.
_ROUTES = {"/invocations": "POST", "/ping": "GET", "/healthz": "GET"}
# How long an idle keep-alive connection is held before the sidecar closes it.
_IDLE_SECONDS = 75


class _Error(Exception):
    """An answer the sidecar gives itself (not the model's), as JSON `{"message": ...}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sidecar: Sidecar

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print the traceback to stderr: keep it a JSON log line.
        logger.exception("request handler failed", extra={"client": str(client_address)})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_SECONDS
    server_version = "serving-sidecar"
    sys_version = ""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        sidecar = self.server.sidecar
        if sidecar.draining:
            self.close_connection = True
        path = self.path.split("?", 1)[0]
        allowed = _ROUTES.get(path)
        if allowed is None:
            self._discard_body()
            self.send_error_answer(_Error(404, f"no route {path}; the sidecar serves {_routes()}"))
        elif method != allowed:
            self._discard_body()
            self.send_error_answer(
                _Error(405, f"{method} {path} not allowed; use {allowed} {path}"),
                {"Allow": allowed},
            )
        elif path == "/invocations":
            sidecar.invocation(self)
        elif path == "/ping":
            sidecar.ping(self)
        else:
            self.send_answer(200, b'{"status":"ok"}', "application/json")

    def _discard_body(self) -> None:
        # An unread body would be parsed as the next request of the connection: close it.
        if self.headers.get("Content-Length") not in (None, "0") or self.headers.get(
            "Transfer-Encoding"
        ):
            self.close_connection = True

    def send_answer(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def send_error_answer(self, error: _Error, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps({"message": error.message}).encode("utf-8")
        self.send_answer(error.status, body, "application/json", headers)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http", extra={"client": self.client_address[0], "line": format % args})


def _routes() -> str:
    return ", ".join(f"{method} {path}" for path, method in _ROUTES.items())


class Sidecar:
    """The proxy, its metrics endpoint and its capture, in one process (or one test)."""

    def __init__(
        self,
        config: ProxyConfig,
        s3: Any,
        *,
        clock: Clock = utc_now,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else Metrics()
        self.clock = clock
        self.capture = CaptureBuffer(config.capture, s3, self.metrics, clock)
        self.draining = False
        self._in_flight = 0
        self._idle = threading.Condition()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._metrics_server: ThreadingHTTPServer | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Bind both ports and serve in background threads."""
        cfg = self.config
        metrics_server = ThreadingHTTPServer(
            (cfg.listen_host, cfg.metrics_port), MetricsHandler.factory(self.metrics.registry)
        )
        metrics_server.daemon_threads = True
        self._metrics_server = metrics_server
        threading.Thread(
            target=metrics_server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="metrics",
            daemon=True,
        ).start()
        server = _Server((cfg.listen_host, cfg.listen_port), _Handler)
        server.sidecar = self
        self._server = server
        if cfg.capture.enabled:
            self.capture.start()
        self._serve_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="proxy", daemon=True
        )
        self._serve_thread.start()
        logger.info(
            "serving",
            extra={
                "port": self.port,
                "metrics_port": self.metrics_port,
                "model": f"127.0.0.1:{cfg.model_port}",
                "capture_sampling_percent": cfg.capture.sampling_percent,
            },
        )

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def metrics_port(self) -> int:
        assert self._metrics_server is not None, "start() first"
        return int(self._metrics_server.server_address[1])

    def stop(self) -> None:
        """Graceful shutdown: stop accepting, finish in-flight invocations, flush, close."""
        self.draining = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        unfinished = self.wait_idle(self.config.drain_seconds)
        if unfinished:
            logger.warning("in-flight invocations not finished in time", extra={"n": unfinished})
        self.capture.close(timeout=self.config.drain_seconds)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        logger.info("stopped", extra={"capture_left_buffered": self.capture.buffered()})

    def wait_idle(self, timeout: float) -> int:
        """Wait until no invocation is being answered or captured; the number still running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            return self._in_flight

    # ---- the routes ---------------------------------------------------------------------------

    def invocation(self, handler: _Handler) -> None:
        started = time.perf_counter()
        received = self.clock()
        with self._idle:
            self._in_flight += 1
        self.metrics.in_flight.inc()
        status = 500
        captured: _Captured | None = None
        try:
            status, captured = self._invocation(handler)
        except (ConnectionError, TimeoutError):
            # The client went away while the answer was written: nothing left to tell it.
            handler.close_connection = True
            logger.info("client disconnected", extra={"path": handler.path})
        finally:
            self.metrics.duration.observe(time.perf_counter() - started)
            self.metrics.requests.labels(code=str(status)).inc()
            self.metrics.in_flight.dec()
        # Captured after the answer has gone (no latency added), but still counted as running,
        # so that a shutdown flushes only once every answered invocation is in the buffer.
        try:
            if captured is not None:
                event_id, inference_id, request, response = captured
                self.capture.offer(event_id, received, request, response, inference_id=inference_id)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _invocation(self, handler: _Handler) -> tuple[int, _Captured | None]:
        given = handler.headers.get(settings.INFERENCE_ID_HEADER)
        try:
            if given is not None and not valid_inference_id(given):
                shown = given if len(given) <= 80 else given[:80] + "..."
                raise _Error(
                    400,
                    f"header {settings.INFERENCE_ID_HEADER}={shown!r} is not accepted: give "
                    f"{INFERENCE_ID_RULE}, or leave it out and the sidecar makes one",
                )
            event_id = given if given is not None else str(uuid.uuid4())
            echo = {settings.INFERENCE_ID_HEADER: event_id}
            body = _read_body(handler)
        except _Error as error:
            handler.close_connection = True
            handler.send_error_answer(error)
            return error.status, None
        content_type = handler.headers.get("Content-Type")
        accept = handler.headers.get("Accept")
        try:
            status, answer, answer_type = self._forward(
                "POST", "/invocations", body, content_type, accept
            )
        except _Error as error:
            logger.warning(
                "invocation failed", extra={"event_id": event_id, "error": error.message}
            )
            handler.send_error_answer(error, echo)
            return error.status, None
        handler.send_answer(status, answer, answer_type, echo)
        if 200 <= status < 300:
            return status, (event_id, given, (content_type, body), (answer_type, answer))
        logger.info(
            "model answered an error; not captured", extra={"event_id": event_id, "status": status}
        )
        return status, None

    def ping(self, handler: _Handler) -> None:
        try:
            status, body, content_type = self._forward("GET", "/ping", b"", None, None)
        except _Error as error:
            handler.send_error_answer(_Error(503, f"not ready: {error.message}"))
            return
        handler.send_answer(status, body, content_type)

    def _forward(
        self, method: str, path: str, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[int, bytes, str | None]:
        """The model server's status, body and content type."""
        port = self.config.model_port
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=self.config.model_timeout
        )
        headers = {"Content-Length": str(len(body))} if method == "POST" else {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        try:
            connection.request(
                method, path, body=body if method == "POST" else None, headers=headers
            )
            response = connection.getresponse()
            data = response.read()
            return response.status, data, response.getheader("Content-Type")
        except TimeoutError:
            raise _Error(
                504,
                f"the model server on 127.0.0.1:{port} did not answer {method} {path} within "
                f"{self.config.model_timeout:g} s",
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Error(
                502,
                f"the model server on 127.0.0.1:{port} could not be reached for {method} {path}: "
                f"{exc.__class__.__name__}: {exc}",
            ) from None
        finally:
            connection.close()


def _read_body(handler: _Handler) -> bytes:
    if handler.headers.get("Transfer-Encoding"):
        raise _Error(411, "chunked request bodies are not accepted; send a Content-Length")
    raw = handler.headers.get("Content-Length")
    if raw is None:
        raise _Error(411, "the request has no Content-Length; send the body with one")
    try:
        length = int(raw)
    except ValueError:
        length = -1
    if length < 0:
        raise _Error(400, f"Content-Length={raw!r} is not a byte count")
    if length > settings.MAX_REQUEST_BYTES:
        raise _Error(
            413, f"the body has {length} bytes; at most {settings.MAX_REQUEST_BYTES} are accepted"
        )
    body = handler.rfile.read(length)
    if len(body) < length:
        raise _Error(400, f"the body ended after {len(body)} of {length} bytes")
    return body


def s3_client() -> Any:
    # The flusher runs off the request path: standard retries and timeouts that let a slow S3
    # finish, short enough that a shutdown flush ends inside the pod's grace period.
    return boto3.client(
        "s3",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 3},
            connect_timeout=5,
            read_timeout=20,
        ),
    )


def main(environ: Mapping[str, str] | None = None) -> int:
    logs.configure()
    try:
        config = ProxyConfig.read(environ)
    except ConfigError as error:
        logger.error("bad configuration: %s", error)
        return 2
    logs.configure(config.log_level)
    sidecar = Sidecar(config, s3_client())
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal received; shutting down", extra={"signal": signal.Signals(signum).name})
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sidecar.start()
    except OSError as error:
        logger.error("cannot listen: %s", error)
        return 1
    while not stopping.wait(1.0):
        pass
    sidecar.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
