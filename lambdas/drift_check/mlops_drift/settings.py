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


# ---- quality and fairness checks (quality_handler.py, components/quality.py) ------------------
QUALITY_ENV_CAPTURE_BUCKET = "QUALITY_CAPTURE_BUCKET"
"""Bucket holding the capture (predictions) and `groundtruth/` (labels)."""
QUALITY_ENV_BASELINE_BUCKET = "QUALITY_BASELINE_BUCKET"
"""Bucket holding the baselines (the model-artifact bucket): they name the input features."""
QUALITY_ENV_REPORTS_BUCKET = "QUALITY_REPORTS_BUCKET"
"""Bucket receiving the quality reports."""
QUALITY_ENV_SPILL_DIR = "QUALITY_SPILL_DIR"
"""Local directory the join spills to (default `/tmp/quality`; Lambda's ephemeral storage)."""

QUALITY_METRICS_NAMESPACE = "MLOpsPlatform/Quality"
QUALITY_SERVICE_NAME = "quality-check"
QUALITY_DIMENSIONS = ("Model", "Endpoint")
"""Dimensions every quality metric carries (besides Powertools' `service`); per-segment and
fairness metrics add the engine's own (`Segment`, `SensitiveAttribute`)."""
QUALITY_METRICS = (
    "Accuracy",
    "Precision",
    "Recall",
    "F1",
    "RocAuc",
    "CalibrationError",
    "Mae",
    "Rmse",
    "R2",
    "LabelCoverage",
    "PositiveRate",
    "DemographicParityDifference",
    "DisparateImpact",
    "TprDifference",
    "FprDifference",
)
"""The engine's metric names (`mlops_drift.quality`)."""

GROUNDTRUTH_PREFIX = "groundtruth"
"""Labels: s3://<capture bucket>/groundtruth/<endpoint>/YYYY/MM/DD/HH/<file>.jsonl, the hour
the label was uploaded (SageMaker Model Monitor's ground-truth layout)."""
QUALITY_REPORTS_PREFIX = "quality"
"""Reports: s3://<reports bucket>/quality/<model>/<endpoint>/<window end: YYYY/MM/DD/HH>/
report.json."""


def groundtruth_prefix(endpoint: str) -> str:
    """Key prefix of an endpoint's ground-truth labels."""
    return f"{GROUNDTRUTH_PREFIX}/{endpoint}/"


def quality_report_key(model: str, endpoint: str, window_end_path: str) -> str:
    """Key of one quality check's report; `window_end_path` is the end as `YYYY/MM/DD/HH`."""
    return f"{QUALITY_REPORTS_PREFIX}/{model}/{endpoint}/{window_end_path}/report.json"
