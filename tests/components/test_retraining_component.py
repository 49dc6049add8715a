"""The retraining trigger's deployment under Pulumi mocks: its table, function, routes and the
exact permissions of its role, per shipped stack and with the budget and promotion options."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.config import ConfigError
from planner.mocks import Registration
from planner.policies import evaluate
from planner.run import Plan

NS = "mlops-platform:"
ACCOUNTS = {"dev": "123456789012", "staging": "123456789012", "prod": "111111111111"}
REGION = "eu-west-1"
SETTINGS = {  # stack: cooldown hours, daily cap, budget share, audit days
    "dev": ("6", "2", "1.0", "400"),
    "staging": ("24", "1", "0.9", "400"),
    "prod": ("72", "1", "0.8", "730"),
}
SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:github-dispatch-AbCdEf"


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def statements(record: Registration, field: str = "policy") -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(record.inputs[field])["Statement"]}


def bucket(plan: Plan, role: str) -> str:
    return named(plan, f"lake-{role}-bucket").id


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_decision_table_is_recoverable_encrypted_and_expires_records(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    table = named(plan, "retraining-table")
    assert table.inputs == {
        "name": f"mlops-platform-{stack}-retraining-decisions",
        "billingMode": "PAY_PER_REQUEST",
        "hashKey": "pk",
        "rangeKey": "sk",
        "attributes": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}],
        "ttl": {"attributeName": "expiration", "enabled": True},
        "pointInTimeRecovery": {"enabled": True},
        "serverSideEncryption": {"enabled": True, "kmsKeyArn": plan.outputs["kmsKeyArn"]},
        "deletionProtectionEnabled": stack == "prod",
    }
    stateful = stack != "dev"
    assert (table.protect, table.retain_on_delete) == (stateful, stateful)
    assert plan.outputs["retrainingDecisions"] == f"mlops-platform-{stack}-retraining-decisions"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_function_is_hardened_and_configured_from_the_stack(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    account = ACCOUNTS[stack]
    function = named(plan, "retraining-trigger")
    name = f"mlops-platform-{stack}-retraining-trigger"
    inputs = dict(function.inputs)
    code = inputs.pop("code")
    assert "trigger.py" in code["archive"]["assets"]
    assert not [a for a in code["archive"]["assets"] if not a.endswith(".py")]
    variables = inputs.pop("environment")["variables"]
    assert inputs == {
        "name": name,
        "description": "Starts training pipelines on drift, alarms and requests, behind its "
        "guards (lambdas/retrain_trigger).",
        "runtime": "python3.13",
        "architectures": ["arm64"],
        "handler": "trigger.lambda_handler",
        "role": f"arn:aws:iam::{account}:role/mlops-platform-{stack}-retraining-trigger",
        "layers": [f"arn:aws:lambda:{REGION}:{account}:layer:mlops-platform-{stack}-powertools:1"],
        "memorySize": 256,
        "timeout": 60,
        "reservedConcurrentExecutions": 5,
        "tracingConfig": {"mode": "Active"},
        "kmsKeyArn": plan.outputs["kmsKeyArn"],
        "deadLetterConfig": {
            "targetArn": f"arn:aws:sqs:{REGION}:{account}:mlops-platform-{stack}-retraining-dlq"
        },
        "loggingConfig": {"logFormat": "JSON", "logGroup": f"/aws/lambda/{name}"},
    }
    cooldown, cap, share, audit = SETTINGS[stack]
    models = json.loads(variables.pop("RETRAIN_MODELS"))
    assert variables == {
        "RETRAIN_TABLE": f"mlops-platform-{stack}-retraining-decisions",
        "RETRAIN_EVENT_BUS": f"mlops-platform-{stack}-platform-bus",
        "RETRAIN_TOPIC_ARN": plan.outputs["platformTopicArn"],
        "RETRAIN_COOLDOWN_HOURS": cooldown,
        "RETRAIN_DAILY_CAP": cap,
        "RETRAIN_BUDGET_MAX_SHARE": share,
        # Every shipped stack enables cost controls, so the guard reads the stack's budget.
        "RETRAIN_BUDGET_NAME": f"mlops-platform-{stack}-monthly",
        "RETRAIN_AUDIT_TTL_DAYS": audit,
        "RETRAIN_PROMOTION_EVENT_TYPE": "model-approved",
        "POWERTOOLS_METRICS_NAMESPACE": "MLOpsPlatform/Retraining",
        "POWERTOOLS_SERVICE_NAME": "retrain-trigger",
    }
    # Serverless (dev) endpoints are alarmed too: the latency alarm of each endpoint retrains,
    # and so does the alarm of the model's own latency objective (`latencyObjectiveP99Ms`), and
    # each of its quality alarms (components/quality.py).
    assert models == {
        "churn": {
            "pipeline": f"mlops-platform-{stack}-churn-training",
            "dataUri": f"s3://{bucket(plan, 'curated')}/churn/training/",
            "alarms": [
                f"mlops-platform-{stack}-churn-latency-objective",
                f"mlops-platform-{stack}-churn-model-latency",
                *(f"mlops-platform-{stack}-quality-{part}" for part in QUALITY_ALARMS[stack]),
            ],
            "packageGroup": f"mlops-platform-{stack}-churn",
        }
    }
    # Asynchronous invocations (EventBridge): two retries, then the dead-letter queue.
    invoke = named(plan, "retraining-trigger-async").inputs
    assert invoke["maximumRetryAttempts"] == 2
    assert invoke["destinationConfig"]["onFailure"]["destination"].endswith(
        f"mlops-platform-{stack}-retraining-dlq"
    )


QUALITY_ALARMS = {
    # Each stack's quality alarms of churn (`quality.monitors[].alarms`), sorted by name:
    # `<model>-<endpoint without project and stack>-<metric>`.
    "dev": ["churn-churn-accuracy", "churn-churn-label-coverage"],
    "staging": [
        "churn-churn-accuracy",
        "churn-churn-calibration-error",
        "churn-churn-label-coverage",
        "churn-churn-roc-auc",
    ],
    "prod": [
        "churn-churn-accuracy",
        "churn-churn-calibration-error",
        "churn-churn-f1",
        "churn-churn-label-coverage",
        "churn-churn-roc-auc",
        "churn-k8s-churn-accuracy",
        "churn-k8s-churn-roc-auc",
    ],
}


def test_routes_watch_drift_requests_alarms_and_approvals(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    bus = "mlops-platform-prod-platform-bus"
    rules = {
        kind: named(plan, f"retraining-{kind}-rule").inputs
        for kind in ("drift", "requests", "alarms", "approvals")
    }
    assert json.loads(rules["drift"]["eventPattern"]) == {
        "source": ["mlops.drift"],
        "detail-type": ["DriftDetected"],
        "detail": {"model": ["churn"]},
    }
    assert json.loads(rules["requests"]["eventPattern"]) == {
        "source": ["mlops.retraining"],
        "detail-type": ["RetrainingRequested"],
        "detail": {"model": ["churn"]},
    }
    assert json.loads(rules["alarms"]["eventPattern"]) == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [
                "mlops-platform-prod-churn-latency-objective",
                "mlops-platform-prod-churn-model-latency",
                *(f"mlops-platform-prod-quality-{part}" for part in QUALITY_ALARMS["prod"]),
            ],
            "state": {"value": ["ALARM"]},
        },
    }
    assert json.loads(rules["approvals"]["eventPattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {
            "ModelPackageGroupName": ["mlops-platform-prod-churn"],
            "ModelApprovalStatus": ["Approved"],
        },
    }
    # The platform's own events are on its bus; AWS services' on the default bus.
    assert rules["drift"]["eventBusName"] == bus
    assert rules["requests"]["eventBusName"] == bus
    assert "eventBusName" not in rules["alarms"]
    assert "eventBusName" not in rules["approvals"]
    function = (
        "arn:aws:lambda:eu-west-1:111111111111:function:mlops-platform-prod-retraining-trigger"
    )
    rule_arns = {
        "drift": f"rule/{bus}/mlops-platform-prod-retraining-drift",
        "requests": f"rule/{bus}/mlops-platform-prod-retraining-requests",
        "alarms": "rule/mlops-platform-prod-retraining-alarms",
        "approvals": "rule/mlops-platform-prod-retraining-approvals",
    }
    for kind, rule in rule_arns.items():
        target = named(plan, f"retraining-{kind}-target").inputs
        assert target["arn"] == function
        assert target["retryPolicy"] == {
            "maximumRetryAttempts": 20,
            "maximumEventAgeInSeconds": 21600,
        }
        assert target["deadLetterConfig"] == {
            "arn": f"arn:aws:sqs:{REGION}:111111111111:mlops-platform-prod-retraining-{kind}-dlq"
        }
        # Only this rule may invoke the function.
        assert named(plan, f"retraining-{kind}-invoke").inputs == {
            "function": "mlops-platform-prod-retraining-trigger",
            "action": "lambda:InvokeFunction",
            "principal": "events.amazonaws.com",
            "sourceArn": f"arn:aws:events:{REGION}:111111111111:{rule}",
        }


def test_role_grants_exactly_what_the_trigger_calls(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    account = ACCOUNTS["prod"]
    granted = statements(named(plan, "retraining-access"))
    assert set(granted) == {
        "DecisionsTable",
        "UsePlatformKeyThroughServices",
        "StartTraining",
        "PutDecisions",
        "Notify",
        "WriteLogs",
        "Trace",
        "DeadLetters",
        "UsePlatformKeyForDeadLetters",
        "ReadBudget",
    }
    # The shipped prod stack enables cost controls: the guard reads that one budget only.
    assert granted["ReadBudget"]["Resource"] == [
        f"arn:aws:budgets::{account}:budget/mlops-platform-prod-monthly"
    ]
    assert granted["ReadBudget"]["Action"] == ["budgets:ViewBudget"]
    assert granted["StartTraining"]["Resource"] == [
        f"arn:aws:sagemaker:{REGION}:{account}:pipeline/mlops-platform-prod-churn-training"
    ]
    assert granted["DecisionsTable"]["Resource"] == [
        f"arn:aws:dynamodb:{REGION}:{account}:table/mlops-platform-prod-retraining-decisions"
    ]
    assert granted["PutDecisions"]["Resource"] == [
        f"arn:aws:events:{REGION}:{account}:event-bus/mlops-platform-prod-platform-bus"
    ]
    assert granted["Notify"]["Resource"] == [plan.outputs["platformTopicArn"]]
    trust = statements(named(plan, "retraining-role"), "assumeRolePolicy")
    assert trust["ServiceAssumesRole"]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_budget_guard_and_promotion_are_wired_when_configured(
    plan_stack: Callable[..., Plan],
) -> None:
    plan = plan_stack(
        "prod",
        {
            f"{NS}cost": {"enabled": True, "monthlyBudgetUsd": 8000},
            f"{NS}retraining": {
                "enabled": True,
                "promotion": {"githubRepository": "acme/ml-platform", "tokenSecretArn": SECRET},
            },
        },
    )
    variables = named(plan, "retraining-trigger").inputs["environment"]["variables"]
    assert variables["RETRAIN_BUDGET_NAME"] == "mlops-platform-prod-monthly"
    assert variables["RETRAIN_PROMOTION_REPOSITORY"] == "acme/ml-platform"
    assert variables["RETRAIN_PROMOTION_TOKEN_SECRET"] == SECRET
    granted = statements(named(plan, "retraining-access"))
    assert granted["ReadBudget"]["Resource"] == [
        "arn:aws:budgets::111111111111:budget/mlops-platform-prod-monthly"
    ]
    assert granted["ReadBudget"]["Action"] == ["budgets:ViewBudget"]
    assert granted["ReadDispatchToken"] == {
        "Sid": "ReadDispatchToken",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [SECRET],
    }


def test_without_cost_controls_the_budget_guard_is_off(plan_stack: Callable[..., Plan]) -> None:
    # The whole section is replaced, so staging's guardrail goes with it (default off).
    plan = plan_stack("staging", {f"{NS}cost": {"enabled": False}})
    variables = named(plan, "retraining-trigger").inputs["environment"]["variables"]
    assert "RETRAIN_BUDGET_NAME" not in variables
    # The share stays configured; without a budget to read the handler skips the guard.
    assert variables["RETRAIN_BUDGET_MAX_SHARE"] == "0.9"
    assert "ReadBudget" not in statements(named(plan, "retraining-access"))


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_pack_finds_nothing_wrong_with_the_trigger(plans: dict[str, Plan], stack: str) -> None:
    report = evaluate(plans[stack].registrations)
    assert report.violations == []


def test_disabled_retraining_registers_nothing_of_it(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack("dev", {f"{NS}retraining": {"enabled": False}})
    assert not [r for r in plan.registrations if r.name.startswith("retraining")]
    assert "retrainingTrigger" not in plan.outputs


# ---- config ----------------------------------------------------------------------------------


def test_a_monitored_model_without_a_pipeline_is_refused(plan_stack: Callable[..., Plan]) -> None:
    drift = {
        "enabled": True,
        "monitors": [{"model": "fraud", "endpoint": "mlops-platform-dev-fraud"}],
    }
    registry = {
        "enabled": True,
        "approval": "auto",
        "models": [{"name": "churn"}, {"name": "fraud"}],
    }
    with pytest.raises(ConfigError) as caught:
        plan_stack("dev", {f"{NS}drift": drift, f"{NS}modelRegistry": registry})
    assert [p.render("stacks/Pulumi.dev.yaml") for p in caught.value.problems] == [
        "stacks/Pulumi.dev.yaml: mlops-platform:drift.monitors[0].model: retraining is enabled "
        "and this model has no training pipeline, so its drift could not be acted on (got "
        "'fraud'); accepted: a model with an entry in training.pipelines (churn), or "
        "retraining.enabled: false"
    ]


def test_a_half_configured_promotion_is_refused(plan_stack: Callable[..., Plan]) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_stack(
            "dev",
            {f"{NS}retraining": {"enabled": True, "promotion": {"githubRepository": "acme/ml"}}},
        )
    assert [p.render("stacks/Pulumi.dev.yaml") for p in caught.value.problems] == [
        "stacks/Pulumi.dev.yaml: mlops-platform:retraining.promotion.tokenSecretArn: "
        "promotion.githubRepository is set, and a deployment dispatch needs both the "
        "repository and the secret holding its token (got <missing>); accepted: both "
        "githubRepository and tokenSecretArn, or neither (notify only)"
    ]


def test_without_drift_checks_no_drift_route(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack("dev", {f"{NS}drift": {"enabled": False}})
    routes = {r.name for r in plan.by_type("aws:cloudwatch/eventRule:EventRule")}
    assert {n for n in routes if n.startswith("retraining-")} == {
        "retraining-requests-rule",
        "retraining-approvals-rule",
        "retraining-alarms-rule",
    }
    # The bus still exists: manual requests and decisions use it.
    assert plan.outputs["platformEventBus"] == "mlops-platform-dev-platform-bus"
