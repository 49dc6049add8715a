"""The offline plan of every shipped stack: exact resource inputs and options, provider usage,
and the `make plan` command's files, output and exit codes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.run import PROJECT_DIR, Plan
from tests.conftest import SHIPPED_STACKS

PROVIDER = "pulumi:providers:aws"
KEY = "aws:kms/key:Key"
TempStack = Callable[[str], tuple[Path, str]]
ALIAS = "aws:kms/alias:Alias"


def test_every_aws_resource_uses_the_platform_provider(plans: dict[str, Plan]) -> None:
    for stack, plan in plans.items():
        providers = plan.by_type(PROVIDER)
        assert [p.name for p in providers] == ["aws"], stack
        aws = [r for r in plan.registrations if r.type.startswith("aws:")]
        assert aws, f"{stack} registers no AWS resource"
        outside = [r.urn for r in aws if r.provider != providers[0].urn]
        assert outside == [], f"{stack}: AWS resources outside the platform provider: {outside}"


@pytest.mark.parametrize(
    ("stack", "tags", "accounts"),
    [
        ("dev", {"CostCenter": "ml-platform-dev", "Environment": "dev"}, None),
        ("staging", {"CostCenter": "ml-platform-staging", "Environment": "staging"}, None),
        (
            "prod",
            {
                "CostCenter": "ml-platform-prod",
                "Environment": "prod",
                "DataClassification": "confidential",
            },
            ["111111111111"],
        ),
    ],
)
def test_provider_region_account_guard_and_default_tags(
    plans: dict[str, Plan], stack: str, tags: dict[str, str], accounts: list[str] | None
) -> None:
    provider = plans[stack].one(PROVIDER)
    assert provider.inputs["region"] == "eu-west-1"
    default_tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert default_tags == {
        "Project": "mlops-platform",
        "Owner": "ml-platform-team",
        "ManagedBy": "pulumi:mlops-platform",
        **tags,
    }
    allowed = provider.inputs.get("allowedAccountIds")
    assert (json.loads(allowed) if allowed else None) == accounts


@pytest.mark.parametrize(
    ("stack", "window", "protect", "retain", "account"),
    [
        ("dev", 7, False, False, "123456789012"),
        ("staging", 14, True, True, "123456789012"),
        ("prod", 30, True, True, "111111111111"),
    ],
)
def test_platform_key(
    plans: dict[str, Plan], stack: str, window: int, protect: bool, retain: bool, account: str
) -> None:
    plan = plans[stack]
    key = plan.one(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["rotationPeriodInDays"] == 365
    assert key.inputs["deletionWindowInDays"] == window
    assert key.inputs["keyUsage"] == "ENCRYPT_DECRYPT"
    assert key.inputs["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert key.inputs["bypassPolicyLockoutSafetyCheck"] is False
    assert (key.protect, key.retain_on_delete) == (protect, retain)
    assert key.parent.endswith("mlops:security:PlatformKey::platform")

    policy = json.loads(key.inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["AccountRootDelegatesToIam"]["Principal"] == {
        "AWS": f"arn:aws:iam::{account}:root"
    }
    logs = statements["CloudWatchLogsEncryptsPlatformLogGroups"]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        f"arn:aws:logs:eu-west-1:{account}:log-group:*"
    )
    assert "kms:*" not in logs["Action"]
    events = statements["EventBridgeEncryptsPlatformMessages"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert events["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    notifications = statements["AlarmsAndCostAlertsEncryptPlatformNotifications"]
    assert notifications["Principal"] == {
        "Service": [
            "budgets.amazonaws.com",
            "cloudwatch.amazonaws.com",
            "costalerts.amazonaws.com",
        ]
    }
    assert notifications["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert notifications["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    # Staging and prod create an EKS cluster: Auto Scaling encrypts its nodes' volumes
    # (the statements' exact text: tests/components/test_kubernetes_cluster.py).
    eks_nodes = {"AutoScalingUsesPlatformKeyForNodeVolumes", "AutoScalingAttachesNodeVolumes"}
    assert set(statements) == {
        "AccountRootDelegatesToIam",
        "CloudWatchLogsEncryptsPlatformLogGroups",
        "EventBridgeEncryptsPlatformMessages",
        "AlarmsAndCostAlertsEncryptPlatformNotifications",
        *(eks_nodes if stack != "dev" else ()),
    }

    alias = plan.one(ALIAS)
    assert alias.inputs["name"] == f"alias/mlops-platform-{stack}-platform"
    assert alias.inputs["targetKeyId"] == key.id
    assert key.urn in alias.dependencies
    # The alias is cheap to recreate; only the key holds state.
    assert (alias.protect, alias.retain_on_delete) == (False, False)


DISABLED = {
    f"mlops-platform:{section}": {"enabled": False}
    for section in (
        "dataLake",
        "featureStore",
        "modelRegistry",
        "drift",
        "quality",
        "training",
        "inference",
        "retraining",
        "monitoring",
        "cost",
    )
}


def test_disabled_capabilities_register_nothing(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack("dev", DISABLED)
    types = {r.type for r in plan.registrations}
    assert types == {PROVIDER, KEY, ALIAS, "mlops:security:PlatformKey"}
    assert set(plan.outputs) == {"environment", "region", "kmsKeyArn", "kmsKeyAlias"}


COMPONENTS = {
    "mlops:security:PlatformKey": 1,
    "mlops:storage:DataLake": 1,
    "mlops:storage:SecureBucket": 7,
    "mlops:features:FeatureStore": 1,
    "mlops:notifications:PlatformTopic": 1,
    "mlops:registry:ModelRegistry": 1,
    # registry approvals, training failures, inference's endpoint-state and hourly verification,
    # and retraining's four: drift, requests, alarms, approvals
    "mlops:notifications:EventRoute": 8,
    "mlops:notifications:PlatformEventBus": 1,
    "mlops:drift:DriftMonitor": 1,
    "mlops:quality:QualityMonitor": 1,
    "mlops:training:TrainingPipelines": 1,
    "mlops:inference:SageMakerEndpoints": 1,
    "mlops:retraining:RetrainingTrigger": 1,
    "mlops:cost:CostControls": 1,
    "mlops:monitoring:PlatformMonitoring": 1,
}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_build_storage_features_and_registry(
    plans: dict[str, Plan], stack: str
) -> None:
    components = Counter(r.type for r in plans[stack].registrations if not r.custom)
    # Staging and prod also serve on Kubernetes (dev does not).
    kubernetes = {
        "mlops:kubernetes:Cluster": 1,
        "mlops:kubernetes:Inference": 1,
        "mlops:kubernetes:Monitoring": 1,
    }
    assert components == (COMPONENTS if stack == "dev" else {**COMPONENTS, **kubernetes})


def test_outputs(plans: dict[str, Plan]) -> None:
    prod = plans["prod"].outputs
    assert prod["environment"] == "prod"
    assert prod["kmsKeyAlias"] == "alias/mlops-platform-prod-platform"
    assert prod["kmsKeyArn"].startswith("arn:aws:kms:eu-west-1:111111111111:key/")


def test_partition_follows_region(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack("dev", {"mlops-platform:region": "cn-north-1"})
    key = plan.one(KEY)
    assert key.inputs["policy"].count("arn:aws-cn:iam::") == 1
    assert "logs.cn-north-1.amazonaws.com" in key.inputs["policy"]


# ---- the command --------------------------------------------------------------------------


def _plan_cli(*stacks: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner", "plan", *stacks, "--out", str(out)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_writes_resources_json_and_prints_the_summary(tmp_path: Path) -> None:
    result = _plan_cli("dev", out=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "dev" / "resources.json").read_text())
    assert document["stack"] == "dev"
    # 125 without inference, plus its 39 registrations: the component, its two event routes
    # and the 36 resources below them (28 direct, 4 under each route); the shared Powertools
    # layer, once inference's, is now the stack's own (`powertools-layer`), so the 39 stay.
    # Plus retraining's 32: the component, its four event routes (drift, requests, alarms,
    # approvals) and the 27 resources below them (11 direct: queue, table, role, policy, log
    # group, function, its async configuration and one permission per route; 4 under each).
    # Plus inference's latency objective alarm (churn's `latencyObjectiveP99Ms`): one.
    # That is dev with cost and monitoring off (197); the shipped dev has both, adding 42:
    # - cost's 14: the component and 13 resources: the monthly budget, the guardrail's budget
    #   action, deny policy, role and role policy, the anomaly monitor and its subscription,
    #   and six cost-allocation tags (Project, Environment, CostCenter, Owner, ManagedBy,
    #   Capability);
    # - monitoring's 28: the component and 27 resources: churn's dashboard and composite alarm,
    #   its five alarms (p99 latency and error rate of its one endpoint, drift, stale drift
    #   checks, pipeline failures), errors and throttles of the four functions (drift check,
    #   capture proxy, verifier, retraining trigger) and one alarm per dead-letter queue (12:
    #   drift, inference, its two verification routes, registry approvals, retraining's own and
    #   its four routes', training's and its failure route's).
    # Plus quality's 12 (the component and 11 resources: queue, role, role policy, log group,
    # function, its async configuration, scheduler role and policy, churn's schedule and its
    # two alarms, accuracy and label coverage) and monitoring's 3 for it (the check's errors and
    # throttles, its queue); and the training pipeline's 4 more engine modules it uploads
    # (mlops_drift's quality, groundtruth, accumulate and fairness).
    assert document["resourceCount"] == len(document["resources"]) == 197 + 14 + 28 + 12 + 3 + 4
    fields = {
        "urn", "type", "name", "parent", "inputs", "protect", "retainOnDelete", "aliases",
        "dependencies", "provider",
    }  # fmt: skip
    for resource in document["resources"]:
        assert fields <= set(resource), resource["urn"]
    out = result.stdout
    assert "mlops:security:PlatformKey platform  [2 direct, 2 total]" in out
    assert re.search(r"^  aws:kms/key:Key +1$", out, re.MULTILINE)
    assert re.search(r"^  aws:s3/bucket:Bucket +7$", out, re.MULTILINE)
    # The endpoint's three rollback alarms and its latency objective's (inference), quality's
    # two, and monitoring's 28 metric alarms.
    assert re.search(r"^  aws:cloudwatch/metricAlarm:MetricAlarm +34$", out, re.MULTILINE)
    assert re.search(r"^  aws:cloudwatch/compositeAlarm:CompositeAlarm +1$", out, re.MULTILINE)
    assert re.search(r"^  aws:cloudwatch/dashboard:Dashboard +1$", out, re.MULTILINE)
    assert re.search(r"^  aws:costexplorer/costAllocationTag:CostAllocationTag +6$", out, re.M)
    # The twelve roles with cost off (quality's two included), and the guardrail's.
    assert re.search(r"^  aws:iam/role:Role +13$", out, re.MULTILINE)
    # 108 + inference's 37 (35 below it, its latency objective's alarm, plus the layer it used
    # to own) + retraining's 27 + training's 4 more engine modules + quality's 11 (187 with cost
    # and monitoring off) + cost's 13 + monitoring's 30
    assert re.search(r"^  total +230$", out, re.MULTILINE)
    assert "mlops:storage:DataLake lake  [2 direct, 57 total]" in out
    assert "mlops:features:FeatureStore features  [3 direct, 3 total]" in out
    assert "mlops:registry:ModelRegistry registry  [3 direct, 7 total]" in out
    assert "mlops:training:TrainingPipelines training  [24 direct, 28 total]" in out
    # Its latency objective's alarm (churn's `latencyObjectiveP99Ms`) is the 28th.
    assert "mlops:inference:SageMakerEndpoints inference  [28 direct, 36 total]" in out
    assert "mlops:retraining:RetrainingTrigger retraining  [11 direct, 27 total]" in out
    assert "mlops:cost:CostControls cost  [13 direct, 13 total]" in out
    assert "mlops:monitoring:PlatformMonitoring monitoring  [30 direct, 30 total]" in out
    assert "mlops:quality:QualityMonitor quality  [11 direct, 11 total]" in out
    # The shared layer sits at the top of the tree, under no component.
    assert re.search(r"^[├└]─ aws:lambda/layerVersion:LayerVersion powertools-layer$", out, re.M)
    assert re.search(r"^    customer-features +mlops-platform-dev-customer-features$", out, re.M)
    assert re.search(r"^    churn +mlops-platform-dev-churn$", out, re.MULTILINE)
    assert re.search(r"^  initialModelApprovalStatus +Approved$", out, re.MULTILINE)
    assert "0 violations (0 mandatory)" in out
    assert "wall time:" in out
    assert "registrations" in result.stderr  # progress


@pytest.fixture
def temp_stack(tmp_path: Path) -> TempStack:
    """A copy of the project (sharing .venv and .venv-sagemaker) with one more stack file;
    returns (dir, name)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in (
        "infra",
        "components",
        "lambdas",
        "images",
        "pipelines",
        "planner",
        "policy",
        "stacks",
    ):
        shutil.copytree(
            PROJECT_DIR / name, project / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in (
        "Pulumi.yaml",
        "Makefile",
        "pyproject.toml",
        "requirements-dev.txt",
        "requirements-bootstrap.txt",
        "requirements-sagemaker.txt",
    ):
        shutil.copy2(PROJECT_DIR / name, project / name)
    (project / ".venv").symlink_to(PROJECT_DIR / ".venv")
    (project / ".venv-sagemaker").symlink_to(PROJECT_DIR / ".venv-sagemaker")

    def make(body: str) -> tuple[Path, str]:
        name = f"user{uuid.uuid4().hex[:6]}"
        (project / "stacks" / f"Pulumi.{name}.yaml").write_text(body)
        return project, name

    return make


BASE = """config:
  mlops-platform:environment: scratch
  mlops-platform:tier: dev
  mlops-platform:tags:
    costCenter: research
    owner: someone
"""


def _make_plan(project: Path, stack: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "plan", f"STACK={stack}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def test_user_stack_plans_the_same_way(temp_stack: TempStack) -> None:
    project, name = temp_stack(BASE)
    result = _make_plan(project, name)
    assert result.returncode == 0, result.stderr
    plan_dir = project / "build" / "plan" / name
    resources = json.loads((plan_dir / "resources.json").read_text())["resources"]
    key = next(r for r in resources if r["type"] == KEY)
    assert key["inputs"]["deletionWindowInDays"] == 30  # the model's default
    assert key["inputs"]["policy"].count("arn:aws:iam::123456789012:root") == 1  # us-east-1


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "  mlops-platform:kms:\n    deletionWindowDay: 7\n",
            "mlops-platform:kms.deletionWindowDay: unknown key (did you mean deletionWindowDays?)",
        ),
        (
            "  mlops-platform:kms:\n    deletionWindowDays: 90\n",
            "mlops-platform:kms.deletionWindowDays: input should be less than or equal to 30 "
            "(got 90); accepted: integer >= 7, <= 30",
        ),
    ],
    ids=["misspelled-key", "out-of-range"],
)
def test_bad_stack_file_fails_make_plan_before_any_resource(
    temp_stack: TempStack, extra: str, expected: str
) -> None:
    project, name = temp_stack(BASE + extra)
    result = _make_plan(project, name)
    assert result.returncode != 0
    assert f"stacks/Pulumi.{name}.yaml: {expected}" in result.stderr
    assert "0 resources were registered" in result.stderr
    assert not (project / "build" / "plan" / name).exists()


def test_unknown_stack_names_the_available_ones(tmp_path: Path) -> None:
    result = _plan_cli("nosuchstack", out=tmp_path)
    assert result.returncode == 2
    assert "stack file not found" in result.stderr
    assert "one of the stacks dev, prod, staging" in result.stderr


def test_shipped_stacks_are_the_documented_three() -> None:
    files = sorted(p.name for p in (PROJECT_DIR / "stacks").glob("Pulumi.*.yaml"))
    assert files == [f"Pulumi.{s}.yaml" for s in sorted(SHIPPED_STACKS)]


def test_mandatory_violation_fails_make_plan(temp_stack: TempStack) -> None:
    """A component that regresses (rotation off) makes `make plan` fail with exit code 3."""
    project, name = temp_stack(BASE)
    kms = project / "components" / "kms.py"
    source = kms.read_text()
    assert source.count("enable_key_rotation=True") == 1
    kms.write_text(source.replace("enable_key_rotation=True", "enable_key_rotation=False"))
    result = subprocess.run(
        [sys.executable, "-m", "planner", "plan", name],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "[mandatory] kms-key-rotation: urn:pulumi:" in result.stdout
    assert "KMS key rotation must be enabled (enableKeyRotation: true)." in result.stdout
    assert f"error: 1 mandatory policy violation(s) in stack {name!r}" in result.stderr
    # The plan is still written, so the violation can be inspected.
    policy = json.loads((project / "build" / "plan" / name / "policy.json").read_text())
    assert [v["policy"] for v in policy["violations"]] == ["kms-key-rotation"]
