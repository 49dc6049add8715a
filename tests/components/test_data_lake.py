"""The data lake under Pulumi mocks: every bucket's controls with their exact inputs, the
lifecycle schedule per stack, Object Lock, protection, the Glue database, the Athena workgroup
and the DVC remote output."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from planner.mocks import Registration
from planner.run import Plan

ROLES = ("raw", "curated", "features", "model-artifacts", "capture", "reports")
ALL_ROLES = (*ROLES, "access-logs")
ACCOUNTS = {"dev": "123456789012", "staging": "123456789012", "prod": "111111111111"}


def named(plan: Plan, name: str) -> Registration:
    found = [r for r in plan.registrations if r.name == name]
    assert len(found) == 1, name
    return found[0]


def bucket(plan: Plan, role: str) -> Registration:
    return named(plan, f"lake-{role}-bucket")


def companion(plan: Plan, role: str, part: str) -> Registration:
    record = named(plan, f"lake-{role}-{part}")
    # Linked to its bucket by value and by dependency (what the policy pack relies on).
    assert record.inputs["bucket"] == bucket(plan, role).id
    assert record.property_dependencies["bucket"] == [bucket(plan, role).urn]
    return record


def key_arn(plan: Plan) -> str:
    arn = plan.outputs["kmsKeyArn"]
    assert isinstance(arn, str)
    return arn


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_bucket_blocks_public_access_and_acls(
    plans: dict[str, Plan], stack: str, role: str
) -> None:
    plan = plans[stack]
    record = bucket(plan, role)
    short = {"model-artifacts": "models", "access-logs": "logs"}.get(role, role)
    assert record.inputs["bucketPrefix"] == f"mlops-platform-{stack}-{short}-"
    assert record.inputs["tags"] == {"mlops:bucket-role": role}
    assert "acl" not in record.inputs
    assert "grants" not in record.inputs
    assert companion(plan, role, "public-access").inputs == {
        "bucket": record.id,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    ownership = companion(plan, role, "ownership")
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("role", ALL_ROLES)
def test_bucket_policy_denies_insecure_transport_and_grants_no_principal(
    plans: dict[str, Plan], stack: str, role: str
) -> None:
    plan = plans[stack]
    arn = f"arn:aws:s3:::{bucket(plan, role).id}"
    policy_record = companion(plan, role, "policy")
    statements = {s["Sid"]: s for s in json.loads(policy_record.inputs["policy"])["Statement"]}
    assert statements["DenyInsecureTransport"] == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert statements["DenyTlsBelow12"]["Condition"] == {
        "NumericLessThan": {"s3:TlsVersion": "1.2"}
    }
    # The policy goes on after the public access block.
    assert named(plan, f"lake-{role}-public-access").urn in policy_record.dependencies
    if role == "access-logs":
        assert statements["S3ServerAccessLogsFromThisAccount"] == {
            "Sid": "S3ServerAccessLogsFromThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{arn}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNTS[stack]}},
        }
        assert len(statements) == 3
    else:
        assert set(statements) == {"DenyInsecureTransport", "DenyTlsBelow12"}


@pytest.mark.parametrize("role", ROLES)
def test_data_buckets_use_the_platform_key_with_a_bucket_key(
    plans: dict[str, Plan], role: str
) -> None:
    plan = plans["prod"]
    assert companion(plan, role, "encryption").inputs["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": key_arn(plan),
            },
            "bucketKeyEnabled": True,
        }
    ]


def test_log_bucket_uses_sse_s3_and_does_not_log_to_itself(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    # S3 server access logging cannot deliver into an SSE-KMS bucket.
    assert companion(plan, "access-logs", "encryption").inputs["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"},
            "bucketKeyEnabled": False,
        }
    ]
    assert not [r for r in plan.registrations if r.name == "lake-access-logs-logging"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pytest.mark.parametrize("role", ALL_ROLES)
def test_versioning_on_and_access_logs_delivered_per_role(
    plans: dict[str, Plan], stack: str, role: str
) -> None:
    plan = plans[stack]
    assert companion(plan, role, "versioning").inputs["versioningConfiguration"] == {
        "status": "Enabled"
    }
    if role == "access-logs":
        return
    logging = companion(plan, role, "logging")
    assert logging.inputs["targetBucket"] == bucket(plan, "access-logs").id
    assert logging.inputs["targetPrefix"] == f"{role}/"
    assert logging.inputs["targetObjectKeyFormat"] == {
        "partitionedPrefix": {"partitionDateSource": "EventTime"}
    }


def rules_of(plan: Plan, role: str) -> dict[str, dict[str, Any]]:
    rules = companion(plan, role, "lifecycle").inputs["rules"]
    by_id = {rule["id"]: rule for rule in rules}
    assert len(by_id) == len(rules)
    for rule in rules:
        assert rule["status"] == "Enabled"
        assert rule["filter"] == {}  # the whole bucket
    return by_id


# stack: (abort days, noncurrent days of the data buckets, capture, reports, log expiry)
SCHEDULES: dict[str, tuple[int, int | None, tuple[int, str, int], tuple[int, str, int], int]] = {
    "dev": (7, 30, (7, "GLACIER_IR", 14), (14, "GLACIER_IR", 30), 30),
    "staging": (7, 90, (30, "STANDARD_IA", 60), (30, "GLACIER_IR", 180), 90),
    "prod": (7, None, (30, "STANDARD_IA", 180), (90, "GLACIER_IR", 730), 400),
}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_lifecycle_rules_follow_the_stack_schedule(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    abort, noncurrent, capture, reports, log_days = SCHEDULES[stack]
    for role in ALL_ROLES:
        assert rules_of(plan, role)["abort-incomplete-multipart-uploads"][
            "abortIncompleteMultipartUpload"
        ] == {"daysAfterInitiation": abort}, role
    for role in ("raw", "curated", "features", "model-artifacts"):
        rules = rules_of(plan, role)
        assert "current-versions" not in rules, role  # data is kept until someone deletes it
        if noncurrent is None:
            assert set(rules) == {"abort-incomplete-multipart-uploads"}, role
        else:
            assert rules["noncurrent-versions"]["noncurrentVersionExpiration"] == {
                "noncurrentDays": noncurrent
            }
    for role, (move, storage_class, expire) in (("capture", capture), ("reports", reports)):
        rules = rules_of(plan, role)
        assert rules["current-versions"]["transitions"] == [
            {"days": move, "storageClass": storage_class}
        ]
        assert rules["current-versions"]["expiration"] == {"days": expire}
        assert rules["noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 7}
    logs = rules_of(plan, "access-logs")
    assert logs["current-versions"]["expiration"] == {"days": log_days}
    assert "transitions" not in logs["current-versions"]


def test_capture_and_reports_expire_sooner_in_dev_than_in_prod(plans: dict[str, Plan]) -> None:
    def expiry(stack: str, role: str) -> int:
        return int(rules_of(plans[stack], role)["current-versions"]["expiration"]["days"])

    for role in ("capture", "reports"):
        assert expiry("dev", role) < expiry("staging", role) < expiry("prod", role)


@pytest.mark.parametrize(("stack", "locked"), [("dev", False), ("staging", False), ("prod", True)])
def test_object_lock_on_the_model_artifact_bucket(
    plans: dict[str, Plan], stack: str, locked: bool
) -> None:
    plan = plans[stack]
    for role in ALL_ROLES:
        expected = locked and role == "model-artifacts"
        assert bucket(plan, role).inputs["objectLockEnabled"] is expected, role
    configurations = plan.by_type(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
    )
    if not locked:
        assert configurations == []
        return
    (lock,) = configurations
    assert lock.inputs == {
        "bucket": bucket(plan, "model-artifacts").id,
        "objectLockEnabled": "Enabled",
        "rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 90}},
    }
    assert named(plan, "lake-model-artifacts-versioning").urn in lock.dependencies


def test_object_lock_can_be_switched_on_outside_prod(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack(
        "dev",
        {"mlops-platform:dataLake": {"enabled": True, "objectLock": {"enabled": True}}},
    )
    (lock,) = plan.by_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "GOVERNANCE", "days": 30}}


# stack: (protect, retain, force destroy)
PROTECTION = {
    "dev": (False, False, True),
    "staging": (True, True, False),
    "prod": (True, True, False),
}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_buckets_and_catalog_are_protected_and_retained_outside_dev(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    protect, retain, force = PROTECTION[stack]
    for role in ALL_ROLES:
        record = bucket(plan, role)
        assert (record.protect, record.retain_on_delete) == (protect, retain), role
        assert record.inputs["forceDestroy"] is force, role
    database = plan.one("aws:glue/catalogDatabase:CatalogDatabase")
    assert (database.protect, database.retain_on_delete) == (protect, retain)
    # Companions hold no data: they are recreated from code, so never protected.
    for record in plan.registrations:
        if record.type.startswith("aws:s3/bucket") and record.type != "aws:s3/bucket:Bucket":
            assert (record.protect, record.retain_on_delete) == (False, False), record.name
    assert plan.one("aws:athena/workgroup:Workgroup").inputs["forceDestroy"] is force


@pytest.mark.parametrize(("stack", "cutoff_mb"), [("dev", 1024), ("prod", 102400)])
def test_athena_workgroup_enforces_encryption_and_a_scan_limit(
    plans: dict[str, Plan], stack: str, cutoff_mb: int
) -> None:
    plan = plans[stack]
    workgroup = plan.one("aws:athena/workgroup:Workgroup")
    assert workgroup.inputs["name"] == f"mlops-platform-{stack}-lake"
    assert workgroup.inputs["state"] == "ENABLED"
    assert workgroup.inputs["configuration"] == {
        "enforceWorkgroupConfiguration": True,
        "publishCloudwatchMetricsEnabled": True,
        "bytesScannedCutoffPerQuery": cutoff_mb * 1024 * 1024,
        "requesterPaysEnabled": False,
        "engineVersion": {"selectedEngineVersion": "Athena engine version 3"},
        "resultConfiguration": {
            "outputLocation": f"s3://{bucket(plan, 'reports').id}/athena-results/",
            "expectedBucketOwner": ACCOUNTS[stack],
            "encryptionConfiguration": {
                "encryptionOption": "SSE_KMS",
                "kmsKeyArn": key_arn(plan),
            },
        },
    }


def test_glue_database_points_at_the_curated_bucket(plans: dict[str, Plan]) -> None:
    plan = plans["staging"]
    database = plan.one("aws:glue/catalogDatabase:CatalogDatabase")
    assert database.inputs["name"] == "mlops_platform_staging_lake"
    assert database.inputs["locationUri"] == f"s3://{bucket(plan, 'curated').id}/"
    assert plan.outputs["glueDatabase"] == "mlops_platform_staging_lake"
    assert plan.outputs["athenaWorkgroup"] == "mlops-platform-staging-lake"


def test_dvc_remote_output_points_at_the_raw_bucket(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    assert plan.outputs["dvcRemote"] == {
        "url": f"s3://{bucket(plan, 'raw').id}/dvc",
        "region": "eu-west-1",
        "sse": "aws:kms",
        "sse_kms_key_id": key_arn(plan),
    }
    assert plan.outputs["buckets"] == {role: bucket(plan, role).id for role in ALL_ROLES}


def test_lake_disabled_registers_no_storage(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack(
        "dev",
        {
            "mlops-platform:dataLake": {"enabled": False},
            "mlops-platform:featureStore": {"enabled": False},
            "mlops-platform:modelRegistry": {"enabled": False},
            "mlops-platform:drift": {"enabled": False},
            "mlops-platform:quality": {"enabled": False},
            "mlops-platform:training": {"enabled": False},
            "mlops-platform:inference": {"enabled": False},
            "mlops-platform:retraining": {"enabled": False},
        },
    )
    assert not [r for r in plan.registrations if r.type.startswith(("aws:s3", "aws:glue"))]
    assert "dvcRemote" not in plan.outputs
