"""Names shared by the retraining trigger (`trigger.py`) and the component that deploys it.

`components/retraining.py` (`RetrainingTrigger`) sets these environment variables, routes these
events to the function and grants access to the table these keys are written to; the handler
reads them. One definition, imported by both. Standard library only: the Pulumi program imports
this module.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# ---- environment variables the component sets on the trigger function ----------------------------
ENV_TABLE: Final = "RETRAIN_TABLE"
"""DynamoDB table (partition key `pk` S, sort key `sk` S, TTL attribute `expiration`): the
idempotency records, each model's guard state and the audit trail."""
ENV_EVENT_BUS: Final = "RETRAIN_EVENT_BUS"
"""Name of the platform bus the decisions are put on."""
ENV_TOPIC_ARN: Final = "RETRAIN_TOPIC_ARN"
"""Platform SNS topic every decision is published to."""
ENV_MODELS: Final = "RETRAIN_MODELS"
"""JSON object, model name to its target; rendered by `models_env`, read by `parse_models`."""
ENV_COOLDOWN_HOURS: Final = "RETRAIN_COOLDOWN_HOURS"
"""Whole hours (0 or more) after a model's last start during which no other start is allowed."""
ENV_DAILY_CAP: Final = "RETRAIN_DAILY_CAP"
"""Starts per model per UTC day (1 or more)."""
ENV_BUDGET_NAME: Final = "RETRAIN_BUDGET_NAME"
"""Optional: the AWS Budgets budget read before each start; unset or empty, the guard is off."""
ENV_BUDGET_MAX_SHARE: Final = "RETRAIN_BUDGET_MAX_SHARE"
"""Share of the budget's limit (over 0, at most 1) that actual or forecast spend must stay under;
default `DEFAULT_BUDGET_MAX_SHARE`."""
ENV_AUDIT_TTL_DAYS: Final = "RETRAIN_AUDIT_TTL_DAYS"
"""Days (1 or more) an audit item, and the idempotency record of a decision, are kept."""
ENV_PROMOTION_REPOSITORY: Final = "RETRAIN_PROMOTION_REPOSITORY"
"""Optional `owner/repo` whose promotion workflow an approval dispatches (with the secret)."""
ENV_PROMOTION_TOKEN_SECRET: Final = "RETRAIN_PROMOTION_TOKEN_SECRET"  # noqa: S105 - a name
"""Optional ARN of the Secrets Manager secret holding the GitHub token (with the repository)."""
ENV_PROMOTION_EVENT_TYPE: Final = "RETRAIN_PROMOTION_EVENT_TYPE"
"""`event_type` of the `repository_dispatch`; default `DEFAULT_PROMOTION_EVENT_TYPE`."""
ENV_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
"""CloudWatch namespace of the trigger's metrics (Powertools reads it)."""
ENV_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
"""Service name in logs, traces and metrics (Powertools reads it)."""

SERVICE_NAME: Final = "retrain-trigger"
METRICS_NAMESPACE: Final = "MLOpsPlatform/Retraining"
DEFAULT_BUDGET_MAX_SHARE: Final = 0.9
DEFAULT_PROMOTION_EVENT_TYPE: Final = "model-approved"

# ---- events the trigger accepts ------------------------------------------------------------------
DRIFT_SOURCE: Final = "mlops.drift"
"""The drift check's source (`mlops_drift.settings.EVENT_SOURCE`; the function does not ship
the drift package, so the name is repeated here and a test keeps the two equal)."""
DRIFT_DETAIL_TYPE: Final = "DriftDetected"
ALARM_SOURCE: Final = "aws.cloudwatch"
ALARM_DETAIL_TYPE: Final = "CloudWatch Alarm State Change"
ALARM_FIRING: Final = "ALARM"
REQUEST_SOURCE: Final = "mlops.retraining"
REQUEST_DETAIL_TYPE: Final = "RetrainingRequested"
"""The manual request a person or CI puts on the platform bus."""
APPROVAL_SOURCE: Final = "aws.sagemaker"
APPROVAL_DETAIL_TYPE: Final = "SageMaker Model Package State Change"
APPROVED: Final = "Approved"

# ---- events the trigger puts on the platform bus (source `EVENT_SOURCE`) -------------------------
EVENT_SOURCE: Final = "mlops.retraining"
EVENT_STARTED: Final = "RetrainingStarted"
EVENT_SKIPPED: Final = "RetrainingSkipped"
"""A decision not to start: skipped by a guard, or failed to start (`decision` says which)."""
EVENT_PROMOTION: Final = "ModelPromotionRequested"

# ---- decisions -----------------------------------------------------------------------------------
TRIGGER_DRIFT: Final = "drift"
TRIGGER_ALARM: Final = "alarm"
TRIGGER_MANUAL: Final = "manual"
TRIGGER_APPROVAL: Final = "approval"

DECISION_STARTED: Final = "started"
DECISION_SKIPPED: Final = "skipped"
DECISION_FAILED: Final = "failed"
DECISION_PROMOTION: Final = "promotion-requested"

REASON_ALARM_NOT_FIRING: Final = "alarm-not-firing"
REASON_EXECUTION_RUNNING: Final = "execution-running"
REASON_OVER_BUDGET: Final = "over-budget"
REASON_BUDGET_UNKNOWN: Final = "budget-unknown"
REASON_COOLDOWN: Final = "cooldown"
REASON_DAILY_CAP: Final = "daily-cap"
SKIP_REASONS: Final = (
    REASON_ALARM_NOT_FIRING,
    REASON_EXECUTION_RUNNING,
    REASON_OVER_BUDGET,
    REASON_BUDGET_UNKNOWN,
    REASON_COOLDOWN,
    REASON_DAILY_CAP,
)
"""Why a retraining was skipped, in the order the checks run."""
REASON_START_FAILED: Final = "start-failed"
"""StartPipelineExecution failed after the client's retries (decision `failed`)."""
REASON_APPROVED: Final = "approved"
REASON_DISPATCH_FAILED: Final = "dispatch-failed"
"""The GitHub dispatch of an approval failed (decision `failed`)."""
REASON_NOT_APPROVED: Final = "not-approved"
"""A model package state change to another status than Approved: ignored (logged only)."""
REASON_UNKNOWN_PACKAGE_GROUP: Final = "unknown-package-group"
"""An approval in a group of no configured model: ignored (logged only)."""

# ---- metrics (EMF, dimensions `service` and `model`; `reason` too on RetrainingSkipped) ----------
METRIC_STARTED: Final = "RetrainingStarted"
METRIC_SKIPPED: Final = "RetrainingSkipped"
METRIC_FAILED: Final = "RetrainingFailed"
METRIC_PROMOTION: Final = "PromotionRequested"
METRIC_PROMOTION_FAILED: Final = "PromotionFailed"

# ---- the training pipeline's parameters (components/pipeline_definition.py declares them) --------
PARAM_TRIGGER_REASON: Final = "TriggerReason"
PARAM_TRIGGER_DETAIL: Final = "TriggerDetail"
PARAM_WINDOW_END: Final = "WindowEnd"
PARAM_DATA_URI: Final = "DataUri"
PARAMETER_VALUE_MAX: Final = 1024
"""Longest pipeline parameter value SageMaker accepts."""

# ---- the table -----------------------------------------------------------------------------------
KEY_ATTRIBUTE: Final = "pk"
SORT_KEY_ATTRIBUTE: Final = "sk"
TTL_ATTRIBUTE: Final = "expiration"
IDEMPOTENCY_PK: Final = "idempotency#retrain-trigger"
"""Partition of Powertools' idempotency records (`static_pk_value`)."""
IDEMPOTENCY_KEY_PREFIX: Final = "retrain-trigger"
"""Their sort key is `<prefix>#<md5 of the JSON of the idempotency key>` (Powertools' format)."""
STATE_SK: Final = "state"
"""Sort key of a model's guard state (last start, starts today), under `model_pk(model)`."""

SCHEMA_VERSION: Final = 1
"""Version of the decision document: audit items, events put, handler results."""

MODEL_PATTERN: Final = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
"""Model names, as the stack configuration and the drift check accept them (40 at most)."""
_MODEL = re.compile(MODEL_PATTERN)
_PIPELINE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}")
_GROUP = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S*")
_ALARM_MAX = 255


def model_pk(model: str) -> str:
    """Partition of a model's guard state and audit trail: `model#<model>`."""
    return f"model#{model}"


def key_digest(key: str) -> str:
    """Eight hex digits of the SHA-256 of an idempotency key (audit sort keys)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def decision_sk(time: str, key: str) -> str:
    """Sort key of an audit item: `decision#<ISO time, UTC, ms>#<key_digest(key)>`, so a
    model's decisions sort by time and two at the same millisecond do not collide."""
    return f"decision#{time}#{key_digest(key)}"


def drift_key(check_id: str) -> str:
    return f"drift#{check_id}"


def alarm_key(alarm_name: str, state_timestamp: str) -> str:
    """The alarm's name and its state timestamp as CloudWatch wrote it: one per transition."""
    return f"alarm#{alarm_name}#{state_timestamp}"


def manual_key(request_id: str) -> str:
    return f"manual#{request_id}"


def approval_key(package_arn: str) -> str:
    return f"approval#{package_arn}"


def client_request_token(key: str) -> str:
    """StartPipelineExecution's `ClientRequestToken` (32 to 128 characters): the SHA-256 of the
    idempotency key in hex, so every retry of one event asks SageMaker for the same execution."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# ---- the models the trigger retrains -------------------------------------------------------------


@dataclass(frozen=True)
class ModelTarget:
    """What the trigger needs to know about one model."""

    pipeline: str
    """Name of its training pipeline (SageMaker)."""
    data_uri: str
    """Default `DataUri` of a retraining: `s3://<curated bucket>/<model>/training/`."""
    alarms: tuple[str, ...]
    """CloudWatch alarms whose firing retrains it (an alarm belongs to one model at most)."""
    package_group: str
    """Its model package group: approvals there are promoted."""


def _target_problems(model: str, target: ModelTarget) -> list[str]:
    problems = []
    if not (_MODEL.fullmatch(model) and len(model) <= 40):
        problems.append(
            f"model name {model!r}: 1 to 40 lowercase letters, digits and inner hyphens, "
            "starting with a letter"
        )
    if not _PIPELINE.fullmatch(target.pipeline):
        problems.append(f"{model}: pipeline {target.pipeline!r} is not a SageMaker pipeline name")
    if not _S3_URI.fullmatch(target.data_uri):
        problems.append(f"{model}: dataUri {target.data_uri!r} is not an s3://bucket/prefix URI")
    if not _GROUP.fullmatch(target.package_group):
        problems.append(
            f"{model}: packageGroup {target.package_group!r} is not a model package group name"
        )
    for alarm in target.alarms:
        if not alarm or len(alarm) > _ALARM_MAX:
            problems.append(f"{model}: alarm name {alarm!r} must have 1 to {_ALARM_MAX} characters")
    if len(set(target.alarms)) != len(target.alarms):
        problems.append(f"{model}: alarms repeat: {list(target.alarms)}")
    return problems


def _check_models(models: Mapping[str, ModelTarget]) -> None:
    problems = [p for model, target in models.items() for p in _target_problems(model, target)]
    owners: dict[str, list[str]] = {}
    for model, target in models.items():
        for alarm in target.alarms:
            owners.setdefault(f"alarm {alarm!r}", []).append(model)
        owners.setdefault(f"packageGroup {target.package_group!r}", []).append(model)
    problems += [
        f"{what} belongs to more than one model ({', '.join(sorted(names))}); each belongs to one"
        for what, names in sorted(owners.items())
        if len(names) > 1
    ]
    if problems:
        raise ValueError("; ".join(problems))


def models_env(models: Mapping[str, ModelTarget]) -> str:
    """The `RETRAIN_MODELS` value: compact JSON, keys and alarms sorted, so one configuration
    always renders the same bytes (no spurious function updates). `ValueError` for a value the
    handler would refuse, so the program fails at preview rather than the function later."""
    _check_models(models)
    document = {
        model: {
            "pipeline": target.pipeline,
            "dataUri": target.data_uri,
            "alarms": sorted(target.alarms),
            "packageGroup": target.package_group,
        }
        for model, target in models.items()
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


_TARGET_KEYS = frozenset({"pipeline", "dataUri", "alarms", "packageGroup"})


def _target(model: str, value: Any) -> ModelTarget:
    if not isinstance(value, dict):
        raise ValueError(f"{model}: must be an object with keys {sorted(_TARGET_KEYS)}")
    missing = sorted(_TARGET_KEYS - value.keys())
    unknown = sorted(value.keys() - _TARGET_KEYS)
    if missing or unknown:
        raise ValueError(
            f"{model}: keys must be {sorted(_TARGET_KEYS)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    strings = {k: value[k] for k in ("pipeline", "dataUri", "packageGroup")}
    wrong = sorted(k for k, v in strings.items() if not isinstance(v, str))
    if wrong:
        raise ValueError(f"{model}: {', '.join(wrong)} must be strings")
    alarms = value["alarms"]
    if not isinstance(alarms, list) or not all(isinstance(a, str) for a in alarms):
        raise ValueError(f"{model}: alarms must be a list of alarm names (strings)")
    return ModelTarget(
        pipeline=strings["pipeline"],
        data_uri=strings["dataUri"],
        alarms=tuple(alarms),
        package_group=strings["packageGroup"],
    )


def parse_models(text: str) -> dict[str, ModelTarget]:
    """`RETRAIN_MODELS` back into targets; `ValueError` saying what is wrong and what is
    accepted."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(document, dict) or not document:
        raise ValueError(
            'must be a non-empty JSON object {"<model>": {"pipeline", "dataUri", "alarms", '
            '"packageGroup"}}'
        )
    models = {str(model): _target(str(model), value) for model, value in document.items()}
    _check_models(models)
    return models
