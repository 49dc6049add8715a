"""Least privilege, enforced: the plan's role policies decide every call the functions make.

How IAM enforcement is switched on
----------------------------------
moto's server checks credentials and permissions once `moto.settings.INITIAL_NO_AUTH_ACTION_COUNT`
is finite (its default is infinity: everything allowed). Over HTTP that is `POST
/moto-api/reset-auth` with the count as body: the next N actions run unauthenticated, every
later one must be signed with a known access key and be allowed. The harness posts 3 and spends
them on `CreateUser`, `PutUserPolicy` and `CreateAccessKey` of its admin; everything after
(seeding included) is signed and authorized. It posts `inf` again when it stops: the server runs
in the test's process, where the in-process moto of other tests shares these settings.

What moto's own evaluation covers (moto 5.2, `moto/iam/access_control.py`, verified)
----------------------------------------------------------------------------------
- Authentication: the SigV4 signature is recomputed with the stored secret; the access key must
  be an IAM user's or an STS session's (with its session token). Anything else is
  `InvalidClientTokenId` / `SignatureDoesNotMatch`.
- The policies of the principal: a user's inline and attached policies and its groups'; an
  assumed role's inline and attached policies. Explicit `Deny` wins over `Allow`.
- The action is `<signing name>:<API operation>` (S3 has its own map to IAM names:
  ListObjectsV2 is `s3:ListBucket`, HeadObject `s3:GetObject`), matched case-sensitively as a
  regular expression in which `*` becomes `.*` (no escaping; `?` is not a wildcard). Where the
  IAM action differs from the operation, moto asks for the wrong one: DescribeBudget is checked
  as `budgets:DescribeBudget`, AWS requires `budgets:ViewBudget`.
- The resource is known only for S3 (the bucket or object ARN), SQS (the queue ARN), STS
  AssumeRole and IAM. Every other service is checked against `*`, so a statement scoped to an ARN
  never matches: with the plan's policies every DynamoDB, SageMaker, EventBridge, SNS and Budgets
  call is denied (verified: `dynamodb:GetItem` on the table's ARN gives AccessDenied).
- Conditions: only `StringEquals`, and only with values moto gathers for trust policies
  (AssumeRole). Every other operator (`StringLike`, `ArnLike`, `Bool`, ...) is skipped as met,
  and identity policies get no context at all, so `StringEquals` is met too: `s3:prefix` and
  `kms:ViaService` conditions are never evaluated. A statement without `Resource` (one with
  `NotResource`) is taken as permitting every resource, even when its effect is `Deny`.
- KMS on behalf of a service: none. moto stores SSE-KMS objects and encrypted topics without
  asking whether the caller may use the key.

What the harness evaluates instead (`install_enforcement`, `evaluate`, `required`)
----------------------------------------------------------------------------------
It keeps moto's authentication and moto's collection of the principal's policies (so what is
evaluated is what is attached to the role in moto's IAM), and replaces the decision
(`IAMRequestBase.check_action_permitted`) while a harness runs:
- IAM action names (`budgets:ViewBudget` for DescribeBudget; otherwise the operation's name);
- resource ARNs from the request: the DynamoDB table, the SageMaker pipeline, model package,
  endpoint, endpoint config or model (name lowercased, as SageMaker writes its ARNs, so a policy
  with the name's own case would fail here as in AWS), the SSM parameter (GetParameter's name,
  GetParametersByPath's path), the endpoint a sagemaker-runtime InvokeEndpoint names in its
  path, the Firehose delivery stream,
  the event bus of each PutEvents entry, the SNS topic, the budget, the S3 bucket or object,
  the SQS queue; the Lambda function an Invoke names in its path (`lambda:InvokeFunction`), the
  KMS key a request's `KeyId` names, the ECR repository (of `registryId`'s account), the
  CloudWatch Logs group or stream, Glue's catalog, database and table, the Step Functions
  state machine (StartExecution) or execution (Describe/StopExecution) (`_more_service_resources`);
  with `iam:PolicyARN` for Attach/DetachRolePolicy and `cloudwatch:namespace` for PutMetricData
  (`_service_context`); the SageMaker processing, training or transform job a request names,
  and EC2's network interface, its subnet and security groups (`_ec2_resources`; Describe* on
  `*`), for SageMaker jobs run by `loop.pipeline`;
- the request context: `aws:RequestedRegion`, `aws:PrincipalArn`, `aws:PrincipalAccount`,
  `aws:SecureTransport` (true: the functions reach AWS over TLS, the local HTTP is the
  harness's), and for S3 ListBucket `s3:prefix`, `s3:delimiter`, `s3:max-keys`;
- the KMS permissions AWS checks with the caller's own identity when a service uses a key for
  it: S3 SSE-KMS (GetObject/HeadObject of an object under a key: `kms:Decrypt`; PutObject into
  a bucket whose default encryption is a key, or naming a key in its SSE-KMS headers:
  `kms:GenerateDataKey`) and encrypted SNS topics
  (Publish: `kms:GenerateDataKey` and `kms:Decrypt`) and SSE-KMS SQS queues (SendMessage: the
  same two, when `KeyLookups.queue_key` knows the queue's key), each on the key's ARN with
  `kms:ViaService` = `<service>.<region>.amazonaws.com`, `kms:CallerAccount` and, for S3,
  `kms:EncryptionContext:aws:s3:arn` (the bucket's ARN when the bucket key is on);
- the policy grammar: Action/NotAction (case-insensitive, `*` and `?`), Resource/NotResource
  (case-sensitive, `*` and `?`), Condition blocks (every operator and key must hold, any value
  of a key may match) with the String, Arn, Bool, Null and Numeric operators, `...IfExists`,
  `ForAnyValue:` and `ForAllValues:`; an absent key fails a positive operator and passes a
  negated one. Anything else (another operator, a policy variable) fails closed, with the
  reason in the denial.
Checks a service makes with the principal's identity outside any request it signs (SageMaker's
`iam:PassRole`, a volume's `kms:CreateGrant`) are evaluated the same way by `Enforcement.check`.
Every decision is logged (`Enforcement.decisions`). A denied call answers `AccessDenied` to the
function and stays in the log, so a handler that only logs the error (the trigger's
notifications) still fails the loop: `ClosedLoop` checks `Enforcement.gaps()` after every
invocation. tests/e2e/test_iam_evaluation.py runs the plan's policies through both evaluators.

What neither checks
-------------------
Resource-based policies (bucket, key, topic and queue policies), permission boundaries, SCPs and
session policies (the plan has none of the last three); DynamoDB's use of the table's key (it
uses the key through the grants it holds and caches the table key; a per-request check of the
caller's `kms:Decrypt` is not emulated), so the trigger's `dynamodb` `kms:ViaService` value is
not exercised; Firehose's use of a stream's customer key (it encrypts with the grant made when
the stream was created, not with the producer's identity, so a producer's `kms:ViaService`
firehose statement is not exercised); what the
Lambda service does with the role (logs, X-Ray, the asynchronous dead-letter queue): the
harness runs the handlers, not the Lambda service (tests/e2e/test_lambda_service_uses.py makes
those calls with each role: CloudWatch Logs' CreateLogStream and PutLogEvents are checked on the
stream's ARN, X-Ray's PutTraceSegments and PutTelemetryRecords on `*`, an SSE-KMS queue's
SendMessage also as `kms:GenerateDataKey` and `kms:Decrypt` through SQS). An operation the
resolver does not know is checked against resource `*` (as moto would), which a
resource-scoped policy never allows:
a new call in a handler fails here until it is described in `required`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.iam import access_control
from moto.s3.exceptions import S3ClientError

ContextValues = Mapping[str, Sequence[str]]

# Operations whose IAM action is not `<service>:<operation>`.
ACTION_NAMES: Final[Mapping[str, str]] = {
    "budgets:DescribeBudget": "budgets:ViewBudget",
    "budgets:DescribeBudgets": "budgets:ViewBudget",
    "budgets:CreateBudget": "budgets:ModifyBudget",
    "budgets:UpdateBudget": "budgets:ModifyBudget",
    "budgets:DeleteBudget": "budgets:ModifyBudget",
    # moto names X-Ray's REST operations by their paths (`/TraceSegments`).
    "xray:TraceSegments": "xray:PutTraceSegments",
    "xray:TelemetryRecords": "xray:PutTelemetryRecords",
    # CloudWatch signs as `monitoring`; its IAM prefix is `cloudwatch`.
    "monitoring:PutMetricData": "cloudwatch:PutMetricData",
    # Lambda's Invoke operation is authorized as `lambda:InvokeFunction`.
    "lambda:Invoke": "lambda:InvokeFunction",
}


SAGEMAKER_NAMED: Final = (
    ("ProcessingJobName", "processing-job"),
    ("TrainingJobName", "training-job"),
    ("TransformJobName", "transform-job"),
    ("EndpointName", "endpoint"),
    ("EndpointConfigName", "endpoint-config"),
    ("ModelName", "model"),
)
"""SageMaker request parameters naming one resource, by the ARN kind they name, in the order
they are looked for (CreateEndpoint names the endpoint and its config: the endpoint is the
resource; CreateTransformJob names the job and its model: the job is)."""


RUNTIME_OPERATIONS: Final = frozenset(
    {"InvokeEndpoint", "InvokeEndpointAsync", "InvokeEndpointWithResponseStream"}
)
"""sagemaker-runtime's operations (signed as `sagemaker`): REST-JSON, the endpoint in the path
(`/endpoints/<name>/invocations`), the body the model's payload."""


class UnsupportedPolicyError(ValueError):
    """The policy uses what `evaluate` does not implement: denied, never guessed."""


# ---- the policy grammar --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the principal's policies say about one action on one resource."""

    allowed: bool
    statement: str | None
    """The Sid (or `#<index>`) of the statement that decided: the allow, or the deny."""
    reason: str


def _glob(pattern: str, value: str, *, ignore_case: bool) -> bool:
    if "${" in pattern:
        raise UnsupportedPolicyError(f"policy variables are not evaluated: {pattern!r}")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return (
        re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        is not None
    )


def _listed(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _one_value(base: str, expected: str, actual: str) -> bool:
    """Does `actual` satisfy the positive operator `base` for the policy's `expected`?"""
    if base == "StringEquals":
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike", "ArnEquals"):  # ArnEquals takes wildcards as ArnLike
        return _glob(expected, actual, ignore_case=False)
    if base == "Bool":
        return actual.lower() == expected.lower()
    if base.startswith("Numeric"):
        try:
            a, e = float(actual), float(expected)
        except ValueError:
            return False
        return {
            "NumericEquals": a == e,
            "NumericLessThan": a < e,
            "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e,
            "NumericGreaterThanEquals": a >= e,
        }[base]
    raise UnsupportedPolicyError(f"condition operator {base!r} is not evaluated")


_NEGATED: Final = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}
_POSITIVE: Final = {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "Bool",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
}


def condition_holds(operator: str, key: str, expected: Any, context: ContextValues) -> bool:
    """One operator on one key, with IAM's rules for absent keys and multivalued keys."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    values = {k.lower(): list(v) for k, v in context.items()}.get(key.lower())
    wanted = _listed(expected)
    if base == "Null":
        absent = not values
        return all((w.lower() == "true") == absent for w in wanted)
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)
    if positive not in _POSITIVE:
        raise UnsupportedPolicyError(f"condition operator {operator!r} is not evaluated")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicyError(f"condition qualifier {qualifier!r} is not evaluated")
    if not values:
        if qualifier == "ForAllValues":
            return True
        return if_exists or (negated and qualifier == "")

    def matches(actual: str) -> bool:
        hit = any(_one_value(positive, w, actual) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(v) for v in values)
    if negated and qualifier == "":
        return all(matches(v) for v in values)
    return any(matches(v) for v in values)


def _statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: ContextValues
) -> bool:
    if "Action" in statement:
        if not any(_glob(p, action, ignore_case=True) for p in _listed(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_glob(p, action, ignore_case=True) for p in _listed(statement["NotAction"])):
            return False
    else:
        raise UnsupportedPolicyError("a statement without Action or NotAction")
    if "Resource" in statement:
        if not any(_glob(p, resource, ignore_case=False) for p in _listed(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(_glob(p, resource, ignore_case=False) for p in _listed(statement["NotResource"])):
            return False
    else:
        raise UnsupportedPolicyError("an identity policy statement without Resource")
    for operator, keys in dict(statement.get("Condition") or {}).items():
        for key, expected in dict(keys).items():
            if not condition_holds(operator, key, expected, context):
                return False
    return True


def statements(document: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else dict(document)
    found = parsed.get("Statement", [])
    return [dict(s) for s in (found if isinstance(found, list) else [found])]


def evaluate(
    documents: Sequence[str | Mapping[str, Any]],
    action: str,
    resource: str,
    context: ContextValues,
) -> Verdict:
    """IAM's identity-policy decision: an explicit deny wins, then an allow, else denied."""
    allow: str | None = None
    try:
        for document in documents:
            for index, statement in enumerate(statements(document)):
                if not _statement_applies(statement, action, resource, context):
                    continue
                sid = str(statement.get("Sid") or f"#{index}")
                if statement.get("Effect") == "Deny":
                    return Verdict(False, sid, f"explicitly denied by statement {sid}")
                if statement.get("Effect") == "Allow" and allow is None:
                    allow = sid
    except UnsupportedPolicyError as exc:
        return Verdict(False, None, f"not evaluated, so denied: {exc}")
    if allow is not None:
        return Verdict(True, allow, f"allowed by statement {allow}")
    return Verdict(False, None, f"no identity-based policy allows the {action} action")


# ---- what a request needs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Permission:
    """One IAM check a request needs."""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)
    via: str | None = None
    """Set for the KMS checks a service makes with the caller's identity (`s3`, `sns`)."""


@dataclass(frozen=True)
class WireRequest:
    """A signed request as moto's authorizer sees it."""

    operation: str
    """`<service>:<operation>` as moto names it (S3: already the IAM action name)."""
    moto_resource: str
    params: Mapping[str, Any]
    path: str
    account: str
    region: str
    partition: str = "aws"
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request's headers (S3: the SSE-KMS key a PutObject names)."""


@dataclass(frozen=True)
class KeyLookups:
    """Where the keys that protect stored data are found (moto's backends, in the harness)."""

    object_key: Callable[[str, str], tuple[str, bool] | None]
    """(bucket, key) -> (KMS key id or ARN, bucket key on) of an SSE-KMS object, else None."""
    bucket_default_key: Callable[[str], tuple[str, bool] | None]
    """bucket -> (KMS key, bucket key on) of its default SSE-KMS encryption, else None."""
    topic_key: Callable[[str], str | None]
    """topic ARN -> its KMS key, else None."""
    queue_key: Callable[[str], str | None] = field(default=lambda _queue: None)
    """queue ARN -> its KMS key (SQS SSE-KMS), else None (`loop.services` sets it)."""
    ec2_id: Callable[[str], str] = field(default=lambda given: given)
    """moto's id of a subnet or security group -> the id the plan names (moto picks its own
    ids; `loop.pipeline` sets it for the network it seeds), so a policy scoped to the plan's
    subnets is judged on them."""


def key_arn(key: str, request: WireRequest) -> str:
    if key.startswith("arn:"):
        return key
    if key.startswith("alias/"):
        return f"arn:{request.partition}:kms:{request.region}:{request.account}:{key}"
    return f"arn:{request.partition}:kms:{request.region}:{request.account}:key/{key}"


def _param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _arn(request: WireRequest, service: str, resource: str, *, region: bool = True) -> str:
    where = request.region if region else ""
    return f"arn:{request.partition}:{service}:{where}:{request.account}:{resource}"


def _service_resources(request: WireRequest) -> list[str]:
    """The resources of a non-S3 operation, from its parameters (`*` when unknown)."""
    service, _, operation = request.operation.partition(":")
    params = request.params
    if service == "dynamodb":
        table = _param(params, "TableName")
        return [_arn(request, "dynamodb", f"table/{table}")] if table else ["*"]
    if service == "sagemaker":
        pipeline = _param(params, "PipelineName")
        if pipeline:  # SageMaker writes its ARNs in lowercase
            return [_arn(request, "sagemaker", f"pipeline/{pipeline.lower()}")]
        execution = _param(params, "PipelineExecutionArn")
        if execution:
            return [execution.lower()]
        if operation in RUNTIME_OPERATIONS:  # sagemaker-runtime: the endpoint is in the path
            parts = urlsplit(request.path).path.split("/")
            if len(parts) > 2 and parts[1] == "endpoints":
                return [_arn(request, "sagemaker", f"endpoint/{unquote(parts[2]).lower()}")]
            return ["*"]
        package = _param(params, "ModelPackageName")
        if package:  # an ARN (a versioned package), or an unversioned package's name
            return [
                package.lower()
                if package.startswith("arn:")
                else _arn(request, "sagemaker", f"model-package/{package.lower()}")
            ]
        group = _param(params, "ModelPackageGroupName")
        if group:
            return [_arn(request, "sagemaker", f"model-package-group/{group.lower()}")]
        # Describe and Delete of one resource name only it (Create names the config too).
        for name, kind in SAGEMAKER_NAMED:
            value = _param(params, name)
            if value:
                return [_arn(request, "sagemaker", f"{kind}/{value.lower()}")]
        return ["*"]
    if service == "ec2":
        return _ec2_resources(request)
    if service == "firehose":
        stream = _param(params, "DeliveryStreamName")
        return [_arn(request, "firehose", f"deliverystream/{stream}")] if stream else ["*"]
    if service == "ssm":
        # A parameter's ARN is `parameter` + its name, with a `/` added to a name without one.
        parameter = _param(params, "Name") or _param(params, "Path")
        if parameter:
            slash = "" if parameter.startswith("/") else "/"
            return [_arn(request, "ssm", f"parameter{slash}{parameter}")]
        return ["*"]
    if service == "events" and operation == "PutEvents":
        buses = []
        for entry in params.get("Entries") or []:
            bus = str(dict(entry).get("EventBusName") or "default")
            buses.append(
                bus if bus.startswith("arn:") else _arn(request, "events", f"event-bus/{bus}")
            )
        return sorted(set(buses)) or ["*"]
    if service == "sns":
        topic = _param(params, "TopicArn") or _param(params, "TargetArn")
        return [topic] if topic else ["*"]
    if service == "budgets":
        budget = _param(params, "BudgetName")
        account = _param(params, "AccountId") or request.account
        name = budget or "*"
        return [f"arn:{request.partition}:budgets::{account}:budget/{name}"]
    found = _more_service_resources(request)
    return found if found is not None else [request.moto_resource]


def _ec2_resources(
    request: WireRequest, ec2_id: Callable[[str], str] = lambda given: given
) -> list[str]:
    """EC2's network-interface calls (a SageMaker job in a VPC): CreateNetworkInterface on the
    new interface (`network-interface/*`), its subnet and each security group; the calls on an
    interface on that interface; Describe* take no resource (`*`)."""
    operation = request.operation.partition(":")[2]
    params = request.params
    if operation == "CreateNetworkInterface":
        subnet = _param(params, "SubnetId")
        groups = sorted(
            str(v[0] if isinstance(v, list) else v)
            for k, v in params.items()
            if k.startswith("SecurityGroupId.")
        )
        return [
            _arn(request, "ec2", "network-interface/*"),
            *([_arn(request, "ec2", f"subnet/{ec2_id(subnet)}")] if subnet else []),
            *(_arn(request, "ec2", f"security-group/{ec2_id(g)}") for g in groups),
        ]
    interface = _param(params, "NetworkInterfaceId")
    if interface and not operation.startswith("Describe"):
        return [_arn(request, "ec2", f"network-interface/{interface}")]
    return ["*"]


def _more_service_resources(request: WireRequest) -> list[str] | None:
    """Lambda, KMS, ECR, CloudWatch Logs, Glue and Step Functions resources (`loop.services`'
    calls), else None. Step Functions: StartExecution on its `stateMachineArn`,
    Describe/StopExecution on its `executionArn`. ECR: the repository of `registryId`
    (another account's for AWS's images); GetAuthorizationToken takes no resource. Logs: a
    log group is checked as `log-group:<name>:*` (the form AWS evaluates for log-group
    actions), a stream as `log-group:<name>:log-stream:<stream>`. Glue: a table is checked on
    the catalog, the database and the table (as AWS does)."""
    service, _, operation = request.operation.partition(":")
    params = request.params
    if service == "lambda" and operation in ("Invoke", "InvokeFunction"):
        parts = urlsplit(request.path).path.split("/")
        if len(parts) > 3 and parts[2] == "functions":
            name = unquote(parts[3])
            return [
                name if name.startswith("arn:") else _arn(request, "lambda", f"function:{name}")
            ]
        return ["*"]
    if service == "kms":
        key = _param(params, "KeyId")
        return [key_arn(key, request)] if key else ["*"]
    if service == "ecr":
        repository = _param(params, "repositoryName")
        if operation == "GetAuthorizationToken" or not repository:
            return ["*"]
        registry = _param(params, "registryId") or request.account
        return [f"arn:{request.partition}:ecr:{request.region}:{registry}:repository/{repository}"]
    if service == "logs":
        group = _param(params, "logGroupName")
        stream = _param(params, "logStreamName")
        if not group:
            return ["*"]
        # CreateLogStream too is evaluated on the stream's ARN (CloudTrail's denial reads
        # `logs:CreateLogStream on resource: ...:log-group:/aws/lambda/f:log-stream:2019/...`).
        if stream and operation in ("PutLogEvents", "CreateLogStream"):
            return [_arn(request, "logs", f"log-group:{group}:log-stream:{stream}")]
        return [_arn(request, "logs", f"log-group:{group}:*")]
    if service == "states" and operation == "StartExecution":
        machine = _param(params, "stateMachineArn")
        return [machine] if machine else ["*"]
    if service == "states" and operation in ("DescribeExecution", "StopExecution"):
        execution = _param(params, "executionArn")
        return [execution] if execution else ["*"]
    if service == "glue" and operation in ("GetTable", "UpdateTable"):
        database = _param(params, "DatabaseName")
        table = _param(params, "Name") or str(dict(params.get("TableInput") or {}).get("Name"))
        catalog = _param(params, "CatalogId") or request.account
        return [
            f"arn:{request.partition}:glue:{request.region}:{catalog}:catalog",
            f"arn:{request.partition}:glue:{request.region}:{catalog}:database/{database}",
            f"arn:{request.partition}:glue:{request.region}:{catalog}:table/{database}/{table}",
        ]
    return None


def _service_context(request: WireRequest) -> dict[str, list[str]]:
    """Service condition keys from the request: `iam:PolicyARN` (Attach/DetachRolePolicy),
    `cloudwatch:namespace` (PutMetricData)."""
    service, _, operation = request.operation.partition(":")
    if service == "iam" and operation in ("AttachRolePolicy", "DetachRolePolicy"):
        policy = _param(request.params, "PolicyArn")
        return {"iam:PolicyARN": [policy]} if policy else {}
    if service in ("cloudwatch", "monitoring") and operation == "PutMetricData":
        namespace = _param(request.params, "Namespace")
        return {"cloudwatch:namespace": [namespace]} if namespace else {}
    return {}


def _truthy_header(value: str) -> bool:
    return value.lower() == "true"


def required(request: WireRequest, keys: KeyLookups) -> list[Permission]:
    """Every IAM check AWS makes for this request, the KMS checks of the services included."""
    action = ACTION_NAMES.get(request.operation, request.operation)
    service, _, operation = request.operation.partition(":")
    common: dict[str, list[str]] = {
        "aws:RequestedRegion": [request.region],
        "aws:SecureTransport": ["true"],
    }
    if service != "s3":
        context = {**common, **_service_context(request)}
        resources = (
            _ec2_resources(request, keys.ec2_id)
            if service == "ec2"
            else _service_resources(request)
        )
        needed = [Permission(action, r, context) for r in resources]
        if service == "sqs" and operation == "SendMessage":
            queue = needed[0].resource
            key = keys.queue_key(queue) if queue != "*" else None
            if key is not None:  # SSE-KMS queue: the producer's GenerateDataKey and Decrypt
                via = {
                    **common,
                    "kms:ViaService": [f"sqs.{request.region}.amazonaws.com"],
                    "kms:CallerAccount": [request.account],
                }
                for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    needed.append(Permission(kms_action, key_arn(key, request), via, "sqs"))
        if service == "sns" and operation == "Publish":
            topic = needed[0].resource
            key = keys.topic_key(topic) if topic != "*" else None
            if key is not None:
                via = {
                    **common,
                    "kms:ViaService": [f"sns.{request.region}.amazonaws.com"],
                    "kms:CallerAccount": [request.account],
                }
                for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    needed.append(Permission(kms_action, key_arn(key, request), via, "sns"))
        return needed
    # S3: moto already resolved the bucket or object ARN and the IAM action.
    resource = request.moto_resource
    context = dict(common)
    query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
    if action == "s3:ListBucket":
        for name in ("prefix", "delimiter", "max-keys"):
            if name in query:
                context[f"s3:{name}"] = [query[name][0]]
    needed = [Permission(action, resource, context)]
    bucket, _, object_key = resource.removeprefix(f"arn:{request.partition}:s3:::").partition("/")
    found: tuple[str, bool] | None = None
    kms_action = ""
    if action == "s3:GetObject" and object_key:
        found, kms_action = keys.object_key(bucket, object_key), "kms:Decrypt"
    elif action == "s3:PutObject" and object_key:
        found, kms_action = keys.bucket_default_key(bucket), "kms:GenerateDataKey"
        headers = {k.lower(): v for k, v in request.headers.items()}
        named = headers.get("x-amz-server-side-encryption-aws-kms-key-id")
        if headers.get("x-amz-server-side-encryption") == "aws:kms" and named:
            # The key the request names wins over the bucket's default (as in S3).
            asked = headers.get("x-amz-server-side-encryption-bucket-key-enabled")
            default_bucket_key = found[1] if found is not None else False
            found = (
                named,
                _truthy_header(asked) if asked is not None else default_bucket_key,
            )
    if found is not None:
        key, bucket_key = found
        s3_arn = f"arn:{request.partition}:s3:::{bucket}" + ("" if bucket_key else f"/{object_key}")
        via = {
            **common,
            "kms:ViaService": [f"s3.{request.region}.amazonaws.com"],
            "kms:CallerAccount": [request.account],
            "kms:EncryptionContext:aws:s3:arn": [s3_arn],
        }
        needed.append(Permission(kms_action, key_arn(key, request), via, "s3"))
    return needed


# ---- the decision, in moto's place ---------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    principal: str
    operation: str
    action: str
    resource: str
    allowed: bool
    statement: str | None
    reason: str
    via: str | None = None

    def line(self) -> str:
        through = f" (through {self.via})" if self.via else ""
        verdict = "allowed" if self.allowed else "DENIED"
        return (
            f"{verdict}: {self.principal} {self.action}{through} on {self.resource}: {self.reason}"
        )


Fault = tuple[int, str]
"""An answer in moto's place: (HTTP status, AWS error code)."""


@dataclass
class Enforcement:
    """The harness's IAM decisions and the faults it answers with, in moto's request path."""

    keys: KeyLookups
    decisions: list[Decision] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    """Operation (`sagemaker:StartPipelineExecution`) to the answers its next attempts get."""
    attempts: dict[str, int] = field(default_factory=dict)
    """Authorized requests per operation (each retry of the client is one)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(
        self, principal: str, documents: Sequence[Any], request: WireRequest
    ) -> list[Decision]:
        """The decision on every permission the request needs (a request the resolver cannot
        read is denied, with the reason: a harness gap must not pass as an allowed call)."""
        try:
            needs = required(request, self.keys)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            refused = Decision(
                principal=principal,
                operation=request.operation,
                action=request.operation,
                resource=request.moto_resource,
                allowed=False,
                statement=None,
                reason=f"the harness could not resolve the request ({exc!r}), so it is denied",
            )
            with self._lock:
                self.decisions.append(refused)
            return [refused]
        out = []
        for need in needs:
            context = {
                **need.context,
                "aws:PrincipalArn": [principal],
                "aws:PrincipalAccount": [request.account],
            }
            verdict = evaluate(documents, need.action, need.resource, context)
            out.append(
                Decision(
                    principal=principal,
                    operation=request.operation,
                    action=need.action,
                    resource=need.resource,
                    allowed=verdict.allowed,
                    statement=verdict.statement,
                    reason=verdict.reason,
                    via=need.via,
                )
            )
        with self._lock:
            self.decisions.extend(out)
        return out

    def check(
        self,
        principal: str,
        documents: Sequence[Any],
        operation: str,
        account: str,
        needs: Sequence[Permission],
    ) -> list[Decision]:
        """The decisions on checks AWS makes with the principal's identity outside any request
        it signs (a service acting for it: `iam:PassRole` when SageMaker is handed the role,
        `kms:CreateGrant` for a job's volume, ...); logged like the others."""
        out = []
        for need in needs:
            context = {
                **need.context,
                "aws:PrincipalArn": [principal],
                "aws:PrincipalAccount": [account],
            }
            verdict = evaluate(documents, need.action, need.resource, context)
            out.append(
                Decision(
                    principal=principal,
                    operation=operation,
                    action=need.action,
                    resource=need.resource,
                    allowed=verdict.allowed,
                    statement=verdict.statement,
                    reason=verdict.reason,
                    via=need.via,
                )
            )
        with self._lock:
            self.decisions.extend(out)
        return out

    def fault_for(self, operation: str) -> Fault | None:
        with self._lock:
            self.attempts[operation] = self.attempts.get(operation, 0) + 1
            queued = self.faults.get(operation)
            return queued.pop(0) if queued else None

    def inject(self, operation: str, faults: Sequence[Fault]) -> None:
        with self._lock:
            self.faults[operation] = list(faults)
            self.attempts[operation] = 0

    def gaps(self, principal_part: str = "") -> list[Decision]:
        """Every denied call (of principals whose ARN contains `principal_part`)."""
        with self._lock:
            return [d for d in self.decisions if not d.allowed and principal_part in d.principal]

    def of(self, principal_part: str) -> list[Decision]:
        with self._lock:
            return [d for d in self.decisions if principal_part in d.principal]


def _document(policy: Any) -> str | Mapping[str, Any]:
    """A policy as moto's `collect_policies` gives it: a role's inline document (str), a user's
    inline policy (dict with `policy_document`), or a managed `Policy`."""
    if isinstance(policy, str):
        return policy
    if isinstance(policy, Mapping):
        return str(policy["policy_document"])
    version = next(v for v in policy.versions if v.is_default)
    return str(version.document)


def _runtime(request: Any) -> bool:
    service, _, operation = str(request._action).partition(":")
    return service == "sagemaker" and operation in RUNTIME_OPERATIONS


def _params(request: Any) -> Mapping[str, Any]:
    if _runtime(request):  # the body is the model's payload, the endpoint in the path
        return {}
    content_type = str(request._headers.get("Content-Type") or "")
    body = request._body or b""
    if "json" in content_type and body:
        parsed = json.loads(body)
        return parsed if isinstance(parsed, dict) else {}
    return dict(request._data or {})


def _denied(request: Any, decision: Decision) -> Exception:
    """AWS's wording: `User: <arn> is not authorized to perform: <action> on resource: <arn>
    because ...`, in the error shape the service's protocol uses."""
    detail = (
        decision.action
        + (f" (through {decision.via})" if decision.via else "")
        + f" on resource: {decision.resource} because {decision.reason}"
    )
    if isinstance(request, access_control.S3IAMRequest):
        return S3ClientError(
            "AccessDenied", f"User: {decision.principal} is not authorized to perform: {detail}"
        )
    if "json" in str(request._headers.get("Content-Type") or "") or _runtime(request):
        return JsonRESTError(
            "AccessDeniedException",
            f"User: {decision.principal} is not authorized to perform: {detail}",
        )
    return AccessDeniedError(decision.principal, detail)


def _fault(fault: Fault, operation: str) -> Exception:
    status, code = fault
    error = JsonRESTError(code, f"{code} (injected by the loop harness for {operation})")
    error.code = status
    return error


@contextmanager
def install_enforcement(enforcement: Enforcement) -> Iterator[Enforcement]:
    """moto decides with `enforcement` while the block runs (process-wide: one at a time)."""
    if not _INSTALL_LOCK.acquire(blocking=False):
        raise RuntimeError("another loop harness already holds moto's authorizer")
    original = access_control.IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        request = WireRequest(
            operation=self._action,
            moto_resource=resource,
            params=_params(self),
            path=self._path,
            account=self.account_id,
            region=self._region,
            headers={str(k): str(v) for k, v in self._headers.items()},
        )
        documents = [_document(p) for p in self._access_key.collect_policies()]
        decisions = enforcement.decide(self._access_key.arn, documents, request)
        denied = next((d for d in decisions if not d.allowed), None)
        if denied is not None:
            raise _denied(self, denied)
        fault = enforcement.fault_for(request.operation)
        if fault is not None:
            raise _fault(fault, request.operation)

    access_control.IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
    try:
        yield enforcement
    finally:
        access_control.IAMRequestBase.check_action_permitted = original  # type: ignore[method-assign]
        _INSTALL_LOCK.release()


_INSTALL_LOCK = threading.Lock()


def trusts_service(trust_policy: str, service: str, context: ContextValues) -> bool:
    """Does the role's trust policy let `service` (e.g. `lambda.amazonaws.com`) assume it, with
    this request context (e.g. `aws:SourceAccount`)?"""
    for statement in statements(trust_policy):
        principals = dict(statement.get("Principal") or {})
        if (
            statement.get("Effect") == "Allow"
            and service in _listed(principals.get("Service", []))
            and any(
                _glob(a, "sts:AssumeRole", ignore_case=True)
                for a in _listed(statement.get("Action", []))
            )
            and all(
                condition_holds(operator, key, expected, context)
                for operator, keys in dict(statement.get("Condition") or {}).items()
                for key, expected in dict(keys).items()
            )
        ):
            return True
    return False
