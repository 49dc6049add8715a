"""The retraining trigger: drift, a firing alarm or a request retrains a model, behind guards.

Deployed by `components/retraining.py` (`RetrainingTrigger`) as `trigger.lambda_handler`,
invoked asynchronously by four EventBridge rules (Lambda retries twice, then the event goes to
the function's dead-letter queue):

- the drift check's `DriftDetected`, a model's CloudWatch alarm changing state, and a manual
  `RetrainingRequested` each ask for a retraining of one model. Once per event (Powertools
  idempotency on DynamoDB), the guards run in order (a running execution, the budget, the
  cooldown and daily cap reserved atomically) and the model's training pipeline is started,
  or not; either way the decision is recorded (audit item), put on the bus
  (`RetrainingStarted`, `RetrainingSkipped`), published to the platform topic and counted;
- a registry approval (`SageMaker Model Package State Change` to `Approved`) asks for the
  promotion of that version: the topic is told what to do next, `ModelPromotionRequested` is
  put on the bus and, when configured, the repository's promotion workflow is dispatched.

Configuration comes from the environment only (names in `retrain_settings`). The handler
parses, calls the plain functions below, and returns the decision.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import boto3
import retrain_settings as settings
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from retrain_events import (
    ACCEPTED,
    Accepted,
    AlarmStateChange,
    DriftDetectedEvent,
    EventRef,
    ModelPackageStateChange,
    PromotionDetail,
    RetrainingRequested,
    SkippedDetail,
    StartedDetail,
    iso_utc,
)
from retrain_guards import (
    BudgetUnknownError,
    GuardError,
    Reservation,
    aws_error,
    budget_verdict,
    read_budget,
    release,
    reserve,
    running_execution,
)
from retrain_promotion import REPOSITORY, DispatchError, Send, dispatch, read_token, urllib_send
from retrain_record import Outbox, record, truncate

SERVICE = os.environ.get(settings.ENV_SERVICE_NAME, settings.SERVICE_NAME)

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
# Metrics: one EMF document per decision, in `retrain_record` (Powertools' EphemeralMetrics).

# Standard retry mode: throttling and 5xx answers are retried with backoff, 5 attempts in all
# (`total_max_attempts`; botocore's `max_attempts` would count retries only), before an error
# reaches the trigger. The timeouts stop a hung connection eating the function.
BOTO_CONFIG: Final = Config(
    retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=5, read_timeout=15
)
DESCRIPTION_MAX: Final = 3072
"""Longest PipelineExecutionDescription SageMaker accepts."""
ACCEPTED_EVENTS: Final = (
    "DriftDetected (source mlops.drift), CloudWatch Alarm State Change (source aws.cloudwatch), "
    "RetrainingRequested (source mlops.retraining), SageMaker Model Package State Change "
    "(source aws.sagemaker); see lambdas/retrain_trigger/README.md"
)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class RetrainError(Exception):
    """The trigger cannot decide: the invocation fails (retried, then the dead-letter queue)."""


class ConfigError(RetrainError):
    """The environment the component sets is missing or wrong."""


class BadEventError(RetrainError, ValueError):
    """The event is none of the shapes the trigger accepts, or names no configured model."""


class StartFailedError(RetrainError):
    """StartPipelineExecution failed after the client's retries; the reservation was released."""


class PromotionFailedError(RetrainError):
    """The promotion's GitHub dispatch failed."""


# ---- configuration and clients -------------------------------------------------------------------


def _integer(environ: Mapping[str, str], name: str, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a whole number, {minimum} or more; got {raw!r}"
            + ("" if raw else " (not set; components/retraining.py sets it)")
        ) from None
    if value < minimum:
        raise ConfigError(f"{name} must be a whole number, {minimum} or more; got {value}")
    return value


def _share(environ: Mapping[str, str]) -> float:
    raw = environ.get(settings.ENV_BUDGET_MAX_SHARE, "").strip()
    if not raw:
        return settings.DEFAULT_BUDGET_MAX_SHARE
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise ConfigError(
            f"{settings.ENV_BUDGET_MAX_SHARE} must be a number over 0 and at most 1 (the share "
            f"of the budget's limit spend must stay under, e.g. 0.9); got {raw!r}"
        )
    return value


@dataclass(frozen=True)
class Env:
    """The environment the component sets on the trigger function."""

    table: str
    event_bus: str
    topic_arn: str
    models: Mapping[str, settings.ModelTarget]
    cooldown_hours: int
    daily_cap: int
    audit_ttl_days: int
    budget_name: str | None = None
    budget_max_share: float = settings.DEFAULT_BUDGET_MAX_SHARE
    promotion_repository: str | None = None
    promotion_token_secret: str | None = None
    promotion_event_type: str = settings.DEFAULT_PROMOTION_EVENT_TYPE

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Env:
        environ = os.environ if environ is None else environ
        required = (
            settings.ENV_TABLE,
            settings.ENV_EVENT_BUS,
            settings.ENV_TOPIC_ARN,
            settings.ENV_MODELS,
        )
        missing = [name for name in required if not environ.get(name, "").strip()]
        if missing:
            raise ConfigError(
                f"environment variable(s) {', '.join(missing)} not set; components/retraining.py "
                "sets them on the trigger function"
            )
        topic = environ[settings.ENV_TOPIC_ARN].strip()
        if not topic.startswith("arn:") or ":sns:" not in topic:
            raise ConfigError(f"{settings.ENV_TOPIC_ARN} must be an SNS topic ARN; got {topic!r}")
        try:
            models = settings.parse_models(environ[settings.ENV_MODELS])
        except ValueError as exc:
            raise ConfigError(
                f"{settings.ENV_MODELS} is invalid: {exc}; accepted: "
                '{"<model>": {"pipeline": "<training pipeline>", "dataUri": "s3://<bucket>/'
                '<prefix>", "alarms": ["<alarm name>", ...], "packageGroup": "<model package '
                'group>"}, ...} as retrain_settings.models_env renders it'
            ) from None
        repository = environ.get(settings.ENV_PROMOTION_REPOSITORY, "").strip() or None
        secret = environ.get(settings.ENV_PROMOTION_TOKEN_SECRET, "").strip() or None
        if (repository is None) != (secret is None):
            raise ConfigError(
                f"{settings.ENV_PROMOTION_REPOSITORY} and {settings.ENV_PROMOTION_TOKEN_SECRET} "
                "go together: set both (dispatch the promotion workflow) or neither (notify "
                f"only); got only {'the repository' if repository else 'the token secret'}"
            )
        if repository is not None and not REPOSITORY.fullmatch(repository):
            raise ConfigError(
                f"{settings.ENV_PROMOTION_REPOSITORY} must be a GitHub repository as owner/repo; "
                f"got {repository!r}"
            )
        if secret is not None and not (secret.startswith("arn:") and ":secretsmanager:" in secret):
            raise ConfigError(
                f"{settings.ENV_PROMOTION_TOKEN_SECRET} must be a Secrets Manager secret ARN; "
                f"got {secret!r}"
            )
        event_type = (
            environ.get(settings.ENV_PROMOTION_EVENT_TYPE, "").strip()
            or settings.DEFAULT_PROMOTION_EVENT_TYPE
        )
        if len(event_type) > 100:
            raise ConfigError(
                f"{settings.ENV_PROMOTION_EVENT_TYPE} must have 1 to 100 characters (GitHub's "
                f"limit on event_type); got {len(event_type)}"
            )
        return cls(
            table=environ[settings.ENV_TABLE].strip(),
            event_bus=environ[settings.ENV_EVENT_BUS].strip(),
            topic_arn=topic,
            models=models,
            cooldown_hours=_integer(environ, settings.ENV_COOLDOWN_HOURS, 0),
            daily_cap=_integer(environ, settings.ENV_DAILY_CAP, 1),
            audit_ttl_days=_integer(environ, settings.ENV_AUDIT_TTL_DAYS, 1),
            budget_name=environ.get(settings.ENV_BUDGET_NAME, "").strip() or None,
            budget_max_share=_share(environ),
            promotion_repository=repository,
            promotion_token_secret=secret,
            promotion_event_type=event_type,
        )

    def model_of_alarm(self, alarm: str) -> str | None:
        return next((m for m, t in self.models.items() if alarm in t.alarms), None)

    def model_of_group(self, group: str) -> str | None:
        return next((m for m, t in self.models.items() if t.package_group == group), None)


@dataclass(frozen=True)
class Clients:
    dynamodb: Any
    sagemaker: Any
    budgets: Any
    sns: Any
    events: Any
    secrets: Any
    send: Send = urllib_send
    """Sends the GitHub dispatch (tests pass their own: no network)."""


def make_clients(region: str | None = None) -> Clients:
    session = boto3.session.Session(region_name=region)
    return Clients(
        dynamodb=session.client("dynamodb", config=BOTO_CONFIG),
        sagemaker=session.client("sagemaker", config=BOTO_CONFIG),
        budgets=session.client("budgets", config=BOTO_CONFIG),
        sns=session.client("sns", config=BOTO_CONFIG),
        events=session.client("events", config=BOTO_CONFIG),
        secrets=session.client("secretsmanager", config=BOTO_CONFIG),
    )


@functools.cache
def lambda_clients() -> Clients:
    """The function's clients, made at the first invocation and kept for the warm ones."""
    return make_clients()


def outbox(env: Env, clients: Clients) -> Outbox:
    """Where the decisions go."""
    return Outbox(
        table=env.table,
        topic_arn=env.topic_arn,
        event_bus=env.event_bus,
        audit_ttl_days=env.audit_ttl_days,
        dynamodb=clients.dynamodb,
        sns=clients.sns,
        events=clients.events,
    )


def account_of(context: Any) -> str | None:
    """The account id, from the function's ARN in the Lambda context (no STS call, no extra
    permission): `arn:aws:lambda:<region>:<account>:function:<name>`."""
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    account = parts[4] if len(parts) > 4 else ""
    return account if len(account) == 12 and account.isdigit() else None


# ---- events --------------------------------------------------------------------------------------


def _quoted(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"]) or "event"
        if error["type"] == "value_error":
            problems.append(f"{loc}: {error.get('ctx', {}).get('error', error['msg'])}")
        elif error["type"] == "missing":
            problems.append(f"{loc}: required, missing")
        else:
            problems.append(f"{loc}: {error['msg']} (got {_quoted(error.get('input'))})")
    return "; ".join(problems)


def parse_event(event: Any) -> Accepted:
    """The event as one of the accepted models; `BadEventError` naming what was received."""
    if not isinstance(event, Mapping):
        raise BadEventError(
            f"the event is a JSON {type(event).__name__}, not an object; accepted: "
            f"{ACCEPTED_EVENTS}"
        )
    source, detail_type = event.get("source"), event.get("detail-type")
    if source is None and detail_type is None:
        raise BadEventError(
            f"an event with keys {sorted(map(str, event))} and no source or detail-type is not "
            f"an EventBridge event; accepted: {ACCEPTED_EVENTS}"
        )
    model = ACCEPTED.get((str(source), str(detail_type)))
    if model is None:
        raise BadEventError(
            f"an event with source {source!r} and detail-type {detail_type!r} is not one the "
            f"retraining trigger accepts; accepted: {ACCEPTED_EVENTS}"
        )
    try:
        return model.model_validate(dict(event))
    except ValidationError as exc:
        raise BadEventError(
            f"{detail_type} event (source {source}, id {event.get('id')!r}) refused: "
            f"{_problems(exc)}"
        ) from None


@dataclass(frozen=True)
class Request:
    """A request to retrain one model, from one event: what the guards and the start need."""

    key: str
    model: str
    target: settings.ModelTarget
    trigger: str
    parameters: dict[str, str]
    event: EventRef
    alarm_state: str | None = None
    """An alarm's state; anything but ALARM is `alarm-not-firing`."""

    @property
    def token(self) -> str:
        return settings.client_request_token(self.key)

    @property
    def description(self) -> str:
        text = (
            f"Retraining started by the retrain trigger ({self.trigger}): {self.key}. "
            f"{self.parameters[settings.PARAM_TRIGGER_DETAIL]}"
        )
        return truncate(text, DESCRIPTION_MAX)


def _target(env: Env, model: str, what: str) -> settings.ModelTarget:
    target = env.models.get(model)
    if target is None:
        raise BadEventError(
            f"model {model!r} of the {what} event is not one the trigger retrains; configured "
            f"models ({settings.ENV_MODELS}): {', '.join(sorted(env.models))}"
        )
    return target


def _parameters(reason: str, detail: str, window_end: str, data_uri: str) -> dict[str, str]:
    return {
        settings.PARAM_TRIGGER_REASON: reason,
        settings.PARAM_TRIGGER_DETAIL: truncate(detail, settings.PARAMETER_VALUE_MAX),
        settings.PARAM_WINDOW_END: window_end,
        settings.PARAM_DATA_URI: data_uri,
    }


def _ref(event: Accepted) -> EventRef:
    return EventRef(id=event.id, source=event.source, detail_type=event.detail_type)


def retraining_request(
    event: DriftDetectedEvent | AlarmStateChange | RetrainingRequested, env: Env, now: datetime
) -> Request:
    """The model, key and pipeline parameters an event asks for; `BadEventError` for a model
    or alarm that is not configured."""
    if isinstance(event, DriftDetectedEvent):
        drift = event.detail
        target = _target(env, drift.model, settings.DRIFT_DETAIL_TYPE)
        return Request(
            key=settings.drift_key(drift.check_id),
            model=drift.model,
            target=target,
            trigger=settings.TRIGGER_DRIFT,
            parameters=_parameters(
                settings.TRIGGER_DRIFT,
                drift.report.html,
                iso_utc(drift.window.end),
                target.data_uri,
            ),
            event=_ref(event),
        )
    if isinstance(event, AlarmStateChange):
        alarm = event.detail
        model = env.model_of_alarm(alarm.alarm_name)
        if model is None:
            configured = sorted(a for t in env.models.values() for a in t.alarms)
            raise BadEventError(
                f"alarm {alarm.alarm_name!r} (detail.alarmName) is not one of a model's alarms in "
                f"{settings.ENV_MODELS} ({', '.join(configured) or 'none configured'})"
            )
        target = env.models[model]
        return Request(
            key=settings.alarm_key(alarm.alarm_name, alarm.state.timestamp),
            model=model,
            target=target,
            trigger=settings.TRIGGER_ALARM,
            parameters=_parameters(
                settings.TRIGGER_ALARM,
                f"{alarm.alarm_name}: {alarm.state.reason}",
                iso_utc(alarm.state.at),
                target.data_uri,
            ),
            event=_ref(event),
            alarm_state=alarm.state.value,
        )
    request = event.detail
    target = _target(env, request.model, settings.REQUEST_DETAIL_TYPE)
    return Request(
        key=settings.manual_key(request.request_id),
        model=request.model,
        target=target,
        trigger=settings.TRIGGER_MANUAL,
        parameters=_parameters(
            settings.TRIGGER_MANUAL,
            f"{request.requested_by}: {request.reason}",
            iso_utc(request.window_end or now),
            request.data_uri or target.data_uri,
        ),
        event=_ref(event),
    )


# ---- the decision --------------------------------------------------------------------------------


@tracer.capture_method
def start_execution(sagemaker: Any, request: Request) -> str:
    """StartPipelineExecution with the request's parameters; its ClientRequestToken is derived
    from the idempotency key, so SageMaker itself never starts two for one event."""
    answer = sagemaker.start_pipeline_execution(
        PipelineName=request.target.pipeline,
        PipelineExecutionDescription=request.description,
        PipelineParameters=[{"Name": k, "Value": v} for k, v in request.parameters.items()],
        ClientRequestToken=request.token,
    )
    return str(answer["PipelineExecutionArn"])


@dataclass(frozen=True)
class Skip:
    """A guard's refusal: the reason, the sentence, the running execution (if that is why)."""

    reason: str
    message: str
    execution_arn: str | None = None


def concurrency_guard(
    request: Request, clients: Clients, guards: dict[str, str], details: dict[str, Any]
) -> Skip | None:
    """1. One execution of a pipeline at a time; `GuardError` when the executions cannot be
    listed (retried: nothing is started on a guess)."""
    try:
        running = running_execution(clients.sagemaker, request.target.pipeline)
    except (ClientError, BotoCoreError) as exc:
        raise GuardError(
            f"cannot list the executions of {request.target.pipeline}: {aws_error(exc)}"
        ) from exc
    if running is None:
        guards["concurrency"] = "passed"
        return None
    guards["concurrency"] = settings.REASON_EXECUTION_RUNNING
    details["runningExecution"] = running
    return Skip(
        settings.REASON_EXECUTION_RUNNING,
        f"Execution {running['executionArn']} of pipeline {request.target.pipeline} is "
        f"{running['status']}: one execution per model at a time.",
        running["executionArn"],
    )


def budget_guard(
    env: Env,
    clients: Clients,
    account_id: str | None,
    guards: dict[str, str],
    details: dict[str, Any],
) -> Skip | None:
    """2. Actual and forecast spend under `max_share` of the budget's limit; off without a
    budget name; a budget that cannot be read refuses (fails closed)."""
    if env.budget_name is None:
        guards["budget"] = "off"
        return None
    try:
        if account_id is None:
            raise BudgetUnknownError("the account id is unknown (no function ARN in the context)")
        reading = read_budget(clients.budgets, account_id, env.budget_name)
    except BudgetUnknownError as exc:
        guards["budget"] = settings.REASON_BUDGET_UNKNOWN
        details["budget"] = {"name": env.budget_name, "error": str(exc)}
        return Skip(
            settings.REASON_BUDGET_UNKNOWN,
            f"Budget {env.budget_name} could not be read ({exc}): no retraining without a "
            "known budget.",
        )
    verdict = budget_verdict(reading, env.budget_max_share)
    details["budget"] = verdict.as_dict(reading, env.budget_max_share)
    if not verdict.over:
        guards["budget"] = "passed"
        return None
    guards["budget"] = settings.REASON_OVER_BUDGET
    spent = ", ".join(
        f"{what} {getattr(reading, what)} {reading.unit}" for what in verdict.exceeded
    )
    return Skip(
        settings.REASON_OVER_BUDGET,
        f"Budget {reading.name}: {spent} reached {env.budget_max_share:g} of the "
        f"{reading.limit} {reading.unit} limit ({verdict.threshold} {reading.unit}).",
    )


def reservation_guard(
    request: Request,
    env: Env,
    clients: Clients,
    now: datetime,
    *,
    guards: dict[str, str],
    details: dict[str, Any],
) -> Reservation | Skip:
    """3. The cooldown and the daily cap, checked and taken in one conditional write."""
    reservation = reserve(
        clients.dynamodb,
        env.table,
        request.model,
        request.key,
        now,
        cooldown_hours=env.cooldown_hours,
        daily_cap=env.daily_cap,
    )
    details["reservation"] = reservation.details
    if reservation.reserved:
        guards["reservation"] = "passed"
        return reservation
    reason = str(reservation.reason)
    guards["reservation"] = reason
    found = reservation.details
    if reason == settings.REASON_COOLDOWN:
        return Skip(
            reason,
            f"The last start ({found['lastStartAt']}, {found['lastKey']}) is within the "
            f"{env.cooldown_hours}-hour cooldown; the next start is allowed from "
            f"{found['nextAllowedAt']}.",
        )
    return Skip(
        reason,
        f"{found['startsToday']} start(s) on {found['day']} (UTC) reached the daily cap of "
        f"{env.daily_cap}; the next start is allowed from {found['nextAllowedAt']}.",
    )


def decide(
    *,
    idempotency: dict[str, str],
    request: Request,
    env: Env,
    clients: Clients,
    clock: Clock,
    account_id: str | None,
) -> dict[str, Any]:
    """Run the guards in order and start, or not; record the decision and return it.

    Called through Powertools' idempotency (`idempotency` is the key it hashes), so a second
    delivery of one event returns this decision without running again. Raises for what should
    be retried: a guard that cannot be evaluated, a start that failed (after releasing the
    reservation and recording `failed`).
    """
    now = clock()
    guards: dict[str, str] = {}
    details: dict[str, Any] = {}
    common = {
        "schemaVersion": settings.SCHEMA_VERSION,
        "model": request.model,
        "key": idempotency["key"],
        "decidedAt": now,
        "event": request.event,
        "trigger": request.trigger,
        "pipeline": request.target.pipeline,
        "parameters": request.parameters,
        "clientRequestToken": request.token,
        "guards": guards,
        "details": details,
    }
    outcome: Reservation | Skip | None
    if request.alarm_state is not None and request.alarm_state != settings.ALARM_FIRING:
        outcome = Skip(
            settings.REASON_ALARM_NOT_FIRING,
            f"Alarm state is {request.alarm_state}, not {settings.ALARM_FIRING}: nothing to do.",
        )
    else:
        outcome = concurrency_guard(request, clients, guards, details) or budget_guard(
            env, clients, account_id, guards, details
        )
        if outcome is None:
            outcome = reservation_guard(request, env, clients, now, guards=guards, details=details)
    if isinstance(outcome, Skip):
        skipped = SkippedDetail.model_validate(
            {
                **common,
                "decision": settings.DECISION_SKIPPED,
                "reason": outcome.reason,
                "message": outcome.message,
                "executionArn": outcome.execution_arn,
            }
        )
        return record(skipped, outbox(env, clients))

    # 4. start (the reservation is ours)
    try:
        execution_arn = start_execution(clients.sagemaker, request)
    except (ClientError, BotoCoreError) as exc:
        error = aws_error(exc)
        released = release(clients.dynamodb, env.table, request.model, outcome)
        details["error"] = error
        details["reservation"] = {**outcome.details, "released": released}
        failed = SkippedDetail.model_validate(
            {
                **common,
                "decision": settings.DECISION_FAILED,
                "reason": settings.REASON_START_FAILED,
                "message": f"{error}. The reservation was "
                f"{'released' if released else 'kept (a later start took its place)'}; the "
                "event is retried, then kept in the dead-letter queue.",
            }
        )
        record(failed, outbox(env, clients))
        raise StartFailedError(
            f"retraining of {request.model} ({request.key}) not started: {error}"
        ) from exc
    started = StartedDetail.model_validate(
        {
            **common,
            "decision": settings.DECISION_STARTED,
            "executionArn": execution_arn,
            "message": f"Started execution {execution_arn} of pipeline "
            f"{request.target.pipeline} ({request.trigger}).",
        }
    )
    return record(started, outbox(env, clients))


# ---- promotion -----------------------------------------------------------------------------------


def promote(
    *,
    idempotency: dict[str, str],
    event: ModelPackageStateChange,
    model: str,
    env: Env,
    clients: Clients,
    clock: Clock,
) -> dict[str, Any]:
    """Dispatch the promotion workflow (when configured), then record, notify and put
    `ModelPromotionRequested`. A failed dispatch is recorded (`failed`) and raised, so the
    event is retried: the dispatch comes first so that a retry does not repeat the rest."""
    now = clock()
    approval = event.detail
    payload = {"model": model, "version": approval.version, "packageArn": approval.package_arn}
    repository = env.promotion_repository
    details: dict[str, Any] = {}
    common = {
        "schemaVersion": settings.SCHEMA_VERSION,
        "model": model,
        "key": idempotency["key"],
        "decidedAt": now,
        "event": _ref(event),
        "trigger": settings.TRIGGER_APPROVAL,
        "packageGroup": approval.group,
        "version": approval.version,
        "packageArn": approval.package_arn,
        "repository": repository,
        "eventType": env.promotion_event_type if repository else None,
        "details": details,
    }
    dispatched = False
    if repository is not None and env.promotion_token_secret is not None:
        details["dispatch"] = {"clientPayload": payload}
        try:
            token = read_token(clients.secrets, env.promotion_token_secret)
            status = dispatch(
                clients.send,
                repository=repository,
                token=token,
                event_type=env.promotion_event_type,
                payload=payload,
            )
        except DispatchError as exc:
            details["dispatch"]["error"] = str(exc)
            failed = PromotionDetail.model_validate(
                {
                    **common,
                    "decision": settings.DECISION_FAILED,
                    "reason": settings.REASON_DISPATCH_FAILED,
                    "dispatched": False,
                    "message": f"Version {approval.version} of model {model} was approved, but "
                    f"the promotion workflow of {repository} could not be dispatched: {exc}. "
                    "The event is retried, then kept in the dead-letter queue.",
                }
            )
            record(failed, outbox(env, clients))
            raise PromotionFailedError(
                f"promotion of {model} version {approval.version} not dispatched: {exc}"
            ) from exc
        details["dispatch"]["status"] = status
        dispatched = True
    detail = PromotionDetail.model_validate(
        {
            **common,
            "decision": settings.DECISION_PROMOTION,
            "reason": settings.REASON_APPROVED,
            "dispatched": dispatched,
            "message": f"Version {approval.version} of model {model} "
            f"({approval.package_arn}) was approved.",
        }
    )
    return record(detail, outbox(env, clients))


def ignored(reason: str, message: str, event: ModelPackageStateChange) -> dict[str, Any]:
    """An approval event that asks for nothing: logged, not recorded (no model to file it under)."""
    logger.info(message, extra={"reason": reason, "package_arn": event.detail.package_arn})
    return {
        "schemaVersion": settings.SCHEMA_VERSION,
        "decision": settings.DECISION_SKIPPED,
        "reason": reason,
        "message": message,
        "packageGroup": event.detail.group,
        "packageArn": event.detail.package_arn,
    }


# ---- the handler ---------------------------------------------------------------------------------


def _duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    logger.info(
        "duplicate delivery: returning the decision already taken for this event",
        extra={"idempotency_record": idempotent_data.sort_key},
    )
    return response


def once(function: Callable[..., dict[str, Any]], env: Env, clients: Clients, context: Any) -> Any:
    """`function` behind Powertools' idempotency, keyed on its `idempotency["key"]`, with the
    records in the trigger's table (pk `idempotency#retrain-trigger`, kept as long as the audit).

    Made per invocation: the table comes from the environment, read (and refused with a clear
    message) by the handler rather than at import.
    """
    config = IdempotencyConfig(
        event_key_jmespath="key",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=env.audit_ttl_days * 86_400,
        response_hook=_duplicate,
    )
    if context is not None:
        config.register_lambda_context(context)
    store = DynamoDBPersistenceLayer(
        table_name=env.table,
        key_attr=settings.KEY_ATTRIBUTE,
        sort_key_attr=settings.SORT_KEY_ATTRIBUTE,
        static_pk_value=settings.IDEMPOTENCY_PK,
        expiry_attr=settings.TTL_ATTRIBUTE,
        boto3_client=clients.dynamodb,
    )
    return idempotent_function(
        function,
        data_keyword_argument="idempotency",
        persistence_store=store,
        config=config,
        key_prefix=settings.IDEMPOTENCY_KEY_PREFIX,
    )


def handle(event: Any, context: Any, env: Env, clients: Clients, clock: Clock) -> dict[str, Any]:
    """Parse the event and take (or return) its decision."""
    parsed = parse_event(event)
    if isinstance(parsed, ModelPackageStateChange):
        approval = parsed.detail
        if approval.status != settings.APPROVED:
            return ignored(
                settings.REASON_NOT_APPROVED,
                f"model package {approval.package_arn} is {approval.status}: nothing to promote",
                parsed,
            )
        model = env.model_of_group(approval.group)
        if model is None:
            return ignored(
                settings.REASON_UNKNOWN_PACKAGE_GROUP,
                f"model package group {approval.group} is no configured model's "
                f"({settings.ENV_MODELS}): not promoted here",
                parsed,
            )
        key = settings.approval_key(approval.package_arn)
        logger.append_keys(model=model, idempotency_key=key)
        tracer.put_annotation(key="model", value=model)
        return dict(
            once(promote, env, clients, context)(
                idempotency={"key": key},
                event=parsed,
                model=model,
                env=env,
                clients=clients,
                clock=clock,
            )
        )
    request = retraining_request(parsed, env, clock())
    logger.append_keys(model=request.model, idempotency_key=request.key)
    tracer.put_annotation(key="model", value=request.model)
    tracer.put_annotation(key="trigger", value=request.trigger)
    return dict(
        once(decide, env, clients, context)(
            idempotency={"key": request.key},
            request=request,
            env=env,
            clients=clients,
            clock=clock,
            account_id=account_of(context),
        )
    )


@logger.inject_lambda_context(log_event=True, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Drift, alarm, manual request or registry approval: the decision taken (or the one
    already taken for this event)."""
    return handle(event, context, Env.read(), lambda_clients(), utcnow)
