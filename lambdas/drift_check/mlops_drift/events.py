"""The drift-check handlers' input events and the events they put on the platform bus.

Pydantic models, so a bad event is rejected at the door with a message naming the field, and
so the JSON Schemas in `lambdas/drift_check/events/` are generated from the same definitions
the handlers run (`python -m planner.event_schemas` rewrites them; a
test fails when they are stale).

Inputs:
- `CheckRequest`: what the EventBridge Scheduler schedule of one monitored endpoint passes
  (`check_handler`, and `plan_handler` of the scale-out state machine).
- `ProfileBatch`: one batch of a Step Functions Distributed Map (`profile_handler`).
- `ReduceRequest`: the reducer's state input (`reduce_handler`).

Outputs (EventBridge events, source `mlops.drift`): `DriftCheckCompleted`, `DriftDetected`,
`DriftCheckFailed`. Their schemas describe the whole event as a consumer receives it (rule
target, SQS message), with `detail-type` and `source` fixed.

Pydantic only (no numpy): the thresholds are checked by the engine's `Thresholds.from_dict`
in the handler, before any I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from mlops_drift import settings

# The same patterns as the stack configuration (components/config.py), so a name the config
# accepts is accepted here; both end up in S3 keys, where `/` or `..` must not appear.
ModelName = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=40)
]
EndpointName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
# SageMaker's production-variant name rule (1-63 characters). Checked by a validator rather
# than a pattern constraint so a refusal says in words what is accepted; the pattern is still
# in the JSON Schema for the schedule's authors.
VARIANT_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
_VARIANT = re.compile(VARIANT_PATTERN)


def _variant_name(value: str) -> str:
    if not _VARIANT.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a SageMaker variant name; accepted: 1-63 letters, digits and "
            "hyphens, starting and ending with a letter or digit, spelled exactly as the "
            "endpoint's variant (e.g. 'AllTraffic')"
        )
    return value


VariantName = Annotated[
    str,
    AfterValidator(_variant_name),
    Field(json_schema_extra={"pattern": VARIANT_PATTERN, "minLength": 1, "maxLength": 63}),
]
# The schema states the rules `CheckRequest._distinct` enforces with its own messages.
VariantList = Annotated[
    list[VariantName], Field(json_schema_extra={"minItems": 1, "uniqueItems": True})
]
ObjectKey = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^/]")]
RunId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")]
S3Uri = Annotated[str, StringConstraints(pattern=r"^s3://[^/]+/.+")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- inputs -------------------------------------------------------------------------------------


class CheckRequest(_Strict):
    """One drift check of one endpoint's capture over a window, against its model's baseline."""

    model: ModelName = Field(description="Registry model whose baseline applies.")
    endpoint: EndpointName = Field(description="SageMaker endpoint whose capture is checked.")
    window_hours: int = Field(
        ge=1, le=168, strict=True, description="Hours of capture, ending at `window_end`."
    )
    window_end: AwareDatetime | None = Field(
        default=None,
        description="End of the window (ISO-8601 with a UTC offset), truncated to the hour; "
        "the schedule passes its scheduled time. Default: now, truncated to the hour.",
    )
    baseline_key: ObjectKey | None = Field(
        default=None,
        description="Key of the baseline in the baseline bucket (default "
        f"`{settings.BASELINE_KEY}`).",
    )
    thresholds: dict[str, Any] | None = Field(
        default=None,
        description="This monitor's thresholds, over the stack defaults "
        f"(`{settings.ENV_THRESHOLDS}`); keys as the engine's `Thresholds.from_dict` takes.",
    )
    feature_thresholds: dict[str, dict[str, Any]] | None = Field(
        default=None, description="Per feature, thresholds over this monitor's."
    )
    critical: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list, description="Features whose drift alone makes the window drift."
    )
    min_rows: int = Field(
        default=100,
        ge=1,
        le=10_000_000,
        strict=True,
        description="Fewer rows give `insufficient_data` (at most 10,000,000, as the stack "
        "config's drift.minRows).",
    )
    variants: VariantList | None = Field(
        default=None,
        description="Production variants whose capture folders "
        "(`datacapture/<endpoint>/<variant>/`) are read, by exact name, so a shadow "
        "variant's copied requests stay out of the window. Default: every variant folder.",
    )

    @field_validator("window_end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            # pydantic reports ValueError with the field's name; OverflowError would escape bare.
            raise ValueError(f"{value.isoformat()} is outside the calendar in UTC") from None

    @model_validator(mode="after")
    def _window_in_calendar(self) -> CheckRequest:
        if self.window_end is not None:
            try:
                self.window_end - timedelta(hours=self.window_hours)
            except OverflowError:
                raise ValueError(
                    f"window_end {self.window_end.isoformat()} minus window_hours "
                    f"{self.window_hours} falls before year 1"
                ) from None
        return self

    @field_validator("variants")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(
                "an empty list would read no capture at all; accepted: one or more variant "
                "names (e.g. ['AllTraffic']), or no `variants` key (or null) for every variant"
            )
        repeated = [name for name, n in Counter(value).items() if n > 1]
        if repeated:
            raise ValueError(
                f"{', '.join(map(repr, repeated))} listed more than once; accepted: each "
                "variant name once"
            )
        return value

    def resolved_baseline_key(self) -> str:
        return self.baseline_key or settings.BASELINE_KEY.format(model=self.model)


class BatchItem(BaseModel):
    """One capture object of the scale-out manifest (a Distributed Map item)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    key: ObjectKey = Field(description="Key of the capture object in the capture bucket.")


class BatchInput(BaseModel):
    """What the Map's ItemBatcher passes to every batch (`BatchInput`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    run_id: RunId = Field(description="Scale-out run, from the planner.")
    request: CheckRequest = Field(description="The check request the planner received.")


class ProfileBatch(BaseModel):
    """One Distributed Map batch: capture objects to profile into one partial."""

    # Step Functions' own batch shape; only these two keys are read.
    model_config = ConfigDict(extra="ignore", frozen=True)
    items: list[BatchItem] = Field(alias="Items", min_length=1, description="Capture objects.")
    batch_input: BatchInput = Field(alias="BatchInput", description="Shared by every batch.")


class ReduceRequest(BaseModel):
    """The reducer's input: the planner's output, carried through the state machine."""

    # The state machine may carry more (the manifest's key, the Map's result); not read.
    model_config = ConfigDict(extra="ignore", frozen=True)
    run_id: RunId = Field(description="Scale-out run, from the planner.")
    request: CheckRequest = Field(description="The check request the planner received.")
    variants: list[str] | None = Field(
        default=None,
        description="Variant folders the planner listed (the request's `variants`, or every "
        "variant folder it found). Absent from a plan made before this key: the reducer then "
        "takes the request's `variants`, or the variants of the manifest's keys.",
    )


# ---- events put on the bus ----------------------------------------------------------------------


class Window(_Strict):
    """The checked window: hour-aligned, `start` inclusive, `end` exclusive, UTC."""

    start: datetime
    end: datetime
    hours: int


class ReportUris(_Strict):
    """Where the reports of this check were written."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    json_uri: S3Uri = Field(alias="json")
    html: S3Uri


class _Detail(_Strict):
    check_id: str = Field(
        description="`<model>/<window end>`: the same for every retry of one check, so "
        "consumers can drop duplicates."
    )
    model: str
    endpoint: str
    window: Window
    variants: list[str] = Field(
        description="Variant folders of the endpoint's capture the window was read from: the "
        "request's `variants`, or every variant folder found when it names none. Sorted."
    )
    mode: Literal["single", "scaleout"] = Field(description="One Lambda or the Distributed Map.")
    baseline: S3Uri
    report: ReportUris
    rows: int = Field(ge=0, description="Records read from the window's capture.")
    malformed: int = Field(ge=0, description="Capture lines that could not be read.")


class CompletedDetail(_Detail):
    """A check that ran; `drift` is null when the window had too few rows for a verdict."""

    status: Literal["ok", "insufficient_data"]
    drift: bool | None
    drifted_share: float | None
    drifted_features: list[str]
    critical_drifted: list[str]


class DetectedDetail(_Detail):
    """A window that drifted by the decision rule."""

    drifted_share: float | None
    drifted_features: list[str]
    critical_drifted: list[str]


class FailedDetail(_Detail):
    """A check that could not give a verdict because the data is wrong; never a verdict."""

    reason: Literal["schema_mismatch"]
    message: str


class _Event(BaseModel):
    # An EventBridge event as a target receives it; the envelope's other keys (id, time,
    # account, region, resources, version) are EventBridge's and pass through.
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    source: Literal["mlops.drift"]


class DriftCheckCompleted(_Event):
    """Every check that wrote a report with status `ok` or `insufficient_data`."""

    detail_type: Literal["DriftCheckCompleted"] = Field(alias="detail-type")
    detail: CompletedDetail


class DriftDetected(_Event):
    """A check whose window drifted (in addition to its `DriftCheckCompleted`)."""

    detail_type: Literal["DriftDetected"] = Field(alias="detail-type")
    detail: DetectedDetail


class DriftCheckFailed(_Event):
    """A check whose capture does not match the baseline's features."""

    detail_type: Literal["DriftCheckFailed"] = Field(alias="detail-type")
    detail: FailedDetail


# Detail type → detail model, for the handlers putting them.
DETAILS: dict[str, type[_Detail]] = {
    settings.EVENT_COMPLETED: CompletedDetail,
    settings.EVENT_DETECTED: DetectedDetail,
    settings.EVENT_FAILED: FailedDetail,
}

# Schema file stem → model. Inputs are validated as the handlers read them; events by alias.
SCHEMAS: dict[str, type[BaseModel]] = {
    "CheckRequest": CheckRequest,
    "ProfileBatch": ProfileBatch,
    "ReduceRequest": ReduceRequest,
    settings.EVENT_COMPLETED: DriftCheckCompleted,
    settings.EVENT_DETECTED: DriftDetected,
    settings.EVENT_FAILED: DriftCheckFailed,
}
