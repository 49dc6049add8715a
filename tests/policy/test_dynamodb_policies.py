"""The DynamoDB policies: a compliant table passes the whole pack; each broken control is
reported by its own policy, and deletion protection is asked of production tables only."""

from __future__ import annotations

from typing import Any

import pytest

from planner.mocks import Registration
from planner.policies import evaluate
from tests.policy.test_policies import TAGS, provider, record

KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TABLE = "aws:dynamodb/table:Table"
GOOD: dict[str, Any] = {
    "name": "mlops-platform-prod-retraining-decisions",
    "billingMode": "PAY_PER_REQUEST",
    "hashKey": "pk",
    "rangeKey": "sk",
    "attributes": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}],
    "pointInTimeRecovery": {"enabled": True},
    "deletionProtectionEnabled": True,
    "serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN},
}


def table(**changes: Any) -> Registration:
    inputs = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    return record(TABLE, "decisions", inputs)


def findings(resource: Registration, environment: str = "prod") -> list[tuple[str, str]]:
    report = evaluate([provider({**TAGS, "Environment": environment}), resource])
    return [(v.policy, v.message) for v in report.violations]


def test_a_compliant_table_passes_the_whole_pack() -> None:
    assert findings(table()) == []


@pytest.mark.parametrize(
    ("changes", "policy", "message"),
    [
        (
            {"pointInTimeRecovery": None},
            "dynamodb-point-in-time-recovery",
            "DynamoDB table has no pointInTimeRecovery.enabled: true; without it a deleted or "
            "overwritten item cannot be restored (SH DynamoDB.2).",
        ),
        (
            {"pointInTimeRecovery": {"enabled": False}},
            "dynamodb-point-in-time-recovery",
            "DynamoDB table has no pointInTimeRecovery.enabled: true; without it a deleted or "
            "overwritten item cannot be restored (SH DynamoDB.2).",
        ),
        (
            {"deletionProtectionEnabled": False},
            "dynamodb-deletion-protection",
            "DynamoDB table in production has no deletionProtectionEnabled: true (SH DynamoDB.6).",
        ),
        (
            {"serverSideEncryption": None},
            "dynamodb-kms-encryption",
            "DynamoDB table sets no serverSideEncryption with a kmsKeyArn; encrypt it with the "
            "platform key (the default AWS-owned key is outside the platform's key policy).",
        ),
        (
            {"serverSideEncryption": {"enabled": True, "kmsKeyArn": "alias/aws/dynamodb"}},
            "dynamodb-kms-encryption",
            "DynamoDB table uses an AWS-managed key; encrypt it with the platform key.",
        ),
    ],
)
def test_each_broken_control_is_reported_by_its_policy(
    changes: dict[str, Any], policy: str, message: str
) -> None:
    assert findings(table(**changes)) == [(policy, message)]


def test_deletion_protection_is_asked_of_production_tables_only() -> None:
    assert findings(table(deletionProtectionEnabled=None), environment="dev") == []
    assert [p for p, _ in findings(table(deletionProtectionEnabled=None))] == [
        "dynamodb-deletion-protection"
    ]
