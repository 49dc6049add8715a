"""The guards between an event and a training run: one at a time, within budget, not too often.

Plain functions over boto3 clients, in the order `trigger.decide` calls them:

1. `running_execution`: an `Executing` or `Stopping` execution of the model's pipeline;
2. `read_budget` and `budget_verdict`: actual or forecast spend against a share of the limit;
3. `reserve`: the cooldown and the daily cap, checked and taken in one conditional write of
   the model's state item, so concurrent events for one model start at most one run;
   `release` gives a reservation back when the start then fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import retrain_settings as settings
from botocore.exceptions import BotoCoreError, ClientError

RUNNING: Final = frozenset({"Executing", "Stopping"})
"""Pipeline execution statuses that count as running."""
LIST_PAGE: Final = 100
"""Newest executions looked at (ListPipelineExecutions' largest page)."""
RESERVE_ATTEMPTS: Final = 3
"""Conditional writes tried before giving up on a state item changing under us."""


class GuardError(Exception):
    """A guard could not be evaluated (the invocation fails and is retried)."""


def aws_error(exc: ClientError | BotoCoreError) -> str:
    """`StartPipelineExecution failed: ThrottlingException: Rate exceeded (after 4 retries)`."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        after = f" (after {retries} retries)" if retries else ""
        return (
            f"{exc.operation_name} failed: {error.get('Code', 'Unknown')}: "
            f"{error.get('Message', '')}{after}"
        )
    return f"AWS call failed: {exc}"


# ---- 1. concurrency ------------------------------------------------------------------------------


def running_execution(sagemaker: Any, pipeline: str) -> dict[str, str] | None:
    """The newest running execution of `pipeline` among its `LIST_PAGE` newest, or None."""
    answer = sagemaker.list_pipeline_executions(
        PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending", MaxResults=LIST_PAGE
    )
    for summary in answer.get("PipelineExecutionSummaries", []):
        status = str(summary.get("PipelineExecutionStatus", ""))
        if status in RUNNING:
            started = summary.get("StartTime")
            return {
                "executionArn": str(summary["PipelineExecutionArn"]),
                "status": status,
                "startTime": started.astimezone(UTC).isoformat()
                if isinstance(started, datetime)
                else str(started),
            }
    return None


# ---- 2. budget -----------------------------------------------------------------------------------


class BudgetUnknownError(Exception):
    """The budget cannot be read, or says nothing usable: the guard fails closed."""


@dataclass(frozen=True)
class BudgetReading:
    name: str
    limit: Decimal
    actual: Decimal
    forecast: Decimal | None
    unit: str


def _amount(spend: Mapping[str, Any] | None, what: str, name: str) -> tuple[Decimal, str]:
    if not spend or "Amount" not in spend:
        raise BudgetUnknownError(f"budget {name} has no {what}")
    try:
        return Decimal(str(spend["Amount"])), str(spend.get("Unit", ""))
    except InvalidOperation:
        raise BudgetUnknownError(
            f"budget {name}: {what} {spend['Amount']!r} is no number"
        ) from None


def read_budget(budgets: Any, account_id: str, name: str) -> BudgetReading:
    """DescribeBudget: the limit, the actual and (when AWS has one yet) the forecast spend."""
    try:
        budget = budgets.describe_budget(AccountId=account_id, BudgetName=name)["Budget"]
    except (ClientError, BotoCoreError) as exc:
        raise BudgetUnknownError(aws_error(exc)) from None
    limit, unit = _amount(budget.get("BudgetLimit"), "limit (BudgetLimit)", name)
    spend = budget.get("CalculatedSpend") or {}
    actual, actual_unit = _amount(spend.get("ActualSpend"), "actual spend", name)
    forecast: Decimal | None = None
    if spend.get("ForecastedSpend"):
        forecast, forecast_unit = _amount(spend["ForecastedSpend"], "forecast spend", name)
        if forecast_unit and forecast_unit != unit:
            raise BudgetUnknownError(f"budget {name}: forecast in {forecast_unit}, limit in {unit}")
    if actual_unit and actual_unit != unit:
        raise BudgetUnknownError(f"budget {name}: actual spend in {actual_unit}, limit in {unit}")
    return BudgetReading(name=name, limit=limit, actual=actual, forecast=forecast, unit=unit)


@dataclass(frozen=True)
class BudgetVerdict:
    over: bool
    exceeded: tuple[str, ...]
    """`actual`, `forecast`: which spend reached the threshold."""
    threshold: Decimal

    def as_dict(self, reading: BudgetReading, max_share: float) -> dict[str, Any]:
        return {
            "name": reading.name,
            "limit": float(reading.limit),
            "actual": float(reading.actual),
            "forecast": None if reading.forecast is None else float(reading.forecast),
            "unit": reading.unit,
            "maxShare": max_share,
            "threshold": float(self.threshold),
            "exceeded": list(self.exceeded),
        }


def budget_verdict(reading: BudgetReading, max_share: float) -> BudgetVerdict:
    """Over when actual or forecast spend >= `max_share` times the limit (decimal arithmetic)."""
    threshold = Decimal(str(max_share)) * reading.limit
    exceeded = tuple(
        what
        for what, spend in (("actual", reading.actual), ("forecast", reading.forecast))
        if spend is not None and spend >= threshold
    )
    return BudgetVerdict(over=bool(exceeded), exceeded=exceeded, threshold=threshold)


# ---- 3. cooldown and daily cap -------------------------------------------------------------------

# The state item (pk `model#<model>`, sk `state`) holds the last start and the starts of its day:
#   lastStartAt (S, ISO), lastStartEpoch (N, s), lastKey (S), startDay (S, YYYY-MM-DD, UTC),
#   startsToday (N). No TTL: it is the guard.
_GUARD_ATTRIBUTES: Final = ("lastStartAt", "lastStartEpoch", "lastKey", "startDay", "startsToday")


@dataclass(frozen=True)
class Reservation:
    """The outcome of `reserve`: reserved, or the reason not and what the state said."""

    reserved: bool
    reason: str | None
    details: dict[str, Any]
    epoch: int
    key: str
    previous: dict[str, Any] = field(default_factory=dict)
    """The guard attributes before the reservation (DynamoDB JSON), for `release`."""


def _epoch(now: datetime) -> int:
    return int(now.timestamp())


def _day(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _state_key(model: str) -> dict[str, Any]:
    return {
        settings.KEY_ATTRIBUTE: {"S": settings.model_pk(model)},
        settings.SORT_KEY_ATTRIBUTE: {"S": settings.STATE_SK},
    }


def _refusal(
    item: Mapping[str, Any], now: datetime, cooldown_hours: int, daily_cap: int
) -> tuple[str, dict[str, Any]] | None:
    """Why the state `item` refuses a start now (cooldown first), or None when it allows one;
    the same rules as the write's condition."""
    last_epoch = int(item["lastStartEpoch"]["N"]) if "lastStartEpoch" in item else None
    same_day = item.get("startDay", {}).get("S") == _day(now)
    starts = int(item["startsToday"]["N"]) if same_day and "startsToday" in item else 0
    cooling = last_epoch is not None and last_epoch > _epoch(now) - cooldown_hours * 3600
    capped = starts >= daily_cap
    if not (cooling or capped):
        return None
    allowed = []
    if last_epoch is not None and cooling:
        allowed.append(datetime.fromtimestamp(last_epoch, UTC) + timedelta(hours=cooldown_hours))
    if capped:
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        allowed.append(midnight + timedelta(days=1))
    details = {
        "lastStartAt": item.get("lastStartAt", {}).get("S"),
        "lastKey": item.get("lastKey", {}).get("S"),
        "startsToday": starts,
        "day": _day(now),
        "cooldownHours": cooldown_hours,
        "dailyCap": daily_cap,
        "nextAllowedAt": _iso(max(allowed)),
    }
    return (settings.REASON_COOLDOWN if cooling else settings.REASON_DAILY_CAP), details


def reserve(
    dynamodb: Any,
    table: str,
    model: str,
    key: str,
    now: datetime,
    *,
    cooldown_hours: int,
    daily_cap: int,
) -> Reservation:
    """Take a start for `model` now, if its cooldown is over and today's starts are below the
    cap, in one conditional UpdateItem of its state item: of concurrent callers, only as many
    as the rules allow succeed, whatever the interleaving.

    The write has two forms, for the two states the item can be in, with exclusive conditions:
    the first start of a UTC day (no item, or `startDay` before today: the count restarts at 1)
    and a further start the same day (the count goes up by 1, below the cap). The first form is
    tried; when its condition fails, DynamoDB returns the item as it was
    (ReturnValuesOnConditionCheckFailure), which either refuses the start (`cooldown`,
    `daily-cap`) or shows that the other form applies.
    """
    epoch = _epoch(now)
    values = {
        ":at": {"S": _iso(now)},
        ":epoch": {"N": str(epoch)},
        ":key": {"S": key},
        ":today": {"S": _day(now)},
        ":cutoff": {"N": str(epoch - cooldown_hours * 3600)},
        ":one": {"N": "1"},
    }
    cooled = "(attribute_not_exists(lastStartEpoch) OR lastStartEpoch <= :cutoff)"
    forms = {
        "first-today": (
            "SET lastStartAt = :at, lastStartEpoch = :epoch, lastKey = :key, "
            "startDay = :today, startsToday = :one",
            f"(attribute_not_exists(startDay) OR startDay <> :today) AND {cooled}",
            {},
        ),
        "again-today": (
            "SET lastStartAt = :at, lastStartEpoch = :epoch, lastKey = :key, "
            "startsToday = startsToday + :one",
            f"startDay = :today AND startsToday < :cap AND {cooled}",
            {":cap": {"N": str(daily_cap)}},
        ),
    }
    form = "first-today"
    for _ in range(RESERVE_ATTEMPTS):
        update, condition, extra = forms[form]
        try:
            answer = dynamodb.update_item(
                TableName=table,
                Key=_state_key(model),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues={**values, **extra},
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = exc.response.get("Item") or {}
            refusal = _refusal(item, now, cooldown_hours, daily_cap)
            if refusal is not None:
                reason, details = refusal
                return Reservation(False, reason, details, epoch, key)
            form = (
                "again-today" if item.get("startDay", {}).get("S") == _day(now) else "first-today"
            )
            continue
        old = answer.get("Attributes") or {}
        previous = {name: old[name] for name in _GUARD_ATTRIBUTES if name in old}
        day_starts = int(old["startsToday"]["N"]) + 1 if form == "again-today" else 1
        details = {
            "previousStartAt": old.get("lastStartAt", {}).get("S"),
            "startsToday": day_starts,
            "day": _day(now),
            "cooldownHours": cooldown_hours,
            "dailyCap": daily_cap,
        }
        return Reservation(True, None, details, epoch, key, previous)
    raise GuardError(
        f"the guard state of model {model} kept changing during {RESERVE_ATTEMPTS} conditional "
        "writes; retried with the event"
    )


def release(dynamodb: Any, table: str, model: str, reservation: Reservation) -> bool:
    """Give a reservation back: the guard attributes return to what they were, only while the
    reservation is still the latest (a conditional revert). False when a later start has taken
    its place (that one stands)."""
    sets, removes = [], []
    values: dict[str, Any] = {
        ":key": {"S": reservation.key},
        ":epoch": {"N": str(reservation.epoch)},
    }
    for index, name in enumerate(_GUARD_ATTRIBUTES):
        if name in reservation.previous:
            sets.append(f"{name} = :p{index}")
            values[f":p{index}"] = reservation.previous[name]
        else:
            removes.append(name)
    update = " ".join(
        part
        for part in (
            f"SET {', '.join(sets)}" if sets else "",
            f"REMOVE {', '.join(removes)}" if removes else "",
        )
        if part
    )
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_state_key(model),
            UpdateExpression=update,
            ConditionExpression="lastKey = :key AND lastStartEpoch = :epoch",
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
