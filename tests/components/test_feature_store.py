"""The feature store under Pulumi mocks: each declared group's exact SageMaker inputs, its
encrypted Iceberg offline store in the lake's Glue database, its encrypted online store, its own
narrowly scoped role, and protection per stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from planner.mocks import Registration
from planner.run import Plan

GROUP = "aws:sagemaker/featureGroup:FeatureGroup"
ACCOUNTS = {"dev": "123456789012", "staging": "123456789012", "prod": "111111111111"}
TTL_DAYS = {"dev": 7, "staging": 30, "prod": 90}


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def features_bucket(plan: Plan) -> str:
    return named(plan, "lake-features-bucket").id


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_feature_group_inputs(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    key = plan.outputs["kmsKeyArn"]
    group = plan.one(GROUP)
    physical = f"mlops-platform-{stack}-customer-features"
    prefix = f"s3://{features_bucket(plan)}/offline/{physical}"
    role_name = f"mlops-platform-{stack}-fs-customer-features"
    assert group.inputs == {
        "featureGroupName": physical,
        "description": "Customer attributes for churn prediction",
        "recordIdentifierFeatureName": "customer_id",
        "eventTimeFeatureName": "event_time",
        "featureDefinitions": [
            {"featureName": "customer_id", "featureType": "String"},
            {"featureName": "event_time", "featureType": "Fractional"},
            {"featureName": "tenure_months", "featureType": "Integral"},
            {"featureName": "monthly_charges", "featureType": "Fractional"},
            {"featureName": "contract_type", "featureType": "String"},
        ],
        "roleArn": f"arn:aws:iam::{ACCOUNTS[stack]}:role/{role_name}",
        "onlineStoreConfig": {
            "enableOnlineStore": True,
            "storageType": "Standard",
            "securityConfig": {"kmsKeyId": key},
            "ttlDuration": {"unit": "Days", "value": TTL_DAYS[stack]},
        },
        "offlineStoreConfig": {
            "tableFormat": "Iceberg",
            "disableGlueTableCreation": False,
            "s3StorageConfig": {"s3Uri": prefix, "kmsKeyId": key},
            "dataCatalogConfig": {
                "catalog": "AwsDataCatalog",
                "database": f"mlops_platform_{stack}_lake",
                "tableName": f"mlops_platform_{stack}_customer_features",
            },
        },
    }
    assert plan.outputs["featureGroups"] == {"customer-features": physical}


@pytest.mark.parametrize(
    ("stack", "protect", "retain"),
    [("dev", False, False), ("staging", True, True), ("prod", True, True)],
)
def test_feature_groups_are_protected_outside_dev(
    plans: dict[str, Plan], stack: str, protect: bool, retain: bool
) -> None:
    group = plans[stack].one(GROUP)
    assert (group.protect, group.retain_on_delete) == (protect, retain)
    assert group.parent.endswith("mlops:features:FeatureStore::features")


def statements(record: Registration, field: str) -> dict[str, dict[str, Any]]:
    document = json.loads(record.inputs[field])
    assert document["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in document["Statement"]}


def test_role_trusts_sagemaker_for_this_group_and_account_only(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    role = named(plan, "features-customer-features-role")
    assert role.inputs["name"] == "mlops-platform-prod-fs-customer-features"
    assert role.inputs["maxSessionDuration"] == 3600
    assert statements(role, "assumeRolePolicy") == {
        "ServiceAssumesRole": {
            "Sid": "ServiceAssumesRole",
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": "111111111111"},
                "ArnLike": {
                    "aws:SourceArn": "arn:aws:sagemaker:eu-west-1:111111111111:"
                    "feature-group/mlops-platform-prod-customer-features"
                },
            },
        }
    }
    assert "managedPolicyArns" not in role.inputs


def test_role_policy_is_scoped_to_its_prefix_key_and_table(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    bucket_arn = f"arn:aws:s3:::{features_bucket(plan)}"
    prefix = "offline/mlops-platform-prod-customer-features"
    glue = "arn:aws:glue:eu-west-1:111111111111"
    policy = named(plan, "features-customer-features-access")
    assert policy.inputs["role"] == named(plan, "features-customer-features-role").id
    assert statements(policy, "policy") == {
        "ReadWriteOwnPrefix": {
            "Sid": "ReadWriteOwnPrefix",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": [f"{bucket_arn}/{prefix}/*"],
        },
        "ListOwnPrefix": {
            "Sid": "ListOwnPrefix",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
        },
        "ReadBucketOwnership": {
            "Sid": "ReadBucketOwnership",
            "Effect": "Allow",
            "Action": ["s3:GetBucketAcl"],
            "Resource": [bucket_arn],
        },
        "UsePlatformKeyThroughS3": {
            "Sid": "UsePlatformKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": [plan.outputs["kmsKeyArn"]],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        },
        "CommitOwnIcebergTable": {
            "Sid": "CommitOwnIcebergTable",
            "Effect": "Allow",
            "Action": ["glue:GetTable", "glue:UpdateTable"],
            "Resource": [
                f"{glue}:catalog",
                f"{glue}:database/mlops_platform_prod_lake",
                f"{glue}:table/mlops_platform_prod_lake/mlops_platform_prod_customer_features",
            ],
        },
    }
    # The group is created only once its role may write.
    assert policy.urn in plan.one(GROUP).dependencies


def feature_roles(plan: Plan) -> list[Registration]:
    """The roles the feature store owns (other capabilities have roles of their own)."""
    return [
        r
        for r in plan.by_type("aws:iam/role:Role")
        if r.parent.endswith("mlops:features:FeatureStore::features")
    ]


def group_spec(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "recordIdentifier": "id",
        "eventTime": "ts",
        "features": [{"name": "id", "type": "Integral"}, {"name": "ts", "type": "String"}],
        **extra,
    }


def test_each_group_gets_its_own_role_and_store_choices(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack(
        "dev",
        {
            "mlops-platform:featureStore": {
                "enabled": True,
                "featureGroups": [
                    group_spec("online-only", offlineStore={"enabled": False}),
                    group_spec("offline-only", onlineStore={"enabled": False}),
                ],
            }
        },
    )
    groups = {g.inputs["featureGroupName"]: g for g in plan.by_type(GROUP)}
    online = groups["mlops-platform-dev-online-only"]
    offline = groups["mlops-platform-dev-offline-only"]
    assert "offlineStoreConfig" not in online.inputs
    assert "ttlDuration" not in online.inputs["onlineStoreConfig"]
    assert "onlineStoreConfig" not in offline.inputs
    assert "description" not in online.inputs
    roles = {r.inputs["name"] for r in feature_roles(plan)}
    assert roles == {"mlops-platform-dev-fs-online-only", "mlops-platform-dev-fs-offline-only"}
    assert online.inputs["roleArn"] != offline.inputs["roleArn"]


def test_feature_store_disabled_registers_no_group(plan_stack: Callable[..., Plan]) -> None:
    plan = plan_stack("dev", {"mlops-platform:featureStore": {"enabled": False}})
    assert plan.by_type(GROUP) == []
    assert feature_roles(plan) == []
    assert "featureGroups" not in plan.outputs
