"""Names shared by the drift-check handlers and the component that deploys them.

`components/drift.py` sets these environment variables and builds these S3 keys; the handlers
read them. One definition, imported by both, so the two cannot drift apart. Standard library
only: the Pulumi program imports this module.
"""

from __future__ import annotations

# ---- environment variables the component sets on every drift-check function ----------------
ENV_REPORTS_BUCKET = "DRIFT_REPORTS_BUCKET"
"""Bucket receiving report.json, report.html and scale-out partials."""
ENV_CAPTURE_BUCKET = "DRIFT_CAPTURE_BUCKET"
"""Bucket holding SageMaker data capture."""
ENV_BASELINE_BUCKET = "DRIFT_BASELINE_BUCKET"
"""Bucket holding the baselines (the model-artifact bucket)."""
ENV_EVENT_BUS = "DRIFT_EVENT_BUS"
"""Name of the platform event bus the checks put their events on."""
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
"""CloudWatch namespace of the drift metrics (Powertools reads it)."""
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
"""Service name in logs, traces and metrics (Powertools reads it)."""
ENV_THRESHOLDS = "DRIFT_DEFAULT_THRESHOLDS"
"""JSON object of the stack's default thresholds (a monitor's own override them)."""

METRICS_NAMESPACE = "MLOpsPlatform/Drift"
SERVICE_NAME = "drift-check"

# ---- events on the platform bus ----------------------------------------------------------------
EVENT_SOURCE = "mlops.drift"
EVENT_COMPLETED = "DriftCheckCompleted"
EVENT_DETECTED = "DriftDetected"
EVENT_FAILED = "DriftCheckFailed"

# ---- S3 layout ---------------------------------------------------------------------------------
CAPTURE_PREFIX = "datacapture"
"""Endpoints capture to s3://<capture bucket>/datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/."""
REPORTS_PREFIX = "drift"
"""Reports go to s3://<reports bucket>/drift/<model>/<window end, UTC>/report.{json,html}."""
PARTIALS_PREFIX = "drift-partials"
"""Scale-out partial profiles: s3://<reports bucket>/drift-partials/<model>/<run id>/."""
BASELINE_KEY = "models/{model}/drift/baseline.json"
"""Default baseline key of a model in the baseline (model-artifact) bucket."""


def capture_prefix(endpoint: str) -> str:
    """Key prefix of an endpoint's captured data."""
    return f"{CAPTURE_PREFIX}/{endpoint}/"


def report_prefix(model: str, window_end: str) -> str:
    """Key prefix of one check's report (window end as `YYYY-MM-DDTHH-MM-SSZ`)."""
    return f"{REPORTS_PREFIX}/{model}/{window_end}/"
