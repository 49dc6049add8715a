"""Exactly which grants of each Lambda role each proof's calls used (IAM-5, "each role grants only
what its users call").

The Lambda proofs (tests/e2e/test_closed_loop.py, test_role_sufficiency.py,
test_lambda_service_uses.py) run a function's code, or the Lambda service's own calls, with the
role's rendered policy under the harness's evaluator (`loop.iam`); every allowed call is a
`Decision` naming the Sid of the statement that allowed it. Each proof asserts, with
`assert_uses`, that the (action, statement Sid) pairs its allowed calls used are exactly the ones
pinned here, and tests/e2e/test_role_minimality.py unions every proof's pairs of one role and
checks that no grant of the role's policy is left unused but the ones it lists with a reason.

`LAMBDA_USES` is keyed by (stack, the role's inline policy registration name, proof):
- the policy registration name (`drift-role-access`, `retraining-access`, ...) is the name the
  proofs find the role by: `loop.stack` reads a function's role as the one whose only inline
  policy is that registration (`_function(plan, key, DRIFT_POLICY)`); the prod scale-out
  functions share the drift role, so they share its key;
- the proof is a short label of the run: `closed-loop` (dev's drift check and trigger),
  `start-failed` (dev's trigger on SageMaker failing every start, then Lambda's retry),
  `drift-and-trigger` (staging's and prod's), `quality`, `verifier` (dev's: hourly, state change,
  rolled back), `approval:<status>` (staging's and prod's verifier on packages of that approval
  status), `capture-proxy`, `scaleout:<function>` (prod's drift-plan, -profile, -reduce), and
  `lambda-service:<function>` (what the Lambda service does with the function's role: logs,
  X-Ray, the SSE-KMS dead-letter queue).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from loop.iam import Decision
from loop.stack import (
    DRIFT_POLICY,
    PROXY_POLICY,
    QUALITY_POLICY,
    SCALEOUT_FUNCTIONS,
    TRIGGER_POLICY,
    VERIFIER_POLICY,
)

Pair = tuple[str, str]
"""(action, the Sid of the statement that allowed it)."""
Key = tuple[str, str, str]
"""(stack, the role's inline policy registration name, proof)."""

PROXY: Final = PROXY_POLICY.format(model="churn")
"""The churn capture proxy's policy (dev's only proxy)."""
POLICY_OF_FUNCTION: Final[dict[str, str]] = {
    "drift-check": DRIFT_POLICY,
    **dict.fromkeys(SCALEOUT_FUNCTIONS, DRIFT_POLICY),
    "retraining-trigger": TRIGGER_POLICY,
    "quality-check": QUALITY_POLICY,
    "inference-verifier": VERIFIER_POLICY,
    "inference-churn-capture-proxy": PROXY,
}
"""A function's registration name -> its role's inline policy registration name."""


def used(decisions: Iterable[Decision]) -> frozenset[Pair]:
    """The (action, statement) pairs of the allowed decisions."""
    return frozenset((d.action, d.statement or "<none>") for d in decisions if d.allowed)


def assert_uses(key: Key, decisions: Iterable[Decision]) -> None:
    """The allowed decisions used exactly the pairs pinned for `key`."""
    found = used(decisions)
    expected = LAMBDA_USES[key]
    if found != expected:
        raise AssertionError(
            f"{key}: the (action, statement) pairs used are not the pinned ones; "
            f"not pinned: {sorted(found - expected)}; pinned, not used: {sorted(expected - found)}"
        )


def role_uses(stack: str, policy: str) -> frozenset[Pair]:
    """Every pair any proof of the role used."""
    return frozenset(
        pair
        for (where, name, _), pairs in LAMBDA_USES.items()
        if (where, name) == (stack, policy)
        for pair in pairs
    )


# ---- the function's code -------------------------------------------------------------------------

_DRIFT_CHECK: Final = frozenset(
    {
        ("s3:ListBucket", "ListWindowCapture"),
        ("s3:GetObject", "ReadWindowCapture"),
        ("s3:GetObject", "ReadBaselines"),
        ("s3:PutObject", "WriteReports"),
        ("kms:Decrypt", "UsePlatformKeyThroughS3"),
        ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
        ("events:PutEvents", "PutDriftEvents"),
    }
)
_TRIGGER_STARTS: Final = frozenset(
    {
        ("dynamodb:PutItem", "DecisionsTable"),  # the idempotency record, the audit item
        ("dynamodb:UpdateItem", "DecisionsTable"),  # the reservation, the idempotency record
        ("sagemaker:ListPipelineExecutions", "StartTraining"),
        ("sagemaker:StartPipelineExecution", "StartTraining"),
        ("budgets:ViewBudget", "ReadBudget"),
        ("sns:Publish", "Notify"),
        ("events:PutEvents", "PutDecisions"),
        ("kms:GenerateDataKey", "UsePlatformKeyThroughServices"),  # through SNS and DynamoDB
        ("kms:Decrypt", "UsePlatformKeyThroughServices"),
    }
)
_QUALITY: Final = frozenset(
    {
        ("s3:ListBucket", "ListCaptureAndLabels"),
        ("s3:GetObject", "ReadCaptureAndLabels"),
        ("s3:GetObject", "ReadBaselines"),
        ("s3:PutObject", "WriteReports"),
        ("kms:Decrypt", "UsePlatformKeyThroughS3"),
        ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
    }
)
_VERIFIER_MATCH: Final = frozenset(
    {
        ("ssm:GetParametersByPath", "ReadIntendedState"),
        ("sagemaker:DescribeEndpoint", "DescribeEndpoints"),
        ("sagemaker:DescribeEndpointConfig", "DescribeConfigurationsAndModels"),
        ("sagemaker:DescribeModel", "DescribeConfigurationsAndModels"),
    }
)
_VERIFIER_REPORTS: Final = frozenset(
    {
        ("sns:Publish", "Report"),
        ("kms:GenerateDataKey", "EncryptReports"),  # through SNS
        ("kms:Decrypt", "EncryptReports"),
    }
)
_PACKAGES: Final = frozenset({("sagemaker:DescribeModelPackage", "DescribePackages")})

# ---- the Lambda service, with the function's role ------------------------------------------------

_DEAD_LETTERS: Final = frozenset(
    {
        ("sqs:SendMessage", "DeadLetters"),
        ("kms:GenerateDataKey", "UsePlatformKeyForDeadLetters"),  # through SQS
        ("kms:Decrypt", "UsePlatformKeyForDeadLetters"),
    }
)
_SERVICE_OWN_LOGS: Final = _DEAD_LETTERS | {
    ("logs:CreateLogStream", "WriteOwnLogs"),
    ("logs:PutLogEvents", "WriteOwnLogs"),
    ("xray:PutTraceSegments", "WriteTraces"),
    ("xray:PutTelemetryRecords", "WriteTraces"),
}
"""The drift and quality roles' statement names (components/drift.py, components/quality.py)."""
_SERVICE_LOGS: Final = _DEAD_LETTERS | {
    ("logs:CreateLogStream", "WriteLogs"),
    ("logs:PutLogEvents", "WriteLogs"),
    ("xray:PutTraceSegments", "Trace"),
    ("xray:PutTelemetryRecords", "Trace"),
}
"""The trigger's, verifier's and proxy's statement names."""

LAMBDA_USES: Final[dict[Key, frozenset[Pair]]] = {
    # dev
    ("dev", DRIFT_POLICY, "closed-loop"): _DRIFT_CHECK,
    ("dev", DRIFT_POLICY, "lambda-service:drift-check"): _SERVICE_OWN_LOGS,
    ("dev", TRIGGER_POLICY, "closed-loop"): _TRIGGER_STARTS,
    # the in-progress idempotency record deleted when the invocation raised
    ("dev", TRIGGER_POLICY, "start-failed"): _TRIGGER_STARTS
    | {("dynamodb:DeleteItem", "DecisionsTable")},
    ("dev", TRIGGER_POLICY, "lambda-service:retraining-trigger"): _SERVICE_LOGS,
    ("dev", QUALITY_POLICY, "quality"): _QUALITY,
    ("dev", QUALITY_POLICY, "lambda-service:quality-check"): _SERVICE_OWN_LOGS,
    ("dev", VERIFIER_POLICY, "verifier"): _VERIFIER_MATCH
    | _VERIFIER_REPORTS
    | {("ssm:GetParameter", "ReadIntendedState")},  # the state change: one endpoint
    ("dev", VERIFIER_POLICY, "lambda-service:inference-verifier"): _SERVICE_LOGS,
    ("dev", PROXY, "capture-proxy"): frozenset(
        {
            ("sagemaker:InvokeEndpoint", "InvokeOwnEndpoint"),
            ("firehose:PutRecord", "RecordCapture"),
        }
    ),
    ("dev", PROXY, "lambda-service:inference-churn-capture-proxy"): _SERVICE_LOGS,
    # staging
    ("staging", DRIFT_POLICY, "drift-and-trigger"): _DRIFT_CHECK,
    ("staging", DRIFT_POLICY, "lambda-service:drift-check"): _SERVICE_OWN_LOGS,
    ("staging", TRIGGER_POLICY, "drift-and-trigger"): _TRIGGER_STARTS,
    ("staging", TRIGGER_POLICY, "lambda-service:retraining-trigger"): _SERVICE_LOGS,
    ("staging", QUALITY_POLICY, "quality"): _QUALITY,
    ("staging", QUALITY_POLICY, "lambda-service:quality-check"): _SERVICE_OWN_LOGS,
    # staging's Shadow variant is reported missing (moto's configs hold none): a mismatch, published
    ("staging", VERIFIER_POLICY, "approval:Approved"): _VERIFIER_MATCH
    | _PACKAGES
    | _VERIFIER_REPORTS,
    ("staging", VERIFIER_POLICY, "approval:PendingManualApproval"): _VERIFIER_MATCH
    | _PACKAGES
    | _VERIFIER_REPORTS,
    ("staging", VERIFIER_POLICY, "lambda-service:inference-verifier"): _SERVICE_LOGS,
    # prod
    ("prod", DRIFT_POLICY, "drift-and-trigger"): _DRIFT_CHECK,
    ("prod", DRIFT_POLICY, "scaleout:drift-plan"): frozenset(
        {
            ("s3:GetObject", "ReadBaselines"),
            ("s3:ListBucket", "ListWindowCapture"),
            ("s3:PutObject", "WriteReports"),  # the manifest, under drift-partials/
            ("kms:Decrypt", "UsePlatformKeyThroughS3"),
            ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
        }
    ),
    ("prod", DRIFT_POLICY, "scaleout:drift-profile"): frozenset(
        {
            ("s3:GetObject", "ReadWindowCapture"),
            ("s3:GetObject", "ReadBaselines"),
            ("s3:PutObject", "WriteReports"),  # the batch's partial
            ("kms:Decrypt", "UsePlatformKeyThroughS3"),
            ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
        }
    ),
    ("prod", DRIFT_POLICY, "scaleout:drift-reduce"): frozenset(
        {
            ("s3:GetObject", "ReadBaselines"),
            ("s3:GetObject", "ReadPartials"),  # the manifest and every partial
            ("s3:ListBucket", "ListPartials"),
            ("s3:PutObject", "WriteReports"),
            ("kms:Decrypt", "UsePlatformKeyThroughS3"),
            ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
            ("events:PutEvents", "PutDriftEvents"),
        }
    ),
    ("prod", DRIFT_POLICY, "lambda-service:drift-check"): _SERVICE_OWN_LOGS,
    ("prod", DRIFT_POLICY, "lambda-service:drift-plan"): _SERVICE_OWN_LOGS,
    ("prod", DRIFT_POLICY, "lambda-service:drift-profile"): _SERVICE_OWN_LOGS,
    ("prod", DRIFT_POLICY, "lambda-service:drift-reduce"): _SERVICE_OWN_LOGS,
    ("prod", TRIGGER_POLICY, "drift-and-trigger"): _TRIGGER_STARTS,
    ("prod", TRIGGER_POLICY, "lambda-service:retraining-trigger"): _SERVICE_LOGS,
    ("prod", QUALITY_POLICY, "quality"): _QUALITY,
    ("prod", QUALITY_POLICY, "lambda-service:quality-check"): _SERVICE_OWN_LOGS,
    ("prod", VERIFIER_POLICY, "approval:Approved"): _VERIFIER_MATCH | _PACKAGES,  # a match
    ("prod", VERIFIER_POLICY, "approval:PendingManualApproval"): _VERIFIER_MATCH
    | _PACKAGES
    | _VERIFIER_REPORTS,
    ("prod", VERIFIER_POLICY, "lambda-service:inference-verifier"): _SERVICE_LOGS,
}
"""(stack, role's policy registration name, proof) -> the (action, statement Sid) pairs the
proof's allowed calls with that role used, exactly."""

LAMBDA_ROLES: Final = tuple(sorted({(stack, policy) for stack, policy, _ in LAMBDA_USES}))
"""Every (stack, role's policy registration name) some proof ran."""
