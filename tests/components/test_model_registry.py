"""The model registry and its approval route, as the real program plans them for each stack.

Covers `components/model_registry.py` (`ModelRegistry`) and `components/notifications.py`
(`PlatformTopic`, `EventRoute`) through `infra/program.py` under the Pulumi mocks: exact
security-relevant inputs, protection per stack, the approval event route and its dead-letter
queue, the optional promotion-account grant, several models, the disabled section, and the
policy pack's verdict on every resource type involved.

ARNs are compared with what the mocks answered for the resource they belong to (recorded by
`recorded`), so a policy or target is proven to point at *that* resource, not at a string that
merely looks right.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pulumi.runtime.mocks import MockResourceArgs

from planner.mocks import PlatformMocks, Registration
from planner.policies import evaluate
from planner.run import Plan
from tests.conftest import SHIPPED_STACKS, plan_with

NS = "mlops-platform:"
REGION = "eu-west-1"
ACCOUNTS = {"dev": "123456789012", "staging": "123456789012", "prod": "111111111111"}
PROMOTION_ACCOUNT = "222222222222"

REGISTRY = "mlops:registry:ModelRegistry"
TOPIC_COMPONENT = "mlops:notifications:PlatformTopic"
ROUTE_COMPONENT = "mlops:notifications:EventRoute"
GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
GROUP_POLICY = "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"
REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"


def approval_queue(plan: Plan) -> Registration:
    """The approval route's dead-letter queue (drift checks and inference have queues of
    their own)."""
    (queue,) = [q for q in plan.by_type(QUEUE) if q.name == "registry-approvals-dlq"]
    return queue


TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"

REGISTRY_TYPES = (
    REGISTRY,
    ROUTE_COMPONENT,
    TOPIC_COMPONENT,
    GROUP,
    GROUP_POLICY,
    REPOSITORY,
    LIFECYCLE,
    RULE,
    TARGET,
    QUEUE,
    QUEUE_POLICY,
    TOPIC,
    TOPIC_POLICY,
)

READ_ACTIONS = [
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
]

# Per shipped stack: (protect and retain stateful resources, ECR force delete, keepImages,
# initial approval status of new model versions).
STACK_SETTINGS = {
    "dev": (False, True, 10, "Approved"),
    "staging": (True, False, 30, "PendingManualApproval"),
    "prod": (True, False, 100, "PendingManualApproval"),
}

# The shipped registry sections, repeated because an override replaces the whole section.
SHIPPED_REGISTRY: dict[str, dict[str, Any]] = {
    stack: {
        "enabled": True,
        "approval": "auto" if stack == "dev" else "manual",
        "keepImages": STACK_SETTINGS[stack][2],
        "models": [{"name": "churn", "description": "Customer churn classifier"}],
    }
    for stack in SHIPPED_STACKS
}


@dataclass
class Recorded:
    """A plan together with what the mocks answered for each resource (its outputs)."""

    plan: Plan
    answers: dict[tuple[str, str], dict[str, Any]]

    def arn(self, record: Registration) -> str:
        """The ARN the (mocked) provider gave `record`."""
        return str(self.answers[(record.type, record.name)]["arn"])


def record_plan(
    monkeypatch: pytest.MonkeyPatch, stack: str, overrides: dict[str, Any] | None = None
) -> Recorded:
    """Plan `stack` while keeping every resource's mocked outputs. Training is off: its
    failure route and queues are of the same types as the registry's (tests/training). So is
    retraining, which needs training and has routes and queues of its own
    (tests/components/test_retraining_component.py)."""
    off = {"enabled": False}
    overrides = {f"{NS}training": off, f"{NS}retraining": off, **(overrides or {})}
    answers: dict[tuple[str, str], dict[str, Any]] = {}
    original = PlatformMocks.new_resource

    def recording(self: PlatformMocks, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, outputs = original(self, args)
        key = (args.typ, args.name)
        assert key not in answers, f"two resources named {key}"
        answers[key] = outputs
        return resource_id, outputs

    with monkeypatch.context() as patch:
        patch.setattr(PlatformMocks, "new_resource", recording)
        plan = plan_with(stack, overrides)
    return Recorded(plan, answers)


@pytest.fixture(scope="module")
def recorded() -> Iterator[dict[str, Recorded]]:
    """Every shipped stack, planned once for this module with the mocks' answers kept."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield {stack: record_plan(monkeypatch, stack) for stack in SHIPPED_STACKS}


@pytest.fixture(scope="module")
def plans(recorded: dict[str, Recorded]) -> dict[str, Plan]:
    """The shipped stacks without training and retraining (see `record_plan`), for this
    module."""
    return {stack: run.plan for stack, run in recorded.items()}


def registry_section(stack: str, **changes: Any) -> dict[str, Any]:
    """`stack`'s shipped modelRegistry section with keys replaced."""
    return {**SHIPPED_REGISTRY[stack], **changes}


def key_arn(plan: Plan) -> str:
    arn = plan.outputs["kmsKeyArn"]
    assert arn.startswith(f"arn:aws:kms:{REGION}:{plan.account_id}:key/")
    return str(arn)


def document(record: Registration, field: str = "policy") -> dict[str, Any]:
    """A policy input parsed; it must be JSON text, not an object."""
    text = record.inputs[field]
    assert isinstance(text, str), f"{record.urn}: {field} is not JSON text"
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def only_statement(record: Registration, field: str = "policy") -> dict[str, Any]:
    policy = document(record, field)
    assert policy["Version"] == "2012-10-17"
    assert len(policy["Statement"]) == 1, policy
    statement: dict[str, Any] = policy["Statement"][0]
    return statement


def component_urn(plan: Plan, type_: str) -> str:
    return plan.one(type_).urn


def subtree(plan: Plan, component_type: str) -> list[Registration]:
    """Every resource below the one component of `component_type`, at any depth."""
    root = component_urn(plan, component_type)
    parent_of = {r.urn: r.parent for r in plan.registrations}

    def below(urn: str) -> bool:
        while urn := parent_of.get(urn, ""):
            if urn == root:
                return True
        return False

    return [r for r in plan.registrations if below(r.urn)]


def of_registry(plan: Plan, type_: str) -> list[Registration]:
    """The registry's resources of `type_`: inference registers event routes, rules, targets
    and queues of the same types, which the assertions here are not about."""
    return [r for r in subtree(plan, REGISTRY) if r.type == type_]


def registry_one(plan: Plan, type_: str) -> Registration:
    """The registry's one resource of `type_`."""
    found = of_registry(plan, type_)
    assert len(found) == 1, f"expected one {type_} in the registry, found {len(found)}"
    return found[0]


# ---- model package groups -------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_model_package_group(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    stateful = STACK_SETTINGS[stack][0]
    group = plan.one(GROUP)
    assert group.inputs == {
        "modelPackageGroupName": f"mlops-platform-{stack}-churn",
        "modelPackageGroupDescription": "Customer churn classifier",
    }
    assert (group.protect, group.retain_on_delete) == (stateful, stateful)
    assert group.parent == component_urn(plan, REGISTRY)
    # Sharing is opt-in: no shipped stack grants another account anything.
    assert plan.by_type(GROUP_POLICY) == []


# ---- image repositories ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_image_repository(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    stateful, force_delete, _, _ = STACK_SETTINGS[stack]
    repository = plan.one(REPOSITORY)
    assert repository.inputs == {
        "name": f"mlops-platform-{stack}-churn",
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": key_arn(plan)}],
        "forceDelete": force_delete,
    }
    assert (repository.protect, repository.retain_on_delete) == (stateful, stateful)
    assert repository.parent == component_urn(plan, REGISTRY)
    key = plan.one("aws:kms/key:Key").urn
    assert repository.property_dependencies["encryptionConfigurations"] == [key]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_image_lifecycle_policy(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    keep = STACK_SETTINGS[stack][2]
    lifecycle = plan.one(LIFECYCLE)
    repository = plan.one(REPOSITORY)
    assert lifecycle.inputs["repository"] == f"mlops-platform-{stack}-churn"
    assert lifecycle.property_dependencies["repository"] == [repository.urn]
    assert lifecycle.parent == component_urn(plan, REGISTRY)
    assert document(lifecycle) == {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Expire untagged images after 7 days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 7,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the newest {keep} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            },
        ]
    }


# ---- outputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_registry_outputs(recorded: dict[str, Recorded], stack: str) -> None:
    run = recorded[stack]
    outputs = run.plan.outputs
    account = ACCOUNTS[stack]
    assert run.plan.account_id == account
    assert outputs["modelPackageGroups"] == {"churn": f"mlops-platform-{stack}-churn"}
    assert outputs["imageRepositories"] == {
        "churn": f"{account}.dkr.ecr.{REGION}.amazonaws.com/mlops-platform-{stack}-churn"
    }
    assert outputs["modelApprovalRule"] == f"mlops-platform-{stack}-registry-approvals"
    assert outputs["modelApprovalRule"] == registry_one(run.plan, RULE).inputs["name"]
    assert outputs["initialModelApprovalStatus"] == STACK_SETTINGS[stack][3]
    assert outputs["platformTopicArn"] == run.arn(run.plan.one(TOPIC))
    artifacts = next(r for r in run.plan.registrations if r.name == "lake-model-artifacts-bucket")
    assert outputs["modelArtifactUris"] == {"churn": f"s3://{artifacts.id}/models/churn/"}


# ---- the approval route ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_approval_rule_matches_decisions_of_the_stacks_groups(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    rule = registry_one(plan, RULE)
    assert rule.inputs["name"] == f"mlops-platform-{stack}-registry-approvals"
    assert rule.inputs["state"] == "ENABLED"
    assert document(rule, "eventPattern") == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {
            "ModelPackageGroupName": [f"mlops-platform-{stack}-churn"],
            "ModelApprovalStatus": ["Approved", "Rejected"],
        },
    }
    route = registry_one(plan, ROUTE_COMPONENT)
    assert route.parent == component_urn(plan, REGISTRY)
    assert rule.parent == route.urn


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_approval_target_retries_then_dead_letters(
    recorded: dict[str, Recorded], stack: str
) -> None:
    run = recorded[stack]
    plan = run.plan
    target, rule = registry_one(plan, TARGET), registry_one(plan, RULE)
    queue, queue_policy = approval_queue(plan), registry_one(plan, QUEUE_POLICY)
    topic = plan.one(TOPIC)
    assert target.inputs == {
        "rule": rule.inputs["name"],
        "arn": run.arn(topic),
        "retryPolicy": {"maximumRetryAttempts": 20, "maximumEventAgeInSeconds": 21600},
        "deadLetterConfig": {"arn": run.arn(queue)},
    }
    assert target.property_dependencies["rule"] == [rule.urn]
    assert target.property_dependencies["arn"] == [topic.urn]
    assert target.property_dependencies["deadLetterConfig"] == [queue.urn]
    # EventBridge may only use the queue once its policy lets it send there.
    assert queue_policy.urn in target.dependencies
    assert target.parent == registry_one(plan, ROUTE_COMPONENT).urn


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_dead_letter_queue_is_encrypted_and_only_the_rule_may_send(
    recorded: dict[str, Recorded], stack: str
) -> None:
    run = recorded[stack]
    plan = run.plan
    queue, queue_policy = approval_queue(plan), registry_one(plan, QUEUE_POLICY)
    rule = registry_one(plan, RULE)
    assert queue.inputs == {
        "name": f"mlops-platform-{stack}-registry-approvals-dlq",
        "kmsMasterKeyId": key_arn(plan),
        "kmsDataKeyReusePeriodSeconds": 300,
        "messageRetentionSeconds": 1_209_600,
    }
    assert queue_policy.inputs["queueUrl"] == run.answers[(QUEUE, queue.name)]["url"]
    assert only_statement(queue_policy) == {
        "Sid": "RuleSendsUndeliverableEvents",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": run.arn(queue),
        "Condition": {"ArnEquals": {"aws:SourceArn": run.arn(rule)}},
    }
    assert queue_policy.property_dependencies["policy"] == sorted([queue.urn, rule.urn])


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_platform_topic_is_encrypted_and_only_services_of_this_account_publish(
    recorded: dict[str, Recorded], stack: str
) -> None:
    run = recorded[stack]
    plan = run.plan
    topic, topic_policy = plan.one(TOPIC), plan.one(TOPIC_POLICY)
    assert topic.inputs == {
        "name": f"mlops-platform-{stack}-platform-events",
        "kmsMasterKeyId": key_arn(plan),
    }
    assert topic.parent == component_urn(plan, TOPIC_COMPONENT)
    assert topic_policy.inputs["arn"] == run.arn(topic)
    statement = only_statement(topic_policy)
    assert statement == {
        "Sid": "ServicesPublishForThisAccount",
        "Effect": "Allow",
        "Principal": {
            "Service": [
                "budgets.amazonaws.com",
                "cloudwatch.amazonaws.com",
                "costalerts.amazonaws.com",
                "events.amazonaws.com",
            ]
        },
        "Action": "sns:Publish",
        "Resource": run.arn(topic),
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNTS[stack]}},
    }
    # Belt and braces for the exact comparison above: nothing public, no account principal.
    assert set(statement["Principal"]) == {"Service"}
    assert "*" not in topic_policy.inputs["policy"]


# ---- promotion account ----------------------------------------------------------------------


def promotion_plan(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    section = registry_section("prod", promotionAccountId=PROMOTION_ACCOUNT)
    return record_plan(monkeypatch, "prod", {f"{NS}modelRegistry": section})


def test_promotion_account_reads_the_groups_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    run = promotion_plan(monkeypatch)
    plan = run.plan
    group = plan.one(GROUP)
    grant = plan.one(GROUP_POLICY)
    assert grant.inputs["modelPackageGroupName"] == "mlops-platform-prod-churn"
    assert grant.property_dependencies["modelPackageGroupName"] == [group.urn]
    assert grant.parent == component_urn(plan, REGISTRY)
    group_arn = run.arn(group)
    # The versions of a group are `model-package/<group name>/<version>`; the name is the
    # last segment of the group's ARN.
    group_segment = group_arn.rsplit("/", 1)[-1]
    statement = only_statement(grant, "resourcePolicy")
    assert statement == {
        "Sid": "PromotionAccountReadsVersions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PROMOTION_ACCOUNT}:root"},
        "Action": READ_ACTIONS,
        "Resource": [
            group_arn,
            f"arn:aws:sagemaker:{REGION}:111111111111:model-package/{group_segment}/*",
        ],
    }
    # Granting does not loosen anything else.
    assert plan.one(REPOSITORY).inputs["imageTagMutability"] == "IMMUTABLE"


def test_promotion_policy_names_the_physical_group(monkeypatch: pytest.MonkeyPatch) -> None:
    statement = only_statement(promotion_plan(monkeypatch).plan.one(GROUP_POLICY), "resourcePolicy")
    prefix = f"arn:aws:sagemaker:{REGION}:111111111111"
    assert statement["Resource"] == [
        f"{prefix}:model-package-group/mlops-platform-prod-churn",
        f"{prefix}:model-package/mlops-platform-prod-churn/*",
    ]


# ---- several models, and none ---------------------------------------------------------------


def test_two_models_get_two_groups_two_repositories_and_one_rule(
    plan_stack: Callable[..., Plan],
) -> None:
    # Declared out of alphabetical order, the second without a description.
    models = [
        {"name": "churn", "description": "Customer churn classifier"},
        {"name": "anomaly"},
    ]
    section = registry_section("dev", models=models)
    off = {"enabled": False}  # retraining needs training
    plan = plan_stack(
        "dev",
        {f"{NS}modelRegistry": section, f"{NS}training": off, f"{NS}retraining": off},
    )

    groups = {g.inputs["modelPackageGroupName"]: g for g in plan.by_type(GROUP)}
    assert {name: g.inputs["modelPackageGroupDescription"] for name, g in groups.items()} == {
        "mlops-platform-dev-churn": "Customer churn classifier",
        "mlops-platform-dev-anomaly": "Versions of the anomaly model.",
    }
    repositories = {r.inputs["name"]: r for r in plan.by_type(REPOSITORY)}
    assert set(repositories) == {"mlops-platform-dev-churn", "mlops-platform-dev-anomaly"}
    for repository in repositories.values():
        assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository.inputs["encryptionConfigurations"] == [
            {"encryptionType": "KMS", "kmsKey": key_arn(plan)}
        ]
    lifecycles = {lc.inputs["repository"] for lc in plan.by_type(LIFECYCLE)}
    assert lifecycles == set(repositories)

    pattern = document(registry_one(plan, RULE), "eventPattern")
    assert pattern["detail"]["ModelPackageGroupName"] == [
        "mlops-platform-dev-anomaly",
        "mlops-platform-dev-churn",
    ]
    assert len(of_registry(plan, TARGET)) == 1
    approval_queue(plan)  # exactly one approval dead-letter queue for both models
    assert len(plan.by_type(TOPIC)) == 1
    assert plan.outputs["modelPackageGroups"] == {
        "churn": "mlops-platform-dev-churn",
        "anomaly": "mlops-platform-dev-anomaly",
    }
    assert set(plan.outputs["imageRepositories"]) == {"churn", "anomaly"}


WITHOUT_REGISTRY = {
    f"{NS}modelRegistry": {"enabled": False},
    # Each of these needs the registry: disabling it alone is refused.
    f"{NS}drift": {"enabled": False},
    f"{NS}quality": {"enabled": False},
    f"{NS}training": {"enabled": False},
    f"{NS}inference": {"enabled": False},
    f"{NS}retraining": {"enabled": False},
}


def test_disabled_registry_registers_no_registry_resource_and_no_topic(
    plan_stack: Callable[..., Plan],
) -> None:
    plan = plan_stack(
        "dev",
        {
            **WITHOUT_REGISTRY,
            # Cost controls and monitoring notify through the platform topic too (the next
            # test): off here, so the registry would be the topic's only reason.
            f"{NS}cost": {"enabled": False},
            f"{NS}monitoring": {"enabled": False},
        },
    )
    present = sorted({r.type for r in plan.registrations} & set(REGISTRY_TYPES))
    assert present == []
    assert not {
        "platformTopicArn",
        "modelPackageGroups",
        "imageRepositories",
        "modelArtifactUris",
        "modelApprovalRule",
        "initialModelApprovalStatus",
    } & set(plan.outputs)
    # The rest of the platform is still there.
    assert plan.by_type("mlops:storage:DataLake")


def test_without_the_registry_the_topic_stays_for_cost_and_monitoring(
    plan_stack: Callable[..., Plan],
) -> None:
    plan = plan_stack("dev", WITHOUT_REGISTRY)
    # Only the topic, its key policy and their component remain of the registry's types, and
    # none of them belongs to a registry; the budgets and alarms notify through it.
    remaining = [(r.type, r.name) for r in plan.registrations if r.type in set(REGISTRY_TYPES)]
    assert sorted(remaining) == [
        (TOPIC, "platform-events-topic"),
        (TOPIC_POLICY, "platform-events-policy"),
        (TOPIC_COMPONENT, "platform-events"),
    ]
    assert not [r for r in plan.registrations if r.name.startswith("registry")]
    assert plan.by_type("mlops:cost:CostControls")
    assert plan.by_type("mlops:monitoring:PlatformMonitoring")
    assert "platformTopicArn" in plan.outputs
    assert not {
        "modelPackageGroups",
        "imageRepositories",
        "modelArtifactUris",
        "modelApprovalRule",
        "initialModelApprovalStatus",
    } & set(plan.outputs)


# ---- the policy pack ------------------------------------------------------------------------


def urn_type(urn: str) -> str:
    """The resource type of a URN (the last type of its parent chain)."""
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


@pytest.mark.parametrize("stack", [*SHIPPED_STACKS, "prod-with-promotion"])
def test_policy_pack_finds_nothing_wrong_with_the_registry(
    plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch, stack: str
) -> None:
    plan = promotion_plan(monkeypatch).plan if stack == "prod-with-promotion" else plans[stack]
    report = evaluate(plan.registrations)
    # The registry, the topic and theirs (inference has rules and queues of its own).
    components = [plan.one(REGISTRY), plan.one(TOPIC_COMPONENT)]
    mine = [*components, *subtree(plan, REGISTRY), *subtree(plan, TOPIC_COMPONENT)]
    urns = {r.urn for r in mine}
    ours = [f for f in report.violations if f.urn in urns and urn_type(f.urn) in REGISTRY_TYPES]
    assert ours == []
    # The filter is not vacuous: the selection holds every resource type it is about.
    present = {r.type for r in mine if r.custom} & set(REGISTRY_TYPES)
    expected = {GROUP, REPOSITORY, LIFECYCLE, RULE, TARGET, QUEUE, QUEUE_POLICY, TOPIC}
    expected |= {TOPIC_POLICY}
    if stack == "prod-with-promotion":
        expected |= {GROUP_POLICY}
    assert present == expected
    assert report.checks > 0
