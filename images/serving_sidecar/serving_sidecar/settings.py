"""Names shared by the serving sidecar and the Pulumi component that runs it on Kubernetes.

The component sets these environment variables on the sidecar's containers (the fetching
initContainer and the proxy); the sidecar reads them. One definition, imported by both.
Standard library only, and no imports from the rest of the package: the Pulumi program
imports this module by path.
"""

from __future__ import annotations

from datetime import datetime

# ---- fetch (the initContainer: `python -m serving_sidecar.fetch`) ------------------------------
ENV_MODEL_PACKAGE_ARN = "MODEL_PACKAGE_ARN"
"""ARN of the registered model package whose `model.tar.gz` is fetched (required)."""
ENV_MODEL_DIR = "MODEL_DIR"
"""Directory the archive is extracted into, shared with the model server (an emptyDir)."""
DEFAULT_MODEL_DIR = "/opt/ml/model"
"""Where SageMaker-compatible model servers look for their model files."""
FETCH_MARKER = ".serving-sidecar-fetched.json"
"""Written in MODEL_DIR after a complete extraction; names the ARN it holds."""

# ---- proxy (the long-running sidecar: `python -m serving_sidecar.proxy`) -----------------------
ENV_LISTEN_HOST = "LISTEN_HOST"
"""Address the proxy listens on."""
DEFAULT_LISTEN_HOST = "0.0.0.0"  # noqa: S104 (the pod's port: the Service reaches it from outside)
ENV_LISTEN_PORT = "LISTEN_PORT"
"""Port of the proxy: `POST /invocations`, `GET /ping`, `GET /healthz`."""
DEFAULT_LISTEN_PORT = 8080
ENV_MODEL_PORT = "MODEL_PORT"
"""Port of the model server on localhost (its SageMaker contract: /invocations, /ping)."""
DEFAULT_MODEL_PORT = 8081
ENV_METRICS_PORT = "METRICS_PORT"
"""Port of the Prometheus `/metrics` endpoint."""
DEFAULT_METRICS_PORT = 9090
ENV_MODEL_TIMEOUT_SECONDS = "MODEL_TIMEOUT_SECONDS"
"""How long the proxy waits for the model's answer before a 504."""
DEFAULT_MODEL_TIMEOUT_SECONDS = 60.0
"""SageMaker's own limit for a real-time endpoint's answer."""
ENV_DRAIN_SECONDS = "DRAIN_SECONDS"
"""On SIGTERM, how long in-flight invocations may take to finish before the final flush; keep
it well under the pod's terminationGracePeriodSeconds (30 s by default)."""
DEFAULT_DRAIN_SECONDS = 20.0

# ---- capture -----------------------------------------------------------------------------------
ENV_ENDPOINT_NAME = "ENDPOINT_NAME"
"""Endpoint name the capture is filed under (`datacapture/<endpoint>/...`)."""
ENV_VARIANT_NAME = "VARIANT_NAME"
"""Variant name the capture is filed under (`datacapture/<endpoint>/<variant>/...`)."""
DEFAULT_VARIANT_NAME = "AllTraffic"
ENV_POD_NAME = "POD_NAME"
"""This pod's name (downward API `metadata.name`), in each capture object's name so that
replicas never overwrite each other; defaults to the host name, which is the pod's name."""
ENV_CAPTURE_BUCKET = "CAPTURE_BUCKET"
"""Bucket the capture objects are written to (required unless sampling is 0)."""
ENV_CAPTURE_KMS_KEY_ARN = "CAPTURE_KMS_KEY_ARN"
"""KMS key the capture objects are encrypted with (SSE-KMS; required with the bucket)."""
ENV_CAPTURE_SAMPLING_PERCENT = "CAPTURE_SAMPLING_PERCENT"
"""Share of successful invocations captured, an integer 0 to 100."""
DEFAULT_CAPTURE_SAMPLING_PERCENT = 100
ENV_CAPTURE_FLUSH_RECORDS = "CAPTURE_FLUSH_RECORDS"
"""Flush when this many records are buffered."""
DEFAULT_CAPTURE_FLUSH_RECORDS = 1000
ENV_CAPTURE_FLUSH_BYTES = "CAPTURE_FLUSH_BYTES"
"""Flush when this many bytes of records are buffered."""
DEFAULT_CAPTURE_FLUSH_BYTES = 5 * 1024 * 1024
ENV_CAPTURE_FLUSH_SECONDS = "CAPTURE_FLUSH_SECONDS"
"""Flush at least this often (seconds): the most capture a crash can lose."""
DEFAULT_CAPTURE_FLUSH_SECONDS = 60.0
ENV_CAPTURE_MAX_BUFFER_RECORDS = "CAPTURE_MAX_BUFFER_RECORDS"
"""Records held at most; beyond it new records are dropped (and counted), never waited for."""
DEFAULT_CAPTURE_MAX_BUFFER_RECORDS = 10_000

ENV_LOG_LEVEL = "LOG_LEVEL"
"""DEBUG, INFO, WARNING or ERROR."""
DEFAULT_LOG_LEVEL = "INFO"

# ---- limits ------------------------------------------------------------------------------------
MAX_RECORD_BYTES = 1024 * 1024
"""A capture record larger than this is not captured (counted `too_large`)."""
MAX_REQUEST_BYTES = 6 * 1024 * 1024
"""Largest invocation body accepted (SageMaker's real-time payload limit); larger is a 413."""
INFERENCE_ID_HEADER = "X-Inference-Id"
"""Request header naming the invocation (its capture eventId and inferenceId); echoed on every
answer. The same name and rule as the capture proxy's (`capture_format.INFERENCE_ID_HEADER`,
`INFERENCE_ID_PATTERN`; a test holds the two names equal, as this module imports nothing)."""

# ---- metrics (Prometheus, on METRICS_PORT) -----------------------------------------------------
METRIC_REQUESTS = "mlops_inference_requests_total"
METRIC_DURATION = "mlops_inference_request_duration_seconds"
METRIC_IN_FLIGHT = "mlops_inference_in_flight"
METRIC_CAPTURE_RECORDS = "mlops_capture_records_total"
METRIC_CAPTURE_BUFFERED = "mlops_capture_buffered_records"
METRIC_CAPTURE_UPLOAD_FAILURES = "mlops_capture_upload_failures_total"

# ---- S3 layout (the same as SageMaker data capture; see lambdas/drift_check) -------------------
CAPTURE_PREFIX = "datacapture"


def capture_key(
    endpoint: str, variant: str, hour: datetime, *, stamp: str, pod: str, seq: int
) -> str:
    """`datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/<stamp>-<pod>-<seq>.jsonl`, where `hour`
    (UTC) is the hour of the records' inference time and `stamp` the flush time."""
    return f"{CAPTURE_PREFIX}/{endpoint}/{variant}/{hour:%Y/%m/%d/%H}/{stamp}-{pod}-{seq:06d}.jsonl"
