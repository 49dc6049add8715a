"""The Lambda, CloudWatch Logs, IAM, Scheduler and Step Functions policies: a compliant set of
the resources the drift engine registers passes the whole pack; each broken control is reported
by its policy, on the resource at fault, with its message; and a control that does not apply
says why."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import ResourceValidationPolicy

from planner.mocks import Registration
from planner.policies import evaluate, validation_args
from tests.policy.conftest import to_struct
from tests.policy.test_policies import TAGS, provider, record

ACCOUNT = "111111111111"
REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:mlops-prod-dlq"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-prod-events"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/mlops-prod-drift"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:mlops/hf-token-AbCdEf"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-prod-drift"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlops-prod-drift-scaleout"
FUNCTION_NAME = "mlops-prod-drift-check"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"
LOG_GROUP_NAME = f"/aws/lambda/{FUNCTION_NAME}"

FUNCTION = "aws:lambda/function:Function"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SCHEDULE = "aws:scheduler/schedule:Schedule"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(sid: str, actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _trust(service: str, **condition: Any) -> dict[str, Any]:
    return {
        "Sid": "ServiceAssumesRole",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": condition or {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }


XRAY = _allow("Traces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
READ_CAPTURE = _allow(
    "ReadCapture", ["s3:GetObject"], ["arn:aws:s3:::mlops-prod-capture/datacapture/*"]
)
PASS_ROLE = _allow(
    "PassPipelineRole",
    ["iam:PassRole"],
    [ROLE_ARN],
    Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
)
LOG_DELIVERY = _allow(
    "VendedLogs",
    ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
     "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
     "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"],
    ["*"],
)  # fmt: skip


def _pinned_provider() -> Registration:
    aws = provider(TAGS)
    aws.inputs["allowedAccountIds"] = json.dumps([ACCOUNT])
    return aws


def compliant() -> dict[str, Registration]:
    """The drift engine's kinds of resources, each compliant, linked as the platform links
    them (property dependencies and physical names)."""
    logs = record(
        LOG_GROUP,
        "check-logs",
        {"name": LOG_GROUP_NAME, "retentionInDays": 365, "kmsKeyId": KEY_ARN},
    )
    function = record(
        FUNCTION,
        "check",
        {
            "name": FUNCTION_NAME,
            "runtime": "python3.13",
            "architectures": ["arm64"],
            "handler": "handler.main",
            "role": ROLE_ARN,
            "memorySize": 1024,
            "timeout": 300,
            "tracingConfig": {"mode": "Active"},
            "reservedConcurrentExecutions": 5,
            "kmsKeyArn": KEY_ARN,
            "environment": {
                "variables": {
                    "DRIFT_BUCKET": "mlops-prod-reports",
                    "HF_TOKEN_SECRET_ARN": SECRET_ARN,
                    "DB_PASSWORD_PARAMETER": "/mlops/prod/db-password",
                    "GATEWAY_API_KEY": SECRET_ARN,
                    "MAX_TOKENS": "512",
                    "TOKENIZER_NAME": "bert-base",
                }
            },
            "deadLetterConfig": {"targetArn": QUEUE_ARN},
            "loggingConfig": {"logFormat": "JSON", "logGroup": LOG_GROUP_NAME},
            "layers": [f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:mlops-prod-drift-deps:1"],
        },
        property_dependencies={"loggingConfig": [logs.urn]},
    )
    return {
        "logs": logs,
        "function": function,
        "invoke-config": record(
            INVOKE_CONFIG,
            "check-async",
            {
                "functionName": FUNCTION_NAME,
                "maximumRetryAttempts": 2,
                "maximumEventAgeInSeconds": 21_600,
                "destinationConfig": {"onFailure": {"destination": QUEUE_ARN}},
            },
            property_dependencies={"functionName": [function.urn]},
        ),
        "permission": record(
            PERMISSION,
            "check-invoke",
            {
                "action": "lambda:InvokeFunction",
                "function": FUNCTION_NAME,
                "principal": "events.amazonaws.com",
                "sourceArn": RULE_ARN,
            },
        ),
        "function-url": record(
            FUNCTION_URL,
            "check-url",
            {
                "functionName": FUNCTION_NAME,
                "authorizationType": "AWS_IAM",
                "invokeMode": "BUFFERED",
            },
            property_dependencies={"functionName": [function.urn]},
        ),
        "role": record(
            ROLE,
            "check-role",
            {
                "assumeRolePolicy": _document(_trust("lambda.amazonaws.com")),
                "inlinePolicies": [{"name": "traces", "policy": _document(XRAY)}],
                "managedPolicyArns": ["arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"],
            },
        ),
        "role-policy": record(
            ROLE_POLICY,
            "check-access",
            {"role": "mlops-prod-drift", "policy": _document(READ_CAPTURE, PASS_ROLE)},
        ),
        "policy": record(
            POLICY,
            "state-machine-logging",
            {
                "policy": _document(
                    LOG_DELIVERY,
                    {**XRAY, "Sid": "Deny", "Effect": "Deny", "Action": "*"},
                    _allow(
                        "InvokeOwnFunction",
                        ["lambda:UpdateFunctionCode"],
                        [FUNCTION_ARN],
                    ),
                )
            },
        ),
        "attachment": record(
            ATTACHMENT,
            "check-attach",
            {
                "role": "mlops-prod-drift",
                "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/state-machine-logging",
            },
        ),
        "schedule": record(
            SCHEDULE,
            "drift-schedule",
            {
                "scheduleExpression": "cron(0 * * * ? *)",
                "flexibleTimeWindow": {"mode": "OFF"},
                "kmsKeyArn": KEY_ARN,
                "state": "ENABLED",
                "target": {
                    "arn": MACHINE_ARN,
                    "roleArn": ROLE_ARN,
                    "input": json.dumps({"model": "churn"}),
                    "retryPolicy": {"maximumEventAgeInSeconds": 21_600, "maximumRetryAttempts": 10},
                    "deadLetterConfig": {"arn": QUEUE_ARN},
                },
            },
        ),
        "state-machine": record(
            STATE_MACHINE,
            "scaleout",
            {
                "definition": json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass"}}}),
                "roleArn": ROLE_ARN,
                "type": "STANDARD",
                "loggingConfiguration": {
                    "logDestination": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/sfn/x:*",
                    "includeExecutionData": False,
                    "level": "ERROR",
                },
                "tracingConfiguration": {"enabled": True},
                "encryptionConfiguration": {
                    "type": "CUSTOMER_MANAGED_KMS_KEY",
                    "kmsKeyId": KEY_ARN,
                    "kmsDataKeyReusePeriodSeconds": 300,
                },
            },
        ),
    }


def findings(resources: dict[str, Registration]) -> list[tuple[str, str, str]]:
    report = evaluate([_pinned_provider(), *resources.values()])
    return [(v.policy, v.urn, v.message) for v in report.violations]


def not_applicable(resources: dict[str, Registration]) -> list[tuple[str, str, str]]:
    report = evaluate([_pinned_provider(), *resources.values()])
    return [(n.policy, n.urn, n.message) for n in report.not_applicable]


def test_compliant_resources_pass_the_whole_pack() -> None:
    assert findings(compliant()) == []


# ---- violations: (id, change to the compliant set, policy, resource at fault, message) -------

Change = Callable[[dict[str, Registration]], None]


def _set(kind: str, path: str, value: Any) -> Change:
    """Set (or with None, remove) an input of one resource; `path` is dotted."""

    def change(resources: dict[str, Registration]) -> None:
        *parents, last = path.split(".")
        node = resources[kind].inputs
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value

    return change


def _both(*changes: Change) -> Change:
    def change(resources: dict[str, Registration]) -> None:
        for one in changes:
            one(resources)

    return change


def _drop(kind: str) -> Change:
    def change(resources: dict[str, Registration]) -> None:
        del resources[kind]

    return change


def _policy_doc(kind: str, *statements: dict[str, Any]) -> Change:
    return _set(kind, "policy", _document(*statements))


def _trust_doc(*statements: dict[str, Any]) -> Change:
    return _set("role", "assumeRolePolicy", _document(*statements))


def _variables(**variables: str) -> Change:
    return _set("function", "environment", {"variables": variables})


NO_DLQ = _set("function", "deadLetterConfig", None)
FAKE_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key id

BAD_CASES: list[tuple[str, Change, str, str, str]] = [
    (
        "runtime-deprecated",
        _set("function", "runtime", "python3.9"),
        "lambda-supported-runtime",
        "function",
        "Lambda function runtime 'python3.9' is deprecated or not on the platform's list of "
        "supported runtimes",
    ),
    (
        "runtime-missing",
        _set("function", "runtime", None),
        "lambda-supported-runtime",
        "function",
        "Lambda function sets no runtime; pick a supported one (SH Lambda.2).",
    ),
    (
        "tracing-pass-through",
        _set("function", "tracingConfig", {"mode": "PassThrough"}),
        "lambda-xray-tracing",
        "function",
        "Lambda function tracingConfig.mode is 'PassThrough'; \"Active\" X-Ray tracing is "
        "required (CKV_AWS_50).",
    ),
    (
        "tracing-unset",
        _set("function", "tracingConfig", None),
        "lambda-xray-tracing",
        "function",
        "Lambda function tracingConfig.mode is None",
    ),
    (
        "concurrency-unset",
        _set("function", "reservedConcurrentExecutions", None),
        "lambda-reserved-concurrency",
        "function",
        "Lambda function sets no reservedConcurrentExecutions",
    ),
    (
        "concurrency-unreserved",
        _set("function", "reservedConcurrentExecutions", -1),
        "lambda-reserved-concurrency",
        "function",
        "Lambda function reservedConcurrentExecutions is -1; a whole number of at least 1 is "
        "required (CKV_AWS_115).",
    ),
    (
        "concurrency-zero",
        _set("function", "reservedConcurrentExecutions", 0),
        "lambda-reserved-concurrency",
        "function",
        "reservedConcurrentExecutions is 0;",
    ),
    (
        "no-dlq-and-no-invoke-config",
        _both(NO_DLQ, _drop("invoke-config")),
        "lambda-async-failure-destination",
        "function",
        "Lambda function 'check' has no deadLetterConfig.targetArn and no "
        "FunctionEventInvokeConfig with destinationConfig.onFailure.destination; a failed "
        "asynchronous invocation would be dropped after its retries (CKV_AWS_116).",
    ),
    (
        "no-dlq-and-invoke-config-without-destination",
        _both(NO_DLQ, _set("invoke-config", "destinationConfig", None)),
        "lambda-async-failure-destination",
        "invoke-config",
        "FunctionEventInvokeConfig 'check-async' of Lambda function 'check' sets no "
        "destinationConfig.onFailure.destination and the function has no dead-letter queue",
    ),
    (
        "dlq-not-a-queue-or-topic",
        _set("function", "deadLetterConfig", {"targetArn": FUNCTION_ARN}),
        "lambda-async-failure-destination",
        "function",
        f"Lambda function 'check' deadLetterConfig.targetArn {FUNCTION_ARN!r} is neither an SQS "
        "queue nor an SNS topic.",
    ),
    (
        "environment-without-key",
        _set("function", "kmsKeyArn", None),
        "lambda-environment-kms-encryption",
        "function",
        "Lambda function with environment variables (CKV_AWS_173) sets no kmsKeyArn; encrypt it "
        "with the platform's customer-managed key.",
    ),
    (
        "environment-aws-managed-key",
        _set("function", "kmsKeyArn", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/lambda"),
        "lambda-environment-kms-encryption",
        "function",
        "kmsKeyArn 'arn:aws:kms:eu-west-1:111111111111:alias/aws/lambda' is an AWS-managed key",
    ),
    (
        "environment-password",
        _variables(DB_PASSWORD="hunter2"),
        "lambda-environment-no-secrets",
        "function",
        "Lambda environment variable DB_PASSWORD looks like it holds a secret; keep the secret "
        "in Secrets Manager or SSM Parameter Store",
    ),
    (
        "environment-token",
        _variables(HF_TOKEN="hf_abc"),
        "lambda-environment-no-secrets",
        "function",
        "Lambda environment variable HF_TOKEN looks like it holds a secret",
    ),
    (
        "environment-private-key-name",
        _variables(SIGNING_PRIVATE_KEY="x"),
        "lambda-environment-no-secrets",
        "function",
        "variable SIGNING_PRIVATE_KEY looks like it holds a secret",
    ),
    (
        "environment-access-key-value",
        _variables(UPSTREAM=f"https://{FAKE_KEY}@example.com"),
        "lambda-environment-no-secrets",
        "function",
        "Lambda environment variable UPSTREAM holds what looks like an AWS access key id; never "
        "put credentials in a function's environment (CKV_AWS_45).",
    ),
    (
        "environment-pem-value",
        _variables(CERT_ARN_OR_PEM="-----BEGIN RSA PRIVATE KEY-----\nMIIE"),
        "lambda-environment-no-secrets",
        "function",
        "variable CERT_ARN_OR_PEM holds what looks like a PEM private key",
    ),
    (
        "permission-public",
        _both(_set("permission", "principal", "*"), _set("permission", "principalOrgId", "o-abc")),
        "lambda-permission-not-public",
        "permission",
        'Lambda permission (SH Lambda.1, CKV_AWS_301) grants the public principal "*"',
    ),
    (
        "permission-service-without-source",
        _set("permission", "sourceArn", None),
        "lambda-permission-not-public",
        "permission",
        "Lambda permission (SH Lambda.1, CKV_AWS_301) grants service principal "
        "'events.amazonaws.com' without sourceArn or sourceAccount, so any account's resource "
        "could make the service invoke the function (CKV_AWS_364).",
    ),
    (
        "permission-foreign-source-account",
        _set("permission", "sourceAccount", "999999999999"),
        "lambda-permission-not-public",
        "permission",
        "limits sourceAccount to '999999999999', outside this stack's accounts ['111111111111'].",
    ),
    (
        "permission-other-account",
        _set("permission", "principal", "arn:aws:iam::999999999999:root"),
        "lambda-permission-not-public",
        "permission",
        "allows AWS principal(s) ['arn:aws:iam::999999999999:root'] outside this stack's "
        "accounts ['111111111111'].",
    ),
    (
        "permission-public-function-url",
        _both(
            _set("permission", "action", "lambda:InvokeFunctionUrl"),
            _set("permission", "functionUrlAuthType", "NONE"),
        ),
        "lambda-permission-not-public",
        "permission",
        'sets functionUrlAuthType "NONE": anyone could call the function URL; use AWS_IAM.',
    ),
    (
        "function-url-public",
        _set("function-url", "authorizationType", "NONE"),
        "lambda-function-url-auth",
        "function-url",
        "Lambda function URL authorizationType is 'NONE'; set \"AWS_IAM\" so that only signed "
        'requests of principals the function policy allows can call it ("NONE" lets anyone with '
        "the URL invoke the function) (SH Lambda.1, CKV_AWS_258).",
    ),
    (
        "function-url-auth-unset",
        _set("function-url", "authorizationType", None),
        "lambda-function-url-auth",
        "function-url",
        'Lambda function URL authorizationType is None; set "AWS_IAM" so that only signed '
        'requests of principals the function policy allows can call it ("NONE" lets anyone with '
        "the URL invoke the function) (SH Lambda.1, CKV_AWS_258).",
    ),
    (
        "function-log-group-not-managed",
        _drop("logs"),
        "lambda-log-group-managed",
        "function",
        f"Lambda function 'check' logs to its loggingConfig.logGroup {LOG_GROUP_NAME!r}, which "
        "is not a LogGroup of this stack; Lambda would create it without retention or KMS "
        "encryption.",
    ),
    (
        "function-default-log-group-not-managed",
        _both(_set("function", "loggingConfig", None), _set("logs", "name", "/other")),
        "lambda-log-group-managed",
        "function",
        f"logs to the default log group {LOG_GROUP_NAME!r}, which is not a LogGroup",
    ),
    (
        "log-group-never-expires",
        _set("logs", "retentionInDays", 0),
        "cloudwatch-log-group-retention",
        "logs",
        "log group sets retentionInDays 0, which CloudWatch keeps forever; set an explicit "
        "retention of at least 1 day (SH CloudWatch.16, CKV_AWS_338).",
    ),
    (
        "log-group-retention-unset",
        _set("logs", "retentionInDays", None),
        "cloudwatch-log-group-retention",
        "logs",
        "log group sets retentionInDays None, which CloudWatch keeps forever",
    ),
    (
        "log-group-retention-not-accepted",
        _set("logs", "retentionInDays", 42),
        "cloudwatch-log-group-retention",
        "logs",
        "log group retentionInDays is 42; CloudWatch accepts only [1, 3, 5,",
    ),
    (
        "log-group-unencrypted",
        _set("logs", "kmsKeyId", None),
        "cloudwatch-log-group-kms",
        "logs",
        "log group (CKV_AWS_158) sets no kmsKeyId; encrypt it with the platform's "
        "customer-managed key.",
    ),
    (
        "iam-service-wildcard",
        _policy_doc("role-policy", _allow("S3", ["s3:*"], ["arn:aws:s3:::b/*"])),
        "iam-least-privilege",
        "role-policy",
        "policy statement 0 (S3) allows wildcard action(s) ['s3:*']",
    ),
    (
        "iam-not-action",
        _policy_doc(
            "policy",
            {"Sid": "Most", "Effect": "Allow", "NotAction": "iam:*", "Resource": [FUNCTION_ARN]},
        ),
        "iam-least-privilege",
        "policy",
        "policy statement 0 (Most) allows with NotAction, which grants every other action.",
    ),
    (
        "iam-not-resource",
        _policy_doc(
            "policy",
            {"Sid": "Most", "Effect": "Allow", "Action": "s3:GetObject", "NotResource": "x"},
        ),
        "iam-least-privilege",
        "policy",
        "policy statement 0 (Most) allows with NotResource, which grants every other resource.",
    ),
    (
        "iam-star-resource-for-scopable-action",
        _policy_doc("policy", {**XRAY, "Action": ["xray:PutTraceSegments", "s3:GetObject"]}),
        "iam-least-privilege",
        "policy",
        "policy statement 0 (Traces) allows ['s3:GetObject'] on Resource \"*\"; these actions "
        "can be limited to resource ARNs, so name them",
    ),
    (
        "iam-inline-policy-of-role",
        _set(
            "role",
            "inlinePolicies",
            [{"name": "all", "policy": _document({**XRAY, "Action": "s3:*"})}],
        ),
        "iam-least-privilege",
        "role",
        "inline policy 'all' statement 0 (Traces) allows wildcard action(s) ['s3:*']",
    ),
    (
        "iam-policy-not-json",
        _set("role-policy", "policy", "{not json"),
        "iam-least-privilege",
        "role-policy",
        "policy is not a JSON policy document with a Statement list.",
    ),
    (
        "iam-pass-role-wildcard-arn",
        _policy_doc("role-policy", {**PASS_ROLE, "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"}),
        "iam-no-privilege-escalation",
        "role-policy",
        "policy statement 0 (PassPipelineRole) allows privilege-escalation action(s) "
        "['iam:PassRole'] without naming explicit resource ARNs (CKV_AWS_286).",
    ),
    (
        "iam-pass-role-without-service-condition",
        _policy_doc("role-policy", {**PASS_ROLE, "Condition": {}}),
        "iam-no-privilege-escalation",
        "role-policy",
        "policy statement 0 (PassPipelineRole) allows iam:PassRole without an "
        "iam:PassedToService condition naming the services the roles may be passed to.",
    ),
    (
        "iam-put-role-policy-on-pattern",
        _policy_doc(
            "policy", _allow("Grow", ["iam:Put*Policy"], [f"arn:aws:iam::{ACCOUNT}:role/mlops-*"])
        ),
        "iam-no-privilege-escalation",
        "policy",
        "allows privilege-escalation action(s) ['iam:PutRolePolicy', 'iam:PutUserPolicy', "
        "'iam:PutGroupPolicy'] without naming explicit resource ARNs",
    ),
    (
        "iam-admin-attachment",
        _set("attachment", "policyArn", "arn:aws:iam::aws:policy/AdministratorAccess"),
        "iam-no-admin-managed-policies",
        "attachment",
        "attaches the AWS-managed policy 'arn:aws:iam::aws:policy/AdministratorAccess', which "
        "grants far more than any platform principal needs (SH IAM.1)",
    ),
    (
        "iam-power-user-on-role",
        _set("role", "managedPolicyArns", ["arn:aws:iam::aws:policy/PowerUserAccess"]),
        "iam-no-admin-managed-policies",
        "role",
        "attaches the AWS-managed policy 'arn:aws:iam::aws:policy/PowerUserAccess'",
    ),
    (
        "trust-service-without-source",
        _trust_doc({**_trust("lambda.amazonaws.com"), "Condition": {}}),
        "iam-role-trust-policy",
        "role",
        "trust policy statement 0 (ServiceAssumesRole) trusts service principal(s) "
        "['lambda.amazonaws.com'] without an aws:SourceAccount or aws:SourceArn condition "
        "(confused deputy).",
    ),
    (
        "trust-negated-source-condition",
        _trust_doc(
            _trust(
                "scheduler.amazonaws.com",
                StringNotEquals={"aws:SourceAccount": "999999999999"},
            )
        ),
        "iam-role-trust-policy",
        "role",
        "trusts service principal(s) ['scheduler.amazonaws.com'] without an aws:SourceAccount",
    ),
    (
        "trust-public",
        _trust_doc({**_trust("lambda.amazonaws.com"), "Principal": {"AWS": "*"}}),
        "iam-role-trust-policy",
        "role",
        'trust policy statement 0 (ServiceAssumesRole) trusts the public principal "*".',
    ),
    (
        "trust-other-account",
        _trust_doc({**_trust("x"), "Principal": {"AWS": "arn:aws:iam::999999999999:role/ci"}}),
        "iam-role-trust-policy",
        "role",
        "allows AWS principal(s) ['arn:aws:iam::999999999999:role/ci'] outside this stack's "
        "accounts ['111111111111'].",
    ),
    (
        "trust-foreign-source-account",
        _trust_doc(
            _trust("states.amazonaws.com", StringEquals={"aws:SourceAccount": "999999999999"})
        ),
        "iam-role-trust-policy",
        "role",
        "limits aws:SourceAccount to ['999999999999'], outside this stack's accounts",
    ),
    (
        "trust-federated-without-audience",
        _trust_doc(
            {
                **_trust("x"),
                "Principal": {"Federated": "arn:aws:iam::111111111111:oidc-provider/x"},
                "Action": "sts:AssumeRoleWithWebIdentity",
            }
        ),
        "iam-role-trust-policy",
        "role",
        "trusts federated principal(s) ['arn:aws:iam::111111111111:oidc-provider/x'] without a "
        "condition on the token's audience or subject (:aud / :sub).",
    ),
    (
        "schedule-no-retry-policy",
        _set("schedule", "target.retryPolicy", None),
        "scheduler-schedule-retry-and-dlq",
        "schedule",
        "schedule target sets no retryPolicy; set maximumRetryAttempts and "
        "maximumEventAgeInSeconds explicitly (the default retries for 24 hours).",
    ),
    (
        "schedule-retry-field-missing",
        _set("schedule", "target.retryPolicy.maximumRetryAttempts", None),
        "scheduler-schedule-retry-and-dlq",
        "schedule",
        "schedule target sets no retryPolicy.maximumRetryAttempts; set it explicitly (0 to 185).",
    ),
    (
        "schedule-event-age-too-long",
        _set("schedule", "target.retryPolicy.maximumEventAgeInSeconds", 90_000),
        "scheduler-schedule-retry-and-dlq",
        "schedule",
        "schedule target retryPolicy.maximumEventAgeInSeconds is 90000; 60 to 86400 accepted.",
    ),
    (
        "schedule-no-dlq",
        _set("schedule", "target.deadLetterConfig", None),
        "scheduler-schedule-retry-and-dlq",
        "schedule",
        "schedule target sets no deadLetterConfig.arn; without a dead-letter queue an "
        "invocation is dropped once its retries run out.",
    ),
    (
        "schedule-dlq-not-sqs",
        _set("schedule", "target.deadLetterConfig", {"arn": TOPIC_ARN}),
        "scheduler-schedule-retry-and-dlq",
        "schedule",
        f"schedule target deadLetterConfig.arn {TOPIC_ARN!r} is not an SQS queue.",
    ),
    (
        "schedule-unencrypted",
        _set("schedule", "kmsKeyArn", None),
        "scheduler-schedule-kms",
        "schedule",
        "schedule sets no kmsKeyArn; encrypt it with the platform's customer-managed key.",
    ),
    (
        "state-machine-logging-off",
        _set("state-machine", "loggingConfiguration.level", "OFF"),
        "sfn-state-machine-logging",
        "state-machine",
        "state machine loggingConfiguration.level is 'OFF'; log at least errors (one of "
        "['ALL', 'ERROR', 'FATAL']).",
    ),
    (
        "state-machine-no-log-destination",
        _set("state-machine", "loggingConfiguration.logDestination", None),
        "sfn-state-machine-logging",
        "state-machine",
        "state machine loggingConfiguration sets no logDestination (a log group).",
    ),
    (
        "state-machine-log-destination-without-suffix",
        _set(
            "state-machine",
            "loggingConfiguration.logDestination",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/sfn/x",
        ),
        "sfn-state-machine-logging",
        "state-machine",
        'is not a log group ARN ending in ":*", which Step Functions requires.',
    ),
    (
        "state-machine-untraced",
        _set("state-machine", "tracingConfiguration", None),
        "sfn-state-machine-tracing",
        "state-machine",
        "state machine X-Ray tracing is off; set tracingConfiguration.enabled: true.",
    ),
    (
        "state-machine-aws-owned-key",
        _set("state-machine", "encryptionConfiguration", {"type": "AWS_OWNED_KEY"}),
        "sfn-state-machine-kms",
        "state-machine",
        "state machine encryptionConfiguration.type is 'AWS_OWNED_KEY'; "
        "CUSTOMER_MANAGED_KMS_KEY with the platform key is required.",
    ),
    (
        "state-machine-customer-key-missing",
        _set("state-machine", "encryptionConfiguration.kmsKeyId", None),
        "sfn-state-machine-kms",
        "state-machine",
        "state machine encryptionConfiguration sets no kmsKeyId",
    ),
]


@pytest.mark.parametrize(
    ("change", "policy", "kind", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_violations(change: Change, policy: str, kind: str, message: str) -> None:
    resources = compliant()
    urn = resources[kind].urn
    change(resources)
    found = findings(resources)
    assert [(p, u) for p, u, _ in found] == [(policy, urn)], found
    assert message in found[0][2]


def test_every_policy_here_has_a_violating_case() -> None:
    from policy.mlops_policies.iam import IAM_POLICIES
    from policy.mlops_policies.lambda_ import LAMBDA_POLICIES
    from policy.mlops_policies.logs import LOG_POLICIES
    from policy.mlops_policies.orchestration import ORCHESTRATION_POLICIES

    names = {
        p.name for p in (*LAMBDA_POLICIES, *LOG_POLICIES, *IAM_POLICIES, *ORCHESTRATION_POLICIES)
    }
    assert {case[2] for case in BAD_CASES} == names


def test_a_star_action_is_a_wildcard_and_a_privilege_escalation() -> None:
    resources = compliant()
    _policy_doc("role-policy", READ_CAPTURE, _allow("All", ["*"], [ROLE_ARN]))(resources)
    urn = resources["role-policy"].urn
    found = findings(resources)
    assert [(p, u) for p, u, _ in found] == [
        ("iam-least-privilege", urn),
        ("iam-no-privilege-escalation", urn),
    ]
    assert found[0][2] == (
        "policy statement 1 (All) allows wildcard action(s) ['*']; name the actions "
        "(SH IAM.1/IAM.21, CKV_AWS_62/63)."
    )
    assert found[1][2] == (
        "policy statement 1 (All) allows iam:PassRole without an iam:PassedToService condition "
        "naming the services the roles may be passed to."
    )


def test_not_action_grants_the_escalation_actions_it_does_not_exclude() -> None:
    resources = compliant()
    _policy_doc(
        "policy",
        {"Sid": "Most", "Effect": "Allow", "NotAction": ["iam:*", "lambda:*"], "Resource": "*"},
        {
            "Sid": "Rest",
            "Effect": "Allow",
            "NotAction": ["iam:*", "lambda:Update*", "glue:*"],
            "Resource": [FUNCTION_ARN],
        },
    )(resources)
    found = [(p, m) for p, _, m in findings(resources) if p == "iam-no-privilege-escalation"]
    assert found == [
        (
            "iam-no-privilege-escalation",
            "policy statement 0 (Most) allows privilege-escalation action(s) "
            "['glue:UpdateDevEndpoint', 'sagemaker:CreatePresignedNotebookInstanceUrl'] without "
            "naming explicit resource ARNs (CKV_AWS_286).",
        )
    ]


def test_secret_messages_never_repeat_the_value() -> None:
    resources = compliant()
    _variables(UPSTREAM=FAKE_KEY, DB_PASSWORD="hunter2")(resources)
    messages = [m for _, _, m in findings(resources)]
    assert len(messages) == 2
    assert not any(FAKE_KEY in m or "hunter2" in m for m in messages)


# ---- linking and what is accepted -------------------------------------------------------------


def test_invoke_config_is_linked_by_function_arn_without_dependencies() -> None:
    """In a stack where the config names its function by ARN (with a qualifier) and records no
    property dependency, the destination is still found."""
    resources = compliant()
    NO_DLQ(resources)
    config = resources["invoke-config"]
    config.inputs["functionName"] = f"{FUNCTION_ARN}:live"
    resources["invoke-config"] = record(INVOKE_CONFIG, config.name, config.inputs)
    assert findings(resources) == []


def test_function_logs_to_its_default_log_group_when_the_stack_manages_it() -> None:
    resources = compliant()
    resources["function"].inputs.pop("loggingConfig")
    resources["function"] = record(FUNCTION, "check", resources["function"].inputs)
    assert findings(resources) == []


def test_the_platform_runtime_is_supported_and_old_ones_are_not() -> None:
    from policy.mlops_policies.lambda_ import SUPPORTED_RUNTIMES

    assert "python3.13" in SUPPORTED_RUNTIMES
    assert not {"python3.8", "python3.9", "nodejs18.x", "go1.x"} & set(SUPPORTED_RUNTIMES)


def test_reference_named_secrets_and_lookalike_names_pass() -> None:
    resources = compliant()
    _variables(
        DB_SECRET_ID="mlops/db",
        ACCESS_KEY_ARN=SECRET_ARN,
        TOKEN_PARAMETER_PATH="/mlops/token",
        MAX_TOKENS="4096",
        TOKENIZER_NAME="bert",
        PASSWORDLESS="true",
    )(resources)
    assert findings(resources) == []


def test_permission_for_this_account_passes() -> None:
    resources = compliant()
    resources["permission"].inputs["principal"] = ACCOUNT
    resources["permission"].inputs.pop("sourceArn")
    assert findings(resources) == []


def test_federated_trust_with_an_audience_passes() -> None:
    resources = compliant()
    _trust_doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts"}},
        }
    )(resources)
    assert findings(resources) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, []),
        (
            {"minimumRetentionDays": 365},
            ["log group retentionInDays is 30; at least 365 days are required (SH CloudWatch.16)."],
        ),
    ],
    ids=["default-minimum", "security-hub-minimum"],
)
def test_log_group_minimum_retention_is_configurable(
    config: dict[str, Any], expected: list[str]
) -> None:
    from policy.mlops_policies.logs import LOG_POLICIES

    retention = next(p for p in LOG_POLICIES if p.name == "cloudwatch-log-group-retention")
    assert isinstance(retention, ResourceValidationPolicy)
    logs = compliant()["logs"]
    logs.inputs["retentionInDays"] = 30
    aws = _pinned_provider()
    found: list[str] = []
    retention.validate(
        validation_args(logs, {aws.urn: aws}, config),
        lambda message, urn=None: found.append(message),
    )
    assert found == expected


# ---- not applicable, with the reason ----------------------------------------------------------


def test_lambda_stack_policies_do_not_apply_without_functions() -> None:
    resources = compliant()
    for kind in ("function", "invoke-config"):
        resources.pop(kind)
    stack = "urn:pulumi:prod::mlops-platform::pulumi:pulumi:Stack::mlops-platform-prod"
    found = [f for f in not_applicable(resources) if f[0].startswith("lambda-")]
    assert found == [
        ("lambda-async-failure-destination", stack, "the stack has no Lambda functions"),
        ("lambda-log-group-managed", stack, "the stack has no Lambda functions"),
    ]


def test_environment_policies_do_not_apply_without_variables() -> None:
    resources = compliant()
    _set("function", "environment", None)(resources)
    _set("function", "kmsKeyArn", None)(resources)
    assert findings(resources) == []
    urn = resources["function"].urn
    reason = "the function has no environment variables"
    assert [f for f in not_applicable(resources) if f[1] == urn] == [
        ("lambda-environment-kms-encryption", urn, reason),
        ("lambda-environment-no-secrets", urn, reason),
    ]


def test_runtime_policy_does_not_apply_to_container_images() -> None:
    resources = compliant()
    _set("function", "runtime", None)(resources)
    _set("function", "packageType", "Image")(resources)
    assert findings(resources) == []
    urn = resources["function"].urn
    assert ("lambda-supported-runtime", urn) in [(p, u) for p, u, _ in not_applicable(resources)]


def test_identity_policies_do_not_apply_to_a_role_without_inline_policies() -> None:
    resources = compliant()
    resources["role"].inputs.pop("inlinePolicies")
    urn = resources["role"].urn
    reason = (
        "the role has no inline policies; its RolePolicy and attached policies are checked as "
        "resources of their own"
    )
    assert [f for f in not_applicable(resources) if f[1] == urn] == [
        ("iam-least-privilege", urn, reason),
        ("iam-no-privilege-escalation", urn, reason),
    ]


# ---- through the analyzer, as the Pulumi CLI runs the pack ------------------------------------

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's marker for a string that is not known during a preview."""


def _analyze_request(resource: Registration, aws: Registration) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        urn=resource.urn,
        name=resource.name,
        properties=to_struct(resource.inputs),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=False),
        provider=analyzer_pb2.AnalyzerProviderResource(
            type=aws.type, urn=aws.urn, name=aws.name, properties=to_struct(aws.inputs)
        ),
    )


def test_preview_values_through_the_analyzer(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """In a preview, props are CrossGuard's read-only proxies and an output of another resource
    is unknown: a reference wired from a secret's ARN passes, a secret-named variable does
    not, and a service principal's unknown sourceArn counts as set."""
    aws = _pinned_provider()
    resources = compliant()
    function = resources["function"]
    function.inputs["environment"] = {
        "variables": {"HF_TOKEN_SECRET_ARN": UNKNOWN_STRING, "DRIFT_BUCKET": UNKNOWN_STRING}
    }
    function.inputs["kmsKeyArn"] = UNKNOWN_STRING
    assert list(analyzer.Analyze(_analyze_request(function, aws)).diagnostics) == []
    permission = resources["permission"]
    permission.inputs["sourceArn"] = UNKNOWN_STRING
    assert list(analyzer.Analyze(_analyze_request(permission, aws)).diagnostics) == []

    function.inputs["environment"]["variables"]["DB_PASSWORD"] = UNKNOWN_STRING
    found = [
        (d.policyName, d.message)
        for d in analyzer.Analyze(_analyze_request(function, aws)).diagnostics
    ]
    assert [p for p, _ in found] == ["lambda-environment-no-secrets"]
    assert "variable DB_PASSWORD looks like it holds a secret" in found[0][1]


def test_unknown_names_link_through_dependencies_in_the_analyzer(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """`AnalyzeStack` in a preview: the function's, log group's and invoke config's names are
    not known yet, but the property dependencies still link them, so only a real fault shows."""
    from tests.policy.test_stack_policies_grpc import _request

    resources = compliant()
    NO_DLQ(resources)
    resources["function"].inputs["name"] = UNKNOWN_STRING
    resources["function"].inputs["loggingConfig"]["logGroup"] = UNKNOWN_STRING
    resources["logs"].inputs["name"] = UNKNOWN_STRING
    resources["invoke-config"].inputs["functionName"] = UNKNOWN_STRING
    records = [_pinned_provider(), *resources.values()]
    response = analyzer.AnalyzeStack(_request(records))
    assert [(d.policyName, d.message) for d in response.diagnostics] == []

    resources["invoke-config"].inputs.pop("destinationConfig")
    response = analyzer.AnalyzeStack(_request([_pinned_provider(), *resources.values()]))
    found = [(d.policyName, d.urn) for d in response.diagnostics]
    assert found == [("lambda-async-failure-destination", resources["invoke-config"].urn)]


def test_function_url_auth_through_the_analyzer(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """The URL's function name is unknown in a preview; its authorizationType is a literal and
    is judged: AWS_IAM passes, NONE is reported with the message the offline plan gives."""
    aws = _pinned_provider()
    url = compliant()["function-url"]
    url.inputs["functionName"] = UNKNOWN_STRING
    assert list(analyzer.Analyze(_analyze_request(url, aws)).diagnostics) == []

    url.inputs["authorizationType"] = "NONE"
    from policy.mlops_policies.lambda_ import LAMBDA_POLICIES

    response = analyzer.Analyze(_analyze_request(url, aws))
    _, _, policy, _, message = next(c for c in BAD_CASES if c[0] == "function-url-public")
    description = next(p.description for p in LAMBDA_POLICIES if p.name == policy)
    # The analyzer prefixes the policy's description to the reported message.
    assert [(d.policyName, d.message) for d in response.diagnostics] == [
        (policy, f"{description}\n{message}")
    ]
