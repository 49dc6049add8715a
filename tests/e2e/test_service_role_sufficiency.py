"""Each non-Lambda, non-pipeline role of the plans is enough for what its service calls (IAM-5).

GIVEN a stack's plan, moto's server with IAM enforced by the harness's evaluator (`loop.iam`),
and the role created in moto's IAM with exactly the plan's inline policy, assumed as its service
assumes it (the trust policy checked for that service principal and context; EKS Pod Identity's
`pods.eks.amazonaws.com` with `sts:TagSession` and the pod's session tags),
WHEN the service's calls are made with the role's STS credentials (`loop.services`: the
scheduler's (a function, a pipeline or, on prod's drift scheduler, the scale-out state machine
as target), Firehose's, SageMaker hosting's, the Feature Store offline store's, AWS Budgets'
action's, Step Functions' with prod's `drift-scaleout-role` running the plan's definition, and
the serving sidecar's real code and Alertmanager's publish for the EKS roles; every stack's
instance of each role, on that stack's plan),
THEN no call is denied, and the (action, statement Sid) pairs the calls used are exactly the
ones pinned in `ROLE_USES` (keyed by (stack, role registration name)); and the negative twins:
per service kind, the role without one statement its calls need fails with AccessDenied naming
the action.

Two gaps these proofs found were fixed: the Firehose role's `EncryptCaptureObjects` did not
admit the capture bucket's ARN as `kms:EncryptionContext:aws:s3:arn`, which S3 sends when the
bucket's Bucket Key is on (every Firehose PutObject was denied `kms:GenerateDataKey`); and the
planner's mocks gave a pipeline an ARN without its `pipelineName` (so the training scheduler's
`StartPipelines` named an ARN AWS never uses). `test_firehose_condition_admits_the_bucket_key`
keeps the first from coming back.

The state machine's role: the Lambda invocations, the manifest's GetObject (and its KMS
Decrypt through S3), the child execution's StartExecution, Logs' DescribeLogGroups,
DescribeResourcePolicies and PutResourcePolicy and X-Ray's PutTraceSegments and
PutTelemetryRecords are requests to moto; the key's use through Step Functions (GenerateDataKey,
Decrypt), Describe/StopExecution on a Distributed Map child's ARN, the five vended-log
`*LogDelivery` actions and X-Ray's GetSamplingRules/GetSamplingTargets are simulated through the
evaluator (`Enforcement.check`; `loop.services`' docstring says why each one).

Not exercised, with the reason:
- Whether AWS asks the scheduler role for the machine's key when it starts an execution of a
  state machine encrypted with a customer managed key (the caller's `kms:GenerateDataKey`
  through Step Functions): not modelled; prod's drift scheduler role has no grant for it.
- `ecr:GetDownloadUrlForLayer`: moto does not implement it; the request is made and authorized
  (its decision is pinned) and moto then answers 500.
- The role's `kms:Decrypt` through SQS for the dead-letter queue is decided by
  `DecryptSchedules` (an unconditioned `kms:Decrypt` on the same key, first in the policy), so
  `UsePlatformKeyForDeadLetters`' `kms:Decrypt` grant is never the deciding statement.
- Firehose's `kms:Decrypt` (`EncryptCaptureObjects`): S3 asks for it when a multipart upload is
  completed (or an object read); the harness models S3's KMS checks for GetObject and PutObject
  only, and Firehose's delivery never completes a multipart upload in these calls.
- Anything the services do with their own identity or with grants (Scheduler's own retries,
  Firehose's encryption of the stream with its grant, SageMaker's container start): no call
  with the role is made for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import pytest

from loop.grants import unknown_statements, unused
from loop.iam import statements
from loop.services import (
    Outcome,
    RoleSpec,
    ServiceAccount,
    plan_stack,
    role_spec,
    without,
)
from planner.run import Plan

Pair = tuple[str, str]

KIND: Final[dict[tuple[str, str], str]] = {
    ("dev", "drift-scheduler-role"): "scheduler",
    ("dev", "quality-scheduler-role"): "scheduler",
    ("dev", "training-scheduler-role"): "scheduler",
    ("dev", "inference-churn-firehose-role"): "firehose",
    ("dev", "inference-churn-model-role"): "sagemaker_model",
    ("dev", "features-customer-features-role"): "feature_store",
    ("dev", "cost-guardrail-role"): "budget_action",
    # before the budget action: it names the serving role (stubbed when not yet created)
    ("staging", "k8s-inference-churn-role"): "serving_pod",
    ("staging", "k8s-monitoring-alertmanager-role"): "alertmanager",
    ("staging", "drift-scheduler-role"): "scheduler",
    ("staging", "quality-scheduler-role"): "scheduler",
    ("staging", "training-scheduler-role"): "scheduler",
    ("staging", "inference-churn-model-role"): "sagemaker_model",
    ("staging", "features-customer-features-role"): "feature_store",
    ("staging", "cost-guardrail-role"): "budget_action",
    ("prod", "drift-scheduler-role"): "scheduler",  # its schedules start the state machine
    ("prod", "quality-scheduler-role"): "scheduler",
    ("prod", "training-scheduler-role"): "scheduler",
    ("prod", "inference-churn-model-role"): "sagemaker_model",
    ("prod", "features-customer-features-role"): "feature_store",
    ("prod", "drift-scaleout-role"): "state_machine",
    ("prod", "k8s-inference-churn-role"): "serving_pod",
    ("prod", "k8s-monitoring-alertmanager-role"): "alertmanager",
}
"""Each role proven here, by the service kind whose calls `loop.services` makes with it."""

_FUNCTION_SCHEDULER: Final = frozenset(
    {
        ("kms:Decrypt", "DecryptSchedules"),  # the schedule's encrypted input
        ("lambda:InvokeFunction", "InvokeCheck"),
        ("sqs:SendMessage", "DeadLetters"),
        ("kms:GenerateDataKey", "UsePlatformKeyForDeadLetters"),  # through SQS
    }
)
_PIPELINE_SCHEDULER: Final = frozenset(
    {
        ("kms:Decrypt", "DecryptSchedules"),
        ("sagemaker:StartPipelineExecution", "StartPipelines"),
        ("sqs:SendMessage", "DeadLetters"),
        ("kms:GenerateDataKey", "UsePlatformKeyForDeadLetters"),
    }
)
_MACHINE_SCHEDULER: Final = frozenset(
    {
        ("kms:Decrypt", "DecryptSchedules"),
        ("states:StartExecution", "StartScaleOut"),
        ("sqs:SendMessage", "DeadLetters"),
        ("kms:GenerateDataKey", "UsePlatformKeyForDeadLetters"),
    }
)
_MODEL: Final = frozenset(
    {
        ("ecr:GetAuthorizationToken", "LogInToRegistries"),
        ("ecr:BatchGetImage", "PullImages"),  # the model's repository and AWS's framework
        ("ecr:BatchCheckLayerAvailability", "PullImages"),
        ("ecr:GetDownloadUrlForLayer", "PullImages"),
        ("s3:GetObject", "ReadModelArtifacts"),
        ("kms:Decrypt", "UsePlatformKeyThroughS3"),
        ("s3:PutObject", "WriteCapture"),
        ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
        ("logs:CreateLogGroup", "WriteEndpointLogs"),
        ("logs:CreateLogStream", "WriteEndpointLogs"),
        ("logs:PutLogEvents", "WriteEndpointLogs"),
        ("cloudwatch:PutMetricData", "PutEndpointMetrics"),
    }
)
_FEATURE_STORE: Final = frozenset(
    {
        ("s3:GetBucketAcl", "ReadBucketOwnership"),
        ("s3:ListBucket", "ListOwnPrefix"),
        ("s3:PutObject", "ReadWriteOwnPrefix"),
        ("s3:GetObject", "ReadWriteOwnPrefix"),
        ("s3:DeleteObject", "ReadWriteOwnPrefix"),
        ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
        ("kms:Decrypt", "UsePlatformKeyThroughS3"),
        ("glue:GetTable", "CommitOwnIcebergTable"),  # catalog, database and table
        ("glue:UpdateTable", "CommitOwnIcebergTable"),
    }
)
_BUDGET_ACTION: Final = frozenset(
    {
        ("iam:AttachRolePolicy", "AttachTheGuardrail"),  # each role the action names
        ("iam:DetachRolePolicy", "AttachTheGuardrail"),
    }
)
_SERVING_POD: Final = frozenset(
    {
        ("sagemaker:DescribeModelPackage", "DescribeModelVersions"),  # fetch: the package
        ("s3:GetObject", "ReadModelArtifacts"),  # fetch: HeadObject and GetObject of the model
        ("kms:Decrypt", "UsePlatformKeyThroughS3"),
        ("s3:PutObject", "WriteCapture"),  # the proxy's capture flush
        ("kms:GenerateDataKey", "UsePlatformKeyThroughS3"),
    }
)
_ALERTMANAGER: Final = frozenset(
    {
        ("sns:Publish", "PublishAlerts"),
        ("kms:GenerateDataKey", "UsePlatformKeyForAlerts"),  # the topic's key, through SNS
        ("kms:Decrypt", "UsePlatformKeyForAlerts"),
    }
)

ROLE_USES: dict[tuple[str, str], frozenset[tuple[str, str]]] = {
    ("dev", "drift-scheduler-role"): _FUNCTION_SCHEDULER,
    ("dev", "quality-scheduler-role"): _FUNCTION_SCHEDULER,
    # proven on the twin with AWS's pipeline ARN (see the module's docstring)
    ("dev", "training-scheduler-role"): _PIPELINE_SCHEDULER,
    # proven on the twin whose encryption-context condition admits the bucket's ARN
    ("dev", "inference-churn-firehose-role"): frozenset(
        {
            ("s3:GetBucketLocation", "FindBucket"),
            ("s3:ListBucketMultipartUploads", "FindBucket"),
            ("s3:PutObject", "DeliverCapture"),  # PutObject and CreateMultipartUpload
            ("s3:ListMultipartUploadParts", "DeliverCapture"),
            ("s3:AbortMultipartUpload", "DeliverCapture"),
            ("kms:GenerateDataKey", "EncryptCaptureObjects"),  # through S3
            ("logs:PutLogEvents", "LogDeliveryErrors"),
        }
    ),
    ("dev", "inference-churn-model-role"): _MODEL,
    ("dev", "features-customer-features-role"): _FEATURE_STORE,
    ("dev", "cost-guardrail-role"): _BUDGET_ACTION,
    ("staging", "drift-scheduler-role"): _FUNCTION_SCHEDULER,
    ("staging", "quality-scheduler-role"): _FUNCTION_SCHEDULER,
    ("staging", "training-scheduler-role"): _PIPELINE_SCHEDULER,
    ("staging", "inference-churn-model-role"): _MODEL,
    ("staging", "features-customer-features-role"): _FEATURE_STORE,
    ("staging", "cost-guardrail-role"): _BUDGET_ACTION,
    ("staging", "k8s-inference-churn-role"): _SERVING_POD,
    ("staging", "k8s-monitoring-alertmanager-role"): _ALERTMANAGER,
    ("prod", "drift-scheduler-role"): _MACHINE_SCHEDULER,
    ("prod", "quality-scheduler-role"): _FUNCTION_SCHEDULER,
    ("prod", "training-scheduler-role"): _PIPELINE_SCHEDULER,
    ("prod", "inference-churn-model-role"): _MODEL,
    ("prod", "features-customer-features-role"): _FEATURE_STORE,
    ("prod", "drift-scaleout-role"): frozenset(
        {
            # the execution's state and history under the machine's key (simulated)
            ("kms:GenerateDataKey", "UsePlatformKeyForState"),
            ("kms:Decrypt", "UsePlatformKeyForState"),
            ("lambda:InvokeFunction", "InvokeDriftFunctions"),  # plan, profile, reduce
            ("s3:GetObject", "ReadManifest"),  # the Map's ItemReader
            ("kms:Decrypt", "UsePlatformKeyThroughS3"),
            ("states:StartExecution", "RunMapChildren"),  # a child execution
            ("states:DescribeExecution", "ManageMapChildren"),  # simulated, on a child's ARN
            ("states:StopExecution", "ManageMapChildren"),  # simulated
            ("logs:CreateLogDelivery", "DeliverLogs"),  # the five *LogDelivery: simulated
            ("logs:GetLogDelivery", "DeliverLogs"),
            ("logs:UpdateLogDelivery", "DeliverLogs"),
            ("logs:DeleteLogDelivery", "DeliverLogs"),
            ("logs:ListLogDeliveries", "DeliverLogs"),
            ("logs:DescribeLogGroups", "DeliverLogs"),
            ("logs:DescribeResourcePolicies", "DeliverLogs"),
            ("logs:PutResourcePolicy", "DeliverLogs"),
            ("xray:GetSamplingRules", "WriteTraces"),  # simulated
            ("xray:GetSamplingTargets", "WriteTraces"),  # simulated
            ("xray:PutTraceSegments", "WriteTraces"),
            ("xray:PutTelemetryRecords", "WriteTraces"),
        }
    ),
    ("prod", "k8s-inference-churn-role"): _SERVING_POD,
    ("prod", "k8s-monitoring-alertmanager-role"): _ALERTMANAGER,
}
"""(stack, role registration name) -> the (action, statement Sid) pairs its service's calls
use, exactly."""

_DEAD_LETTER_DECRYPT: Final = frozenset({("UsePlatformKeyForDeadLetters", "kms:Decrypt")})
UNUSED: Final[dict[tuple[str, str], frozenset[tuple[str, str]]]] = {
    # DecryptSchedules decides the dead-letter queue's kms:Decrypt (first allowing statement)
    **{
        (stack, role): _DEAD_LETTER_DECRYPT
        for stack in ("dev", "staging", "prod")
        for role in ("drift-scheduler-role", "quality-scheduler-role", "training-scheduler-role")
    },
    # not modelled: Step Functions encrypts an execution's input under the state machine's
    # key with the caller's kms:GenerateDataKey; the harness does not make that check
    ("prod", "drift-scheduler-role"): _DEAD_LETTER_DECRYPT
    | {("EncryptScaleOutInput", "kms:GenerateDataKey")},
    # S3 asks for it on a multipart upload's completion: not modelled by the harness
    ("dev", "inference-churn-firehose-role"): frozenset({("EncryptCaptureObjects", "kms:Decrypt")}),
}
"""(stack, role) -> the (statement, action pattern) grants no call used, each with its reason
(the module's docstring); every other role's grants are all used."""

NEGATIVE_TWINS: Final[dict[str, tuple[tuple[str, str], str, str]]] = {
    "scheduler": (("dev", "drift-scheduler-role"), "InvokeCheck", "lambda:InvokeFunction"),
    "firehose": (("dev", "inference-churn-firehose-role"), "FindBucket", "s3:GetBucketLocation"),
    "sagemaker_model": (("dev", "inference-churn-model-role"), "PullImages", "ecr:BatchGetImage"),
    "feature_store": (
        ("dev", "features-customer-features-role"),
        "CommitOwnIcebergTable",
        "glue:GetTable",
    ),
    "budget_action": (("dev", "cost-guardrail-role"), "AttachTheGuardrail", "iam:AttachRolePolicy"),
    "serving_pod": (
        ("staging", "k8s-inference-churn-role"),
        "DescribeModelVersions",
        "sagemaker:DescribeModelPackage",
    ),
    "alertmanager": (
        ("prod", "k8s-monitoring-alertmanager-role"),
        "PublishAlerts",
        "sns:Publish",
    ),
    "state_machine": (
        ("prod", "drift-scaleout-role"),
        "InvokeDriftFunctions",
        "lambda:InvokeFunction",
    ),
}
"""Per service kind: one role, the statement taken out, the action then denied."""

FIREHOSE: Final = ("dev", "inference-churn-firehose-role")
MACHINE_SCHEDULER: Final = ("prod", "drift-scheduler-role")
SCALEOUT: Final = ("prod", "drift-scaleout-role")
TRAINING_SCHEDULER: Final = ("dev", "training-scheduler-role")
STACKS: Final = ("dev", "staging", "prod")


# ---- one moto server per stack -------------------------------------------------------------------


@dataclass
class StackRun:
    plan: Plan
    specs: dict[str, RoleSpec] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    """Role registration name -> its calls with the role as the plan renders it."""
    negatives: dict[str, Outcome] = field(default_factory=dict)
    """Role -> its calls with the negative twin (one statement taken out)."""


@pytest.fixture(scope="module")
def runs() -> dict[str, StackRun]:
    """Every stack's roles run, one moto server per stack (one after the other: moto's
    authorizer is process-wide)."""
    out: dict[str, StackRun] = {}
    for stack in STACKS:
        plan = plan_stack(stack)
        run = StackRun(plan)
        with ServiceAccount(plan) as account:
            for (where, key), kind in KIND.items():
                if where != stack:
                    continue
                spec = role_spec(plan, key)
                run.specs[key] = spec
                calls = getattr(account, kind)
                run.outcomes[key] = calls(spec)
            for kind, ((where, key), sid, _action) in NEGATIVE_TWINS.items():
                if where == stack:
                    run.negatives[key] = getattr(account, kind)(without(run.specs[key], sid))
        out[stack] = run
    return out


# ---- the proofs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "role"), sorted(KIND))
def test_role_is_sufficient_for_its_service_and_uses_exactly_the_pinned_pairs(
    runs: dict[str, StackRun], stack: str, role: str
) -> None:
    run = runs[stack]
    outcome = run.outcomes[role]
    # THEN every call succeeded, no IAM check was denied
    assert outcome.decisions, f"no call of {role} reached the server"
    assert [d.line() for d in outcome.denied] == []
    assert outcome.errors == []
    # AND the (action, statement) pairs used are exactly the pinned ones
    assert outcome.uses == ROLE_USES[(stack, role)]
    # AND the pinned pairs name statements the plan's policy has
    assert unknown_statements(run.specs[role].policy, ROLE_USES[(stack, role)]) == set()


@pytest.mark.parametrize(("stack", "role"), sorted(KIND))
def test_every_grant_is_used_or_listed_with_its_reason(
    stack: str, role: str, runs: dict[str, StackRun]
) -> None:
    policy = runs[stack].specs[role].policy
    left = {(g.statement, g.action) for g in unused(policy, ROLE_USES[(stack, role)])}
    assert left == UNUSED.get((stack, role), frozenset())


def test_firehose_condition_admits_the_bucket_key(runs: dict[str, StackRun]) -> None:
    """With the Bucket Key on, S3's KMS encryption context is the bucket's ARN: the Firehose
    role's condition must admit it (its pairs above are proven on the plan's own policy)."""
    stack, role = FIREHOSE
    run = runs[stack]
    bucket = f"arn:aws:s3:::{run.plan.outputs['buckets']['capture']}"
    encryption = [
        r.inputs["rules"][0]
        for r in run.plan.by_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        if f"arn:aws:s3:::{r.inputs['bucket']}" == bucket
    ]
    assert encryption
    assert encryption[0]["bucketKeyEnabled"] is True
    (condition,) = [
        s["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
        for s in statements(run.specs[role].policy)
        if s.get("Sid") == "EncryptCaptureObjects"
    ]
    assert bucket in condition
    assert ("kms:GenerateDataKey", "EncryptCaptureObjects") in ROLE_USES[FIREHOSE]


def test_the_training_scheduler_starts_the_pipeline_by_its_aws_arn(
    runs: dict[str, StackRun],
) -> None:
    """The pipeline's ARN as AWS writes it (`pipeline/<pipelineName>`, lowercase) is what the
    role names and what the call is decided on."""
    stack, role = TRAINING_SCHEDULER
    run = runs[stack]
    plan = run.plan
    arns = {
        f"arn:aws:sagemaker:{plan.region}:{plan.account_id}:pipeline/"
        f"{str(p.inputs['pipelineName']).lower()}"
        for p in plan.by_type("aws:sagemaker/pipeline:Pipeline")
    }
    (start,) = [s for s in statements(run.specs[role].policy) if s.get("Sid") == "StartPipelines"]
    assert (
        set(start["Resource"] if isinstance(start["Resource"], list) else [start["Resource"]])
        <= arns
    )
    started = {
        d.resource
        for d in run.outcomes[role].decisions
        if d.action == "sagemaker:StartPipelineExecution" and d.allowed
    }
    assert started
    assert started <= arns


def test_the_drift_scheduler_starts_the_plans_state_machine(runs: dict[str, StackRun]) -> None:
    """Prod's drift schedules target the scale-out state machine: the scheduler's
    StartExecution is decided on the plan's machine, the machine whose role is proven above."""
    stack, role = MACHINE_SCHEDULER
    run = runs[stack]
    machines = {
        str(r.inputs["name"]): str(r.inputs["roleArn"])
        for r in run.plan.by_type("aws:sfn/stateMachine:StateMachine")
    }
    started = {
        d.resource
        for d in run.outcomes[role].decisions
        if d.action == "states:StartExecution" and d.allowed
    }
    assert {arn.rsplit(":", 1)[-1] for arn in started} == set(machines)
    assert set(machines.values()) == {run.specs[SCALEOUT[1]].arn}


def test_the_map_children_are_decided_on_child_execution_arns(runs: dict[str, StackRun]) -> None:
    """A Distributed Map's child executions are `execution:<machine>/<map run>:<id>`: the
    role's Describe/StopExecution are decided on such an ARN, its StartExecution on the
    machine."""
    stack, role = SCALEOUT
    decisions = runs[stack].outcomes[role].decisions
    (machine,) = {d.resource for d in decisions if d.action == "states:StartExecution"}
    children = {
        d.resource
        for d in decisions
        if d.action in ("states:DescribeExecution", "states:StopExecution")
    }
    name = machine.rsplit(":", 1)[-1]
    prefix = machine.replace(f":stateMachine:{name}", f":execution:{name}/ProfileObjects:")
    assert children
    assert all(c.startswith(prefix) and c.count(":") == 7 for c in children), children


@pytest.mark.parametrize("kind", sorted(NEGATIVE_TWINS))
def test_role_without_a_needed_statement_is_denied(runs: dict[str, StackRun], kind: str) -> None:
    (stack, role), _sid, action = NEGATIVE_TWINS[kind]
    outcome = runs[stack].negatives[role]
    # THEN the action is denied, and the service's call fails with AWS's AccessDenied naming it
    assert action in {d.action for d in outcome.denied}
    assert all(d.statement is None for d in outcome.denied)
    assert any(
        "AccessDenied" in e and f"not authorized to perform: {action}" in e for e in outcome.errors
    ), outcome.errors
