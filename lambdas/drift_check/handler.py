"""The drift-check Lambda handlers, deployed by `components/drift.py` (`DriftMonitor`).

- `handler.check_handler`: one check of one endpoint's window, invoked by its EventBridge
  Scheduler schedule (input: `mlops_drift.events.CheckRequest`).
- Scale-out, in a Step Functions Distributed Map for windows beyond one Lambda's time or
  memory: `handler.plan_handler` (lists the window into a manifest), `handler.profile_handler`
  (one Map batch into a partial profile), `handler.reduce_handler` (merges the partials, checks,
  reports).

Both paths end in `publish`: report.json and report.html in the reports bucket, EMF metrics,
and the events on the platform bus. Configuration comes from the environment only (names in
`mlops_drift.settings`); the handlers parse, call the plain functions below, and return.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import boto3
import orjson
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError
from mlops_drift import settings
from mlops_drift.baseline import Baseline, BaselineError, load_baseline
from mlops_drift.capture import CaptureStats, SchemaMismatch, profile_capture, schema_problem
from mlops_drift.check import REPORT_KIND, Thresholds, check
from mlops_drift.events import (
    DETAILS,
    CheckRequest,
    ProfileBatch,
    ReduceRequest,
)
from mlops_drift.html import render_html
from mlops_drift.window import WindowProfile, empty_profile, merge, window_from_dict, window_to_dict

Mode = Literal["single", "scaleout"]

SERVICE = os.environ.get(settings.ENV_SERVICE_NAME, settings.SERVICE_NAME)
NAMESPACE = os.environ.get(settings.ENV_METRICS_NAMESPACE, settings.METRICS_NAMESPACE)
MAX_EXAMPLES = 5
"""Malformed capture lines quoted in a report."""
PARTIAL_KIND = "mlops-drift-partial"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
# Standard retry mode: throttling (S3 SlowDown, PutEvents ThrottlingException) is retried with
# backoff before an error reaches the handler, which then fails so Lambda retries it.
_BOTO = Config(retries={"mode": "standard", "max_attempts": 5})
s3 = boto3.client("s3", config=_BOTO)
eventbridge = boto3.client("events", config=_BOTO)


class DriftCheckError(Exception):
    """The check cannot run; the invocation fails with this message (and lands in the DLQ)."""


class BaselineNotFoundError(DriftCheckError):
    """The baseline object does not exist."""


class BadRequestError(DriftCheckError, ValueError):
    """The event parsed, but a value in it is refused by the engine (thresholds)."""


# ---- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    """The environment the component sets on every drift-check function."""

    capture_bucket: str
    baseline_bucket: str
    reports_bucket: str
    event_bus: str
    default_thresholds: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Env:
        environ = os.environ if environ is None else environ
        names = (
            settings.ENV_CAPTURE_BUCKET,
            settings.ENV_BASELINE_BUCKET,
            settings.ENV_REPORTS_BUCKET,
            settings.ENV_EVENT_BUS,
        )
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise DriftCheckError(
                f"environment variable(s) {', '.join(missing)} not set; components/drift.py "
                "sets them on every drift-check function"
            )
        defaults: Any = {}
        raw = environ.get(settings.ENV_THRESHOLDS, "").strip()
        if raw:
            try:
                defaults = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise DriftCheckError(f"{settings.ENV_THRESHOLDS} is not JSON: {exc}") from exc
            if not isinstance(defaults, dict):
                raise DriftCheckError(f"{settings.ENV_THRESHOLDS} must be a JSON object")
        return cls(
            capture_bucket=environ[settings.ENV_CAPTURE_BUCKET],
            baseline_bucket=environ[settings.ENV_BASELINE_BUCKET],
            reports_bucket=environ[settings.ENV_REPORTS_BUCKET],
            event_bus=environ[settings.ENV_EVENT_BUS],
            default_thresholds=defaults,
        )


@dataclass(frozen=True)
class Limits:
    """The decision rule's inputs, resolved from the stack defaults and the request."""

    thresholds: Thresholds
    feature_thresholds: dict[str, Thresholds]
    critical: list[str]
    min_rows: int


def resolve_limits(request: CheckRequest, defaults: Mapping[str, Any]) -> Limits:
    """Stack defaults, overridden by the monitor's thresholds, overridden per feature."""
    base = {**defaults, **(request.thresholds or {})}
    try:
        thresholds = Thresholds.from_dict(base)
    except ValueError as exc:
        raise BadRequestError(f"thresholds: {exc}") from exc
    per_feature: dict[str, Thresholds] = {}
    for name, override in (request.feature_thresholds or {}).items():
        try:
            per_feature[name] = Thresholds.from_dict({**base, **override})
        except ValueError as exc:
            raise BadRequestError(f"feature_thresholds.{name}: {exc}") from exc
    return Limits(thresholds, per_feature, list(request.critical), request.min_rows)


# ---- the window ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Whole hours of capture: `[start, end)`, UTC."""

    end: datetime
    hours: int

    @property
    def start(self) -> datetime:
        return self.end - timedelta(hours=self.hours)

    @property
    def stamp(self) -> str:
        """The window end as report paths spell it: `YYYY-MM-DDTHH-MM-SSZ`."""
        return self.end.strftime("%Y-%m-%dT%H-%M-%SZ")

    def hour_paths(self) -> list[str]:
        """`YYYY/MM/DD/HH/` of every hour in the window, oldest first."""
        return [
            (self.start + timedelta(hours=i)).strftime("%Y/%m/%d/%H/") for i in range(self.hours)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end), "hours": self.hours}


def resolve_window(request: CheckRequest, now: datetime) -> Window:
    """The window of a request: it ends at `window_end` (or `now`) truncated to the hour.

    Truncating makes every invocation of one schedule run, retries included, check the same
    hours and write the same report keys. A window ending at 15:00 covers the capture folders
    of hours 15 - window_hours … 14 (SageMaker files a record under the hour it was written).
    """
    end = (request.window_end or now).astimezone(UTC)
    return Window(end=end.replace(minute=0, second=0, microsecond=0), hours=request.window_hours)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- S3 -----------------------------------------------------------------------------------------


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@tracer.capture_method
def fetch_baseline(client: Any, bucket: str, key: str) -> Baseline:
    """The baseline at s3://bucket/key; `BaselineNotFoundError` or `BaselineError` naming it."""
    uri = f"s3://{bucket}/{key}"
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _error_code(exc) in {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}:
            raise BaselineNotFoundError(
                f"baseline {uri} not found ({_error_code(exc)}): build it with `mlops drift "
                "profile` and upload it there, or set baseline_key in the monitor's config"
            ) from exc
        raise
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BaselineError(f"baseline {uri} is not JSON: {exc}") from exc
    try:
        return load_baseline(document)
    except BaselineError as exc:
        raise BaselineError(f"baseline {uri}: {exc}") from exc


def list_variants(client: Any, bucket: str, endpoint: str) -> list[str]:
    """Names of the endpoint's variant folders (`datacapture/<endpoint>/<variant>/`), sorted."""
    prefix = settings.capture_prefix(endpoint)
    paginator = client.get_paginator("list_objects_v2")
    names: list[str] = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names.extend(p["Prefix"][len(prefix) : -1] for p in page.get("CommonPrefixes", []))
    return sorted(names)


def window_variants(client: Any, bucket: str, request: CheckRequest) -> list[str]:
    """The variants a check reads, sorted: the request's `variants`, else every variant folder.

    Naming them keeps a shadow variant (SageMaker captures its copy of each request under its
    own folder) out of the production window; a name without a folder is not an error, its
    window is empty (a variant may not have served yet).
    """
    if request.variants is not None:
        return sorted(request.variants)
    return list_variants(client, bucket, request.endpoint)


def variant_prefixes(endpoint: str, variants: Iterable[str]) -> list[str]:
    """`datacapture/<endpoint>/<variant>/` of each variant."""
    return [f"{settings.capture_prefix(endpoint)}{variant}/" for variant in variants]


@tracer.capture_method
def list_window_keys(
    client: Any, bucket: str, endpoint: str, window: Window, variants: Iterable[str]
) -> list[str]:
    """Keys of the capture objects of these variants in the window's hour folders, sorted."""
    paginator = client.get_paginator("list_objects_v2")
    keys: list[str] = []
    for prefix in variant_prefixes(endpoint, variants):
        for hour in window.hour_paths():
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix + hour):
                keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def key_variants(endpoint: str, keys: Iterable[str]) -> list[str]:
    """The variants whose folders hold these capture keys, sorted."""
    prefix = settings.capture_prefix(endpoint)
    return sorted({key[len(prefix) :].split("/", 1)[0] for key in keys if key.startswith(prefix)})


def capture_streams(client: Any, bucket: str, keys: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """`(s3 uri, stream)` of each object, opened one at a time and closed after its read."""
    for key in keys:
        with ExitStack() as stack:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            stack.callback(body.close)
            stream: Any = body
            if key.endswith(".gz"):
                stream = stack.enter_context(gzip.GzipFile(fileobj=body, mode="rb"))
            yield f"s3://{bucket}/{key}", stream


def put_json(client: Any, bucket: str, key: str, document: Any) -> None:
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY),
        ContentType="application/json",
    )


def get_json(client: Any, bucket: str, key: str) -> Any:
    return orjson.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


# ---- one check, from a profile to the report, metrics and events --------------------------------


@dataclass(frozen=True)
class CheckRun:
    """What every step of one check needs to know about it."""

    request: CheckRequest
    window: Window
    env: Env
    mode: Mode
    objects: int
    variants: tuple[str, ...]
    """The variant folders the window was listed from."""

    @property
    def baseline_uri(self) -> str:
        return f"s3://{self.env.baseline_bucket}/{self.request.resolved_baseline_key()}"

    @property
    def report_prefix(self) -> str:
        return settings.report_prefix(self.request.model, self.window.stamp)

    @property
    def check_id(self) -> str:
        return f"{self.request.model}/{self.window.stamp}"

    def context(self) -> dict[str, Any]:
        """What the report records about where its numbers come from."""
        return {
            "check_id": self.check_id,
            "model": self.request.model,
            "endpoint": self.request.endpoint,
            "window": self.window.as_dict(),
            "mode": self.mode,
            "baseline": self.baseline_uri,
            "capture": {
                "bucket": self.env.capture_bucket,
                "prefix": settings.capture_prefix(self.request.endpoint),
                "variants": list(self.variants),
                "objects": self.objects,
            },
        }


def run_check(
    run: CheckRun, baseline: Baseline, profile: WindowProfile, stats: CaptureStats
) -> dict[str, Any]:
    """The engine's report of a profiled window."""
    limits = resolve_limits(run.request, run.env.default_thresholds)
    return check(
        baseline,
        profile,
        thresholds=limits.thresholds,
        critical=limits.critical,
        min_rows=limits.min_rows,
        feature_thresholds=limits.feature_thresholds or None,
        malformed=stats.to_dict(),
        context=run.context(),
    )


def mismatch_report(
    run: CheckRun, baseline: Baseline, message: str, stats: CaptureStats
) -> dict[str, Any]:
    """The report of a window that does not fit the baseline: the reason, never a verdict.

    The shape of the engine's report (`mlops_drift.check`), with no features.
    """
    limits = resolve_limits(run.request, run.env.default_thresholds)
    return {
        "schema_version": 1,
        "kind": REPORT_KIND,
        "status": "schema_mismatch",
        "drift": None,
        "prediction_drift": None,
        "drifted_share": None,
        "decision": {"reason": message},
        "message": message,
        "rows": stats.records,
        "min_rows": limits.min_rows,
        "baseline": {
            "rows": baseline.rows,
            "created_at": baseline.created_at,
            "source": dict(baseline.source),
        },
        "thresholds": limits.thresholds.to_dict(),
        "malformed": stats.to_dict(),
        "context": run.context(),
        "features": [],
    }


def check_names(request: CheckRequest, baseline: Baseline) -> None:
    """Refuse critical features or feature thresholds the baseline does not have, before the
    capture is read (the engine would refuse them after)."""
    known = {f.name for f in baseline.features}
    for what, names in (
        ("critical", request.critical),
        ("feature_thresholds", list(request.feature_thresholds or {})),
    ):
        unknown = sorted(set(names) - known)
        if unknown:
            raise BadRequestError(
                f"{what} names features not in the baseline: {', '.join(map(repr, unknown))}; "
                f"the baseline's features: {', '.join(f.name for f in baseline.features)}"
            )


@tracer.capture_method
def publish(
    run: CheckRun, report: dict[str, Any], stats: CaptureStats, *, clients: Clients
) -> dict[str, Any]:
    """Write the report, put the metrics and the events; the handler's answer."""
    bucket = run.env.reports_bucket
    json_key = run.report_prefix + "report.json"
    html_key = run.report_prefix + "report.html"
    put_json(clients.s3, bucket, json_key, report)
    clients.s3.put_object(
        Bucket=bucket,
        Key=html_key,
        Body=render_html(report).encode("utf-8"),
        ContentType="text/html; charset=utf-8",
    )
    uris = {"json": f"s3://{bucket}/{json_key}", "html": f"s3://{bucket}/{html_key}"}
    entries = event_entries(run, report, stats, uris)
    put_events(clients.events, entries)
    # After the events: a run whose events failed is retried, and must not count twice.
    put_metrics(run, report, stats)
    logger.info(
        "drift check done",
        extra={
            "check_id": run.check_id,
            "status": report["status"],
            "drift": report.get("drift"),
            "rows": stats.records,
            "malformed": stats.malformed,
            "report": uris["json"],
        },
    )
    return {
        "check_id": run.check_id,
        "status": report["status"],
        "drift": report.get("drift"),
        "drifted_share": report.get("drifted_share"),
        "rows": stats.records,
        "malformed": stats.malformed,
        "report": uris,
        "events": [entry["DetailType"] for entry in entries],
    }


def _drifted(report: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Names of the drifted features, and of the drifted critical ones."""
    drifted = [f["name"] for f in report.get("features", []) if f.get("drifted")]
    critical = [
        f["name"] for f in report.get("features", []) if f.get("drifted") and f.get("critical")
    ]
    return drifted, critical


def event_entries(
    run: CheckRun, report: Mapping[str, Any], stats: CaptureStats, uris: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The PutEvents entries of a check; each detail validated by its model first."""
    common = {
        "check_id": run.check_id,
        "model": run.request.model,
        "endpoint": run.request.endpoint,
        "window": run.window.as_dict(),
        "variants": list(run.variants),
        "mode": run.mode,
        "baseline": run.baseline_uri,
        "report": dict(uris),
        "rows": stats.records,
        "malformed": stats.malformed,
    }
    details: list[tuple[str, dict[str, Any]]] = []
    status = report["status"]
    if status == "schema_mismatch":
        details.append(
            (
                settings.EVENT_FAILED,
                {**common, "reason": "schema_mismatch", "message": report["message"]},
            )
        )
    else:
        drifted, critical = _drifted(report)
        verdict = {
            "drifted_share": report.get("drifted_share"),
            "drifted_features": drifted,
            "critical_drifted": critical,
        }
        details.append(
            (
                settings.EVENT_COMPLETED,
                {**common, **verdict, "status": status, "drift": report.get("drift")},
            )
        )
        if report.get("drift") is True:
            details.append((settings.EVENT_DETECTED, {**common, **verdict}))
    entries = []
    for detail_type, detail in details:
        model = DETAILS[detail_type].model_validate(detail)
        entries.append(
            {
                "Source": settings.EVENT_SOURCE,
                "DetailType": detail_type,
                "Detail": model.model_dump_json(by_alias=True),
                "EventBusName": run.env.event_bus,
            }
        )
    return entries


def put_events(client: Any, entries: list[dict[str, Any]]) -> None:
    """PutEvents; raises when any entry failed, so the invocation is retried."""
    answer = client.put_events(Entries=entries)
    if answer.get("FailedEntryCount", 0):
        failures = [
            f"{entry['DetailType']}: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
            for entry, result in zip(entries, answer.get("Entries", []), strict=False)
            if result.get("ErrorCode")
        ]
        raise DriftCheckError(
            f"PutEvents failed for {answer['FailedEntryCount']} of {len(entries)} entries: "
            + "; ".join(failures)
        )


FEATURE_METRICS = (
    # (metric, statistic in the report's feature entry); a statistic the feature's kind does
    # not have, or that has no value (no values on a side), puts no data point.
    ("FeaturePSI", "psi"),
    ("FeatureKS", "ks"),
    ("FeatureWasserstein", "wasserstein"),
    ("FeatureJS", "js"),
    ("FeatureUnseenShare", "unseen_share"),
    ("FeatureMissingRateDelta", "missing_rate"),
)


def _statistic(feature: Mapping[str, Any], name: str) -> float | None:
    value = feature.get("statistics", {}).get(name, {}).get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def put_metrics(run: CheckRun, report: Mapping[str, Any], stats: CaptureStats) -> None:
    """Overall metrics on the handler's `metrics` (flushed at return), per feature one EMF line.

    Dimensions: `service` and `model`; per-feature metrics add `feature`.
    """
    metrics.add_dimension(name="model", value=run.request.model)
    metrics.add_metric(name="RowsChecked", unit=MetricUnit.Count, value=stats.records)
    metrics.add_metric(name="MalformedLines", unit=MetricUnit.Count, value=stats.malformed)
    metrics.add_metric(name="CaptureObjects", unit=MetricUnit.Count, value=run.objects)
    status = report["status"]
    if status == "schema_mismatch":
        metrics.add_metric(name="SchemaMismatch", unit=MetricUnit.Count, value=1)
        return
    if status == "insufficient_data":
        metrics.add_metric(name="InsufficientData", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(
        name="DriftDetected", unit=MetricUnit.Count, value=int(bool(report["drift"]))
    )
    share = report.get("drifted_share")
    if share is not None:
        metrics.add_metric(name="DriftedShare", unit=MetricUnit.NoUnit, value=float(share))
    for feature in report.get("features", []):
        feature_metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        feature_metrics.add_dimension(name="model", value=run.request.model)
        feature_metrics.add_dimension(name="feature", value=str(feature["name"]))
        feature_metrics.add_metric(
            name="FeatureDrifted", unit=MetricUnit.Count, value=int(bool(feature.get("drifted")))
        )
        for name, statistic in FEATURE_METRICS:
            value = _statistic(feature, statistic)
            if value is not None:
                feature_metrics.add_metric(name=name, unit=MetricUnit.NoUnit, value=value)
        feature_metrics.flush_metrics()


# ---- single mode --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clients:
    s3: Any
    events: Any


def _clients() -> Clients:
    # Read at call time, so tests (and the server-mode test) can swap the module's clients.
    return Clients(s3=s3, events=eventbridge)


def single_check(
    request: CheckRequest, env: Env, clients: Clients, now: datetime
) -> dict[str, Any]:
    """One check in this invocation: baseline, capture, statistics, report, metrics, events."""
    tracer.put_annotation(key="model", value=request.model)
    tracer.put_annotation(key="endpoint", value=request.endpoint)
    resolve_limits(request, env.default_thresholds)  # refuse bad thresholds before any I/O
    window = resolve_window(request, now)
    baseline = fetch_baseline(clients.s3, env.baseline_bucket, request.resolved_baseline_key())
    check_names(request, baseline)
    variants = window_variants(clients.s3, env.capture_bucket, request)
    keys = list_window_keys(clients.s3, env.capture_bucket, request.endpoint, window, variants)
    run = CheckRun(
        request=request,
        window=window,
        env=env,
        mode="single",
        objects=len(keys),
        variants=tuple(variants),
    )
    logger.info(
        "checking window",
        extra={"check_id": run.check_id, "objects": len(keys), "variants": variants},
    )
    try:
        profile, stats = profile_capture(
            baseline,
            capture_streams(clients.s3, env.capture_bucket, keys),
            max_examples=MAX_EXAMPLES,
        )
    except SchemaMismatch as exc:
        report = mismatch_report(run, baseline, str(exc), exc.stats)
        return publish(run, report, exc.stats, clients=clients)
    return publish(run, run_check(run, baseline, profile, stats), stats, clients=clients)


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=CheckRequest)
def check_handler(event: CheckRequest, context: LambdaContext) -> dict[str, Any]:
    """Scheduled drift check of one endpoint (single mode)."""
    return single_check(event, Env.read(), _clients(), datetime.now(UTC))


# ---- scale-out ----------------------------------------------------------------------------------


def run_prefix(model: str, run_id: str) -> str:
    return f"{settings.PARTIALS_PREFIX}/{model}/{run_id}/"


def batch_id(keys: Iterable[str]) -> str:
    """Deterministic id of a batch: a retry of the same items overwrites the same partial."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode("utf-8"))
    return digest.hexdigest()[:32]


def plan(request: CheckRequest, env: Env, clients: Clients, now: datetime) -> dict[str, Any]:
    """List the window into a manifest; the Map's items, and the input every batch shares."""
    resolve_limits(request, env.default_thresholds)
    window = resolve_window(request, now)
    # Fail here, with the baseline's own message, rather than in every Map worker.
    check_names(
        request, fetch_baseline(clients.s3, env.baseline_bucket, request.resolved_baseline_key())
    )
    variants = window_variants(clients.s3, env.capture_bucket, request)
    keys = list_window_keys(clients.s3, env.capture_bucket, request.endpoint, window, variants)
    # A fresh run id per plan: a rerun never meets partials of another listing of the window.
    run_id = f"{window.stamp}-{uuid.uuid4().hex[:12]}"
    manifest_key = run_prefix(request.model, run_id) + "manifest.json"
    put_json(clients.s3, env.reports_bucket, manifest_key, [{"key": key} for key in keys])
    # The resolved window end travels with the request, so every step checks the same hours.
    resolved = request.model_copy(update={"window_end": window.end})
    logger.info("planned", extra={"run_id": run_id, "objects": len(keys), "variants": variants})
    return {
        "manifest_bucket": env.reports_bucket,
        "manifest_key": manifest_key,
        "run_id": run_id,
        "request": resolved.model_dump(mode="json", exclude_none=True),
        # What was listed, for the reducer's report: a variant folder appearing after the plan
        # was not read, and must not be reported as read.
        "variants": variants,
        "objects": len(keys),
    }


def profile_batch(batch: ProfileBatch, env: Env, clients: Clients) -> dict[str, Any]:
    """Profile one batch of capture objects into the run's partial for that batch."""
    request = batch.batch_input.request
    keys = [item.key for item in batch.items]
    prefixes = (
        [settings.capture_prefix(request.endpoint)]
        if request.variants is None
        else variant_prefixes(request.endpoint, sorted(request.variants))
    )
    outside = [key for key in keys if not key.startswith(tuple(prefixes))]
    if outside:
        variants = "" if request.variants is None else f", variants {sorted(request.variants)}"
        raise BadRequestError(
            f"batch holds keys outside the capture BatchInput.request names (endpoint "
            f"{request.endpoint!r}{variants}: {', '.join(prefixes)}): {', '.join(outside[:3])}"
        )
    baseline = fetch_baseline(clients.s3, env.baseline_bucket, request.resolved_baseline_key())
    # The request travels through the state machine: checked again where it is read.
    check_names(request, baseline)
    # The schema rule is applied by the reducer to the whole window, as a single check does;
    # a tolerance of 1 never refuses a batch (misfits are at most all of its lines).
    profile, stats = profile_capture(
        baseline,
        capture_streams(clients.s3, env.capture_bucket, keys),
        max_examples=MAX_EXAMPLES,
        schema_tolerance=1.0,
    )
    bid = batch_id(keys)
    key = run_prefix(request.model, batch.batch_input.run_id) + f"partials/{bid}.json"
    partial = {
        "kind": PARTIAL_KIND,
        "run_id": batch.batch_input.run_id,
        "batch_id": bid,
        "keys": sorted(keys),
        "window": window_to_dict(profile),
        "stats": asdict(stats),
    }
    put_json(clients.s3, env.reports_bucket, key, partial)
    return {"partial_key": key, "batch_id": bid, "objects": len(keys), "records": stats.records}


def reduce(
    reduce_request: ReduceRequest, env: Env, clients: Clients, now: datetime
) -> dict[str, Any]:
    """Merge the run's partials, check every manifest object was counted exactly once, check."""
    request = reduce_request.request
    tracer.put_annotation(key="model", value=request.model)
    tracer.put_annotation(key="run_id", value=reduce_request.run_id)
    window = resolve_window(request, now)
    baseline = fetch_baseline(clients.s3, env.baseline_bucket, request.resolved_baseline_key())
    # The request travels through the state machine: checked again where it is read.
    check_names(request, baseline)
    prefix = run_prefix(request.model, reduce_request.run_id)
    manifest_key = prefix + "manifest.json"
    try:
        planned = get_json(clients.s3, env.reports_bucket, manifest_key)
    except ClientError as exc:
        if _error_code(exc) not in {"NoSuchKey", "404", "NotFound"}:
            raise
        raise BadRequestError(
            f"run_id {reduce_request.run_id!r} of model {request.model!r}: no scale-out plan at "
            f"s3://{env.reports_bucket}/{manifest_key} ({_error_code(exc)}); the reducer takes "
            "the planner's output (its run_id and request) unchanged"
        ) from exc
    manifest = [item["key"] for item in planned]
    position = {key: i for i, key in enumerate(manifest)}

    partial_keys: list[str] = []
    for page in clients.s3.get_paginator("list_objects_v2").paginate(
        Bucket=env.reports_bucket, Prefix=prefix + "partials/"
    ):
        partial_keys.extend(item["Key"] for item in page.get("Contents", []))
    partials = [get_json(clients.s3, env.reports_bucket, key) for key in partial_keys]
    # Manifest order, so the quoted malformed lines are those a single pass would quote.
    partials.sort(key=lambda p: min((position.get(k, len(manifest)) for k in p["keys"]), default=0))

    seen: dict[str, str] = {}
    for partial in partials:
        for key in partial["keys"]:
            if key in seen:
                raise DriftCheckError(
                    f"run {reduce_request.run_id}: {key} is in partials {seen[key]} and "
                    f"{partial['batch_id']}; merging would count it twice"
                )
            seen[key] = partial["batch_id"]
    missing = [key for key in manifest if key not in seen]
    unknown = sorted(set(seen) - set(position))
    if missing or unknown:
        raise DriftCheckError(
            f"run {reduce_request.run_id}: partials do not cover the manifest: "
            f"{len(missing)} object(s) without a partial (e.g. {missing[:3]}), "
            f"{len(unknown)} not in the manifest (e.g. {unknown[:3]})"
        )

    profile = empty_profile(baseline)
    stats = CaptureStats()
    for partial in partials:
        profile = merge(profile, window_from_dict(baseline, partial["window"]))
        stats.merge(CaptureStats(**partial["stats"]), max_examples=MAX_EXAMPLES)

    if reduce_request.variants is not None:
        variants = list(reduce_request.variants)
    elif request.variants is not None:
        variants = sorted(request.variants)
    else:  # a plan made before the plan's output carried its variants
        variants = key_variants(request.endpoint, manifest)
    run = CheckRun(
        request=request,
        window=window,
        env=env,
        mode="scaleout",
        objects=len(manifest),
        variants=tuple(variants),
    )
    problem = schema_problem(stats)
    if problem is not None:
        return publish(run, mismatch_report(run, baseline, problem, stats), stats, clients=clients)
    return publish(run, run_check(run, baseline, profile, stats), stats, clients=clients)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=CheckRequest)
def plan_handler(event: CheckRequest, context: LambdaContext) -> dict[str, Any]:
    """Scale-out, first state: the window's manifest for the Distributed Map."""
    return plan(event, Env.read(), _clients(), datetime.now(UTC))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=ProfileBatch)
def profile_handler(event: ProfileBatch, context: LambdaContext) -> dict[str, Any]:
    """Scale-out, one Map batch: a partial profile of its capture objects."""
    return profile_batch(event, Env.read(), _clients())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ReduceRequest)
def reduce_handler(event: ReduceRequest, context: LambdaContext) -> dict[str, Any]:
    """Scale-out, last state: merge, check, report, metrics and events, as `check_handler`."""
    return reduce(event, Env.read(), _clients(), datetime.now(UTC))
