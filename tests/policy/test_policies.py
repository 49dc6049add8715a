"""Every policy of the pack with a compliant and a violating resource, evaluated exactly as the
offline plan evaluates them; and the pack over every shipped stack's plan."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pulumi_policy import StackValidationPolicy

from planner.mocks import Registration
from planner.policies import evaluate
from planner.run import Plan
from policy.mlops_policies import POLICIES

PROVIDER_URN = "urn:pulumi:prod::mlops-platform::pulumi:providers:aws::aws"
TAGS = {
    "Project": "mlops-platform",
    "Environment": "prod",
    "CostCenter": "cc",
    "Owner": "team",
    "ManagedBy": "pulumi:mlops-platform",
}
GOOD_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Root",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
)


def record(type_: str, name: str, inputs: dict[str, Any], **options: Any) -> Registration:
    defaults: dict[str, Any] = {
        "urn": f"urn:pulumi:prod::mlops-platform::{type_}::{name}",
        "type": type_,
        "name": name,
        "custom": True,
        "parent": "",
        "provider": PROVIDER_URN,
        "inputs": inputs,
        "protect": False,
        "retain_on_delete": False,
        "delete_before_replace": False,
        "ignore_changes": [],
        "replace_on_changes": [],
        "aliases": [],
        "dependencies": [],
        "property_dependencies": {},
        "additional_secret_outputs": [],
        "deleted_with": "",
    }
    defaults.update(options)
    return Registration(**defaults)


def provider(
    tags: dict[str, str] | None = None, name: str = "aws", region: str = "eu-west-1"
) -> Registration:
    inputs: dict[str, Any] = {"defaultTags": json.dumps({"tags": TAGS if tags is None else tags})}
    if region:
        inputs["region"] = region
    return record(
        "pulumi:providers:aws",
        name,
        inputs,
        urn=PROVIDER_URN
        if name == "aws"
        else f"urn:pulumi:prod::mlops-platform::pulumi:providers:aws::{name}",
        provider="",
    )


def key(**inputs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "enableKeyRotation": True,
        "rotationPeriodInDays": 365,
        "deletionWindowInDays": 30,
        "policy": GOOD_POLICY,
    }
    base.update(inputs)
    return {k: v for k, v in base.items() if v is not None}


def violations(*records: Registration) -> list[tuple[str, str]]:
    report = evaluate(list(records))
    return [(v.policy, v.message) for v in report.violations]


def test_compliant_resources_pass_every_policy() -> None:
    assert violations(provider(), record("aws:kms/key:Key", "k", key(), protect=True)) == []


@pytest.mark.parametrize(
    ("inputs", "options", "policy", "message"),
    [
        ({"enableKeyRotation": False}, {}, "kms-key-rotation", "KMS key rotation must be enabled"),
        ({"enableKeyRotation": None}, {}, "kms-key-rotation", "KMS key rotation must be enabled"),
        (
            {"rotationPeriodInDays": 730},
            {},
            "kms-key-rotation",
            "KMS key rotation period is 730 days; at most 365 accepted.",
        ),
        ({"policy": None}, {}, "kms-key-policy", "KMS key has no explicit key policy"),
        ({"policy": "not json"}, {}, "kms-key-policy", "not a JSON policy document"),
        (
            {
                "policy": json.dumps(
                    {
                        "Statement": [
                            {
                                "Sid": "Open",
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": "kms:Decrypt",
                            }
                        ]
                    }
                )
            },
            {},
            "kms-key-policy",
            "statement 0 (Open) allows a wildcard principal ['*']",
        ),
        (
            {
                "policy": json.dumps(
                    {
                        "Statement": [
                            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]}}
                        ]
                    }
                )
            },
            {},
            "kms-key-policy",
            "allows a wildcard principal ['*']",
        ),
        (
            {"deletionWindowInDays": None},
            {},
            "kms-key-deletion-protection",
            "no explicit deletionWindowInDays",
        ),
        (
            {"deletionWindowInDays": 5},
            {},
            "kms-key-deletion-protection",
            "deletionWindowInDays is 5; 7 to 30",
        ),
        (
            {},
            {"protect": False},
            "kms-key-deletion-protection",
            "A production KMS key must be protected",
        ),
    ],
    ids=[
        "rotation-off",
        "rotation-unset",
        "rotation-too-slow",
        "no-policy",
        "policy-not-json",
        "wildcard-principal",
        "wildcard-in-list",
        "no-window",
        "window-too-short",
        "prod-unprotected",
    ],
)
def test_kms_violations(
    inputs: dict[str, Any], options: dict[str, Any], policy: str, message: str
) -> None:
    opts = {"protect": True, **options}
    found = violations(provider(), record("aws:kms/key:Key", "k", key(**inputs), **opts))
    assert [p for p, _ in found] == [policy]
    assert message in found[0][1]


def test_unprotected_key_is_fine_outside_production() -> None:
    dev = provider({**TAGS, "Environment": "dev"})
    assert violations(dev, record("aws:kms/key:Key", "k", key(), protect=False)) == []


def test_missing_or_blanked_tags() -> None:
    no_owner = {k: v for k, v in TAGS.items() if k != "Owner"}
    found = violations(provider(no_owner), record("aws:kms/alias:Alias", "a", {"name": "alias/x"}))
    assert ("provider-default-tags", "AWS provider default tags lack ['Owner'].") in found
    assert any(p == "required-tags" and "['Owner']" in m for p, m in found)

    blanked = record("aws:kms/alias:Alias", "a", {"tags": {"CostCenter": " "}})
    found = violations(provider(), blanked)
    assert [p for p, _ in found] == ["required-tags"]
    assert "['CostCenter']" in found[0][1]


def test_resource_tags_complete_without_provider_defaults_pass() -> None:
    bare = provider({})
    own = record("aws:kms/alias:Alias", "a", {"tags": TAGS})
    assert [p for p, _ in violations(bare, own)] == ["provider-default-tags"]


@pytest.mark.parametrize(
    ("resource", "others", "message"),
    [
        (
            record("aws:kms/alias:Alias", "a", {"tags": TAGS}, provider=""),
            [],
            "has no explicit provider",
        ),
        (
            record(
                "aws:kms/alias:Alias",
                "a",
                {},
                provider="urn:pulumi:prod::mlops-platform::pulumi:providers:aws::default_7_51_1",
            ),
            [provider(name="default_7_51_1")],
            "uses the default provider 'default_7_51_1'",
        ),
        (
            record("aws:kms/alias:Alias", "a", {}),
            [provider(region="")],
            "sets no explicit region",
        ),
    ],
    ids=["no-provider", "default-provider", "no-region"],
)
def test_explicit_provider(
    resource: Registration, others: list[Registration], message: str
) -> None:
    found = violations(*(others or [provider()]), resource)
    explicit = [m for p, m in found if p == "aws-explicit-provider"]
    assert len(explicit) == 1
    assert message in explicit[0]


def test_every_policy_has_a_violating_case_here() -> None:
    # The S3 policies' cases are in test_s3_policies.py, the other services' in
    # test_service_policies.py, and Lambda, logs, IAM, Scheduler and Step Functions' in
    # test_lambda_iam_policies.py, the training (SageMaker pipeline) ones in
    # test_training_policies.py (the network one in test_network_policies.py), the inference
    # (endpoint and model) ones in test_inference_policies.py, the Firehose ones in
    # test_firehose.py, the CloudWatch alarm ones in test_alarms.py, the
    # Kubernetes workload ones in test_kubernetes.py, the EKS cluster and node ones in
    # test_eks.py, the DynamoDB ones in test_dynamodb_policies.py.
    covered = {
        "kms-key-rotation", "kms-key-policy", "kms-key-deletion-protection", "required-tags",
        "provider-default-tags", "aws-explicit-provider",
        "s3-bucket-role", "s3-public-access-block", "s3-acls-disabled", "s3-tls-only-policy",
        "s3-kms-encryption", "s3-versioning", "s3-lifecycle", "s3-access-logging",
        "s3-object-lock",
        "sagemaker-feature-group-encryption", "sagemaker-registry-read-only-sharing",
        "sagemaker-pipeline-job-encryption", "sagemaker-pipeline-traffic-encryption",
        "sagemaker-pipeline-max-runtime", "sagemaker-pipeline-spot-checkpoints",
        "sagemaker-pipeline-network-isolation", "sagemaker-pipeline-role",
        "sagemaker-endpoint-config-kms", "sagemaker-endpoint-data-capture",
        "sagemaker-endpoint-instance-count", "sagemaker-endpoint-safe-rollout",
        "sagemaker-model-network-isolation", "sagemaker-model-vpc",
        "sagemaker-pipeline-jobs-in-vpc", "sagemaker-variant-names-stable",
        "ecr-scan-on-push", "ecr-immutable-tags", "ecr-kms-encryption",
        "sns-topic-kms-encryption", "sns-topic-policy-not-public", "sqs-queue-kms-encryption",
        "sqs-queue-message-retention", "sqs-queue-policy-not-public",
        "eventbridge-target-retry-and-dlq",
        "dynamodb-point-in-time-recovery", "dynamodb-deletion-protection",
        "dynamodb-kms-encryption",
        "firehose-encryption", "firehose-delivery-errors",
        "iam-least-privilege", "iam-no-privilege-escalation", "iam-no-admin-managed-policies",
        "iam-role-trust-policy",
        "lambda-supported-runtime", "lambda-xray-tracing", "lambda-reserved-concurrency",
        "lambda-async-failure-destination", "lambda-environment-kms-encryption",
        "lambda-environment-no-secrets", "lambda-permission-not-public",
        "lambda-function-url-auth", "lambda-log-group-managed",
        "cloudwatch-log-group-retention", "cloudwatch-log-group-kms",
        "scheduler-schedule-retry-and-dlq", "scheduler-schedule-kms",
        "sfn-state-machine-logging", "sfn-state-machine-tracing", "sfn-state-machine-kms",
        "cloudwatch-alarm-actions", "cloudwatch-alarm-missing-data",
        "kubernetes-pod-probes", "kubernetes-pod-resources", "kubernetes-image-pinned",
        "kubernetes-host-namespaces", "kubernetes-container-privileges",
        "kubernetes-run-as-non-root", "kubernetes-seccomp-runtime-default",
        "kubernetes-not-default-namespace", "kubernetes-service-account",
        "kubernetes-network-policy",
        "eks-endpoint-restricted", "eks-supported-version", "eks-secrets-encryption",
        "eks-control-plane-logging", "ec2-launch-template-imdsv2", "eks-node-group-imdsv2",
    }  # fmt: skip
    assert {p.name for p in POLICIES} == covered


def test_shipped_stacks_have_no_violations(plans: dict[str, Plan]) -> None:
    for stack, plan in plans.items():
        report = evaluate(plan.registrations)
        assert report.violations == [], stack
        stack_policies = sum(1 for p in POLICIES if isinstance(p, StackValidationPolicy))
        resource_policies = len(POLICIES) - stack_policies
        custom = sum(1 for r in plan.registrations if r.custom)
        assert report.checks == resource_policies * custom + stack_policies


def test_pack_catches_a_regression_in_a_real_plan(plans: dict[str, Plan]) -> None:
    """The same evaluation over a real plan with the key left unprotected fails in prod."""
    regs = [
        replace(r, protect=False) if r.type == "aws:kms/key:Key" else r
        for r in plans["prod"].registrations
    ]
    report = evaluate(regs)
    assert [(v.policy, v.enforcement) for v in report.mandatory] == [
        ("kms-key-deletion-protection", "mandatory")
    ]


# ---- stack policies: the arguments the offline plan builds, and how findings are reported ----

STACK_URN = "urn:pulumi:prod::mlops-platform::pulumi:pulumi:Stack::mlops-platform-prod"
COMPONENT_URN = (
    "urn:pulumi:prod::mlops-platform::pulumi:pulumi:Stack$mlops:storage:SecureBucket::lake"
)


def _stack_policy(
    validate: Any, name: str = "spy-stack-policy"
) -> tuple[StackValidationPolicy, ...]:
    return (StackValidationPolicy(name=name, description="a test policy", validate=validate),)


def test_stack_policy_sees_custom_resources_linked_by_urn() -> None:
    seen: list[Any] = []
    bucket = record("aws:s3/bucket:Bucket", "b", {"bucketPrefix": "b-"}, parent=COMPONENT_URN)
    block = record(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "pab",
        {"bucket": "b-1"},
        parent=bucket.urn,
        protect=True,
        dependencies=[bucket.urn, COMPONENT_URN],
        property_dependencies={"bucket": [bucket.urn, COMPONENT_URN], "blockPublicAcls": []},
    )
    component = record("mlops:storage:SecureBucket", "lake", {}, custom=False, provider="")
    component = replace(component, urn=COMPONENT_URN, parent=STACK_URN)
    evaluate(
        [provider(), component, bucket, block],
        _stack_policy(lambda args, report: seen.append(args)),
    )
    [args] = seen
    by_name = {r.name: r for r in args.resources}
    assert sorted(by_name) == ["aws", "b", "pab"]  # the component is not a custom resource
    got_bucket, got_block = by_name["b"], by_name["pab"]
    assert got_bucket.parent is None  # its parent is the component
    assert got_block.parent is got_bucket
    assert got_block.dependencies == [got_bucket]
    assert got_block.property_dependencies == {"bucket": [got_bucket], "blockPublicAcls": []}
    assert got_block.props == {"bucket": "b-1"}
    assert got_block.resource_type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    assert got_block.urn == block.urn
    assert got_block.opts.protect is True
    assert got_block.provider is not None
    assert got_block.provider.urn == PROVIDER_URN
    assert got_block.provider.props["region"] == "eu-west-1"
    assert by_name["aws"].provider is None


def test_stack_policy_findings_name_the_stack_or_the_reported_resource() -> None:
    alias = record("aws:kms/alias:Alias", "a", {}, parent=STACK_URN)

    def validate(args: Any, report: Any) -> None:
        report("the whole stack is wrong", None)
        report("this alias is wrong", alias.urn)

    found = evaluate([provider(), alias], _stack_policy(validate))
    assert [(v.policy, v.urn, v.message, v.enforcement) for v in found.violations] == [
        ("spy-stack-policy", STACK_URN, "the whole stack is wrong", "mandatory"),
        ("spy-stack-policy", alias.urn, "this alias is wrong", "mandatory"),
    ]
    assert found.checks == 1  # once per plan, however many resources


def test_stack_policy_not_applicable_is_a_finding_on_the_stack() -> None:
    report = evaluate(
        [provider(), record("aws:kms/alias:Alias", "a", {})],
        _stack_policy(lambda args, report: args.not_applicable("nothing to check")),
    )
    assert report.violations == []
    assert [(n.policy, n.urn, n.message, n.enforcement) for n in report.not_applicable] == [
        ("spy-stack-policy", STACK_URN, "nothing to check", "not-applicable")
    ]


def test_mixed_policies_count_one_check_per_resource_or_stack_run() -> None:
    resource_policy = next(p for p in POLICIES if p.name == "required-tags")
    both = (resource_policy, *_stack_policy(lambda args, report: None))
    report = evaluate([provider(), record("aws:kms/alias:Alias", "a", {})], both)
    assert report.checks == 2 + 1
