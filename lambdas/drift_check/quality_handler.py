"""The quality-check Lambda handler, deployed by `components/quality.py` (`QualityMonitor`).

`quality_handler.lambda_handler`: one check of one model's predictions on one endpoint, joined
with the labels that have arrived, invoked by the monitor's EventBridge Scheduler schedule
(input: `QualityRequest`).

Labels arrive late, so the predictions judged are those of a window that ended
`label_delay_hours` before the run:

    predictions: [window_end - label_delay - window_hours, window_end - label_delay)
    labels:      uploaded from the predictions' window start until window_end

The capture hour folders (`datacapture/<endpoint>/<variant>/YYYY/MM/DD/HH/`) of the prediction
window and the ground-truth hour folders (`groundtruth/<endpoint>/YYYY/MM/DD/HH/`) of the label
window are listed, streamed one object at a time into the engine (`mlops_drift.quality`), which
joins them on the capture's event id and spills to local storage, not memory. The report goes to
`quality/<model>/<endpoint>/<window end YYYY/MM/DD/HH>/report.json` in the reports bucket (its
default encryption is SSE-KMS with the platform key); its metrics are EMF through Powertools in
`MLOpsPlatform/Quality`, with the dimensions `Model` and `Endpoint` (and the metric's own
`Segment` or `SensitiveAttribute`), where the component's alarms read them. The S3 helpers
are the drift handler's (`handler.py`), the same layer and archive.

With `sensitive_from`, the sensitive attribute is not a capture column: it is read from a
feature group's online store (`FeatureStoreLookup`, `BatchGetRecord` in chunks of 100) by the
record identifier the capture carries in `sensitive_from.record_identifier_column`. A failed
read fails the run (it lands in the dead-letter queue), never a silently empty fairness.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError
from handler import capture_streams, fetch_baseline, list_variants, put_json, variant_prefixes
from mlops_drift import quality, settings
from mlops_drift.events import EndpointName, ModelName, ObjectKey, VariantList
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

SERVICE = os.environ.get(settings.ENV_SERVICE_NAME, settings.QUALITY_SERVICE_NAME)
NAMESPACE = os.environ.get(settings.ENV_METRICS_NAMESPACE, settings.QUALITY_METRICS_NAMESPACE)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
_BOTO = Config(retries={"mode": "standard", "max_attempts": 5})
s3 = boto3.client("s3", config=_BOTO)
featurestore = boto3.client("sagemaker-featurestore-runtime", config=_BOTO)

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
FeatureGroupName = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$")
]
BATCH_GET_RECORD_MAX = 100
"""Record identifiers per `BatchGetRecord` call (the API's limit)."""


class QualityCheckError(Exception):
    """The check cannot run; the invocation fails with this message (and lands in the DLQ)."""


class SensitiveSource(BaseModel):
    """Where the sensitive attribute is read: a feature group's online store, by the record
    identifier an input column of the capture carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature_group: FeatureGroupName = Field(description="The feature group's physical name.")
    record_identifier_column: ColumnName = Field(
        description="Input feature holding the feature group's record identifier."
    )


class QualityRequest(BaseModel):
    """One quality check: a model's predictions on an endpoint, joined with their labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelName = Field(description="Registry model whose baseline names the features.")
    endpoint: EndpointName = Field(description="Endpoint whose capture holds the predictions.")
    variants: VariantList | None = Field(
        default=None,
        description="Production variants whose capture is read; default every variant folder.",
    )
    window_hours: int = Field(ge=1, le=720, strict=True, description="Hours of predictions.")
    window_end: AwareDatetime | None = Field(
        default=None,
        description="The run's time (the schedule's scheduled time), truncated to the hour; "
        "labels uploaded until then count. Default: now.",
    )
    label_delay_hours: int = Field(
        ge=0, le=2160, strict=True, description="The predictions' window ends this long before."
    )
    problem: Literal["classification", "regression"]
    threshold: float = Field(default=0.5, ge=0, le=1, description="Positive at or above it.")
    positive_label: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    segment: ColumnName | None = Field(default=None, description="Feature splitting the metrics.")
    sensitive: ColumnName | None = Field(
        default=None,
        description="Feature whose groups the fairness metrics compare: an input feature, or "
        "with `sensitive_from` a feature of that feature group.",
    )
    sensitive_from: SensitiveSource | None = Field(
        default=None, description="Read `sensitive` from the feature store; default the capture."
    )
    min_group_size: int = Field(default=30, ge=1, le=1_000_000, strict=True)
    baseline_key: ObjectKey | None = Field(
        default=None, description=f"Baseline key (default `{settings.BASELINE_KEY}`)."
    )

    @field_validator("variants")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError(
                "variants must name at least one variant, each once (or be left out: every "
                "variant folder is read)"
            )
        return value

    @model_validator(mode="after")
    def _source_names_an_attribute(self) -> QualityRequest:
        if self.sensitive_from is not None and self.sensitive is None:
            raise ValueError(
                "sensitive_from names where the sensitive attribute is read, and `sensitive` "
                "(the feature group's feature) is not set"
            )
        return self

    @model_validator(mode="after")
    def _windows_in_calendar(self) -> QualityRequest:
        # The windows are computed from window_end in UTC; an end at either edge of the
        # calendar would otherwise fail deep in the handler with a bare OverflowError.
        if self.window_end is not None:
            back = timedelta(hours=self.label_delay_hours + self.window_hours)
            try:
                self.window_end.astimezone(UTC) - back
            except OverflowError:
                raise ValueError(
                    f"window_end {self.window_end.isoformat()} in UTC, minus label_delay_hours "
                    f"{self.label_delay_hours} and window_hours {self.window_hours}, is outside "
                    "the calendar"
                ) from None
        return self

    def resolved_baseline_key(self) -> str:
        return self.baseline_key or settings.BASELINE_KEY.format(model=self.model)


@dataclass(frozen=True)
class Env:
    """The environment the component sets on the quality-check function."""

    capture_bucket: str
    baseline_bucket: str
    reports_bucket: str
    spill_dir: Path

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Env:
        environ = os.environ if environ is None else environ
        names = (
            settings.QUALITY_ENV_CAPTURE_BUCKET,
            settings.QUALITY_ENV_BASELINE_BUCKET,
            settings.QUALITY_ENV_REPORTS_BUCKET,
        )
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise QualityCheckError(
                f"environment variable(s) {', '.join(missing)} not set; components/quality.py "
                "sets them on the quality-check function"
            )
        spill = environ.get(settings.QUALITY_ENV_SPILL_DIR) or str(
            Path(tempfile.gettempdir()) / "quality"
        )
        return cls(
            capture_bucket=environ[settings.QUALITY_ENV_CAPTURE_BUCKET],
            baseline_bucket=environ[settings.QUALITY_ENV_BASELINE_BUCKET],
            reports_bucket=environ[settings.QUALITY_ENV_REPORTS_BUCKET],
            spill_dir=Path(spill),
        )


@dataclass(frozen=True)
class Windows:
    """The run's hours, UTC: predictions `[start, predictions_end)`, labels `[start, end)`."""

    end: datetime
    hours: int
    label_delay_hours: int

    @property
    def predictions_end(self) -> datetime:
        return self.end - timedelta(hours=self.label_delay_hours)

    @property
    def start(self) -> datetime:
        return self.predictions_end - timedelta(hours=self.hours)

    def prediction_hours(self) -> list[str]:
        """`YYYY/MM/DD/HH/` of each hour of predictions, oldest first."""
        return _hours(self.start, self.hours)

    def label_hours(self) -> list[str]:
        """`YYYY/MM/DD/HH/` of each hour labels may have been uploaded in, oldest first."""
        return _hours(self.start, self.hours + self.label_delay_hours)

    @property
    def report_key_path(self) -> str:
        return self.end.strftime("%Y/%m/%d/%H")

    def as_dict(self) -> dict[str, Any]:
        return {
            "predictions": {"start": _iso(self.start), "end": _iso(self.predictions_end)},
            "labels": {"start": _iso(self.start), "end": _iso(self.end)},
            "hours": self.hours,
            "label_delay_hours": self.label_delay_hours,
        }


def _hours(start: datetime, count: int) -> list[str]:
    return [(start + timedelta(hours=i)).strftime("%Y/%m/%d/%H/") for i in range(count)]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve_windows(request: QualityRequest, now: datetime) -> Windows:
    """The run's windows: `window_end` (or now) truncated to the hour, so every retry of one
    scheduled run reads the same hours and writes the same report key."""
    end = (request.window_end or now).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return Windows(end=end, hours=request.window_hours, label_delay_hours=request.label_delay_hours)


def list_keys(client: Any, bucket: str, prefixes: Iterable[str]) -> list[str]:
    """Every key under each prefix, sorted."""
    paginator = client.get_paginator("list_objects_v2")
    keys: list[str] = []
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


@tracer.capture_method
def capture_keys(client: Any, bucket: str, request: QualityRequest, windows: Windows) -> list[str]:
    """The capture objects of the prediction window's hours, of the request's variants (every
    variant folder when it names none)."""
    variants = (
        sorted(request.variants)
        if request.variants is not None
        else list_variants(client, bucket, request.endpoint)
    )
    hours = windows.prediction_hours()
    return list_keys(
        client,
        bucket,
        [p + hour for p in variant_prefixes(request.endpoint, variants) for hour in hours],
    )


@tracer.capture_method
def label_keys(client: Any, bucket: str, request: QualityRequest, windows: Windows) -> list[str]:
    """The ground-truth objects uploaded from the predictions' start until the run."""
    prefix = settings.groundtruth_prefix(request.endpoint)
    return list_keys(client, bucket, [prefix + hour for hour in windows.label_hours()])


@dataclass
class FeatureStoreLookup:
    """The sensitive attribute of record identifiers, from a feature group's online store:
    `BatchGetRecord` in chunks of `BATCH_GET_RECORD_MAX`, unprocessed identifiers retried once
    and then counted (`unprocessed`) and left missing. Any error raises `QualityCheckError`
    naming the feature group."""

    client: Any
    feature_group: str
    attribute: str
    calls: int = 0
    unprocessed: int = 0

    def __call__(self, keys: Sequence[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for start in range(0, len(keys), BATCH_GET_RECORD_MAX):
            chunk = list(keys[start : start + BATCH_GET_RECORD_MAX])
            left = self._batch(chunk, found)
            if left:
                left = self._batch(left, found)
            self.unprocessed += len(left)
        return found

    def _batch(self, ids: list[str], found: dict[str, str | None]) -> list[str]:
        """Read one chunk into `found`; the identifiers left unprocessed."""
        self.calls += 1
        request = {
            "FeatureGroupName": self.feature_group,
            "RecordIdentifiersValueAsString": ids,
            "FeatureNames": [self.attribute],
        }
        try:
            response = self.client.batch_get_record(Identifiers=[request])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise QualityCheckError(
                f"reading {self.attribute!r} from feature group {self.feature_group} "
                f"(BatchGetRecord of {len(ids)} record identifiers) failed: "
                f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
            ) from exc
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise QualityCheckError(
                f"reading {self.attribute!r} from feature group {self.feature_group}: "
                f"{len(errors)} record(s) failed, the first "
                f"{first.get('RecordIdentifierValueAsString')!r}: "
                f"{first.get('ErrorCode')}: {first.get('ErrorMessage')}"
            )
        for record in response.get("Records", []):
            values = {
                f.get("FeatureName"): f.get("ValueAsString") for f in record.get("Record", [])
            }
            found[record["RecordIdentifierValueAsString"]] = values.get(self.attribute)
        return [
            i
            for item in response.get("UnprocessedIdentifiers") or []
            for i in item.get("RecordIdentifiersValueAsString", [])
        ]


def put_metrics(request: QualityRequest, report_metrics: Iterable[quality.Metric]) -> int:
    """The report's metrics as EMF: `Model` and `Endpoint` on each, plus its own dimensions.
    Overall metrics go on the handler's `metrics` (flushed at return); each other dimension set
    is one EMF document. Values that are not numbers (a metric undefined on this window) put
    no data point. Returns the number of data points put."""
    base = {"Model": request.model, "Endpoint": request.endpoint}
    grouped: dict[tuple[tuple[str, str], ...], list[tuple[str, float]]] = {}
    for metric in report_metrics:
        value = metric.value
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            continue
        own = tuple(sorted((str(k), str(v)) for k, v in dict(metric.dimensions).items()))
        grouped.setdefault(own, []).append((str(metric.name), float(value)))
    put = 0
    for own, values in sorted(grouped.items()):
        target = metrics if not own else EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        for key, label in (*base.items(), *own):
            target.add_dimension(name=key, value=label)
        for name, number in values:
            target.add_metric(name=name, unit=MetricUnit.NoUnit, value=number)
            put += 1
        if own:
            target.flush_metrics()
    return put


def run_check(
    request: QualityRequest,
    env: Env,
    client: Any,
    now: datetime,
    featurestore_client: Any | None = None,
) -> dict[str, Any]:
    """One check: baseline, listing, the engine over the streamed objects, report, metrics.
    `featurestore_client` (`sagemaker-featurestore-runtime`) reads `sensitive_from`."""
    tracer.put_annotation(key="model", value=request.model)
    tracer.put_annotation(key="endpoint", value=request.endpoint)
    windows = resolve_windows(request, now)
    baseline = fetch_baseline(client, env.baseline_bucket, request.resolved_baseline_key())
    captures = capture_keys(client, env.capture_bucket, request, windows)
    labels = label_keys(client, env.capture_bucket, request, windows)
    logger.info(
        "checking quality",
        extra={"windows": windows.as_dict(), "captures": len(captures), "labels": len(labels)},
    )
    # The engine spills the join to a temporary folder of its own under this one.
    env.spill_dir.mkdir(parents=True, exist_ok=True)
    source = request.sensitive_from
    lookup: FeatureStoreLookup | None = None
    if source is not None and request.sensitive is not None:
        lookup = FeatureStoreLookup(
            featurestore_client if featurestore_client is not None else featurestore,
            source.feature_group,
            request.sensitive,
        )
    try:
        report = quality.check_quality(
            baseline,
            capture_streams(client, env.capture_bucket, captures),
            capture_streams(client, env.capture_bucket, labels),
            problem=request.problem,
            threshold=request.threshold,
            positive_label=request.positive_label,
            segment=request.segment,
            sensitive=source.record_identifier_column if source else request.sensitive,
            min_group_size=request.min_group_size,
            spill_dir=env.spill_dir,
            window=(windows.start, windows.predictions_end),
            sensitive_lookup=lookup,
            sensitive_attribute=request.sensitive if source else None,
        )
    except quality.QualityInputError as exc:
        raise QualityCheckError(
            f"quality check of {request.model} on {request.endpoint}: {exc}"
        ) from exc
    key = settings.quality_report_key(request.model, request.endpoint, windows.report_key_path)
    context = {
        "model": request.model,
        "endpoint": request.endpoint,
        "windows": windows.as_dict(),
        "baseline": f"s3://{env.baseline_bucket}/{request.resolved_baseline_key()}",
        "capture": {"bucket": env.capture_bucket, "objects": len(captures)},
        "groundtruth": {
            "bucket": env.capture_bucket,
            "prefix": settings.groundtruth_prefix(request.endpoint),
            "objects": len(labels),
        },
    }
    if lookup is not None:
        context["sensitive_from"] = {
            "feature_group": lookup.feature_group,
            "attribute": lookup.attribute,
            "batch_get_record_calls": lookup.calls,
            "unprocessed": lookup.unprocessed,
        }
    put_json(client, env.reports_bucket, key, {**report.to_json(), "context": context})
    # After the report: a run that failed to write it is retried, and must not count twice.
    points = put_metrics(request, report.metrics())
    uri = f"s3://{env.reports_bucket}/{key}"
    logger.info("quality check done", extra={"report": uri, "metrics": points})
    return {
        "model": request.model,
        "endpoint": request.endpoint,
        "windows": windows.as_dict(),
        "captures": len(captures),
        "labels": len(labels),
        "metrics": points,
        "report": uri,
    }


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=QualityRequest)
def lambda_handler(event: QualityRequest, context: LambdaContext) -> dict[str, Any]:
    """Scheduled quality check of one model on one endpoint."""
    return run_check(event, Env.read(), s3, datetime.now(UTC))
