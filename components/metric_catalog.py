"""The CloudWatch metrics the platform's dashboards and alarms may use: what is really emitted.

A widget or alarm naming a metric nobody puts shows an empty graph or an alarm that never
fires, and CloudWatch accepts both without complaint; so every metric the monitoring component
uses must be in this catalog, with its namespace, name and the exact set of dimension names it
is published with (CloudWatch matches a metric on all of its dimensions: `model` alone does not
find a metric published with `service` and `model`).

- **The platform's own handlers** put Embedded Metric Format documents through Powertools. Their
  namespace, service and metric names come from the handlers' settings modules, the same ones
  the handlers and the components import; a metric a handler adds by a literal name is listed
  here by that literal, and `tests/components/test_monitoring_component.py` reads the handler's
  source to prove each one is put there with these dimensions. Powertools adds the default
  dimension `service` to every metric, from `POWERTOOLS_SERVICE_NAME`, which each component
  sets to the settings' `SERVICE_NAME`; so `service` is a dimension of every platform metric,
  with that one value.
- **AWS services** publish what their documentation lists; the table below names the page.

Standard library and the settings modules only: the Pulumi program imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import capture_settings
import retrain_settings
import verifier_settings
from mlops_drift import settings as drift_settings

SERVICE_DIMENSION = "service"
"""The dimension Powertools adds to every metric (its `service`)."""


@dataclass(frozen=True)
class CatalogMetric:
    """One metric as it is published: a namespace, a name and one set of dimension names."""

    namespace: str
    name: str
    dimensions: frozenset[str]
    fixed: tuple[tuple[str, str], ...]
    """Dimension values the emitter always puts (the Powertools `service`)."""
    source: str
    """Who publishes it: the handler's path, or the AWS documentation page."""


@dataclass(frozen=True)
class Emitter:
    """One of the platform's handlers and the metrics it puts."""

    handler: str
    """The module that puts the metrics, relative to the repository root."""
    functions: tuple[str, ...]
    """The functions of `handler` that add the metrics and their dimensions."""
    namespace: str
    service: str
    metrics: Mapping[str, tuple[str, ...]]
    """Metric name to its dimensions besides `service`."""
    settings_prefix: str = ""
    """Prefix of the settings' `METRICS_NAMESPACE` and `SERVICE_NAME` constants the handler
    reads (`QUALITY_` when it shares its settings module with another handler)."""


# ---- the drift checks (lambdas/drift_check/handler.py, put_metrics) ---------------------------
DRIFT_CHECK_METRICS = (
    "RowsChecked",
    "MalformedLines",
    "CaptureObjects",
    "SchemaMismatch",
    "InsufficientData",
    "DriftDetected",
    "DriftedShare",
)
"""One per check, dimensions `service` and `model` (added by literal name in the handler)."""
DRIFT_FEATURE_METRICS = (
    "FeatureDrifted",
    "FeaturePSI",
    "FeatureKS",
    "FeatureWasserstein",
    "FeatureJS",
    "FeatureUnseenShare",
    "FeatureMissingRateDelta",
)
"""One per feature and check, dimensions `service`, `model` and `feature` (`FeatureDrifted` by
literal name, the others from the handler's `FEATURE_METRICS`)."""

DRIFT_CHECK = Emitter(
    handler="lambdas/drift_check/handler.py",
    functions=("put_metrics",),
    namespace=drift_settings.METRICS_NAMESPACE,
    service=drift_settings.SERVICE_NAME,
    metrics={
        **dict.fromkeys(DRIFT_CHECK_METRICS, ("model",)),
        **dict.fromkeys(DRIFT_FEATURE_METRICS, ("model", "feature")),
    },
)
RETRAIN_TRIGGER = Emitter(
    handler="lambdas/retrain_trigger/retrain_record.py",
    functions=("put_metrics",),
    namespace=retrain_settings.METRICS_NAMESPACE,
    service=retrain_settings.SERVICE_NAME,
    metrics={
        retrain_settings.METRIC_STARTED: ("model",),
        retrain_settings.METRIC_SKIPPED: ("model", "reason"),
        retrain_settings.METRIC_FAILED: ("model",),
        retrain_settings.METRIC_PROMOTION: ("model",),
        retrain_settings.METRIC_PROMOTION_FAILED: ("model",),
    },
)
ENDPOINT_VERIFIER = Emitter(
    handler="lambdas/endpoint_verifier/verifier.py",
    functions=("put_metrics",),
    namespace=verifier_settings.METRICS_NAMESPACE,
    service=verifier_settings.SERVICE_NAME,
    metrics={
        verifier_settings.METRIC_MISMATCH: ("endpoint",),
        verifier_settings.METRIC_VERIFIED: ("endpoint",),
        verifier_settings.METRIC_ERROR: ("endpoint",),
    },
)
CAPTURE_PROXY = Emitter(
    handler="lambdas/capture_proxy/proxy.py",
    # `proxy` adds the endpoint dimension and InvokeFailed, then calls `capture`.
    functions=("proxy", "capture"),
    namespace=capture_settings.METRICS_NAMESPACE,
    service=capture_settings.SERVICE_NAME,
    metrics={
        capture_settings.METRIC_CAPTURED: ("endpoint",),
        capture_settings.METRIC_CAPTURE_FAILED: ("endpoint",),
        capture_settings.METRIC_CAPTURE_TOO_LARGE: ("endpoint",),
        capture_settings.METRIC_INVOKE_FAILED: ("endpoint",),
    },
)
# ---- the quality checks (lambdas/drift_check/quality_handler.py, put_metrics) ------------------
QUALITY_OVERALL_METRICS = (
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
)
"""One per check, dimensions `service`, `Model` and `Endpoint` (the engine's overall metrics;
the same names per segment add `Segment`, which no dashboard or alarm uses)."""
QUALITY_FAIRNESS_METRICS = (
    "DemographicParityDifference",
    "DisparateImpact",
    "TprDifference",
    "FprDifference",
)
"""One per check with a sensitive attribute, dimensions `service`, `Model`, `Endpoint` and
`SensitiveAttribute`."""
QUALITY_CHECK = Emitter(
    handler="lambdas/drift_check/quality_handler.py",
    functions=("put_metrics",),
    namespace=drift_settings.QUALITY_METRICS_NAMESPACE,
    service=drift_settings.QUALITY_SERVICE_NAME,
    metrics={
        **dict.fromkeys(QUALITY_OVERALL_METRICS, drift_settings.QUALITY_DIMENSIONS),
        **dict.fromkeys(
            QUALITY_FAIRNESS_METRICS, (*drift_settings.QUALITY_DIMENSIONS, "SensitiveAttribute")
        ),
    },
    settings_prefix="QUALITY_",
)
EMITTERS = (DRIFT_CHECK, RETRAIN_TRIGGER, ENDPOINT_VERIFIER, CAPTURE_PROXY, QUALITY_CHECK)


# ---- AWS services ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AwsMetrics:
    """Metrics an AWS service documents with one set of dimensions."""

    namespace: str
    names: tuple[str, ...]
    dimensions: tuple[str, ...]
    page: str


SAGEMAKER = "AWS/SageMaker"
PIPELINES = "AWS/Sagemaker/ModelBuildingPipeline"
"""Spelled so (lower-case `m` in `Sagemaker`), unlike the endpoints' namespace."""
LAMBDA = "AWS/Lambda"
SQS = "AWS/SQS"

AWS_METRICS = (
    # InvokeEndpoint metrics, per production variant; ModelLatency and OverheadLatency are in
    # microseconds.
    AwsMetrics(
        SAGEMAKER,
        (
            "Invocations",
            "Invocation4XXErrors",
            "Invocation5XXErrors",
            "InvocationModelErrors",
            "ModelLatency",
            "OverheadLatency",
        ),
        ("EndpointName", "VariantName"),
        "https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html"
        "#cloudwatch-metrics-endpoint-invocation",
    ),
    # Execution metrics by pipeline (Count; Duration in milliseconds).
    AwsMetrics(
        PIPELINES,
        (
            "ExecutionStarted",
            "ExecutionFailed",
            "ExecutionSucceeded",
            "ExecutionStopped",
            "ExecutionDuration",
        ),
        ("PipelineName",),
        "https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html"
        "#cloudwatch-metrics-pipelines",
    ),
    AwsMetrics(
        LAMBDA,
        ("Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"),
        ("FunctionName",),
        "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html",
    ),
    # QueueName is the only dimension SQS publishes; the metrics come every five minutes, and
    # only while the queue is active (holds messages or was accessed in the last six hours).
    AwsMetrics(
        SQS,
        (
            "ApproximateNumberOfMessagesVisible",
            "ApproximateAgeOfOldestMessage",
            "NumberOfMessagesSent",
        ),
        ("QueueName",),
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
        "sqs-available-cloudwatch-metrics.html",
    ),
)


def _build() -> dict[tuple[str, str, frozenset[str]], CatalogMetric]:
    found: dict[tuple[str, str, frozenset[str]], CatalogMetric] = {}
    for emitter in EMITTERS:
        for name, dimensions in emitter.metrics.items():
            entry = CatalogMetric(
                namespace=emitter.namespace,
                name=name,
                dimensions=frozenset((SERVICE_DIMENSION, *dimensions)),
                fixed=((SERVICE_DIMENSION, emitter.service),),
                source=emitter.handler,
            )
            found[(entry.namespace, entry.name, entry.dimensions)] = entry
    for table in AWS_METRICS:
        for name in table.names:
            entry = CatalogMetric(
                namespace=table.namespace,
                name=name,
                dimensions=frozenset(table.dimensions),
                fixed=(),
                source=table.page,
            )
            found[(entry.namespace, entry.name, entry.dimensions)] = entry
    return found


CATALOG: Mapping[tuple[str, str, frozenset[str]], CatalogMetric] = _build()
"""Every metric the platform's dashboards and alarms may use, by namespace, name and the set of
its dimension names."""


def lookup(namespace: str, name: str, dimensions: Mapping[str, str]) -> CatalogMetric | None:
    """The catalog's metric with this namespace, name and exactly these dimension names."""
    return CATALOG.get((namespace, name, frozenset(dimensions)))


def problems(namespace: str, name: str, dimensions: Mapping[str, str]) -> list[str]:
    """Why a reference to a metric would find nothing; empty when the catalog has it and the
    dimension values its emitter fixes are the ones given."""
    where = f"{namespace} {name} {sorted(dimensions)}"
    entry = lookup(namespace, name, dimensions)
    if entry is None:
        known = sorted(sorted(k[2]) for k in CATALOG if k[:2] == (namespace, name))
        if not known:
            return [f"{where}: no such metric in the catalog (nobody emits {name} in {namespace})"]
        return [f"{where}: {name} is published with the dimensions {known} only"]
    return [
        f"{where}: dimension {key} is {dimensions[key]!r}; {entry.source} puts {value!r}"
        for key, value in entry.fixed
        if dimensions[key] != value
    ]
