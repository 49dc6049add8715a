"""The trigger's handler against moto: drift, alarms and requests, each guard, faults, duplicates.

GIVEN the account the component deploys (see conftest) and a clock at 2026-11-27T07:05:00Z,
WHEN the handler gets an event, THEN the pipeline executions moto holds, the audit items, the
model's guard state, what the topic's and the bus's subscribers receive and the EMF metrics
are exactly what the decision says.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import retrain_settings as settings
import trigger
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from botocore.stub import Stubber
from retrain_guards import GuardError

from tests.retrain_trigger.conftest import (
    ALARM,
    AUDIT_TTL_DAYS,
    BUDGET,
    DATA_URI,
    FRAUD_PIPELINE,
    NOW,
    PIPELINE,
    World,
    emf_metrics,
    load_event,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

DRIFT_KEY = "drift#churn/2026-11-27T06-00-00Z"
DRIFT_EVENT_ID = "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
REPORT_HTML = "s3://mlops-platform-prod-reports/drift/churn/2026-11-27T06-00-00Z/report.html"
ALARM_KEY = f"alarm#{ALARM}#2026-11-27T06:15:30.123+0000"
DRIFT_PARAMETERS = {
    "TriggerReason": "drift",
    "TriggerDetail": REPORT_HTML,
    "WindowEnd": "2026-11-27T06:00:00Z",
    "DataUri": DATA_URI,
}
ALL_NOTIFIED = {"audit": True, "sns": True, "events": True, "errors": []}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def drift() -> dict[str, Any]:
    return load_event("drift_detected.json")


def manual(request_id: str, **detail: Any) -> dict[str, Any]:
    """The manual request fixture with its own id (and fields replaced or, with None, removed)."""
    event = load_event("retraining_requested.json")
    event["id"] = f"event-{request_id}"
    merged = {**event["detail"], "requestId": request_id, **detail}
    event["detail"] = {k: v for k, v in merged.items() if v is not None}
    return event


def alarm(state: str = "ALARM", reason: str | None = None) -> dict[str, Any]:
    event = load_event("alarm_state_change.json")
    event["detail"]["state"]["value"] = state
    if reason is not None:
        event["detail"]["state"]["reason"] = reason
    return event


def without_notified(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "notified"}


def skip_of(answer: dict[str, Any]) -> tuple[str, str]:
    return answer["decision"], answer["reason"]


# ---- a drift event starts one execution ----------------------------------------------------------


def test_drift_event_starts_exactly_one_execution_with_its_parameters(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no run of churn yet, WHEN the drift check's DriftDetected arrives
    answer = world.invoke(drift())

    # THEN one execution of churn's pipeline started, with exactly these parameters, a token
    # derived from the idempotency key and a description naming the trigger
    (execution,) = world.executions()
    assert execution["parameters"] == [
        {"Name": name, "Value": value} for name, value in DRIFT_PARAMETERS.items()
    ]
    assert execution["token"] == sha256(DRIFT_KEY)
    assert len(execution["token"]) == 64
    assert execution["description"] == (
        f"Retraining started by the retrain trigger (drift): {DRIFT_KEY}. {REPORT_HTML}"
    )
    arn = execution["arn"]
    assert world.executions(FRAUD_PIPELINE) == []

    # AND the decision says so, every guard passed (the budget guard off)
    decision = {
        "schemaVersion": 1,
        "decision": "started",
        "reason": None,
        "model": "churn",
        "key": DRIFT_KEY,
        "message": f"Started execution {arn} of pipeline {PIPELINE} (drift).",
        "decidedAt": "2026-11-27T07:05:00.000Z",
        "event": {"id": DRIFT_EVENT_ID, "source": "mlops.drift", "detailType": "DriftDetected"},
        "trigger": "drift",
        "pipeline": PIPELINE,
        "parameters": DRIFT_PARAMETERS,
        "clientRequestToken": sha256(DRIFT_KEY),
        "guards": {"concurrency": "passed", "budget": "off", "reservation": "passed"},
        "details": {
            "reservation": {
                "previousStartAt": None,
                "startsToday": 1,
                "day": "2026-11-27",
                "cooldownHours": 6,
                "dailyCap": 2,
            }
        },
        "executionArn": arn,
    }
    assert answer == {**decision, "notified": ALL_NOTIFIED}

    # AND the audit item keeps it, under the model, sorted by time, expiring with the TTL
    (item,) = world.audit()
    assert item == {
        "pk": "model#churn",
        "sk": f"decision#2026-11-27T07:05:00.000Z#{sha256(DRIFT_KEY)[:8]}",
        "expiration": epoch("2026-11-27T07:05:00Z") + AUDIT_TTL_DAYS * 86_400,
        **decision,
    }
    # AND the model's guard state holds the start
    assert world.state() == {
        "pk": "model#churn",
        "sk": "state",
        "lastStartAt": "2026-11-27T07:05:00Z",
        "lastStartEpoch": epoch("2026-11-27T07:05:00Z"),
        "lastKey": DRIFT_KEY,
        "startDay": "2026-11-27",
        "startsToday": 1,
    }
    # AND the bus's subscriber got RetrainingStarted with the decision as its detail
    (event,) = world.bus_events()
    assert (event["source"], event["detail-type"]) == ("mlops.retraining", "RetrainingStarted")
    assert event["detail"] == decision
    # AND the topic's subscriber got the decision in words
    (note,) = world.published()
    assert note["Subject"] == "Retraining started: churn (drift)"
    assert note["Message"] == "\n".join(
        [
            f"Started execution {arn} of pipeline {PIPELINE} (drift).",
            "",
            "Decision:  started",
            "Model:     churn",
            "Trigger:   drift",
            f"Pipeline:  {PIPELINE}",
            f"Execution: {arn}",
            "",
            "Parameters:",
            "  TriggerReason = drift",
            f"  TriggerDetail = {REPORT_HTML}",
            "  WindowEnd = 2026-11-27T06:00:00Z",
            f"  DataUri = {DATA_URI}",
            "",
            "Guards:",
            "  concurrency: passed",
            "  budget: off",
            "  reservation: passed",
            "",
            "Details:",
            '  reservation: {"cooldownHours": 6, "dailyCap": 2, "day": "2026-11-27", '
            '"previousStartAt": null, "startsToday": 1}',
            "",
            f"Key:        {DRIFT_KEY}",
            f"Event:      mlops.drift DriftDetected {DRIFT_EVENT_ID}",
            "Decided at: 2026-11-27T07:05:00.000Z",
        ]
    )
    assert {k: v["Value"] for k, v in note["MessageAttributes"].items()} == {
        "model": "churn",
        "decision": "started",
    }
    # AND one metric counts the start, by model
    assert emf_metrics(capsys.readouterr().out) == [
        {
            "metric": "RetrainingStarted",
            "unit": "Count",
            "value": 1.0,
            "dimensions": {"model": "churn", "service": "retrain-trigger"},
        }
    ]


# ---- duplicates and concurrency ------------------------------------------------------------------


def test_duplicate_delivery_returns_the_first_decision_and_starts_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a drift event already decided
    first = world.invoke(drift())
    capsys.readouterr()
    # WHEN EventBridge delivers it again, three minutes later
    world.clock.advance(minutes=3)
    second = world.invoke(drift())
    # THEN the second delivery returns the first decision, and nothing else happens
    assert second == first
    assert len(world.executions()) == 1
    assert len(world.audit()) == 1
    assert len(world.bus_events()) == 1
    assert len(world.published()) == 1
    assert emf_metrics(capsys.readouterr().out) == []
    (record,) = world.idempotency_records()
    assert record["pk"] == settings.IDEMPOTENCY_PK
    assert record["sk"].startswith(f"{settings.IDEMPOTENCY_KEY_PREFIX}#")
    assert record["status"] == "COMPLETED"


def test_a_burst_of_20_concurrent_deliveries_starts_one_execution(world: World) -> None:
    # GIVEN the same drift event delivered 20 times at once (20 concurrent invocations)
    event = drift()
    barrier = threading.Barrier(20)

    def deliver(_: int) -> dict[str, Any] | IdempotencyAlreadyInProgressError:
        barrier.wait()
        try:
            return world.invoke(copy.deepcopy(event))
        except IdempotencyAlreadyInProgressError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(deliver, range(20)))

    # THEN exactly one execution started; every invocation returned that decision or was told
    # the event is in progress (Powertools' error: Lambda retries those)
    (execution,) = world.executions()
    decisions = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, IdempotencyAlreadyInProgressError)]
    assert len(decisions) + len(refused) == 20
    assert decisions
    assert all(d == decisions[0] for d in decisions)
    assert decisions[0]["decision"] == "started"
    assert decisions[0]["executionArn"] == execution["arn"]
    # AND the retries of the refused ones get the same decision, still one execution
    for _ in refused:
        assert world.invoke(copy.deepcopy(event)) == decisions[0]
    assert len(world.executions()) == 1
    assert len(world.audit()) == 1
    assert len(world.bus_events()) == 1
    assert len(world.published()) == 1


def test_two_different_events_at_once_start_one_execution(world: World) -> None:
    # GIVEN a drift event and a manual request for churn, arriving at the same moment
    events = [drift(), manual("ci-retrain-4711")]
    barrier = threading.Barrier(2)

    def deliver(event: dict[str, Any]) -> dict[str, Any]:
        barrier.wait()
        return world.invoke(event)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(deliver, events))

    # THEN one started and the other was skipped for the cooldown the first one began
    (execution,) = world.executions()
    started = [a for a in answers if a["decision"] == "started"]
    skipped = [a for a in answers if a["decision"] == "skipped"]
    assert (len(started), len(skipped)) == (1, 1)
    assert started[0]["executionArn"] == execution["arn"]
    assert skipped[0]["reason"] == "cooldown"
    assert skipped[0]["details"]["reservation"]["lastKey"] == started[0]["key"]
    assert skipped[0]["guards"] == {
        "concurrency": "passed",
        "budget": "off",
        "reservation": "cooldown",
    }
    assert world.state() is not None
    assert world.state()["startsToday"] == 1  # type: ignore[index]


# ---- cooldown, daily cap -------------------------------------------------------------------------


def test_cooldown_then_daily_cap_then_the_next_day(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN churn started at 07:05 (cooldown 6 hours, cap 2 a day)
    first = world.invoke(drift())
    assert first["decision"] == "started"
    world.bus_events()
    world.published()
    capsys.readouterr()

    # WHEN a request arrives one second before the cooldown ends
    world.clock.now = datetime(2026, 11, 27, 13, 4, 59, tzinfo=UTC)
    early = world.invoke(manual("early"))
    # THEN it is skipped for the cooldown, with the last start and when the next is allowed
    assert skip_of(early) == ("skipped", "cooldown")
    assert early["details"]["reservation"] == {
        "lastStartAt": "2026-11-27T07:05:00Z",
        "lastKey": DRIFT_KEY,
        "startsToday": 1,
        "day": "2026-11-27",
        "cooldownHours": 6,
        "dailyCap": 2,
        "nextAllowedAt": "2026-11-27T13:05:00Z",
    }
    assert early["message"] == (
        f"The last start (2026-11-27T07:05:00Z, {DRIFT_KEY}) is within the 6-hour cooldown; "
        "the next start is allowed from 2026-11-27T13:05:00Z."
    )
    assert early["executionArn"] is None
    assert len(world.executions()) == 1
    assert world.state()["lastKey"] == DRIFT_KEY  # type: ignore[index]
    # AND it is recorded, put, published and counted with its reason
    audited = world.audit()
    assert [(i["decision"], i["reason"]) for i in audited] == [
        ("started", None),
        ("skipped", "cooldown"),
    ]
    assert audited[1]["sk"] == f"decision#2026-11-27T13:04:59.000Z#{sha256('manual#early')[:8]}"
    (event,) = world.bus_events()
    assert (event["detail-type"], event["detail"]["reason"]) == ("RetrainingSkipped", "cooldown")
    assert event["detail"] == without_notified(early)
    (note,) = world.published()
    assert note["Subject"] == "Retraining skipped: churn (cooldown)"
    assert note["Message"].startswith(early["message"] + "\n")
    assert note["MessageAttributes"]["reason"]["Value"] == "cooldown"
    assert emf_metrics(capsys.readouterr().out) == [
        {
            "metric": "RetrainingSkipped",
            "unit": "Count",
            "value": 1.0,
            "dimensions": {"model": "churn", "reason": "cooldown", "service": "retrain-trigger"},
        }
    ]

    # WHEN the cooldown has just ended: the second start of the day
    world.clock.now = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)
    second = world.invoke(manual("on-time"))
    assert second["decision"] == "started"
    assert second["details"]["reservation"]["previousStartAt"] == "2026-11-27T07:05:00Z"
    assert second["details"]["reservation"]["startsToday"] == 2

    # WHEN another comes after that cooldown, the same day: the cap of 2 is reached
    world.clock.now = datetime(2026, 11, 27, 19, 5, tzinfo=UTC)
    capped = world.invoke(manual("capped"))
    assert skip_of(capped) == ("skipped", "daily-cap")
    assert capped["details"]["reservation"] == {
        "lastStartAt": "2026-11-27T13:05:00Z",
        "lastKey": "manual#on-time",
        "startsToday": 2,
        "day": "2026-11-27",
        "cooldownHours": 6,
        "dailyCap": 2,
        "nextAllowedAt": "2026-11-28T00:00:00Z",
    }
    assert capped["message"] == (
        "2 start(s) on 2026-11-27 (UTC) reached the daily cap of 2; the next start is allowed "
        "from 2026-11-28T00:00:00Z."
    )

    # WHEN the UTC day turns: the count starts again
    world.clock.now = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    next_day = world.invoke(manual("next-day"))
    assert next_day["decision"] == "started"
    assert len(world.executions()) == 3
    assert world.state() == {
        "pk": "model#churn",
        "sk": "state",
        "lastStartAt": "2026-11-28T00:00:00Z",
        "lastStartEpoch": epoch("2026-11-28T00:00:00Z"),
        "lastKey": "manual#next-day",
        "startDay": "2026-11-28",
        "startsToday": 1,
    }


def test_daily_cap_without_cooldown(world: World) -> None:
    # GIVEN no cooldown and a cap of 2
    world.set_env(**{settings.ENV_COOLDOWN_HOURS: "0"})
    # WHEN three requests arrive at the same second
    answers = [world.invoke(manual(f"request-{n}")) for n in range(3)]
    # THEN two start and the third is capped
    assert [skip_of(a) for a in answers] == [
        ("started", None),
        ("started", None),
        ("skipped", "daily-cap"),
    ]
    assert len(world.executions()) == 2
    assert world.state()["startsToday"] == 2  # type: ignore[index]


def test_guards_are_per_model(world: World) -> None:
    # GIVEN churn just started, WHEN fraud's alarm fires at once, THEN fraud starts too
    world.invoke(drift())
    event = alarm()
    event["detail"]["alarmName"] = "mlops-platform-prod-fraud-5xx"
    answer = world.invoke(event)
    assert (answer["decision"], answer["model"]) == ("started", "fraud")
    assert len(world.executions(FRAUD_PIPELINE)) == 1


# ---- a running execution -------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["Executing", "Stopping"])
def test_running_execution_skips(world: World, status: str) -> None:
    # GIVEN an execution of churn's pipeline still running (started by a person)
    running = world.running(status)
    # WHEN drift is detected
    answer = world.invoke(drift())
    # THEN nothing starts: skipped, naming the running execution; no reservation taken
    assert skip_of(answer) == ("skipped", "execution-running")
    assert answer["executionArn"] == running
    assert answer["message"] == (
        f"Execution {running} of pipeline {PIPELINE} is {status}: one execution per model at a "
        "time."
    )
    assert answer["guards"] == {"concurrency": "execution-running"}
    found = answer["details"]["runningExecution"]
    assert (found["executionArn"], found["status"]) == (running, status)
    assert [e["arn"] for e in world.executions()] == [running]
    assert world.state() is None
    (item,) = world.audit()
    assert (item["reason"], item["executionArn"]) == ("execution-running", running)


# ---- the budget ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "forecast", "exceeded", "spent"),
    [
        ("900", None, ["actual"], "actual 900 USD"),
        ("400", "1200", ["forecast"], "forecast 1200 USD"),
        ("950", "1100.5", ["actual", "forecast"], "actual 950 USD, forecast 1100.5 USD"),
    ],
)
def test_over_budget_skips_and_notifies_with_the_numbers(
    world: World, actual: str, forecast: str | None, exceeded: list[str], spent: str
) -> None:
    # GIVEN a 1000 USD budget whose actual or forecast spend reached 90 % of the limit
    world.with_budget(limit="1000", actual=actual, forecast=forecast)
    # WHEN drift is detected
    answer = world.invoke(drift())
    # THEN nothing starts and no reservation is taken
    assert skip_of(answer) == ("skipped", "over-budget")
    assert world.executions() == []
    assert world.state() is None
    assert answer["guards"] == {"concurrency": "passed", "budget": "over-budget"}
    assert answer["details"]["budget"] == {
        "name": BUDGET,
        "limit": 1000.0,
        "actual": float(actual),
        "forecast": None if forecast is None else float(forecast),
        "unit": "USD",
        "maxShare": 0.9,
        "threshold": 900.0,
        "exceeded": exceeded,
    }
    assert answer["message"] == (
        f"Budget {BUDGET}: {spent} reached 0.9 of the 1000 USD limit (900.0 USD)."
    )
    # AND the topic is told, with the numbers
    (note,) = world.published()
    assert note["Subject"] == "Retraining skipped: churn (over-budget)"
    assert answer["message"] in note["Message"]
    assert '"threshold": 900.0' in note["Message"]


def test_within_budget_starts_and_records_the_reading(world: World) -> None:
    world.with_budget(limit="1000", actual="899.99", forecast="899.99")
    answer = world.invoke(drift())
    assert answer["decision"] == "started"
    assert answer["guards"]["budget"] == "passed"
    assert answer["details"]["budget"]["exceeded"] == []
    assert len(world.executions()) == 1


def test_unreadable_budget_fails_closed_and_notifies(world: World) -> None:
    # GIVEN the guard on, naming a budget that cannot be read
    world.set_env(**{settings.ENV_BUDGET_NAME: "mlops-platform-prod-deleted"})
    # WHEN drift is detected
    answer = world.invoke(drift())
    # THEN nothing starts: the budget is unknown
    assert skip_of(answer) == ("skipped", "budget-unknown")
    assert world.executions() == []
    error = (
        "DescribeBudget failed: NotFoundException: Unable to get budget: "
        "mlops-platform-prod-deleted - the budget doesn't exist."
    )
    assert answer["details"]["budget"] == {"name": "mlops-platform-prod-deleted", "error": error}
    assert answer["message"] == (
        f"Budget mlops-platform-prod-deleted could not be read ({error}): no retraining "
        "without a known budget."
    )
    (note,) = world.published()
    assert note["Subject"] == "Retraining skipped: churn (budget-unknown)"


def test_budget_without_a_spend_figure_is_unknown(world: World) -> None:
    # GIVEN a budget AWS has not calculated yet (no CalculatedSpend), read through a stub
    world.set_env(**{settings.ENV_BUDGET_NAME: BUDGET})
    with Stubber(world.clients.budgets) as stub:
        stub.add_response(
            "describe_budget",
            {
                "Budget": {
                    "BudgetName": BUDGET,
                    "BudgetLimit": {"Amount": "1000", "Unit": "USD"},
                    "TimeUnit": "MONTHLY",
                    "BudgetType": "COST",
                }
            },
            {"AccountId": "123456789012", "BudgetName": BUDGET},
        )
        answer = world.invoke(drift())
    assert skip_of(answer) == ("skipped", "budget-unknown")
    assert answer["details"]["budget"]["error"] == f"budget {BUDGET} has no actual spend"


# ---- faults --------------------------------------------------------------------------------------


def test_throttled_start_is_retried_then_released_recorded_and_raised(
    world: World, no_backoff: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN SageMaker throttles every StartPipelineExecution attempt
    attempts = world.fail_start([(400, "ThrottlingException")] * 5)
    # WHEN drift is detected
    with pytest.raises(trigger.StartFailedError) as raised:
        world.invoke(drift())
    # THEN the client tried 5 times (standard retry mode: 4 retries, backoff computed each time)
    assert len(attempts) == 5
    assert len(no_backoff) == 4
    error = (
        "StartPipelineExecution failed: ThrottlingException: ThrottlingException (injected) "
        "(after 4 retries)"
    )
    assert str(raised.value) == f"retraining of churn ({DRIFT_KEY}) not started: {error}"
    # AND nothing started, the reservation was released (no start before: nothing is left)
    assert world.executions() == []
    assert world.state() == {"pk": "model#churn", "sk": "state"}
    # AND the failure is recorded, put and published, and counted
    (item,) = world.audit()
    assert (item["decision"], item["reason"]) == ("failed", "start-failed")
    assert item["details"]["error"] == error
    assert item["details"]["reservation"]["released"] is True
    assert item["message"] == (
        f"{error}. The reservation was released; the event is retried, then kept in the "
        "dead-letter queue."
    )
    (event,) = world.bus_events()
    assert (event["detail-type"], event["detail"]["decision"]) == ("RetrainingSkipped", "failed")
    (note,) = world.published()
    assert note["Subject"] == "Retraining failed to start: churn (start-failed)"
    assert [m["metric"] for m in emf_metrics(capsys.readouterr().out)] == ["RetrainingFailed"]
    # AND no idempotency record is left, so Lambda's retry decides again, and starts
    assert world.idempotency_records() == []
    world.clock.advance(minutes=1)
    retried = world.invoke(drift())
    assert retried["decision"] == "started"
    assert len(attempts) == 6
    (execution,) = world.executions()
    assert execution["token"] == sha256(DRIFT_KEY)


def test_5xx_then_success_is_retried_by_the_client(world: World) -> None:
    # GIVEN two 5xx answers, then SageMaker answers
    attempts = world.fail_start([(503, "ServiceUnavailable"), (500, "InternalFailure")])
    # WHEN drift is detected THEN it starts, on the third attempt
    answer = world.invoke(drift())
    assert answer["decision"] == "started"
    assert len(attempts) == 3
    assert len(world.executions()) == 1


def test_failed_start_restores_the_previous_start(world: World) -> None:
    # GIVEN churn started yesterday
    world.clock.now = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    world.invoke(manual("yesterday"))
    before = world.state()
    # WHEN today's start fails with 5xx on every attempt
    world.clock.now = NOW
    attempts = world.fail_start([(503, "ServiceUnavailable")] * 5)
    with pytest.raises(trigger.StartFailedError, match="ServiceUnavailable"):
        world.invoke(drift())
    # THEN the guard state is yesterday's again, exactly: a later event may start
    assert len(attempts) == 5
    assert world.state() == before
    assert before is not None
    assert (before["lastKey"], before["startDay"]) == ("manual#yesterday", "2026-11-26")
    world.fail_start([])
    assert world.invoke(manual("later"))["decision"] == "started"


def test_executions_that_cannot_be_listed_fail_the_invocation_before_anything(
    world: World,
) -> None:
    # GIVEN ListPipelineExecutions denied (what the client's retries end with: a Stubber error)
    with Stubber(world.clients.sagemaker) as stub:
        stub.add_client_error(
            "list_pipeline_executions",
            service_error_code="AccessDeniedException",
            service_message="not authorized to perform: sagemaker:ListPipelineExecutions",
            http_status_code=400,
        )
        # WHEN drift is detected THEN the invocation fails, to be retried: nothing decided
        with pytest.raises(GuardError) as raised:
            world.invoke(drift())
    assert str(raised.value) == (
        f"cannot list the executions of {PIPELINE}: ListPipelineExecutions failed: "
        "AccessDeniedException: not authorized to perform: sagemaker:ListPipelineExecutions"
    )
    assert world.executions() == []
    assert world.audit() == []
    assert world.state() is None
    assert world.idempotency_records() == []
    assert world.published() == []


def test_a_refused_publish_or_put_does_not_hide_the_decision(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the topic's key refuses SNS and PutEvents refuses the entry
    with Stubber(world.clients.sns) as sns, Stubber(world.clients.events) as events:
        sns.add_client_error(
            "publish",
            service_error_code="KMSAccessDenied",
            service_message="key policy denies sns",
            http_status_code=400,
        )
        events.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
            },
        )
        # WHEN drift is detected
        answer = world.invoke(drift())
    # THEN the execution started and is recorded; the failures are listed and logged
    assert answer["decision"] == "started"
    assert len(world.executions()) == 1
    assert len(world.audit()) == 1
    assert answer["notified"] == {
        "audit": True,
        "sns": False,
        "events": False,
        "errors": [
            "SNS: Publish failed: KMSAccessDenied: key policy denies sns",
            "EventBridge: PutEvents refused the entry: InternalFailure try again",
        ],
    }
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["could not publish the decision", "could not put the decision event"]


# ---- alarms and manual requests ------------------------------------------------------------------


def test_firing_alarm_starts_with_the_alarm_as_trigger(world: World) -> None:
    event = alarm()
    answer = world.invoke(event)
    assert answer["decision"] == "started"
    assert answer["key"] == ALARM_KEY
    reason = event["detail"]["state"]["reason"]
    assert answer["parameters"] == {
        "TriggerReason": "alarm",
        "TriggerDetail": f"{ALARM}: {reason}",
        "WindowEnd": "2026-11-27T06:15:30Z",
        "DataUri": DATA_URI,
    }
    (execution,) = world.executions()
    assert execution["token"] == sha256(ALARM_KEY)


def test_alarm_reason_is_truncated_to_the_parameter_limit(world: World) -> None:
    reason = "Threshold Crossed: " + "412.5 (27/11/26 06:14:00), " * 80
    answer = world.invoke(alarm(reason=reason))
    detail = answer["parameters"]["TriggerDetail"]
    assert len(detail) == 1024
    assert detail == f"{ALARM}: {reason}"[:1021] + "..."
    (execution,) = world.executions()
    assert {"Name": "TriggerDetail", "Value": detail} in execution["parameters"]


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_alarm_not_firing_is_skipped(world: World, state: str) -> None:
    answer = world.invoke(alarm(state))
    assert skip_of(answer) == ("skipped", "alarm-not-firing")
    assert answer["message"] == f"Alarm state is {state}, not ALARM: nothing to do."
    assert answer["guards"] == {}
    assert world.executions() == []
    assert world.state() is None
    assert len(world.audit()) == 1


def test_manual_request_passes_its_reason_window_and_data(world: World) -> None:
    answer = world.invoke(
        manual("ci-retrain-4712", dataUri="s3://mlops-platform-prod-curated/churn/backfill/")
    )
    assert answer["key"] == "manual#ci-retrain-4712"
    assert answer["parameters"] == {
        "TriggerReason": "manual",
        "TriggerDetail": "github-actions/retrain.yml#4711: November's labelled data landed",
        "WindowEnd": "2026-11-27T00:00:00Z",
        "DataUri": "s3://mlops-platform-prod-curated/churn/backfill/",
    }


def test_manual_request_defaults_to_now_and_the_models_data(world: World) -> None:
    answer = world.invoke(manual("ci-retrain-4713", windowEnd=None))
    assert answer["parameters"]["WindowEnd"] == "2026-11-27T07:05:00Z"
    assert answer["parameters"]["DataUri"] == DATA_URI


# ---- refused events ------------------------------------------------------------------------------


def _mutated(fixture: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    event = load_event(fixture)
    target = event
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return event


_DELETE = object()
ACCEPTED = (
    "accepted: DriftDetected (source mlops.drift), CloudWatch Alarm State Change (source "
    "aws.cloudwatch), RetrainingRequested (source mlops.retraining), SageMaker Model Package "
    "State Change (source aws.sagemaker); see lambdas/retrain_trigger/README.md"
)
REQUEST = "RetrainingRequested event (source mlops.retraining, id '0d5e8f62-3c1b-4a97-b2e4-6f1a9c7d8e20') refused"  # noqa: E501


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([1, 2], f"the event is a JSON list, not an object; {ACCEPTED}"),
        (
            {"endpoints": "all"},
            "an event with keys ['endpoints'] and no source or detail-type is not an "
            f"EventBridge event; {ACCEPTED}",
        ),
        (
            {"source": "aws.s3", "detail-type": "Object Created", "detail": {}},
            "an event with source 'aws.s3' and detail-type 'Object Created' is not one the "
            f"retraining trigger accepts; {ACCEPTED}",
        ),
        (
            _mutated("drift_detected.json", ("detail", "check_id"), _DELETE),
            "DriftDetected event (source mlops.drift, id '7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b') "
            "refused: detail.check_id: required, missing",
        ),
        (
            _mutated("drift_detected.json", ("detail", "report", "html"), "/tmp/report.html"),
            "DriftDetected event (source mlops.drift, id '7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b') "
            "refused: detail.report.html: '/tmp/report.html' is not an S3 URI "
            "(s3://<bucket>/<prefix>)",
        ),
        (
            _mutated("retraining_requested.json", ("detail", "requestId"), "run 12/x"),
            f"{REQUEST}: detail.requestId: 'run 12/x' is not a request id (1 to 128 letters, "
            "digits, '.', '_', ':' or '-', starting with a letter or digit)",
        ),
        (
            _mutated("retraining_requested.json", ("detail", "reason"), "x" * 257),
            f"{REQUEST}: detail.reason: String should have at most 256 characters (got "
            f"'{'x' * 76}...)",
        ),
        (
            _mutated("retraining_requested.json", ("detail", "priority"), "high"),
            f"{REQUEST}: detail.priority: Extra inputs are not permitted (got 'high')",
        ),
        (
            _mutated("retraining_requested.json", ("detail", "windowEnd"), "2026-11-27T00:00:00"),
            f"{REQUEST}: detail.windowEnd: Input should have timezone info (got "
            "'2026-11-27T00:00:00')",
        ),
        (
            _mutated("retraining_requested.json", ("detail", "model"), "Churn_v2"),
            f"{REQUEST}: detail.model: 'Churn_v2' is not a model name (1 to 40 lowercase "
            "letters, digits and inner hyphens, starting with a letter)",
        ),
        (
            _mutated("retraining_requested.json", ("detail", "requestedBy"), _DELETE),
            f"{REQUEST}: detail.requestedBy: required, missing",
        ),
        (
            # SageMaker's versions are 32-bit; a larger one is no version it gave
            _mutated("model_package_approved.json", ("detail", "ModelPackageVersion"), 2**31),
            "SageMaker Model Package State Change event (source aws.sagemaker, id "
            "'a1b2c3d4-1111-2222-3333-444455556666') refused: detail.ModelPackageVersion: Input "
            "should be less than or equal to 2147483647 (got 2147483648)",
        ),
        (
            _mutated("alarm_state_change.json", ("detail", "state", "timestamp"), "yesterday"),
            "CloudWatch Alarm State Change event (source aws.cloudwatch, id "
            "'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92') refused: detail.state.timestamp: Input "
            "should be a valid datetime or date, input is too short (got 'yesterday')",
        ),
    ],
)
def test_malformed_events_are_refused_and_start_nothing(
    world: World, event: Any, message: str
) -> None:
    with pytest.raises(trigger.BadEventError) as raised:
        world.invoke(event)
    assert str(raised.value) == message
    assert world.executions() == []
    assert world.audit() == []
    assert world.idempotency_records() == []
    assert world.published() == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            _mutated("drift_detected.json", ("detail", "model"), "pricing"),
            "model 'pricing' of the DriftDetected event is not one the trigger retrains; "
            "configured models (RETRAIN_MODELS): churn, fraud",
        ),
        (
            _mutated("retraining_requested.json", ("detail", "model"), "pricing"),
            "model 'pricing' of the RetrainingRequested event is not one the trigger retrains; "
            "configured models (RETRAIN_MODELS): churn, fraud",
        ),
        (
            _mutated("alarm_state_change.json", ("detail", "alarmName"), "billing-alarm"),
            "alarm 'billing-alarm' (detail.alarmName) is not one of a model's alarms in "
            "RETRAIN_MODELS "
            "(mlops-platform-prod-churn-model-latency, mlops-platform-prod-fraud-5xx)",
        ),
    ],
)
def test_unknown_model_or_alarm_is_an_error(world: World, event: Any, message: str) -> None:
    with pytest.raises(trigger.BadEventError) as raised:
        world.invoke(event)
    assert str(raised.value) == message
    assert world.executions() == []
    assert world.audit() == []
