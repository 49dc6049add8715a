"""Each role grants only what its users call (IAM-5), from the proofs' pinned uses.

The sufficiency proofs run each role's users under the harness's evaluator and pin, per proof,
the exact (action, statement Sid) pairs the allowed calls used. Here, per role, the pairs of all
its proofs are unioned and `loop.grants.unused` returns the grants (statement, action pattern)
of the role's rendered policy that no call used: they must be exactly the ones `UNUSED` lists,
each with its reason. A grant that becomes unused (a call removed from a handler, a statement
added to a component) fails here until it is removed or listed; a grant listed that becomes used
fails too. And every pinned pair must name a statement the policy has (`unknown_statements`).

Roles checked here, each policy read from the plan the way its proofs read it:
- the Lambda roles, by (stack, the role's inline policy registration name), their pairs in
  tests/e2e/role_uses.py (`LAMBDA_USES`: the function's code and the Lambda service's calls);
  the policy as `loop.stack` reads it (the function's `FunctionSpec`; the same document the
  Lambda service proof reads from `ServiceUses`);
- the SageMaker pipeline roles, by (variant, pipeline registration name), their pairs pinned in
  tests/e2e/test_pipeline_role_sufficiency.py (`TRAINING_STATEMENTS`, `BATCH_STATEMENTS`,
  `VPC_NOT_LEARNED_STATEMENTS`); the policy as `loop.pipeline.read_pipelines` reads it. The
  variant `dev-vpc` is dev planned with the pipeline test's network (its role then has the
  network statements).
The service roles (schedulers, Firehose, the model, the feature store, the budget action, the
drift scale-out state machine, the serving pod, Alertmanager) are checked by their own module,
tests/e2e/test_service_role_sufficiency.py (`ROLE_USES`, `UNUSED`); here only that every role
of every shipped stack's plan is one of the three kinds, or listed in `NOT_PROVEN` with the
reason.

Reading `UNUSED`: "kept on purpose" marks a grant no user calls today that is kept with its
reason; "not modelled" a call AWS makes with the role that the harness does not make;
"unverified" a call AWS may make that nothing here shows; "not exercised" a path of the code
that no proof of this stack takes (its pair is proven on another stack's role). The grants the
first proofs found unused in every stack (the batch pipeline's actions in the training role and
the reverse, the scale-out partials, the verifier's package reads where approval is automatic)
were removed from the components.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Final

import pytest

from loop.grants import Grant, unknown_statements, unused
from loop.pipeline import PipelinesPlan, read_pipelines
from loop.services import plan_stack
from loop.stack import (
    DRIFT_POLICY,
    QUALITY_POLICY,
    TRIGGER_POLICY,
    VERIFIER_POLICY,
    FunctionSpec,
    LoopPlan,
    plan_loop,
)
from planner.run import Plan
from tests.conftest import plan_with
from tests.e2e.conftest import _once_per_session
from tests.e2e.role_uses import (
    LAMBDA_ROLES,
    LAMBDA_USES,
    POLICY_OF_FUNCTION,
    PROXY,
    Pair,
    role_uses,
)
from tests.e2e.test_pipeline_role_sufficiency import (
    BATCH,
    BATCH_STATEMENTS,
    NETWORK,
    NS,
    TRAINING,
    TRAINING_STATEMENTS,
    VPC_NOT_LEARNED_STATEMENTS,
)
from tests.e2e.test_service_role_sufficiency import KIND

STACKS: Final = ("dev", "staging", "prod")
VARIANTS: Final = (*STACKS, "dev-vpc")

PIPELINE_USES: Final[dict[tuple[str, str], frozenset[Pair]]] = {
    ("dev", TRAINING): frozenset(TRAINING_STATEMENTS),
    ("staging", TRAINING): frozenset(TRAINING_STATEMENTS),
    ("prod", TRAINING): frozenset(TRAINING_STATEMENTS),  # the run before the batch
    ("prod", BATCH): frozenset(BATCH_STATEMENTS),
    ("dev-vpc", TRAINING): frozenset(VPC_NOT_LEARNED_STATEMENTS),
}
"""(variant, pipeline registration name) -> every pair its proofs pinned (one proof each)."""

# ---- the grants no proof used, each with its reason ----------------------------------------------

_IDEMPOTENCY_GET: Final = frozenset(
    {
        # kept on purpose: Powertools' idempotency reads a record with GetItem only when a
        # conditional PutItem's failure carries no item (boto3 older than 1.26.164, without
        # ReturnValuesOnConditionCheckFailure); with the runtime's boto3 DynamoDB returns the
        # existing item and no path of the trigger calls GetItem (not even a duplicate
        # delivery). Granting the library's fallback keeps a duplicate a duplicate, not an
        # AccessDenied, should the runtime's boto3 ever take that path.
        ("DecisionsTable", "dynamodb:GetItem"),
    }
)
_TRIGGER_NOT_FAILED: Final = _IDEMPOTENCY_GET | {
    # not exercised: DeleteItem of the in-progress idempotency record when an invocation raises
    # (SageMaker refusing every start) is proven on dev's trigger (`start-failed`), same code
    ("DecisionsTable", "dynamodb:DeleteItem"),
}
_VERIFIER_NO_STATE_CHANGE: Final = frozenset(
    {
        # not exercised: GetParameter is the state-change path (one endpoint's intended state),
        # proven on dev's verifier; staging's and prod's proofs run the hourly rule only
        ("ReadIntendedState", "ssm:GetParameter"),
    }
)
_PIPELINE_SERVICE: Final = frozenset(
    {
        # not modelled: the Pipelines service stops a step's job with the role when an execution
        # is stopped (StopPipelineExecution) or a step times out; no proof stops one
        ("RunOwnJobs", "sagemaker:StopProcessingJob"),
        # not modelled: AWS documents BatchCheckLayerAvailability for SageMaker's image pulls
        # (loop.services' model pull makes it); loop.pipeline's job hosts pull with
        # GetAuthorizationToken, BatchGetImage and GetDownloadUrlForLayer only
        ("PullImages", "ecr:BatchCheckLayerAvailability"),
        # unverified: no call of the harness is decided on kms:DescribeKey (SageMaker may
        # describe a job's KMS key when it validates it; loop.pipeline does not model that)
        ("UsePlatformKey", "kms:DescribeKey"),
        # unverified: neither pipeline's steps describe the group or a version with the role
        # (the Pipelines service may resolve a registration step's or a model step's package
        # by DescribeModelPackage; loop.pipeline does not model it)
        ("RegisterVersions", "sagemaker:DescribeModelPackage"),
        ("RegisterVersions", "sagemaker:DescribeModelPackageGroup"),
    }
)
_TRAINING_UNUSED: Final = _PIPELINE_SERVICE | {
    # not modelled: stopping (as above) the training job
    ("RunOwnJobs", "sagemaker:StopTrainingJob"),
}
_BATCH_UNUSED: Final = _PIPELINE_SERVICE | {
    # not modelled: stopping (as above) the transform job
    ("RunOwnJobs", "sagemaker:StopTransformJob"),
    # unverified: as above for a CreateModel step's properties (DescribeModel)
    ("RunOwnJobs", "sagemaker:DescribeModel"),
}
_VPC_UNUSED: Final = _TRAINING_UNUSED | {
    # not exercised: the VPC proof takes the Fail branch (a model that did not learn); the
    # registration is proven on dev's role without a network (the same statement)
    ("RegisterVersions", "sagemaker:CreateModelPackage"),
    # not modelled: SageMaker deletes the interface's permission when a job's interface is
    # released (loop.pipeline deletes the interface only); granted on "*" with the look-ups
    # because it names only the permission's id (components/iam.py)
    ("LookUpNetwork", "ec2:DeleteNetworkInterfacePermission"),
}

UNUSED: Final[dict[tuple[str, str], frozenset[tuple[str, str]]]] = {
    # Lambda roles: (stack, the role's policy registration name)
    ("dev", TRIGGER_POLICY): _IDEMPOTENCY_GET,
    ("staging", TRIGGER_POLICY): _TRIGGER_NOT_FAILED,
    ("prod", TRIGGER_POLICY): _TRIGGER_NOT_FAILED,
    ("staging", VERIFIER_POLICY): _VERIFIER_NO_STATE_CHANGE,
    ("prod", VERIFIER_POLICY): _VERIFIER_NO_STATE_CHANGE,
    # pipeline roles: (variant, pipeline registration name)
    ("dev", TRAINING): _TRAINING_UNUSED,
    ("staging", TRAINING): _TRAINING_UNUSED,
    ("prod", TRAINING): _TRAINING_UNUSED,
    ("prod", BATCH): _BATCH_UNUSED,
    ("dev-vpc", TRAINING): _VPC_UNUSED,
}
"""Role -> the (statement, action pattern) grants no proof of it used, each with its reason;
a role not listed uses every grant (the drift and quality roles, dev's verifier and proxy)."""

_EKS: Final = {
    "cluster-cluster-role": "EKS's cluster role: AWS managed policies, not in the plan",
    "cluster-node-role": "EKS's node role: AWS managed policies, not in the plan",
}
NOT_PROVEN: Final[dict[str, dict[str, str]]] = {"staging": dict(_EKS), "prod": dict(_EKS)}
"""Stack -> role registration name -> why no proof runs it (neither Lambda, pipeline nor one of
test_service_role_sufficiency's service roles)."""

PLANTED: Final = {
    "Sid": "Planted",
    "Effect": "Allow",
    "Action": ["s3:DeleteBucket"],
    "Resource": ["*"],
}


# ---- the plans -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loop_plans(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, dev_plan: LoopPlan
) -> dict[str, LoopPlan]:
    """The stacks' plans as the Lambda proofs read them (shared with their modules)."""
    return {
        "dev": dev_plan,
        **{
            stack: _once_per_session(tmp_path_factory, worker_id, stack, partial(plan_loop, stack))
            for stack in STACKS[1:]
        },
    }


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Plan]:
    """Every variant's plan (each planned once per session)."""
    makers: dict[str, Callable[[], Plan]] = {
        **{stack: partial(plan_stack, stack) for stack in STACKS},
        "dev-vpc": partial(plan_with, "dev", {f"{NS}network": NETWORK}),
    }
    return {
        variant: _once_per_session(tmp_path_factory, worker_id, f"plan-{variant}", make)
        for variant, make in makers.items()
    }


@pytest.fixture(scope="module")
def pipelines(plans: dict[str, Plan]) -> dict[str, PipelinesPlan]:
    return {variant: read_pipelines(plan) for variant, plan in plans.items()}


def _function_policy(plan: LoopPlan, policy: str) -> str:
    """The role's rendered policy, from the function the proofs run with it."""
    spec: FunctionSpec | None = {
        DRIFT_POLICY: plan.drift,
        TRIGGER_POLICY: plan.trigger,
        QUALITY_POLICY: plan.quality,
        VERIFIER_POLICY: plan.verifier,
        PROXY: plan.proxy,
    }[policy]
    assert spec is not None, f"{plan.stack}: no function with the policy {policy}"
    return spec.policy


def _left(policy: str, uses: frozenset[Pair]) -> set[tuple[str, str]]:
    return {(g.statement, g.action) for g in unused(policy, uses)}


# ---- every grant is used, or listed with its reason ----------------------------------------------


@pytest.mark.parametrize(("stack", "policy"), LAMBDA_ROLES)
def test_every_grant_of_a_lambda_role_is_used_or_listed_with_its_reason(
    loop_plans: dict[str, LoopPlan], stack: str, policy: str
) -> None:
    document = _function_policy(loop_plans[stack], policy)
    uses = role_uses(stack, policy)
    # THEN the pinned pairs name statements the policy has
    assert unknown_statements(document, uses) == set()
    # AND the grants no proof used are exactly the ones listed with their reason
    assert _left(document, uses) == UNUSED.get((stack, policy), frozenset())


@pytest.mark.parametrize(("variant", "pipeline"), sorted(PIPELINE_USES))
def test_every_grant_of_a_pipeline_role_is_used_or_listed_with_its_reason(
    pipelines: dict[str, PipelinesPlan], variant: str, pipeline: str
) -> None:
    document = pipelines[variant].pipeline(pipeline).policy
    uses = PIPELINE_USES[(variant, pipeline)]
    assert unknown_statements(document, uses) == set()
    assert _left(document, uses) == UNUSED[(variant, pipeline)]


def test_unused_names_only_roles_checked_here() -> None:
    assert set(UNUSED) <= set(LAMBDA_ROLES) | set(PIPELINE_USES)


# ---- every role of every plan is checked ---------------------------------------------------------


def test_every_function_role_is_keyed_by_its_policy_and_every_function_is_proven(
    loop_plans: dict[str, LoopPlan],
) -> None:
    for stack, plan in loop_plans.items():
        roles = {(stack, POLICY_OF_FUNCTION[uses.key]) for uses in plan.lambdas}
        # THEN the roles proven are exactly the plan's function roles
        assert roles == {r for r in LAMBDA_ROLES if r[0] == stack}
        for uses in plan.lambdas:
            policy = POLICY_OF_FUNCTION[uses.key]
            # AND the Lambda service's calls are pinned for every function of the role
            assert (stack, policy, f"lambda-service:{uses.key}") in LAMBDA_USES
            # AND the role's one document is the one the function's code was proven with
            ((name, document),) = uses.policies
            assert name.rsplit("-", 1)[0] == policy
            assert document == _function_policy(plan, policy), uses.key


def test_every_role_of_every_plan_is_proven_or_listed_with_its_reason(
    plans: dict[str, Plan], loop_plans: dict[str, LoopPlan], pipelines: dict[str, PipelinesPlan]
) -> None:
    for stack in STACKS:
        roles = {r.id: r.name for r in plans[stack].by_type("aws:iam/role:Role")}
        functions = {roles[u.role_name] for u in loop_plans[stack].lambdas}
        pipeline_roles = {roles[p.role_name] for p in pipelines[stack].pipelines.values()}
        services = {key for where, key in KIND if where == stack}
        proven = functions | pipeline_roles | services
        assert {(stack, p) for p in pipelines[stack].pipelines} <= set(PIPELINE_USES)
        # THEN every role is proven, or listed with the reason it is not
        assert sorted(set(roles.values()) - proven) == sorted(NOT_PROVEN.get(stack, {}))
        assert not proven & set(NOT_PROVEN.get(stack, {}))


# ---- the check can fail --------------------------------------------------------------------------


def _planted(document: str) -> str:
    parsed = json.loads(document)
    return json.dumps({**parsed, "Statement": [*parsed["Statement"], PLANTED]})


def test_a_planted_statement_is_reported_unused(
    loop_plans: dict[str, LoopPlan], pipelines: dict[str, PipelinesPlan]
) -> None:
    # GIVEN a Lambda role's and a pipeline role's policies with a statement no user calls
    lambda_role = ("prod", DRIFT_POLICY)
    planted = _planted(_function_policy(loop_plans["prod"], DRIFT_POLICY))
    pipeline_role = ("prod", BATCH)
    planted_pipeline = _planted(pipelines["prod"].pipeline(BATCH).policy)
    # THEN unused reports it, and only it beyond the listed grants: the check above would fail
    assert unused(planted, role_uses(*lambda_role)) == {Grant("Planted", "s3:DeleteBucket")}
    assert _left(planted_pipeline, PIPELINE_USES[pipeline_role]) == UNUSED[pipeline_role] | {
        ("Planted", "s3:DeleteBucket")
    }


def test_a_stale_pinned_pair_is_reported() -> None:
    """A pinned pair naming a statement the policy does not have (renamed, removed)."""
    document = json.dumps({"Version": "2012-10-17", "Statement": [PLANTED]})
    uses = {("s3:DeleteBucket", "Planted"), ("s3:GetObject", "ReadBaselines")}
    assert unknown_statements(document, uses) == {"ReadBaselines"}
