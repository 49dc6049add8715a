"""The retraining trigger's input events and the events it puts on the platform bus.

Pydantic models, so a bad event is refused at the door with a message naming the field, and
so the JSON Schemas in `lambdas/retrain_trigger/events/` are generated from the definitions the
handler runs (`python -m planner.event_schemas` rewrites them; a test fails
when they are stale).

Inputs (EventBridge events, parsed on the Powertools parser's `EventBridgeModel`):
- `DriftDetectedEvent`: the drift check's `DriftDetected` (the fields the trigger reads; the
  drift check's own schema is `lambdas/drift_check/events/DriftDetected.schema.json`);
- `AlarmStateChange`: CloudWatch's `CloudWatch Alarm State Change`;
- `RetrainingRequested`: the manual request a person or CI puts on the bus (schema committed);
- `ModelPackageStateChange`: SageMaker's `SageMaker Model Package State Change`.

Outputs (source `mlops.retraining`; schema committed for each): `RetrainingStarted`,
`RetrainingSkipped`, `ModelPromotionRequested`. Their details are the decision documents the
audit trail keeps and the handler returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import retrain_settings as settings
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_serializer,
    field_validator,
)


def _matching(pattern: str, words: str, max_length: int | None = None) -> Callable[[str], str]:
    """A validator of strings against `pattern` whose refusal says in words what is accepted
    (the pattern itself stays in the JSON Schema, for the events' authors)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value) or (max_length is not None and len(value) > max_length):
            raise ValueError(f"{value!r} is not {words}")
        return value

    return check


S3_URI_PATTERN: Final = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S*$"
REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
ModelName = Annotated[
    str,
    AfterValidator(
        _matching(
            settings.MODEL_PATTERN,
            "a model name (1 to 40 lowercase letters, digits and inner hyphens, starting with "
            "a letter)",
            max_length=40,
        )
    ),
    Field(json_schema_extra={"pattern": settings.MODEL_PATTERN, "maxLength": 40}),
]
S3Uri = Annotated[
    str,
    AfterValidator(_matching(S3_URI_PATTERN, "an S3 URI (s3://<bucket>/<prefix>)")),
    Field(json_schema_extra={"pattern": S3_URI_PATTERN}),
]
RequestId = Annotated[
    str,
    AfterValidator(
        _matching(
            REQUEST_ID_PATTERN,
            "a request id (1 to 128 letters, digits, '.', '_', ':' or '-', starting with a "
            "letter or digit)",
        )
    ),
    Field(json_schema_extra={"pattern": REQUEST_ID_PATTERN, "maxLength": 128}),
]
Text = Annotated[str, StringConstraints(min_length=1)]
_AWARE = TypeAdapter(AwareDatetime)


def iso_utc(value: datetime) -> str:
    """`2026-11-27T06:00:00Z`: how WindowEnd is spelled (as the training schedule's
    `<aws.scheduler.scheduled-time>`); seconds, UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc_ms(value: datetime) -> str:
    """`2026-11-27T06:00:00.123Z`: decision times (audit sort keys sort by them)."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


MAX_PACKAGE_VERSION = 2_147_483_647
"""The largest model package version SageMaker gives (its versions are 32-bit integers)."""


class _Open(BaseModel):
    """A part of an AWS event: the fields read are checked, the others pass through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


# ---- inputs --------------------------------------------------------------------------------------


class DriftWindow(_Open):
    start: AwareDatetime
    end: AwareDatetime = Field(description="End of the checked window (exclusive), UTC.")
    hours: int

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _in_utc(value)


class DriftReport(_Open):
    json_uri: S3Uri = Field(alias="json")
    html: S3Uri = Field(description="The HTML drift report: the retraining's TriggerDetail.")


class DriftDetail(_Open):
    """What the trigger reads of the drift check's `DetectedDetail`."""

    check_id: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="`<model>/<window end>`: the idempotency key's part."
    )
    model: ModelName
    endpoint: Text
    window: DriftWindow
    report: DriftReport


class DriftDetectedEvent(EventBridgeModel):
    """The drift check's `DriftDetected` event (source `mlops.drift`)."""

    source: Literal["mlops.drift"]
    detail_type: Literal["DriftDetected"] = Field(alias="detail-type")
    detail: DriftDetail


def _in_utc(value: datetime) -> datetime:
    """`value` in UTC; a ValueError (which pydantic reports with the field's name) for a time
    that has no UTC equivalent in the calendar (year 9999 at a negative offset)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the calendar in UTC") from None


def _aware(value: str) -> str:
    _in_utc(_AWARE.validate_python(value))
    return value


class AlarmState(_Open):
    value: Text = Field(description="`ALARM`, `OK` or `INSUFFICIENT_DATA`.")
    reason: str = ""
    timestamp: Text = Field(
        description="When the alarm entered the state, as CloudWatch writes it "
        "(`2026-11-27T06:15:30.123+0000`); kept as written in the idempotency key."
    )

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        return _aware(value)

    @property
    def at(self) -> datetime:
        return _AWARE.validate_python(self.timestamp)


class AlarmDetail(_Open):
    alarm_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        alias="alarmName"
    )
    state: AlarmState


class AlarmStateChange(EventBridgeModel):
    """CloudWatch's `CloudWatch Alarm State Change` (source `aws.cloudwatch`)."""

    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmDetail


class RequestDetail(_Strict):
    """A person's or CI's request to retrain one model."""

    model: ModelName = Field(description="A model the trigger retrains (RETRAIN_MODELS).")
    request_id: RequestId = Field(
        alias="requestId",
        description="Unique per request (1 to 128 letters, digits, `.`, `_`, `:`, `-`, "
        "starting with a letter or digit): the same id is one retraining, however often sent.",
    )
    reason: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="Why, in words (recorded, and passed in TriggerDetail)."
    )
    requested_by: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        alias="requestedBy", description="Who or what asked (a person, a CI job's URL)."
    )
    window_end: AwareDatetime | None = Field(
        default=None,
        alias="windowEnd",
        description="WindowEnd of the run (ISO-8601 with an offset). Default: the time of the "
        "decision. A new value is a new cache key for the validation step.",
    )
    data_uri: S3Uri | None = Field(
        default=None, alias="dataUri", description="Training data; default the model's dataUri."
    )

    @field_validator("window_end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _in_utc(value)


class RetrainingRequested(EventBridgeModel):
    """The manual request, as the trigger receives it from the platform bus."""

    source: Literal["mlops.retraining"]
    detail_type: Literal["RetrainingRequested"] = Field(alias="detail-type")
    detail: RequestDetail


class ApprovalDetail(_Open):
    group: Text = Field(alias="ModelPackageGroupName")
    # SageMaker numbers a group's versions with a 32-bit integer.
    version: int = Field(alias="ModelPackageVersion", ge=1, le=MAX_PACKAGE_VERSION)
    package_arn: Annotated[
        str,
        StringConstraints(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/"),
    ] = Field(alias="ModelPackageArn")
    status: Text = Field(alias="ModelApprovalStatus")


class ModelPackageStateChange(EventBridgeModel):
    """SageMaker's `SageMaker Model Package State Change` (source `aws.sagemaker`)."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: ApprovalDetail


Accepted = DriftDetectedEvent | AlarmStateChange | RetrainingRequested | ModelPackageStateChange

ACCEPTED: dict[tuple[str, str], type[Accepted]] = {
    (settings.DRIFT_SOURCE, settings.DRIFT_DETAIL_TYPE): DriftDetectedEvent,
    (settings.ALARM_SOURCE, settings.ALARM_DETAIL_TYPE): AlarmStateChange,
    (settings.REQUEST_SOURCE, settings.REQUEST_DETAIL_TYPE): RetrainingRequested,
    (settings.APPROVAL_SOURCE, settings.APPROVAL_DETAIL_TYPE): ModelPackageStateChange,
}
"""(source, detail-type) of each event the trigger accepts, to its model."""


# ---- events put on the bus (the decision documents) ----------------------------------------------


class EventRef(_Strict):
    """The event a decision was taken on."""

    id: str | None = Field(description="EventBridge's id of the triggering event.")
    source: str
    detail_type: str = Field(alias="detailType")


class _Decision(_Strict):
    schema_version: Literal[1] = Field(alias="schemaVersion")
    model: ModelName
    key: Text = Field(description="Idempotency key: `drift#`, `alarm#`, `manual#`, `approval#`.")
    message: Text = Field(description="The decision in one sentence, for people.")
    decided_at: datetime = Field(alias="decidedAt", description="UTC, milliseconds.")
    event: EventRef

    @field_serializer("decided_at")
    def _decided_at(self, value: datetime) -> str:
        return iso_utc_ms(value)


class _RetrainingDecision(_Decision):
    trigger: Literal["drift", "alarm", "manual"]
    pipeline: Text
    parameters: dict[str, str] = Field(
        description="The pipeline parameters passed (started) or that would have been."
    )
    client_request_token: str = Field(alias="clientRequestToken")
    guards: dict[str, str] = Field(
        description="Each guard checked, in order, to `passed`, `off` or the reason it "
        "stopped the start: `concurrency`, `budget`, `reservation` (cooldown and daily cap)."
    )
    details: dict[str, Any] = Field(
        description="What the guards read: `runningExecution`, `budget`, `reservation`; "
        "`error` for a failure."
    )


class StartedDetail(_RetrainingDecision):
    """A training pipeline execution started."""

    decision: Literal["started"]
    reason: None = None
    execution_arn: Text = Field(alias="executionArn")


class SkippedDetail(_RetrainingDecision):
    """No execution started: a guard said no (`skipped`), or the start failed (`failed`)."""

    decision: Literal["skipped", "failed"]
    reason: Literal[
        "alarm-not-firing",
        "execution-running",
        "over-budget",
        "budget-unknown",
        "cooldown",
        "daily-cap",
        "start-failed",
    ]
    execution_arn: str | None = Field(
        default=None, alias="executionArn", description="The running one (execution-running)."
    )


class PromotionDetail(_Decision):
    """An approved model version to promote (or whose promotion dispatch failed)."""

    decision: Literal["promotion-requested", "failed"]
    reason: Literal["approved", "dispatch-failed"]
    trigger: Literal["approval"]
    package_group: Text = Field(alias="packageGroup")
    version: int = Field(ge=1, le=MAX_PACKAGE_VERSION)
    package_arn: Text = Field(alias="packageArn")
    repository: str | None = Field(description="`owner/repo` dispatched, or null.")
    event_type: str | None = Field(alias="eventType")
    dispatched: bool = Field(description="Whether GitHub accepted the repository_dispatch.")
    details: dict[str, Any]


class _Event(BaseModel):
    # An EventBridge event as a target receives it; the envelope's other keys (id, time, account,
    # region, resources, version) are EventBridge's and pass through.
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    source: Literal["mlops.retraining"]


class RetrainingStarted(_Event):
    detail_type: Literal["RetrainingStarted"] = Field(alias="detail-type")
    detail: StartedDetail


class RetrainingSkipped(_Event):
    detail_type: Literal["RetrainingSkipped"] = Field(alias="detail-type")
    detail: SkippedDetail


class ModelPromotionRequested(_Event):
    detail_type: Literal["ModelPromotionRequested"] = Field(alias="detail-type")
    detail: PromotionDetail


Detail = StartedDetail | SkippedDetail | PromotionDetail

# Schema file stem → model.
SCHEMAS: dict[str, type[BaseModel]] = {
    settings.REQUEST_DETAIL_TYPE: RetrainingRequested,
    settings.EVENT_STARTED: RetrainingStarted,
    settings.EVENT_SKIPPED: RetrainingSkipped,
    settings.EVENT_PROMOTION: ModelPromotionRequested,
}
