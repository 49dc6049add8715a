"""Cost controls under Pulumi mocks: the budgets with their notifications, the anomaly monitor and
its subscription, the allocation tags, and the guardrail's budget action and deny policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.config import ConfigError
from components.cost import DENIED_ACTIONS
from planner.mocks import Registration
from planner.policies import evaluate
from planner.run import Plan

NS = "mlops-platform:"
BUDGET = "aws:budgets/budget:Budget"


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def statements(record: Registration, field: str = "policy") -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(record.inputs[field])["Statement"]}


def notifications(topic: str, emails: list[str]) -> list[dict[str, Any]]:
    found = []
    for kind, threshold in (("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)):
        entry: dict[str, Any] = {
            "comparisonOperator": "GREATER_THAN",
            "notificationType": kind,
            "threshold": threshold,
            "thresholdType": "PERCENTAGE",
            "subscriberSnsTopicArns": [topic],
        }
        if emails:
            entry["subscriberEmailAddresses"] = emails
        found.append(entry)
    return found


@pytest.fixture(scope="module")
def staging(plan_with_cost: Callable[..., Plan]) -> Plan:
    return plan_with_cost(
        "staging",
        {
            "enabled": True,
            "monthlyBudgetUsd": 1500,
            "anomalyThresholdUsd": 100,
            "budgetEmails": ["finops@example.com"],
            "capabilityBudgets": {"trainingUsd": 400, "inferenceUsd": 900},
            "guardrail": {"enabled": True},
        },
    )


@pytest.fixture(scope="module")
def plan_with_cost() -> Callable[..., Plan]:
    from tests.conftest import plan_with

    def plan(stack: str, cost: dict[str, Any]) -> Plan:
        return plan_with(stack, {f"{NS}cost": cost})

    return plan


def test_environment_budget_notifies_at_50_80_100_and_forecast(staging: Plan) -> None:
    topic = staging.outputs["platformTopicArn"]
    assert named(staging, "cost-monthly").inputs == {
        "name": "mlops-platform-staging-monthly",
        "budgetType": "COST",
        "limitAmount": "1500.00",
        "limitUnit": "USD",
        "timeUnit": "MONTHLY",
        "filterExpression": {"tags": {"key": "Environment", "values": ["staging"]}},
        "notifications": notifications(topic, ["finops@example.com"]),
    }
    assert staging.outputs["budget"] == "mlops-platform-staging-monthly"


def test_capability_budgets_filter_on_environment_and_capability(staging: Plan) -> None:
    for capability, limit in (("training", "400.00"), ("inference", "900.00")):
        budget = named(staging, f"cost-{capability}").inputs
        assert budget["name"] == f"mlops-platform-staging-{capability}-monthly"
        assert budget["limitAmount"] == limit
        assert budget["filterExpression"] == {
            "ands": [
                {"tags": {"key": "Environment", "values": ["staging"]}},
                {"tags": {"key": "Capability", "values": [capability]}},
            ]
        }


def test_the_capability_tag_is_on_what_costs(staging: Plan) -> None:
    for name in (
        "inference-churn",
        "inference-churn-config",
        "inference-churn-production-model",
        "inference-churn-shadow-model",
    ):
        assert named(staging, name).inputs["tags"] == {"Capability": "inference"}, name
    # Training jobs carry no provider tags: the definition tags them itself.
    definition = json.loads(named(staging, "training-churn").inputs["pipelineDefinition"])
    train = next(s for s in definition["Steps"] if s["Name"] == "Train")
    tags = {t["Key"]: t["Value"] for t in train["Arguments"]["Tags"]}
    assert tags["Capability"] == "training"
    assert tags["Environment"] == "staging"
    assert tags["Project"] == "mlops-platform"


def test_anomaly_monitor_and_immediate_subscription(staging: Plan) -> None:
    monitor = named(staging, "cost-anomalies").inputs
    assert monitor["monitorType"] == "CUSTOM"
    assert json.loads(monitor["monitorSpecification"]) == {
        "Tags": {"Key": "Environment", "Values": ["staging"], "MatchOptions": ["EQUALS"]}
    }
    subscription = named(staging, "cost-anomaly-alerts").inputs
    assert subscription["frequency"] == "IMMEDIATE"
    assert subscription["subscribers"] == [
        {"type": "SNS", "address": staging.outputs["platformTopicArn"]}
    ]
    assert subscription["thresholdExpression"] == {
        "dimension": {
            "key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
            "matchOptions": ["GREATER_THAN_OR_EQUAL"],
            "values": ["100"],
        }
    }


def test_allocation_tags_are_activated(staging: Plan) -> None:
    tags = {
        r.inputs["tagKey"]: r.inputs["status"]
        for r in staging.by_type("aws:costexplorer/costAllocationTag:CostAllocationTag")
    }
    assert tags == {
        "Project": "Active",
        "Environment": "Active",
        "CostCenter": "Active",
        "Owner": "Active",
        "ManagedBy": "Active",
        "Capability": "Active",
    }


def test_guardrail_attaches_a_deny_policy_to_the_platforms_roles(staging: Plan) -> None:
    account = "123456789012"
    deny = named(staging, "cost-guardrail-deny")
    assert json.loads(deny.inputs["policy"])["Statement"] == [
        {
            "Sid": "OverBudgetNoNewSageMakerCompute",
            "Effect": "Deny",
            "Action": DENIED_ACTIONS,
            "Resource": "*",
        }
    ]
    action = named(staging, "cost-guardrail").inputs
    roles = action["definition"]["iamActionDefinition"]["roles"]
    # Every platform role; among them the ones that start training and pipelines.
    assert "mlops-platform-staging-retraining-trigger" in roles
    assert any(r.startswith("mlops-platform-staging-churn-training") for r in roles), roles
    assert roles == sorted(roles)
    assert {k: v for k, v in action.items() if k != "definition"} == {
        "budgetName": "mlops-platform-staging-monthly",
        "actionType": "APPLY_IAM_POLICY",
        "approvalModel": "AUTOMATIC",
        "notificationType": "ACTUAL",
        "actionThreshold": {"actionThresholdType": "PERCENTAGE", "actionThresholdValue": 100},
        "executionRoleArn": f"arn:aws:iam::{account}:role/mlops-platform-staging-cost-guardrail",
        "subscribers": [
            {"subscriptionType": "SNS", "address": staging.outputs["platformTopicArn"]}
        ],
    }
    policy_arn = f"arn:aws:iam::{account}:policy/mlops-platform-staging-cost-guardrail-deny"
    assert deny.inputs["name"] == "mlops-platform-staging-cost-guardrail-deny"
    assert action["definition"]["iamActionDefinition"]["policyArn"] == policy_arn
    granted = statements(named(staging, "cost-guardrail-access"))
    assert granted["AttachTheGuardrail"]["Action"] == [
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
    ]
    assert granted["AttachTheGuardrail"]["Resource"] == [
        f"arn:aws:iam::{account}:role/{r}" for r in roles
    ]
    assert granted["AttachTheGuardrail"]["Condition"] == {
        "ArnEquals": {"iam:PolicyARN": policy_arn}
    }
    trust = statements(named(staging, "cost-guardrail-role"), "assumeRolePolicy")
    assert trust["ServiceAssumesRole"]["Principal"] == {"Service": "budgets.amazonaws.com"}


def test_the_pack_finds_nothing_wrong_with_cost_controls(staging: Plan) -> None:
    assert evaluate(staging.registrations).violations == []


def test_no_guardrail_in_prod(plan_stack: Callable[..., Plan]) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_stack("prod", {f"{NS}cost": {"enabled": True, "guardrail": {"enabled": True}}})
    assert [p.render("stacks/Pulumi.prod.yaml") for p in caught.value.problems] == [
        "stacks/Pulumi.prod.yaml: mlops-platform:cost.guardrail.enabled: the guardrail denies "
        "new training jobs and endpoints when the budget is exceeded, which in prod would stop "
        "rollouts and retraining (got true); accepted: false when tier is prod (the budget "
        "notifications and anomaly alerts still apply)"
    ]


def test_the_retraining_budget_guard_reads_this_budget(staging: Plan) -> None:
    variables = named(staging, "retraining-trigger").inputs["environment"]["variables"]
    assert variables["RETRAIN_BUDGET_NAME"] == staging.outputs["budget"]
