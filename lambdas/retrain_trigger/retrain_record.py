"""What a decision becomes: an audit item, an event on the bus, an SNS message, a metric.

`record` is called once for every decision `trigger.decide` and `trigger.promote` take (the
idempotency around them keeps a duplicate delivery from recording twice). It never raises: a
failure to write the audit item, publish or put the event is logged at ERROR and listed in
the result's `notified.errors`, and never hides or undoes the decision, which also stays in
the log and in the idempotency record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import retrain_settings as settings
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from retrain_events import Detail, PromotionDetail, SkippedDetail, StartedDetail, iso_utc_ms
from retrain_guards import aws_error

SERVICE = os.environ.get(settings.ENV_SERVICE_NAME, settings.SERVICE_NAME)
NAMESPACE = os.environ.get(settings.ENV_METRICS_NAMESPACE, settings.METRICS_NAMESPACE)

logger = Logger(service=SERVICE, child=True)
tracer = Tracer(service=SERVICE)
# Metrics: one EMF document per decision (`EphemeralMetrics`), flushed when the decision is
# made, with that decision's dimensions (`model`, and `reason` when skipped). A duplicate
# delivery returns the stored decision without counting it again, so most invocations of a
# burst count nothing, where a shared `Metrics` would warn on each; ephemeral instances also
# share no state between invocations run side by side in one process (the concurrency tests).

SNS_SUBJECT_MAX: Final = 99
"""SNS wants a subject under 100 characters."""


class PutEventsRefusedError(Exception):
    """PutEvents answered with a failed entry."""


@dataclass(frozen=True)
class Outbox:
    """Where a decision goes: the table, the topic and the bus, and their clients."""

    table: str
    topic_arn: str
    event_bus: str
    audit_ttl_days: int
    dynamodb: Any
    sns: Any
    events: Any


def truncate(text: str, limit: int) -> str:
    """`text`, or its first `limit - 3` characters and `...`."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def next_steps(detail: PromotionDetail) -> str:
    """What to do with an approved version: follow the dispatched workflow, or deploy it."""
    if detail.dispatched:
        return (
            f"Next: the promotion workflow of {detail.repository} was dispatched (event type "
            f"{detail.event_type}); follow it in the repository's Actions."
        )
    return (
        f"Next: set modelVersion: {detail.version} on the endpoints serving {detail.model} in "
        "stacks/Pulumi.<stack>.yaml (or use latest-approved), and deploy stage by stage."
    )


_SERIALIZER = TypeSerializer()


def audit_item(document: Mapping[str, Any], ttl_days: int, now: datetime) -> dict[str, Any]:
    """The audit item of a decision: `pk` `model#<model>`, `sk` `decision#<time>#<key hash>`,
    `expiration` (epoch seconds, the table's TTL), and the decision document's fields."""
    plain = json.loads(json.dumps(dict(document)), parse_float=Decimal)
    item = {
        settings.KEY_ATTRIBUTE: settings.model_pk(str(document["model"])),
        settings.SORT_KEY_ATTRIBUTE: settings.decision_sk(iso_utc_ms(now), str(document["key"])),
        settings.TTL_ATTRIBUTE: int(now.timestamp()) + ttl_days * 86_400,
        **plain,
    }
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def detail_type(detail: Detail) -> str | None:
    """The event a decision is put as; None for a failed promotion (no promotion to request)."""
    if isinstance(detail, StartedDetail):
        return settings.EVENT_STARTED
    if isinstance(detail, SkippedDetail):
        return settings.EVENT_SKIPPED
    return settings.EVENT_PROMOTION if detail.decision == settings.DECISION_PROMOTION else None


def subject(detail: Detail) -> str:
    """The SNS subject (under 100 characters)."""
    if isinstance(detail, StartedDetail):
        text = f"Retraining started: {detail.model} ({detail.trigger})"
    elif isinstance(detail, SkippedDetail) and detail.decision == settings.DECISION_SKIPPED:
        text = f"Retraining skipped: {detail.model} ({detail.reason})"
    elif isinstance(detail, SkippedDetail):
        text = f"Retraining failed to start: {detail.model} ({detail.reason})"
    elif detail.decision == settings.DECISION_PROMOTION:
        text = f"Model {detail.model} version {detail.version} approved: promotion requested"
    else:
        text = f"Promotion of model {detail.model} version {detail.version} failed"
    return truncate(text, SNS_SUBJECT_MAX)


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def message(detail: Detail) -> str:
    """The SNS message: the decision in a sentence, then what it was taken on."""
    document = detail.model_dump(mode="json", by_alias=True)
    lines = [detail.message, ""]
    if isinstance(detail, PromotionDetail):
        if detail.decision == settings.DECISION_PROMOTION:
            lines += [next_steps(detail), ""]
        lines += [
            f"Model:         {detail.model}",
            f"Package group: {detail.package_group}",
            f"Version:       {detail.version}",
            f"Package:       {detail.package_arn}",
        ]
    else:
        lines += [
            f"Decision:  {detail.decision}" + (f" ({detail.reason})" if detail.reason else ""),
            f"Model:     {detail.model}",
            f"Trigger:   {detail.trigger}",
            f"Pipeline:  {detail.pipeline}",
        ]
        if detail.execution_arn:
            lines.append(f"Execution: {detail.execution_arn}")
        lines += ["", "Parameters:", *(f"  {k} = {v}" for k, v in detail.parameters.items())]
        lines += ["", "Guards:", *(f"  {k}: {v}" for k, v in detail.guards.items())]
    if detail.details:
        lines += ["", "Details:", *(f"  {k}: {_value(v)}" for k, v in detail.details.items())]
    event = detail.event
    lines += [
        "",
        f"Key:        {detail.key}",
        f"Event:      {event.source} {event.detail_type} {event.id}",
        f"Decided at: {document['decidedAt']}",
    ]
    return "\n".join(lines)


def put_metrics(detail: Detail) -> None:
    """One EMF document: the decision's metric, 1, dimensions `service`, `model` (and `reason`
    for a skipped retraining)."""
    if isinstance(detail, StartedDetail):
        name = settings.METRIC_STARTED
    elif isinstance(detail, SkippedDetail):
        skipped = detail.decision == settings.DECISION_SKIPPED
        name = settings.METRIC_SKIPPED if skipped else settings.METRIC_FAILED
    elif detail.decision == settings.DECISION_PROMOTION:
        name = settings.METRIC_PROMOTION
    else:
        name = settings.METRIC_PROMOTION_FAILED
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="model", value=detail.model)
    if name == settings.METRIC_SKIPPED:
        metrics.add_dimension(name="reason", value=str(detail.reason))
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()


def _text(exc: Exception) -> str:
    return aws_error(exc) if isinstance(exc, ClientError | BotoCoreError) else str(exc)


@tracer.capture_method
def record(detail: Detail, outbox: Outbox) -> dict[str, Any]:
    """Log, audit, count, publish and put one decision; the decision document with what was
    notified. Never raises: a failure to write the audit item, publish or put is logged at
    ERROR and listed in `notified.errors`, and never hides or undoes the decision."""
    document = detail.model_dump(mode="json", by_alias=True)
    keys = {"model": detail.model, "key": detail.key, "reason": detail.reason}
    logger.info(f"retraining decision: {detail.decision}", extra={**keys, "decision": document})
    put_metrics(detail)
    notified: dict[str, Any] = {"audit": False, "sns": False, "events": False, "errors": []}
    try:
        outbox.dynamodb.put_item(
            TableName=outbox.table,
            Item=audit_item(document, outbox.audit_ttl_days, detail.decided_at),
        )
        notified["audit"] = True
    except Exception as exc:  # the decision stands; the log above keeps it
        logger.exception("could not write the audit item", extra=keys)
        notified["errors"].append(f"DynamoDB: {_text(exc)}")
    try:
        outbox.sns.publish(
            TopicArn=outbox.topic_arn,
            Subject=subject(detail),
            Message=message(detail),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": str(value)}
                for name, value in (
                    ("model", detail.model),
                    ("decision", detail.decision),
                    ("reason", detail.reason),
                )
                if value is not None
            },
        )
        notified["sns"] = True
    except Exception as exc:  # as above
        logger.exception("could not publish the decision", extra=keys)
        notified["errors"].append(f"SNS: {_text(exc)}")
    kind = detail_type(detail)
    if kind is None:
        notified["events"] = None
    else:
        try:
            answer = outbox.events.put_events(
                Entries=[
                    {
                        "Source": settings.EVENT_SOURCE,
                        "DetailType": kind,
                        "Detail": json.dumps(document, sort_keys=True),
                        "EventBusName": outbox.event_bus,
                    }
                ]
            )
            if answer.get("FailedEntryCount", 0):
                entry = (answer.get("Entries") or [{}])[0]
                raise PutEventsRefusedError(
                    f"PutEvents refused the entry: {entry.get('ErrorCode')} "
                    f"{entry.get('ErrorMessage')}"
                )
            notified["events"] = True
        except Exception as exc:  # as above
            logger.exception("could not put the decision event", extra=keys)
            notified["errors"].append(f"EventBridge: {_text(exc)}")
    return {**document, "notified": notified}
