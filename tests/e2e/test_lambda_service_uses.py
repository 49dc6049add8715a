"""What the Lambda service does with each execution role is allowed by that role (issue 11).

The harness runs the handlers, not the Lambda service (`loop/iam.py`, "What neither checks"):
the calls Lambda makes with a function's execution role, not with its code, are made here.

GIVEN every `aws:lambda/function:Function` of every stack's plan (`LoopPlan.lambdas`), moto's
server in the plan's account with IAM decided by the harness's evaluator (`loop.iam`), each
function's role created with exactly the plan's inline policies, and, as the plan declares
them, its log group and its dead-letter queue (under the queue's KMS key),
WHEN, with the role's STS credentials (session named after the function, as Lambda names it),
the calls Lambda makes for the function are made: `logs:CreateLogStream` and
`logs:PutLogEvents` on a stream of the function's own log group (Lambda's
`YYYY/MM/DD/[$LATEST]<id>` stream), `xray:PutTraceSegments` and `xray:PutTelemetryRecords`
(tracing Active), `sqs:SendMessage` of a failed asynchronous event to its dead-letter queue
(with the `kms:GenerateDataKey` and `kms:Decrypt` on the queue's key that SQS makes with the
sender's identity, through `sqs.<region>.amazonaws.com`),
THEN each is allowed, on exactly these actions and resources (pinned), by exactly the statements
pinned per function in tests/e2e/role_uses.py (`LAMBDA_USES`); and the negative twins:
the role without the statement that allowed the logs, the traces, the dead-letter or the
dead-letter key's use gets AccessDenied for that call, so the check can fail.

Also required of every function, so that a new one fails here until it is proven: its log group
is declared in the plan (else Lambda would need `logs:CreateLogGroup`), its tracing is Active
and it has a dead-letter queue (the pinned set assumes both), its role has no managed policy
attachments (their documents are not in the plan, so nothing could evaluate them) and it has no
`vpcConfig` (the ENI actions Lambda makes in a VPC, `ec2:CreateNetworkInterface`,
`ec2:DescribeNetworkInterfaces`, `ec2:DeleteNetworkInterface`, ..., are not proven here).

Not made here: the log group's KMS key. CloudWatch Logs uses a log group's key with its own
service principal (the key policy's grant to `logs.<region>.amazonaws.com`), not with the
writer's identity, so a role needs no `kms:` statement for its logs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any, Final

import pytest
from botocore.exceptions import ClientError

from loop.harness import in_account, with_queue_keys
from loop.iam import Decision
from loop.server import MotoServer
from loop.stack import LoopPlan, ServiceUses, plan_loop
from tests.e2e.conftest import _once_per_session
from tests.e2e.role_uses import POLICY_OF_FUNCTION, assert_uses

STACKS: Final = ("dev", "staging", "prod")
STREAM: Final = "2026/11/27/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0"
"""A log stream as Lambda names one: the date, the version, the execution environment's id."""
SERVICE_ACTIONS: Final = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "sqs:SendMessage",
    "kms:GenerateDataKey",  # through SQS: the dead-letter queue is SSE-KMS
    "kms:Decrypt",
}
KEY_USES: Final[set[tuple[str, str | None]]] = {
    ("kms:GenerateDataKey", "sqs"),
    ("kms:Decrypt", "sqs"),
}
SEGMENT: Final = {
    "name": "lambda",
    "id": "70de5b6f19ff9a0a",
    "trace_id": "1-6927f0e0-a006649127e371903a2de979",
    "start_time": 1764226800.0,
    "end_time": 1764226801.0,
}


@pytest.fixture(scope="module")
def plans(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, dev_plan: LoopPlan
) -> dict[str, LoopPlan]:
    """The stacks' plans (each planned once per session, shared with the other e2e modules)."""
    return {
        "dev": dev_plan,
        **{
            stack: _once_per_session(tmp_path_factory, worker_id, stack, partial(plan_loop, stack))
            for stack in STACKS[1:]
        },
    }


class _Account:
    """moto's server in the plan's account, the roles, log groups and queues as declared."""

    def __init__(self, plan: LoopPlan, server: MotoServer) -> None:
        self.plan = plan
        self.server = server
        self.queues: dict[str, str] = {}

    def role(self, uses: ServiceUses, name: str, policies: tuple[tuple[str, str], ...]) -> None:
        iam = self.server.client("iam")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=uses.trust_policy)
        for policy_name, document in policies:
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=document)

    def declare(self, uses: ServiceUses) -> None:
        existing = {r["RoleName"] for r in self.server.client("iam").list_roles()["Roles"]}
        if uses.role_name not in existing:
            self.role(uses, uses.role_name, uses.policies)
        logs = self.server.client("logs")
        groups = logs.describe_log_groups(logGroupNamePrefix=uses.log_group)["logGroups"]
        if uses.log_group not in {g["logGroupName"] for g in groups}:
            logs.create_log_group(logGroupName=uses.log_group)
        if uses.dead_letter_arn and uses.dead_letter_arn not in self.queues:
            name = uses.dead_letter_arn.rsplit(":", 1)[-1]
            attributes = (
                {"KmsMasterKeyId": uses.dead_letter_kms_key} if uses.dead_letter_kms_key else {}
            )
            url = self.server.client("sqs").create_queue(QueueName=name, Attributes=attributes)
            self.queues[uses.dead_letter_arn] = str(url["QueueUrl"])

    def client(self, role: str, session: str, service: str) -> Any:
        arn = f"arn:{self.plan.partition}:iam::{self.plan.account}:role/{role}"
        creds = self.server.client("sts").assume_role(RoleArn=arn, RoleSessionName=session)
        answer = creds["Credentials"]
        return self.server.client(
            service,
            {
                "aws_access_key_id": answer["AccessKeyId"],
                "aws_secret_access_key": answer["SecretAccessKey"],
                "aws_session_token": answer["SessionToken"],
            },
        )

    def create_stream(self, role: str, uses: ServiceUses) -> None:
        logs = self.client(role, uses.name, "logs")
        logs.create_log_stream(logGroupName=uses.log_group, logStreamName=STREAM)

    def put_logs(self, role: str, uses: ServiceUses) -> None:
        logs = self.client(role, uses.name, "logs")
        logs.put_log_events(
            logGroupName=uses.log_group,
            logStreamName=STREAM,
            logEvents=[{"timestamp": 1764226800000, "message": "START RequestId: 0"}],
        )

    def trace(self, role: str, uses: ServiceUses) -> None:
        xray = self.client(role, uses.name, "xray")
        xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(SEGMENT)])
        xray.put_telemetry_records(TelemetryRecords=[{"Timestamp": 1764226800}])

    def dead_letter(self, role: str, uses: ServiceUses) -> None:
        assert uses.dead_letter_arn is not None
        sqs = self.client(role, uses.name, "sqs")
        sqs.send_message(
            QueueUrl=self.queues[uses.dead_letter_arn],
            MessageBody=json.dumps({"source": "aws.events", "detail": {}}),
            MessageAttributes={
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": "Task timed out"},
            },
        )

    def session(self, role: str, uses: ServiceUses) -> list[Decision]:
        return self.server.enforcement.of(f"assumed-role/{role}/{uses.name}")


@pytest.fixture
def account(request: pytest.FixtureRequest, plans: dict[str, LoopPlan]) -> Iterator[_Account]:
    plan = plans[request.param]
    with in_account(plan.account), MotoServer(plan.account, plan.region, plan.partition) as server:
        with_queue_keys(server)
        yield _Account(plan, server)


def _expected(plan: LoopPlan, uses: ServiceUses) -> set[tuple[str, str]]:
    assert uses.dead_letter_arn is not None
    assert uses.dead_letter_kms_key is not None
    region, account, partition = plan.region, plan.account, plan.partition
    stream = (
        f"arn:{partition}:logs:{region}:{account}:log-group:{uses.log_group}:log-stream:{STREAM}"
    )
    key = uses.dead_letter_kms_key
    return {
        ("logs:CreateLogStream", stream),
        ("logs:PutLogEvents", stream),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("sqs:SendMessage", uses.dead_letter_arn),
        ("kms:GenerateDataKey", key),
        ("kms:Decrypt", key),
    }


def test_every_function_has_what_the_service_uses_declared(plans: dict[str, LoopPlan]) -> None:
    for stack, plan in plans.items():
        assert plan.lambdas, f"{stack}: no functions read from the plan"
        for uses in plan.lambdas:
            where = f"{stack}/{uses.key}"
            assert uses.log_group_declared, f"{where}: log group {uses.log_group} not declared"
            assert uses.log_group == f"/aws/lambda/{uses.name}", where
            assert uses.tracing_active, f"{where}: tracing is not Active"
            assert uses.dead_letter_arn, f"{where}: no dead-letter queue"
            assert uses.dead_letter_kms_key, f"{where}: its dead-letter queue is not SSE-KMS"
            assert uses.attachments == (), f"{where}: managed policies are not evaluated"
            assert uses.vpc_config is None, (
                f"{where}: the ENI actions of a VPC function are unproven"
            )
            assert uses.policies, f"{where}: its role has no inline policy"


@pytest.mark.parametrize("account", STACKS, indirect=True)
def test_the_lambda_service_may_do_with_each_role_what_it_does(account: _Account) -> None:
    plan = account.plan
    for uses in plan.lambdas:
        account.declare(uses)
    for uses in plan.lambdas:
        # WHEN Lambda writes the function's logs, sends its traces and dead-letters an event
        account.create_stream(uses.role_name, uses)
        account.put_logs(uses.role_name, uses)
        account.trace(uses.role_name, uses)
        account.dead_letter(uses.role_name, uses)
        # THEN each call was allowed, on exactly the function's own resources
        decisions = account.session(uses.role_name, uses)
        assert [d.line() for d in decisions if not d.allowed] == [], uses.key
        assert {d.action for d in decisions} == SERVICE_ACTIONS, uses.key
        assert {(d.action, d.resource) for d in decisions} == _expected(plan, uses), uses.key
        # through SQS, for the queue's key
        assert {d.via for d in decisions if d.action.startswith("kms:")} == {"sqs"}, uses.key
        # AND by exactly the statements pinned for the function's role (one inline policy)
        policy = POLICY_OF_FUNCTION[uses.key]
        assert [name.rsplit("-", 1)[0] for name, _ in uses.policies] == [policy], uses.key
        assert_uses((plan.stack, policy, f"lambda-service:{uses.key}"), decisions)
    assert account.server.enforcement.gaps() == []


def _without(uses: ServiceUses, sid: str) -> tuple[tuple[str, str], ...]:
    out = []
    for name, document in uses.policies:
        parsed = json.loads(document)
        kept = [s for s in parsed["Statement"] if s.get("Sid") != sid]
        out.append((name, json.dumps({**parsed, "Statement": kept})))
    return tuple(out)


@pytest.mark.parametrize("account", STACKS, indirect=True)
def test_each_role_without_the_statement_for_a_service_use_is_denied_it(
    account: _Account,
) -> None:
    plan = account.plan
    for uses in plan.lambdas:
        account.declare(uses)
    for index, uses in enumerate(plan.lambdas):
        account.create_stream(uses.role_name, uses)
        account.trace(uses.role_name, uses)
        account.dead_letter(uses.role_name, uses)
        allowed_by = {(d.action, d.via): d.statement for d in account.session(uses.role_name, uses)}
        for n, (action, via, call, denied_uses) in enumerate(
            [
                ("logs:CreateLogStream", None, account.create_stream, None),
                ("xray:PutTraceSegments", None, account.trace, None),
                ("sqs:SendMessage", None, account.dead_letter, None),
                # one statement allows both uses of the key: the twin is denied both
                ("kms:GenerateDataKey", "sqs", account.dead_letter, KEY_USES),
            ]
        ):
            sid = allowed_by[(action, via)]
            assert sid is not None, f"{uses.key}: {action} not allowed"
            assert not sid.startswith("#"), f"{uses.key}: {action} allowed by an unnamed statement"
            twin = f"{uses.role_name[:50]}-twin-{index}-{n}"
            # GIVEN the role without the statement that allowed the call
            account.role(uses, twin, _without(uses, sid))
            # WHEN Lambda makes it, THEN AWS's AccessDenied, for exactly that action
            with pytest.raises(ClientError) as denied:
                call(twin, uses)
            assert "AccessDenied" in str(denied.value), str(denied.value)
            assert f"not authorized to perform: {action}" in str(denied.value)
            gaps = account.server.enforcement.gaps(f"assumed-role/{twin}/")
            assert {(d.action, d.via) for d in gaps} == (denied_uses or {(action, via)}), uses.key
