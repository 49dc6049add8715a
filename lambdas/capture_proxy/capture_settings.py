"""Names shared by the capture proxy (`proxy.py`) and the component that will deploy it.

The component sets these environment variables and the Firehose delivery stream's S3 prefix;
the proxy reads them. One definition, imported by both. Standard library only: the Pulumi
program imports this module.
"""

from __future__ import annotations

# ---- environment variables the component sets on the proxy function ----------------------------
ENV_ENDPOINT_NAME = "CAPTURE_ENDPOINT_NAME"
"""Name of the SageMaker serverless endpoint the proxy invokes (never taken from the caller)."""
ENV_VARIANT_NAME = "CAPTURE_VARIANT_NAME"
"""Production variant name the capture is filed under (a serverless endpoint has one)."""
ENV_DELIVERY_STREAM = "CAPTURE_DELIVERY_STREAM"
"""Name of the Firehose delivery stream receiving the capture records."""
ENV_SAMPLING_PERCENT = "CAPTURE_SAMPLING_PERCENT"
"""Share of invocations captured, an integer 0 to 100 (SageMaker's `InitialSamplingPercentage`)."""
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
"""CloudWatch namespace of the proxy's metrics (Powertools reads it)."""
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
"""Service name in logs, traces and metrics (Powertools reads it)."""

METRICS_NAMESPACE = "MLOpsPlatform/Capture"
SERVICE_NAME = "capture-proxy"
DEFAULT_SAMPLING_PERCENT = 100
"""When the variable is not set: capture everything, as the drift checks need the traffic."""

# ---- metrics ------------------------------------------------------------------------------------
METRIC_CAPTURED = "Captured"
"""A record was accepted by Firehose."""
METRIC_CAPTURE_FAILED = "CaptureFailed"
"""PutRecord failed (or the record could not be built); the response was still returned."""
METRIC_CAPTURE_TOO_LARGE = "CaptureTooLarge"
"""The record exceeds Firehose's record size limit and was not sent."""
METRIC_INVOKE_FAILED = "InvokeFailed"
"""InvokeEndpoint failed; the error went back to the caller and nothing was captured."""

# ---- limits -------------------------------------------------------------------------------------
FIREHOSE_MAX_RECORD_BYTES = 1_000 * 1024
"""Firehose's maximum record size (before base64), 1,000 KiB."""

# ---- S3 layout (the same as SageMaker data capture; see lambdas/drift_check) -------------------
CAPTURE_PREFIX = "datacapture"
"""Capture lands in s3://<capture bucket>/datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/."""
CAPTURE_ERRORS_PREFIX = "datacapture-errors"
"""Records Firehose failed to deliver; outside `datacapture/`, so the drift checks never read
them."""


def firehose_prefix(endpoint: str, variant: str) -> str:
    """The S3 destination `Prefix` of the delivery stream of one endpoint's variant.

    Firehose evaluates `!{timestamp:…}` at the record's arrival (UTC), which gives the hour
    folders of SageMaker's own data capture.
    """
    return f"{CAPTURE_PREFIX}/{endpoint}/{variant}/!{{timestamp:yyyy/MM/dd/HH}}/"


def firehose_error_prefix(endpoint: str, variant: str) -> str:
    """The S3 destination `ErrorOutputPrefix` (required by Firehose with an expression prefix)."""
    return (
        f"{CAPTURE_ERRORS_PREFIX}/{endpoint}/{variant}/"
        "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
    )
