"""`python -m serving_sidecar.proxy` as Kubernetes runs it: its own process, S3 behind moto's
server, SIGTERM before the kill. What is buffered at SIGTERM must reach S3, and the process
must exit 0."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.serving_sidecar.conftest import BUCKET, ENDPOINT, POD, REGION, VARIANT, FakeModel
from tests.serving_sidecar.test_proxy import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    # Port 0 picks a free port; moto's server tells which only through its werkzeug server.
    assert server._server is not None
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


def wait_until_serving(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()
    raise AssertionError("the sidecar did not start listening")


def test_sigterm_flushes_the_buffer_and_exits_0(moto_server: str, model: FakeModel) -> None:
    # GIVEN S3 with the capture bucket and a KMS key, behind moto's server
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    kms = boto3.client("kms", endpoint_url=moto_server, region_name=REGION)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    # AND the sidecar in its own process, flushing only every hour
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "images" / "serving_sidecar"), str(ROOT / "lambdas" / "capture_proxy")]
        ),
        "AWS_ENDPOINT_URL": moto_server,
        "LISTEN_HOST": "127.0.0.1",
        "LISTEN_PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "MODEL_PORT": str(model.port),
        "ENDPOINT_NAME": ENDPOINT,
        "VARIANT_NAME": VARIANT,
        "POD_NAME": POD,
        "CAPTURE_BUCKET": BUCKET,
        "CAPTURE_KMS_KEY_ARN": key_arn,
        "CAPTURE_FLUSH_SECONDS": "3600",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "serving_sidecar.proxy"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_serving(port, process)
        # WHEN three invocations are answered, then Kubernetes sends SIGTERM
        ids = []
        for _ in range(3):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("POST", "/invocations", b"1,2", {"Content-Type": "text/csv"})
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"0.5")
            ids.append(response.getheader("X-Inference-Id"))
            connection.close()
        assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # THEN it exited 0, its logs are JSON lines, and the three records are in S3
    assert process.returncode == 0, stderr
    logs = [json.loads(line) for line in stdout.splitlines()]
    assert [line["message"] for line in logs][-3:] == [
        "signal received; shutting down",
        "capture object written",
        "stopped",
    ]
    (item,) = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert item["Key"].startswith(f"datacapture/{ENDPOINT}/{VARIANT}/")
    body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    # Each record is offered to the buffer after its answer went out, from the request's own
    # thread, so records of concurrent or back-to-back requests may land in either order.
    captured = [json.loads(line)["eventMetadata"]["eventId"] for line in body.splitlines()]
    assert sorted(captured) == sorted(ids)
