"""The closed loop end to end, offline: drift check -> DriftDetected -> trigger -> pipeline.

Everything runs through `loop.harness.ClosedLoop`: the `dev` plan (the real program under
Pulumi's mocks), moto's server with IAM enforcement on, each function in its own processes with
its plan environment and its role's credentials, the role holding only the policy the plan
rendered. A call a role does not allow fails the step (`PermissionGapError`), even when the
handler only logs it (see `loop/iam.py` for what is evaluated, and what moto alone would not).

moto's EventBridge cannot invoke Lambda targets: the plan's `retraining-drift` rule is created
with its pattern on the platform bus and an SQS queue as its target; the event the drift check
put is taken from that queue and delivered to the trigger, as EventBridge's asynchronous
invocation would (`ClosedLoop.deliver_async` keeps Lambda's two retries).

The (action, statement Sid) pairs each role's calls used are pinned in tests/e2e/role_uses.py
(`LAMBDA_USES`: `closed-loop`, and `start-failed` for the trigger's DeleteItem).

Where moto differs from AWS and the harness closes the gap: DynamoDB conditional writes are
serialized (as DynamoDB applies each atomically), executions are set `Executing` by hand
(moto finishes them at once), throttling and 5xx are answered at the server, below the client's
retries, and the target's event template asks for `account`, which moto's default leaves out.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import retrain_settings as settings
from botocore.exceptions import ClientError
from mlops_drift import settings as drift_settings

from loop.harness import ClosedLoop, PermissionGapError, Window
from loop.stack import DRIFT_POLICY, TRIGGER_POLICY, LoopPlan
from tests.e2e.role_uses import assert_uses

DRIFT_ACTIONS = {
    "s3:GetObject",
    "s3:ListBucket",
    "s3:PutObject",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "events:PutEvents",
}
TRIGGER_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "sagemaker:ListPipelineExecutions",
    "sagemaker:StartPipelineExecution",
    "sns:Publish",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "events:PutEvents",
}
START = "sagemaker:StartPipelineExecution"


def drifted(loop: ClosedLoop, window: Window | None = None) -> tuple[Window, dict[str, Any]]:
    """A drifted window checked by the drift function, and the DriftDetected event the plan's
    rule routed (taken from the queue standing in for the trigger)."""
    window = window or loop.write_window(drifted=True)
    loop.run_drift_check(window).expect()
    routed = loop.routed()
    assert [e["detail-type"] for e in routed] == [settings.DRIFT_DETAIL_TYPE]
    return window, routed[0]


def another(event: dict[str, Any], n: int) -> dict[str, Any]:
    """The same drift, reported by another check (another id and check_id)."""
    copied = copy.deepcopy(event)
    copied["id"] = str(uuid.uuid4())
    copied["detail"]["check_id"] = f"{event['detail']['check_id']}-{n}"
    return copied


# ---- the loop closes -----------------------------------------------------------------------------


def test_drift_starts_exactly_one_retraining_with_the_plans_policies(loop: ClosedLoop) -> None:
    plan = loop.plan
    reports = plan.drift.environment[drift_settings.ENV_REPORTS_BUCKET]
    curated = plan.buckets["curated"]

    # GIVEN a window of drifted capture behind the monitored endpoint, and its baseline
    window = loop.write_window(drifted=True)

    # WHEN the schedule runs the drift check with the plan's input
    check = loop.run_drift_check(window).expect()

    # THEN it finds drift and writes the report where the trigger will point to it
    stamp = window.end.strftime("%Y-%m-%dT%H-%M-%SZ")
    html = f"s3://{reports}/{drift_settings.report_prefix(plan.model, stamp)}report.html"
    assert check["drift"] is True
    assert check["rows"] == window.records
    assert check["report"]["html"] == html
    assert check["events"] == ["DriftCheckCompleted", "DriftDetected"]

    # AND the plan's rule (its pattern, on the platform bus) routes only DriftDetected
    (event,) = loop.routed()
    assert event["source"] == drift_settings.EVENT_SOURCE
    assert event["detail-type"] == settings.DRIFT_DETAIL_TYPE
    assert event["account"] == plan.account
    assert event["detail"]["window"]["end"] == window.end_iso
    assert set(event["detail"]["drifted_features"]) >= {"tenure", "monthly_charges", "contract"}

    # WHEN EventBridge delivers it to the trigger
    decision = loop.deliver(event).expect()

    # THEN exactly one execution of the training pipeline started, with the drift's parameters
    (execution,) = loop.executions()
    assert decision["decision"] == settings.DECISION_STARTED
    assert decision["executionArn"] == execution.arn
    assert execution.parameters == {
        "TriggerReason": "drift",
        "TriggerDetail": html,
        "WindowEnd": window.end_iso,
        "DataUri": f"s3://{curated}/{plan.model}/training/",
    }
    # ... all of them parameters the rendered pipeline definition declares
    assert set(execution.parameters) <= set(plan.pipeline.parameters())
    assert f"drift#{event['detail']['check_id']}" in execution.description

    # AND the decision is audited, put on the bus and published
    (audit,) = loop.audit()
    assert audit["decision"] == settings.DECISION_STARTED
    assert audit["executionArn"] == execution.arn
    assert audit["parameters"] == execution.parameters
    budget = "passed" if settings.ENV_BUDGET_NAME in plan.trigger.environment else "off"
    assert audit["guards"] == {"concurrency": "passed", "budget": budget, "reservation": "passed"}
    assert audit["event"] == {
        "id": event["id"],
        "source": drift_settings.EVENT_SOURCE,
        "detailType": settings.DRIFT_DETAIL_TYPE,
    }
    (started_event,) = loop.decision_events()
    assert started_event["detail-type"] == settings.EVENT_STARTED
    assert started_event["detail"]["executionArn"] == execution.arn
    (notification,) = loop.notifications()
    assert notification["Subject"] == f"Retraining started: {plan.model} (drift)"

    # AND every call of both functions was allowed by its role's policy, and these were used
    assert loop.server.enforcement.gaps() == []
    assert {d.action for d in loop.decisions(loop.drift)} == DRIFT_ACTIONS
    budget_reads = {"budgets:ViewBudget"} if budget == "passed" else set()
    assert {d.action for d in loop.decisions(loop.trigger)} == TRIGGER_ACTIONS | budget_reads
    # ... each by exactly the statements pinned for it (tests/e2e/role_uses.py)
    assert_uses((plan.stack, DRIFT_POLICY, "closed-loop"), loop.decisions(loop.drift))
    assert_uses((plan.stack, TRIGGER_POLICY, "closed-loop"), loop.decisions(loop.trigger))
    via = {
        (d.action, d.via)
        for d in loop.decisions(loop.drift) + loop.decisions(loop.trigger)
        if d.via
    }
    assert via == {
        ("kms:Decrypt", "s3"),
        ("kms:GenerateDataKey", "s3"),
        ("kms:GenerateDataKey", "sns"),
        ("kms:Decrypt", "sns"),
    }


def test_a_role_can_do_nothing_its_plan_policy_does_not_grant(loop: ClosedLoop) -> None:
    plan = loop.plan
    capture = plan.drift.environment[drift_settings.ENV_CAPTURE_BUCKET]
    window = loop.write_window(drifted=True)

    # GIVEN clients with each role's credentials
    trigger_s3 = loop.as_function(plan.trigger, "s3")
    drift_sagemaker = loop.as_function(plan.drift, "sagemaker")
    drift_s3 = loop.as_function(plan.drift, "s3")

    # WHEN they step outside their policies, THEN AWS's answer is AccessDenied
    with pytest.raises(ClientError, match="AccessDenied"):
        trigger_s3.get_object(Bucket=capture, Key=window.keys[0])
    with pytest.raises(ClientError, match="AccessDenied"):
        drift_sagemaker.start_pipeline_execution(PipelineName=plan.pipeline.name)
    # ... the ListBucket statement's s3:prefix condition is evaluated: no prefix, no listing
    with pytest.raises(ClientError, match="AccessDenied"):
        drift_s3.list_objects_v2(Bucket=capture)
    assert (
        drift_s3.list_objects_v2(Bucket=capture, Prefix=window.keys[0].rsplit("/", 1)[0])[
            "KeyCount"
        ]
        == len(window.keys) // window.hours
    )
    denied = {(d.action, d.resource) for d in loop.server.enforcement.gaps("loop-probe")}
    assert denied == {
        ("s3:GetObject", f"arn:aws:s3:::{capture}/{window.keys[0]}"),
        ("kms:Decrypt", plan.kms_key_arn),  # the object's key, through S3: not the trigger's
        (START, f"arn:aws:sagemaker:{plan.region}:{plan.account}:pipeline/{plan.pipeline.name}"),
        ("s3:ListBucket", f"arn:aws:s3:::{capture}"),
    }


def test_a_permission_missing_from_the_plan_fails_the_loop(loop: ClosedLoop) -> None:
    plan = loop.plan
    _, event = drifted(loop)

    # GIVEN the trigger's role policy as rendered, without sns:Publish
    document = json.loads(plan.trigger.policy)
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "Notify"]
    loop.client("iam").put_role_policy(
        RoleName=plan.trigger.role_name,
        PolicyName=plan.trigger.policy_name,
        PolicyDocument=json.dumps(document),
    )

    # WHEN the drift event is delivered
    with pytest.raises(PermissionGapError) as raised:
        loop.deliver(event)

    # THEN the loop fails naming the call, although the handler only logged the refused publish
    (gap,) = raised.value.denied
    assert (gap.action, gap.resource) == ("sns:Publish", plan.topic_arn)
    assert "no identity-based policy allows the sns:Publish action" in str(raised.value)
    assert len(loop.executions()) == 1


# ---- once per event ------------------------------------------------------------------------------


def test_a_duplicate_delivery_returns_the_first_decision_and_starts_nothing(
    loop: ClosedLoop,
) -> None:
    # GIVEN a drift event the trigger has acted on
    _, event = drifted(loop)
    first = loop.deliver(event).expect()
    loop.decision_events()

    # WHEN EventBridge delivers it again
    again = loop.deliver(event).expect()

    # THEN the recorded decision comes back, and nothing else happens
    assert again["decision"] == settings.DECISION_STARTED
    assert again["executionArn"] == first["executionArn"]
    assert again["decidedAt"] == first["decidedAt"]
    assert len(loop.executions()) == 1
    assert len(loop.audit()) == 1
    assert loop.decision_events() == []
    assert [d.action for d in loop.decisions(loop.trigger)].count(START) == 1
    assert loop.server.enforcement.gaps() == []


def test_a_burst_of_20_concurrent_deliveries_of_one_event_starts_one_execution(
    loop: ClosedLoop,
) -> None:
    # GIVEN the drift event and the trigger's reserved concurrency of warm environments
    _, event = drifted(loop)
    warm = loop.trigger.warm()
    assert warm == loop.plan.trigger.reserved_concurrency

    # WHEN it is delivered 20 times at once (Lambda retrying what fails)
    deliveries = loop.deliver_async([event] * 20)

    # THEN one execution, and every delivery ends with that decision; nothing dead-lettered
    (execution,) = loop.executions()
    assert [d.dead_lettered for d in deliveries] == [False] * 20
    assert {d.final.result["executionArn"] for d in deliveries} == {execution.arn}
    assert {d.final.result["decision"] for d in deliveries} == {settings.DECISION_STARTED}
    # ... a delivery that met the first one in progress failed and was retried
    retried = {a.error_type for d in deliveries for a in d.attempts if not a.ok}
    assert retried <= {"IdempotencyAlreadyInProgressError"}
    assert len(loop.audit()) == 1
    assert [e["detail-type"] for e in loop.decision_events()] == [settings.EVENT_STARTED]


def test_a_burst_of_20_distinct_drift_events_starts_one_execution(loop: ClosedLoop) -> None:
    # GIVEN 20 drift events of the model (20 checks), all at once
    _, event = drifted(loop)
    loop.trigger.warm()

    # WHEN they are delivered concurrently
    deliveries = loop.deliver_async([another(event, n) for n in range(20)])

    # THEN the cooldown's reservation (one conditional write) lets exactly one start
    decisions = sorted((d.final.result["decision"], d.final.result["reason"]) for d in deliveries)
    assert decisions == [("skipped", settings.REASON_COOLDOWN)] * 19 + [("started", None)]
    assert len(loop.executions()) == 1
    assert sorted(a["decision"] for a in loop.audit()) == ["skipped"] * 19 + ["started"]


# ---- the guards ----------------------------------------------------------------------------------


def test_a_second_drift_within_the_cooldown_is_skipped_and_recorded(loop: ClosedLoop) -> None:
    # GIVEN a retraining started for the current window
    window, event = drifted(loop)
    first = loop.deliver(event).expect()

    # WHEN the previous window's check also reports drift (a late re-run)
    previous = loop.write_window(window.end - timedelta(hours=window.hours), seed=900)
    _, late = drifted(loop, previous)
    decision = loop.deliver(late).expect()

    # THEN it is skipped for the cooldown, with the reason in the audit item
    assert (decision["decision"], decision["reason"]) == ("skipped", settings.REASON_COOLDOWN)
    assert len(loop.executions()) == 1
    audit = loop.audit()[-1]
    assert audit["reason"] == settings.REASON_COOLDOWN
    assert audit["guards"]["reservation"] == settings.REASON_COOLDOWN
    reservation = audit["details"]["reservation"]
    assert reservation["lastKey"] == first["key"]
    assert reservation["cooldownHours"] == int(
        loop.plan.trigger.environment[settings.ENV_COOLDOWN_HOURS]
    )
    assert "cooldown" in audit["message"]
    assert [e["detail-type"] for e in loop.decision_events()] == [
        settings.EVENT_STARTED,
        settings.EVENT_SKIPPED,
    ]


def test_a_running_execution_skips_the_start(loop: ClosedLoop) -> None:
    # GIVEN an execution of the training pipeline still running (started by a person)
    running = loop.start_execution_by_hand("Executing")
    _, event = drifted(loop)

    # WHEN the drift event arrives
    decision = loop.deliver(event).expect()

    # THEN it is skipped, naming the running execution; nothing was started
    assert (decision["decision"], decision["reason"]) == (
        "skipped",
        settings.REASON_EXECUTION_RUNNING,
    )
    assert decision["executionArn"] == running
    assert [e.arn for e in loop.executions()] == [running]
    (audit,) = loop.audit()
    assert audit["details"]["runningExecution"]["executionArn"] == running
    assert loop.guard_state() is None


def test_over_budget_skips_and_notifies(budget_plan: LoopPlan) -> None:
    limit = budget_plan.budget_limit_usd
    assert limit is not None
    name = budget_plan.trigger.environment[settings.ENV_BUDGET_NAME]

    # GIVEN the stack's budget spent past its limit (the plan's max share of it)
    with ClosedLoop(budget_plan, spend_usd=limit * 1.1) as loop:
        _, event = drifted(loop)

        # WHEN the drift event arrives
        decision = loop.deliver(event).expect()

        # THEN it is skipped over budget, the topic told, nothing started
        assert (decision["decision"], decision["reason"]) == (
            "skipped",
            settings.REASON_OVER_BUDGET,
        )
        assert loop.executions() == []
        (audit,) = loop.audit()
        assert audit["guards"]["budget"] == settings.REASON_OVER_BUDGET
        assert audit["details"]["budget"]["limit"] == pytest.approx(limit)
        (notification,) = loop.notifications()
        assert notification["Subject"] == f"Retraining skipped: {budget_plan.model} (over-budget)"
        # ... read with the permission the plan grants for exactly this budget
        (viewed,) = [d for d in loop.decisions(loop.trigger) if d.action == "budgets:ViewBudget"]
        assert viewed.resource == f"arn:aws:budgets::{budget_plan.account}:budget/{name}"
        assert viewed.allowed
        assert loop.server.enforcement.gaps() == []


# ---- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "ThrottlingException"), (500, "InternalFailure")],
    ids=["throttling", "5xx"],
)
def test_sagemaker_failing_every_attempt_releases_the_reservation_and_loses_nothing(
    loop: ClosedLoop, status: int, code: str
) -> None:
    # GIVEN SageMaker answering the next 5 StartPipelineExecution attempts with an error
    _, event = drifted(loop)
    loop.inject(START, [(status, code)] * 5)

    # WHEN EventBridge delivers the drift event
    first = loop.deliver(event)

    # THEN the client tried 5 times (standard retry mode), then the invocation raised
    assert (first.ok, first.error_type) == (False, "StartFailedError")
    assert code in str(first.error_message)
    assert loop.attempts(START) == 5
    assert loop.executions() == []
    # ... the reservation was given back, and the failure recorded, put and published
    state = loop.guard_state()
    assert state is not None
    assert "lastKey" not in state
    assert "startsToday" not in state
    (failed,) = loop.audit()
    assert (failed["decision"], failed["reason"]) == ("failed", settings.REASON_START_FAILED)
    assert failed["details"]["reservation"]["released"] is True
    assert code in failed["details"]["error"]
    assert [e["detail"]["decision"] for e in loop.decision_events()] == ["failed"]
    (notification,) = loop.notifications()
    assert (
        notification["Subject"] == f"Retraining failed to start: {loop.plan.model} (start-failed)"
    )

    # WHEN Lambda retries the invocation (no idempotency record was kept for a raised decision)
    retry = loop.deliver(event).expect()

    # THEN the retraining starts once: nothing was lost, and the failed try did not count
    (execution,) = loop.executions()
    assert retry["decision"] == settings.DECISION_STARTED
    assert retry["executionArn"] == execution.arn
    state = loop.guard_state()
    assert state is not None
    assert (state["lastKey"], state["startsToday"]) == (retry["key"], 1)
    assert [a["decision"] for a in loop.audit()] == ["failed", "started"]
    # ... the in-progress idempotency record was deleted when the first invocation raised
    assert "dynamodb:DeleteItem" in {d.action for d in loop.decisions(loop.trigger)}
    assert loop.server.enforcement.gaps() == []
    # ... by exactly the statements pinned for this path (the failed start, then the retry)
    assert_uses((loop.plan.stack, TRIGGER_POLICY, "start-failed"), loop.decisions(loop.trigger))


def test_transient_sagemaker_errors_are_absorbed_by_the_clients_retries(loop: ClosedLoop) -> None:
    # GIVEN SageMaker throttling twice, then answering
    _, event = drifted(loop)
    loop.inject(START, [(400, "ThrottlingException"), (500, "InternalFailure")])

    # WHEN the event is delivered
    decision = loop.deliver(event).expect()

    # THEN the third attempt started the execution, in one invocation
    assert decision["decision"] == settings.DECISION_STARTED
    assert loop.attempts(START) == 3
    assert len(loop.executions()) == 1
    assert [a["decision"] for a in loop.audit()] == ["started"]


# ---- refused at the door -------------------------------------------------------------------------


def test_a_malformed_drift_event_is_refused_and_starts_nothing(loop: ClosedLoop) -> None:
    # GIVEN a DriftDetected of the model without its report, put on the platform bus
    detail = {
        "check_id": "churn/2026-11-27T06-00-00Z",
        "model": loop.plan.model,
        "endpoint": str(loop.plan.check_request["endpoint"]),
        "window": {"start": "2026-11-27T00:00:00Z", "end": "2026-11-27T06:00:00Z", "hours": 6},
    }
    loop.put_event(drift_settings.EVENT_SOURCE, settings.DRIFT_DETAIL_TYPE, detail)
    (event,) = loop.routed()  # the plan's pattern matches it

    # WHEN it is delivered (and retried, as Lambda does)
    (delivery,) = loop.deliver_async([event])

    # THEN every attempt is refused with the field named; it ends in the dead-letter queue
    assert delivery.dead_lettered
    assert len(delivery.attempts) == 3
    assert {a.error_type for a in delivery.attempts} == {"BadEventError"}
    message = str(delivery.final.error_message)
    assert message.startswith(
        f"DriftDetected event (source mlops.drift, id '{event['id']}') refused"
    )
    assert "detail.report: required, missing" in message
    # ... and nothing was started, recorded or announced
    assert loop.executions() == []
    assert loop.audit() == []
    assert loop.decision_events() == []
    assert loop.notifications() == []
