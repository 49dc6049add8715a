"""The typed stack config: bad stacks are refused with precise messages before any resource.

Every rejection case runs the real program (`infra/__main__.py`) under the Pulumi mocks through
`plan_with`, so it proves the whole path: the raw config map Pulumi hands the program, the
validation, the rendered error and the absence of any registration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from components.config import ConfigError, PlatformConfig, load_platform_config
from planner.mocks import Registration
from planner.run import PROJECT_DIR
from planner.stackfile import load_stack_config
from tests.conftest import plan_with

DEV_FILE = "stacks/Pulumi.dev.yaml"
NS = "mlops-platform:"

# Enough of a prod stack that only the rule under test is broken. The dev stack's data lake
# may be force-destroyed and its registry auto-approves, so both sections are replaced.
PROD_BASE: dict[str, Any] = {
    f"{NS}tier": "prod",
    f"{NS}protection": {"protectStateful": True, "retainOnDelete": True},
    f"{NS}allowedAccountIds": ["111111111111"],
    f"{NS}modelRegistry": {"approval": "manual"},
    f"{NS}dataLake": {"enabled": True, "objectLock": {"enabled": True}},
}

# The same for staging, which shares prod's safety rules but pins no account.
STAGING_BASE: dict[str, Any] = {
    f"{NS}tier": "staging",
    f"{NS}protection": {"protectStateful": True, "retainOnDelete": True},
    f"{NS}modelRegistry": {"enabled": True, "approval": "manual", "models": [{"name": "churn"}]},
    f"{NS}dataLake": {"enabled": True},
}

# A valid feature group: a String identifier, a Fractional event time and one more feature.
FEATURES: tuple[dict[str, str], ...] = (
    {"name": "customer_id", "type": "String"},
    {"name": "event_time", "type": "Fractional"},
    {"name": "tenure_months", "type": "Integral"},
)


def group(*extra: dict[str, str], **changes: Any) -> dict[str, Any]:
    """The valid feature group with `extra` features appended and keys replaced by `changes`."""
    spec: dict[str, Any] = {
        "name": "customer-features",
        "recordIdentifier": "customer_id",
        "eventTime": "event_time",
        "features": [dict(f) for f in (*FEATURES, *extra)],
    }
    spec.update(changes)
    return spec


def feature_store(*groups: dict[str, Any]) -> dict[str, Any]:
    """Overrides enabling the feature store with exactly `groups` (the dev data lake stays)."""
    return {f"{NS}featureStore": {"enabled": True, "featureGroups": list(groups)}}


def registry(*models: str, **settings: Any) -> dict[str, Any]:
    """Overrides enabling the dev stack's model registry with exactly `models`."""
    section = {"enabled": True, "approval": "auto", "models": [{"name": m} for m in models]}
    return {f"{NS}modelRegistry": {**section, **settings}}


def data_lake(**settings: Any) -> dict[str, Any]:
    """Overrides enabling the data lake with only `settings` set (no forceDestroy)."""
    return {f"{NS}dataLake": {"enabled": True, **settings}}


def line(key: str, problem: str, got: str, accepted: str) -> str:
    """One rendered problem: `<file>: <key>: <problem> (got <value>); accepted: <text>`."""
    return f"{DEV_FILE}: {key}: {problem} (got {got}); accepted: {accepted}"


AWS_REGION_REFUSED = line(
    "aws:region",
    "unknown config namespace 'aws'; the platform builds its own AWS provider from "
    "mlops-platform:region and ignores other namespaces",
    "'eu-west-1'",
    "keys mlops-platform:<key> (see the README's configuration reference) or pulumi:<key>",
)


def whole_message(lines: list[str]) -> str:
    count = f"{len(lines)} problem{'' if len(lines) == 1 else 's'}"
    body = "\n".join(f"  - {text}" for text in lines)
    return f"invalid configuration in {DEV_FILE} ({count}):\n{body}"


@dataclass(frozen=True)
class Bad:
    """A broken dev stack and the exact line the platform must print for it."""

    id: str
    expected: str
    overrides: dict[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    marks: tuple[pytest.MarkDecorator, ...] = ()


KMS_ACCEPTS = "integer >= 7, <= 30"
TOP_LEVEL_KEYS = (
    "environment, tier, region, allowedAccountIds, tags, network, protection, kms, logging, "
    "dataLake, featureStore, modelRegistry, training, inference, kubernetes, kubeconfig, "
    "monitoring, cost, drift, quality, retraining"
)
REGION_RE = r"^(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov|us-iso|us-isob)-[a-z]+-\d$"
FEATURE_NAME_RE = "^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$"
GROUP_NAME_RE = "^[a-z0-9](-*[a-z0-9])*$"
MODEL_NAME_RE = "^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
SHARED_TIERS_TRUE = "true when tier is staging or prod"
MANUAL_IN_SHARED_TIERS = '"manual" when tier is staging or prod'
IA_ACCEPTS = "an integer >= 30, or storageClass GLACIER_IR, GLACIER or INTELLIGENT_TIERING"
DATA_LAKE_KEYS = (
    "enabled, forceDestroy, abortIncompleteUploadDays, noncurrentVersionExpirationDays, capture, "
    "reports, accessLogsExpirationDays, objectLock, athenaBytesScannedCutoffMb"
)
# 46 characters: `mlops-platform-dev-` (19) in front makes 65, one over SageMaker's 64.
LONG_GROUP = "customer-churn-propensity-features-rolling-30d"

BAD_CONFIGS = [
    # --- wrong type (the model is strict: no "7" -> 7, no true -> 1) ---------------------
    Bad(
        "string-where-integer",
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be a valid integer",
            "'7'",
            KMS_ACCEPTS,
        ),
        {f"{NS}kms": {"deletionWindowDays": "7"}},
    ),
    Bad(
        "bool-where-integer",
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be a valid integer",
            "true",
            KMS_ACCEPTS,
        ),
        {f"{NS}kms": {"deletionWindowDays": True}},
    ),
    Bad(
        "float-where-integer",
        line(
            f"{NS}training.maxRuntimeHours",
            "input should be a valid integer",
            "4.5",
            "integer >= 1, <= 672",
        ),
        {f"{NS}training": {"maxRuntimeHours": 4.5}},
    ),
    Bad(
        "string-where-bool",
        line(
            f"{NS}protection.protectStateful",
            "input should be a valid boolean",
            "'yes'",
            "true or false",
        ),
        {f"{NS}protection": {"protectStateful": "yes"}},
    ),
    Bad(
        "list-where-mapping",
        line(
            f"{NS}tags",
            "input should be a valid dictionary or instance of Tags",
            '["ml-platform-team"]',
            "a mapping with required keys costCenter, owner and optional keys extra",
        ),
        {f"{NS}tags": ["ml-platform-team"]},
    ),
    Bad(
        "scalar-where-list",
        line(
            f"{NS}allowedAccountIds",
            "input should be a valid list",
            "111111111111",
            "list of (string matching `^\\d{12}$`) at most 5 items",
        ),
        {f"{NS}allowedAccountIds": 111111111111},
    ),
    # --- out of range ------------------------------------------------------------------
    Bad(
        "below-minimum",
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be greater than or equal to 7",
            "6",
            KMS_ACCEPTS,
        ),
        {f"{NS}kms": {"deletionWindowDays": 6}},
    ),
    Bad(
        "above-maximum",
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be less than or equal to 30",
            "31",
            KMS_ACCEPTS,
        ),
        {f"{NS}kms": {"deletionWindowDays": 31}},
    ),
    Bad(
        "budget-not-positive",
        line(
            f"{NS}cost.monthlyBudgetUsd",
            "input should be greater than 0",
            "0",
            "number > 0, <= 10000000",
        ),
        {f"{NS}cost": {"monthlyBudgetUsd": 0}},
    ),
    Bad(
        "too-many-accounts",
        line(
            f"{NS}allowedAccountIds",
            "list should have at most 5 items after validation, not 6",
            '["111111111111", "111111111111", "111111111111", "111111111111", '
            '"111111111111", "111111111111"]',
            "list of (string matching `^\\d{12}$`) at most 5 items",
        ),
        {f"{NS}allowedAccountIds": ["111111111111"] * 6},
    ),
    # --- unknown keys and namespaces ----------------------------------------------------
    Bad(
        "unknown-top-level-key-typo",
        line(
            f"{NS}enviroment",
            "unknown key (did you mean environment?)",
            "'dev'",
            f"one of the keys {TOP_LEVEL_KEYS}",
        ),
        {f"{NS}enviroment": "dev"},
    ),
    Bad(
        "unknown-top-level-key-case",
        line(
            f"{NS}Region",
            "unknown key (did you mean region?)",
            "'eu-west-1'",
            f"one of the keys {TOP_LEVEL_KEYS}",
        ),
        {f"{NS}Region": "eu-west-1"},
    ),
    Bad(
        "unknown-nested-key",
        line(
            f"{NS}kms.deletionWindowDay",
            "unknown key (did you mean deletionWindowDays?)",
            "7",
            "one of the keys deletionWindowDays, rotationPeriodDays",
        ),
        {f"{NS}kms": {"deletionWindowDay": 7}},
    ),
    Bad(
        "unknown-nested-key-no-hint",
        line(
            f"{NS}inference.replicas",
            "unknown key",
            "3",
            "one of the keys enabled, instanceType, minInstances, maxInstances, endpoints",
        ),
        {f"{NS}inference": {"replicas": 3}},
    ),
    Bad(
        "unknown-namespace",
        AWS_REGION_REFUSED,
        {"aws:region": "eu-west-1"},
    ),
    # --- missing required ---------------------------------------------------------------
    Bad(
        "missing-environment",
        line(
            f"{NS}environment",
            "required key is missing",
            "<missing>",
            "string matching `^[a-z][a-z0-9]{1,9}$`",
        ),
        remove=(f"{NS}environment",),
    ),
    Bad(
        "missing-tags-owner",
        line(
            f"{NS}tags.owner",
            "required key is missing",
            "<missing>",
            "string at most 256 characters, matching `^[\\w .:/=+\\-@]+$`",
        ),
        {f"{NS}tags": {"costCenter": "ml-platform-dev"}},
    ),
    # --- bad pattern --------------------------------------------------------------------
    Bad(
        "region-without-number",
        line(
            f"{NS}region",
            f"string should match pattern '{REGION_RE}'",
            "'eu-west'",
            f"string matching `{REGION_RE}`",
        ),
        {f"{NS}region": "eu-west"},
    ),
    Bad(
        "account-id-eleven-digits",
        line(
            f"{NS}allowedAccountIds[0]",
            "string should match pattern '^\\d{12}$'",
            "'12345678901'",
            "string matching `^\\d{12}$`",
        ),
        {f"{NS}allowedAccountIds": ["12345678901"]},
    ),
    Bad(
        "environment-upper-case",
        line(
            f"{NS}environment",
            "string should match pattern '^[a-z][a-z0-9]{1,9}$'",
            "'Dev'",
            "string matching `^[a-z][a-z0-9]{1,9}$`",
        ),
        {f"{NS}environment": "Dev"},
    ),
    # --- literal not allowed ------------------------------------------------------------
    Bad(
        "tier-not-a-tier",
        line(
            f"{NS}tier",
            "input should be 'dev', 'staging' or 'prod'",
            "'production'",
            'one of "dev", "staging", "prod"',
        ),
        {f"{NS}tier": "production"},
    ),
    Bad(
        "log-retention-not-a-cloudwatch-value",
        line(
            f"{NS}logging.retentionDays",
            "input should be 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, "
            "1096, 1827, 2192, 2557, 2922, 3288 or 3653",
            "15",
            "one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, "
            "2192, 2557, 2922, 3288, 3653",
        ),
        {f"{NS}logging": {"retentionDays": 15}},
    ),
    # --- structured value that is not JSON / not a mapping ------------------------------
    Bad(
        "structured-value-not-json",
        line(
            f"{NS}kms",
            "expected a structured value, got text that is not JSON",
            "'deletionWindowDays=7'",
            "a mapping with optional keys deletionWindowDays, rotationPeriodDays",
        ),
        {f"{NS}kms": "deletionWindowDays=7"},
    ),
    Bad(
        "structured-value-json-scalar",
        line(
            f"{NS}kms",
            "input should be a valid dictionary or instance of Kms",
            "7",
            "a mapping with optional keys deletionWindowDays, rotationPeriodDays",
        ),
        {f"{NS}kms": "7"},
    ),
    Bad(
        "network-one-subnet",
        line(
            f"{NS}network.subnetIds",
            "list should have at least 2 items after validation, not 1",
            '["subnet-0a1b2c3d"]',
            "list of (string matching `^subnet-[0-9a-f]{8,17}$`) at least 2 items, "
            "at most 16 items",
        ),
        {f"{NS}network": {"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d"]}},
    ),
    # --- inconsistent combinations ------------------------------------------------------
    Bad(
        "prod-without-protect-stateful",
        line(
            f"{NS}protection.protectStateful",
            "stateful resources must be kept safe when tier is prod",
            "false",
            SHARED_TIERS_TRUE,
        ),
        {**PROD_BASE, f"{NS}protection": {"protectStateful": False, "retainOnDelete": True}},
    ),
    Bad(
        "prod-without-retain-on-delete",
        line(
            f"{NS}protection.retainOnDelete",
            "stateful resources must be kept safe when tier is prod",
            "false",
            SHARED_TIERS_TRUE,
        ),
        {**PROD_BASE, f"{NS}protection": {"protectStateful": True}},
    ),
    Bad(
        "staging-without-retain-on-delete",
        line(
            f"{NS}protection.retainOnDelete",
            "stateful resources must be kept safe when tier is staging",
            "false",
            SHARED_TIERS_TRUE,
        ),
        {**STAGING_BASE, f"{NS}protection": {"protectStateful": True, "retainOnDelete": False}},
    ),
    Bad(
        "staging-without-protect-stateful",
        line(
            f"{NS}protection.protectStateful",
            "stateful resources must be kept safe when tier is staging",
            "false",
            SHARED_TIERS_TRUE,
        ),
        {**STAGING_BASE, f"{NS}protection": {"retainOnDelete": True}},
    ),
    Bad(
        "prod-without-allowed-accounts",
        line(
            f"{NS}allowedAccountIds",
            "a prod stack must pin the AWS account it deploys to",
            "[]",
            "a list of 1 to 5 twelve-digit account ids when tier is prod",
        ),
        {**PROD_BASE, f"{NS}allowedAccountIds": []},
    ),
    Bad(
        "prod-with-auto-approval",
        line(
            f"{NS}modelRegistry.approval",
            "prod model versions must be approved by a person",
            "'auto'",
            MANUAL_IN_SHARED_TIERS,
        ),
        {**PROD_BASE, f"{NS}modelRegistry": {"approval": "auto"}},
    ),
    Bad(
        "staging-with-auto-approval",
        line(
            f"{NS}modelRegistry.approval",
            "staging model versions must be approved by a person",
            "'auto'",
            MANUAL_IN_SHARED_TIERS,
        ),
        {**STAGING_BASE, **registry("churn", approval="auto")},
    ),
    Bad(
        "staging-force-destroy",
        line(
            f"{NS}dataLake.forceDestroy",
            "buckets holding staging data may not be emptied by a destroy",
            "true",
            "false when tier is staging or prod",
        ),
        {**STAGING_BASE, **data_lake(forceDestroy=True)},
    ),
    Bad(
        "prod-force-destroy",
        line(
            f"{NS}dataLake.forceDestroy",
            "buckets holding prod data may not be emptied by a destroy",
            "true",
            "false when tier is staging or prod",
        ),
        {**PROD_BASE, **data_lake(forceDestroy=True, objectLock={"enabled": True})},
    ),
    Bad(
        "min-instances-above-max",
        line(
            f"{NS}inference.minInstances",
            "greater than inference.maxInstances (2)",
            "3",
            "an integer <= inference.maxInstances (2)",
        ),
        {f"{NS}inference": {"minInstances": 3, "maxInstances": 2}},
    ),
    Bad(
        "prod-inference-single-instance",
        line(
            f"{NS}inference.minInstances",
            "a prod real-time endpoint needs more than one instance (SageMaker.4)",
            "1",
            "an integer >= 2 when tier is prod",
        ),
        {
            **PROD_BASE,
            f"{NS}modelRegistry": {"enabled": True, "approval": "manual"},
            f"{NS}inference": {"enabled": True, "minInstances": 1},
        },
    ),
    Bad(
        "prod-data-lake-without-object-lock",
        line(
            f"{NS}dataLake.objectLock.enabled",
            "the model-artifact bucket must use Object Lock when tier is prod (S3.15)",
            "false",
            "true when tier is prod",
        ),
        {**PROD_BASE, f"{NS}dataLake": {"enabled": True}},
    ),
    Bad(
        "feature-store-without-data-lake",
        line(
            f"{NS}featureStore.enabled",
            "the feature store's offline store lives in the data lake, which is disabled",
            "true",
            "false, or dataLake.enabled: true",
        ),
        # The dev registry needs the lake too; switching it off isolates the feature store.
        {f"{NS}dataLake": {"enabled": False}, f"{NS}modelRegistry": {"enabled": False}},
    ),
    Bad(
        "registry-without-data-lake",
        line(
            f"{NS}modelRegistry.enabled",
            "model artifacts live in the data lake's model-artifact bucket, which is disabled",
            "true",
            "false, or dataLake.enabled: true",
        ),
        {f"{NS}dataLake": {"enabled": False}, f"{NS}featureStore": {"enabled": False}},
    ),
    Bad(
        "retraining-without-training-and-registry",
        line(
            f"{NS}retraining.enabled",
            "retraining needs training.enabled and modelRegistry.enabled",
            "true",
            "false, or training and modelRegistry enabled",
        ),
        {f"{NS}retraining": {"enabled": True}, f"{NS}modelRegistry": {"enabled": False}},
    ),
    Bad(
        "retraining-without-training",
        line(
            f"{NS}retraining.enabled",
            "retraining needs training.enabled and modelRegistry.enabled",
            "true",
            "false, or training and modelRegistry enabled",
        ),
        {f"{NS}retraining": {"enabled": True}},
    ),
    # --- dataLake -----------------------------------------------------------------------
    Bad(
        "capture-transition-at-expiration",
        line(
            f"{NS}dataLake.capture.transitionDays",
            "not before dataLake.capture.expirationDays (14), so objects would expire before "
            "they move",
            "14",
            "an integer < 14",
        ),
        data_lake(
            capture={"transitionDays": 14, "storageClass": "GLACIER_IR", "expirationDays": 14}
        ),
    ),
    Bad(
        "reports-transition-after-expiration",
        line(
            f"{NS}dataLake.reports.transitionDays",
            "not before dataLake.reports.expirationDays (60), so objects would expire before "
            "they move",
            "90",
            "an integer < 60",
        ),
        data_lake(reports={"transitionDays": 90, "storageClass": "GLACIER", "expirationDays": 60}),
    ),
    Bad(
        "capture-standard-ia-at-7-days",
        line(
            f"{NS}dataLake.capture.transitionDays",
            "S3 moves objects to STANDARD_IA only after 30 days",
            "7",
            IA_ACCEPTS,
        ),
        data_lake(capture={"transitionDays": 7, "storageClass": "STANDARD_IA"}),
    ),
    Bad(
        "reports-onezone-ia-at-29-days",
        line(
            f"{NS}dataLake.reports.transitionDays",
            "S3 moves objects to ONEZONE_IA only after 30 days",
            "29",
            IA_ACCEPTS,
        ),
        data_lake(reports={"transitionDays": 29, "storageClass": "ONEZONE_IA"}),
    ),
    Bad(
        "storage-class-not-an-s3-class",
        line(
            f"{NS}dataLake.capture.storageClass",
            "input should be 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR' "
            "or 'GLACIER'",
            "'DEEP_ARCHIVE'",
            'one of "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER"',
        ),
        data_lake(capture={"storageClass": "DEEP_ARCHIVE"}),
    ),
    Bad(
        "data-lake-old-expiration-key",
        line(
            f"{NS}dataLake.captureExpirationDays",
            "unknown key",
            "14",
            f"one of the keys {DATA_LAKE_KEYS}",
        ),
        data_lake(captureExpirationDays=14),
    ),
    Bad(
        "abort-incomplete-upload-above-30",
        line(
            f"{NS}dataLake.abortIncompleteUploadDays",
            "input should be less than or equal to 30",
            "31",
            "integer >= 1, <= 30",
        ),
        data_lake(abortIncompleteUploadDays=31),
    ),
    Bad(
        "athena-cutoff-below-10-mb",
        line(
            f"{NS}dataLake.athenaBytesScannedCutoffMb",
            "input should be greater than or equal to 10",
            "5",
            "integer >= 10, <= 10000000",
        ),
        data_lake(athenaBytesScannedCutoffMb=5),
    ),
    # --- featureStore -------------------------------------------------------------------
    Bad(
        "feature-type-not-a-sagemaker-type",
        line(
            f"{NS}featureStore.featureGroups[0].features[2].type",
            "input should be 'Integral', 'Fractional' or 'String'",
            "'Boolean'",
            'one of "Integral", "Fractional", "String"',
        ),
        feature_store(
            group(features=[*FEATURES[:2], {"name": "tenure_months", "type": "Boolean"}])
        ),
    ),
    Bad(
        "feature-name-with-space",
        line(
            f"{NS}featureStore.featureGroups[0].features[3].name",
            f"string should match pattern '{FEATURE_NAME_RE}'",
            "'monthly charges'",
            f"string at most 64 characters, matching `{FEATURE_NAME_RE}`",
        ),
        feature_store(group({"name": "monthly charges", "type": "Fractional"})),
    ),
    Bad(
        "feature-group-name-upper-case",
        line(
            f"{NS}featureStore.featureGroups[0].name",
            f"string should match pattern '{GROUP_NAME_RE}'",
            "'Customer-Features'",
            f"string at most 63 characters, matching `{GROUP_NAME_RE}`",
        ),
        feature_store(group(name="Customer-Features")),
    ),
    Bad(
        "feature-group-name-underscore",
        line(
            f"{NS}featureStore.featureGroups[0].name",
            f"string should match pattern '{GROUP_NAME_RE}'",
            "'customer_features'",
            f"string at most 63 characters, matching `{GROUP_NAME_RE}`",
        ),
        feature_store(group(name="customer_features")),
    ),
    Bad(
        "feature-group-name-too-long-for-dev",
        line(
            f"{NS}featureStore.featureGroups[0].name",
            f"the feature group name mlops-platform-dev-{LONG_GROUP} would be 65 characters; "
            "SageMaker allows 64",
            f"'{LONG_GROUP}'",
            "a name of at most 45 characters in stack dev",
        ),
        feature_store(group(name=LONG_GROUP)),
    ),
    Bad(
        "feature-group-declared-twice",
        line(
            f"{NS}featureStore.featureGroups[2].name",
            "feature group already declared at featureGroups[0]",
            "'customer-features'",
            "a name used once per stack",
        ),
        feature_store(group(), group(name="orders"), group()),
    ),
    Bad(
        "feature-name-repeated-in-another-case",
        line(
            f"{NS}featureStore.featureGroups[0].features[3].name",
            "duplicate of features[0] ('customer_id'); the offline store's columns ignore case",
            "'Customer_ID'",
            "feature names unique regardless of case",
        ),
        feature_store(group({"name": "Customer_ID", "type": "String"})),
    ),
    *(
        Bad(
            f"feature-name-reserved-{name}",
            line(
                f"{NS}featureStore.featureGroups[0].features[3].name",
                "a column SageMaker adds to the offline store itself",
                f"'{name}'",
                "any name but is_deleted, write_time, api_invocation_time",
            ),
            feature_store(group({"name": name, "type": "String"})),
        )
        for name in ("is_deleted", "write_time", "api_invocation_time", "Write_Time")
    ),
    Bad(
        "record-identifier-not-declared",
        line(
            f"{NS}featureStore.featureGroups[0].recordIdentifier",
            "not one of the group's declared features",
            "'customer'",
            "one of customer_id, event_time, tenure_months",
        ),
        feature_store(group(recordIdentifier="customer")),
    ),
    Bad(
        "record-identifier-fractional",
        line(
            f"{NS}featureStore.featureGroups[0].recordIdentifier",
            "the identifier feature has type Fractional",
            "'monthly_charges'",
            "a feature of type String or Integral",
        ),
        feature_store(
            group(
                {"name": "monthly_charges", "type": "Fractional"},
                recordIdentifier="monthly_charges",
            )
        ),
    ),
    Bad(
        "event-time-not-declared",
        line(
            f"{NS}featureStore.featureGroups[0].eventTime",
            "not one of the group's declared features",
            "'updated_at'",
            "one of customer_id, event_time, tenure_months",
        ),
        feature_store(group(eventTime="updated_at")),
    ),
    Bad(
        "event-time-integral",
        line(
            f"{NS}featureStore.featureGroups[0].eventTime",
            "the event time feature has type Integral",
            "'tenure_months'",
            "a feature of type String or Fractional",
        ),
        feature_store(group(eventTime="tenure_months")),
    ),
    Bad(
        "feature-group-without-a-store",
        line(
            f"{NS}featureStore.featureGroups[0].offlineStore.enabled",
            "a feature group needs an online store, an offline store or both",
            "false",
            "true, or onlineStore.enabled: true",
        ),
        feature_store(group(onlineStore={"enabled": False}, offlineStore={"enabled": False})),
    ),
    Bad(
        "ttl-with-online-store-off",
        line(
            f"{NS}featureStore.featureGroups[0].onlineStore.ttlDays",
            "a time to live applies to the online store, which is disabled",
            "7",
            "unset, or onlineStore.enabled: true",
        ),
        feature_store(group(onlineStore={"enabled": False, "ttlDays": 7})),
    ),
    Bad(
        "feature-group-with-one-feature",
        line(
            f"{NS}featureStore.featureGroups[0].features",
            "list should have at least 2 items after validation, not 1",
            '[{"name": "customer_id", "type": "String"}]',
            "list of (a mapping with required keys name, type) at least 2 items, "
            "at most 2500 items",
        ),
        feature_store(group(features=[FEATURES[0]])),
    ),
    # --- modelRegistry ------------------------------------------------------------------
    Bad(
        "model-declared-twice",
        line(
            f"{NS}modelRegistry.models[2].name",
            "model already declared at models[0]",
            "'churn'",
            "a name used once per stack",
        ),
        registry("churn", "fraud", "churn"),
    ),
    Bad(
        "model-name-underscore",
        line(
            f"{NS}modelRegistry.models[0].name",
            f"string should match pattern '{MODEL_NAME_RE}'",
            "'churn_v2'",
            f"string at most 40 characters, matching `{MODEL_NAME_RE}`",
        ),
        registry("churn_v2"),
    ),
    Bad(
        "promotion-account-is-the-stack-account",
        line(
            f"{NS}modelRegistry.promotionAccountId",
            "the stack's own account needs no cross-account grant",
            "'111111111111'",
            "another account's twelve-digit id, or unset",
        ),
        {
            f"{NS}allowedAccountIds": ["222222222222", "111111111111"],
            **registry("churn", promotionAccountId="111111111111"),
        },
    ),
    Bad(
        "keep-images-zero",
        line(
            f"{NS}modelRegistry.keepImages",
            "input should be greater than or equal to 1",
            "0",
            "integer >= 1, <= 1000",
        ),
        registry("churn", keepImages=0),
    ),
    Bad(
        "extra-tag-redefines-owner",
        line(
            f"{NS}tags.extra",
            "redefines tag keys the platform sets itself",
            '["Owner"]',
            "tag keys other than Project, Environment, CostCenter, Owner, ManagedBy",
        ),
        {
            f"{NS}tags": {
                "costCenter": "ml-platform-dev",
                "owner": "ml-platform-team",
                "extra": {"Owner": "someone-else", "Team": "vision"},
            }
        },
    ),
]


def plan_dev_expecting_error(
    overrides: dict[str, Any], remove: tuple[str, ...] = ()
) -> tuple[ConfigError, list[Registration]]:
    registered: list[Registration] = []
    # Drift and quality checks, training, inference and retraining depend on the lake and the
    # registry (and retraining on training); the cases here change those sections, so they start
    # from dev without any of the five (test_config_drift.py, test_config_training.py,
    # test_config_inference.py and test_retraining_component.py cover them). A case about
    # inference or retraining replaces the whole section in its own overrides.
    # Cost is off too: dev's cost controls carry the guardrail, which is refused in prod, so
    # every prod case would report it besides its own problem. A disabled section's guardrail
    # defaults to off, so no case sees it unless it sets it (the cross-key test does).
    off = {"enabled": False}
    base = {
        f"{NS}drift": off,
        f"{NS}quality": off,
        f"{NS}training": off,
        f"{NS}inference": off,
        f"{NS}retraining": off,
        f"{NS}cost": off,
    }
    with pytest.raises(ConfigError) as caught:
        plan_with("dev", {**base, **overrides}, remove, registered)
    return caught.value, registered


@pytest.mark.parametrize("bad", [pytest.param(b, id=b.id, marks=b.marks) for b in BAD_CONFIGS])
def test_bad_config_is_refused_before_any_resource(bad: Bad) -> None:
    error, registered = plan_dev_expecting_error(bad.overrides, bad.remove)

    assert error.stack_file == DEV_FILE
    assert [p.render(DEV_FILE) for p in error.problems] == [bad.expected]
    assert str(error) == whole_message([bad.expected])
    assert registered == []


def test_case_ids_are_unique_and_plentiful() -> None:
    ids = [b.id for b in BAD_CONFIGS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 12


def test_the_unmodified_dev_stack_does_register_resources() -> None:
    """Control for `registered == []` above: the same path does record registrations."""
    registered: list[Registration] = []
    plan = plan_with("dev", registered=registered)
    assert registered
    assert len(registered) == len(plan.registrations)


def test_every_field_problem_is_reported_at_once() -> None:
    overrides = {
        f"{NS}enviroment": "dev",
        "aws:region": "eu-west-1",
        f"{NS}region": "eu-west",
        f"{NS}tier": "production",
        f"{NS}kms": {"deletionWindowDays": "7", "rotationPeriodDays": 10},
        f"{NS}tags": {"costCenter": "ml-platform-dev"},
        f"{NS}logging": "not json",
    }
    expected = {
        AWS_REGION_REFUSED,
        line(
            f"{NS}enviroment",
            "unknown key (did you mean environment?)",
            "'dev'",
            f"one of the keys {TOP_LEVEL_KEYS}",
        ),
        line(
            f"{NS}region",
            f"string should match pattern '{REGION_RE}'",
            "'eu-west'",
            f"string matching `{REGION_RE}`",
        ),
        line(
            f"{NS}tier",
            "input should be 'dev', 'staging' or 'prod'",
            "'production'",
            'one of "dev", "staging", "prod"',
        ),
        line(
            f"{NS}kms.deletionWindowDays",
            "input should be a valid integer",
            "'7'",
            KMS_ACCEPTS,
        ),
        line(
            f"{NS}kms.rotationPeriodDays",
            "input should be greater than or equal to 90",
            "10",
            "integer >= 90, <= 2560",
        ),
        line(
            f"{NS}tags.owner",
            "required key is missing",
            "<missing>",
            "string at most 256 characters, matching `^[\\w .:/=+\\-@]+$`",
        ),
        line(
            f"{NS}logging",
            "expected a structured value, got text that is not JSON",
            "'not json'",
            "a mapping with optional keys retentionDays",
        ),
    }

    error, registered = plan_dev_expecting_error(overrides)

    rendered = [p.render(DEV_FILE) for p in error.problems]
    assert len(rendered) == len(expected) == 8
    assert set(rendered) == expected
    assert str(error).startswith(f"invalid configuration in {DEV_FILE} (8 problems):\n")
    assert sorted(str(error).splitlines()[1:]) == sorted(f"  - {text}" for text in expected)
    assert registered == []


def test_every_cross_key_problem_is_reported_at_once() -> None:
    broken_group = group(
        eventTime="tenure_months",
        onlineStore={"enabled": False, "ttlDays": 7},
        offlineStore={"enabled": False},
    )
    overrides = {
        f"{NS}tier": "prod",
        f"{NS}protection": {"protectStateful": False},
        f"{NS}allowedAccountIds": [],
        **registry("churn", "churn"),
        f"{NS}inference": {"enabled": True, "minInstances": 1, "maxInstances": 4},
        f"{NS}dataLake": {
            "enabled": False,
            "forceDestroy": True,
            "capture": {"transitionDays": 7, "storageClass": "STANDARD_IA", "expirationDays": 7},
        },
        **feature_store(broken_group, group()),
        # A guardrail in prod, on a disabled cost section: both of its rules break at once.
        f"{NS}cost": {"enabled": False, "guardrail": {"enabled": True}},
        f"{NS}tags": {"costCenter": "c", "owner": "o", "extra": {"Environment": "x"}},
    }
    group_0 = f"{NS}featureStore.featureGroups[0]"
    expected = [
        line(
            f"{NS}protection.protectStateful",
            "stateful resources must be kept safe when tier is prod",
            "false",
            SHARED_TIERS_TRUE,
        ),
        line(
            f"{NS}protection.retainOnDelete",
            "stateful resources must be kept safe when tier is prod",
            "false",
            SHARED_TIERS_TRUE,
        ),
        line(
            f"{NS}allowedAccountIds",
            "a prod stack must pin the AWS account it deploys to",
            "[]",
            "a list of 1 to 5 twelve-digit account ids when tier is prod",
        ),
        line(
            f"{NS}modelRegistry.approval",
            "prod model versions must be approved by a person",
            "'auto'",
            MANUAL_IN_SHARED_TIERS,
        ),
        line(
            f"{NS}inference.minInstances",
            "a prod real-time endpoint needs more than one instance (SageMaker.4)",
            "1",
            "an integer >= 2 when tier is prod",
        ),
        line(
            f"{NS}featureStore.enabled",
            "the feature store's offline store lives in the data lake, which is disabled",
            "true",
            "false, or dataLake.enabled: true",
        ),
        line(
            f"{NS}dataLake.forceDestroy",
            "buckets holding prod data may not be emptied by a destroy",
            "true",
            "false when tier is staging or prod",
        ),
        line(
            f"{NS}dataLake.capture.transitionDays",
            "not before dataLake.capture.expirationDays (7), so objects would expire before "
            "they move",
            "7",
            "an integer < 7",
        ),
        line(
            f"{NS}dataLake.capture.transitionDays",
            "S3 moves objects to STANDARD_IA only after 30 days",
            "7",
            IA_ACCEPTS,
        ),
        line(
            f"{NS}featureStore.featureGroups[1].name",
            "feature group already declared at featureGroups[0]",
            "'customer-features'",
            "a name used once per stack",
        ),
        line(
            f"{group_0}.eventTime",
            "the event time feature has type Integral",
            "'tenure_months'",
            "a feature of type String or Fractional",
        ),
        line(
            f"{group_0}.offlineStore.enabled",
            "a feature group needs an online store, an offline store or both",
            "false",
            "true, or onlineStore.enabled: true",
        ),
        line(
            f"{group_0}.onlineStore.ttlDays",
            "a time to live applies to the online store, which is disabled",
            "7",
            "unset, or onlineStore.enabled: true",
        ),
        line(
            f"{NS}modelRegistry.enabled",
            "model artifacts live in the data lake's model-artifact bucket, which is disabled",
            "true",
            "false, or dataLake.enabled: true",
        ),
        line(
            f"{NS}modelRegistry.models[1].name",
            "model already declared at models[0]",
            "'churn'",
            "a name used once per stack",
        ),
        line(
            f"{NS}inference.enabled",
            "endpoints serve registered model versions and capture to the data lake, and "
            "dataLake.enabled is false",
            "true",
            "false, or dataLake.enabled and modelRegistry.enabled true",
        ),
        line(
            f"{NS}cost.guardrail.enabled",
            "the guardrail denies new training jobs and endpoints when the budget is exceeded, "
            "which in prod would stop rollouts and retraining",
            "true",
            "false when tier is prod (the budget notifications and anomaly alerts still apply)",
        ),
        line(
            f"{NS}cost.guardrail.enabled",
            "the guardrail is an action of the stack's budget, and cost.enabled is false",
            "true",
            "false, or cost.enabled: true",
        ),
        line(
            f"{NS}tags.extra",
            "redefines tag keys the platform sets itself",
            '["Environment"]',
            "tag keys other than Project, Environment, CostCenter, Owner, ManagedBy",
        ),
    ]

    error, registered = plan_dev_expecting_error(overrides)

    assert [p.render(DEV_FILE) for p in error.problems] == expected
    assert str(error) == whole_message(expected)
    assert f"({len(expected)} problems)" in str(error)
    assert registered == []


def test_unknown_key_inside_a_feature_gets_a_typo_hint() -> None:
    features = [*FEATURES, {"name": "contract_type", "typ": "String"}]
    at = f"{NS}featureStore.featureGroups[0].features[3]"
    error, registered = plan_dev_expecting_error(feature_store(group(features=features)))

    assert [p.render(DEV_FILE) for p in error.problems] == [
        line(
            f"{at}.type",
            "required key is missing",
            "<missing>",
            'one of "Integral", "Fractional", "String"',
        ),
        line(
            f"{at}.typ",
            "unknown key (did you mean type?)",
            "'String'",
            "one of the keys name, type",
        ),
    ]
    assert registered == []


def test_model_name_too_long_for_a_long_stack_name() -> None:
    """No model name fits the pattern yet overflows in `dev`, so a longer stack name is used.

    `mlops-platform-sandbox-experiments-eu-` is 38 characters; SageMaker allows 63 for a model
    package group, leaving 25 for the model name.
    """
    stack = "sandbox-experiments-eu"
    # drift, quality, training, inference and retraining refer to the shipped model (or need
    # training)
    off = {"enabled": False}
    values = dev_values(
        modelRegistry={"enabled": True, "models": [{"name": "x" * 25}]},
        drift=off,
        quality=off,
        training=off,
        inference=off,
        retraining=off,
    )
    assert load_platform_config(values, stack).model_registry.models[0].name == "x" * 25

    name = "customer-lifetime-value-v2"  # 26 characters
    values = dev_values(
        modelRegistry={"enabled": True, "models": [{"name": name}]},
        drift=off,
        quality=off,
        training=off,
        inference=off,
        retraining=off,
    )
    with pytest.raises(ConfigError) as caught:
        load_platform_config(values, stack)

    assert caught.value.stack_file == f"stacks/Pulumi.{stack}.yaml"
    assert [p.render(caught.value.stack_file) for p in caught.value.problems] == [
        f"stacks/Pulumi.{stack}.yaml: {NS}modelRegistry.models[0].name: the model package group "
        f"name mlops-platform-{stack}-{name} would be 64 characters; SageMaker allows 63 "
        f"(got '{name}'); accepted: a name of at most 25 characters in stack {stack}"
    ]


def test_feature_type_refusal_names_key_value_and_accepted_types() -> None:
    """The parts of the literal refusal that do not depend on the message's case."""
    features = [*FEATURES[:2], {"name": "tenure_months", "type": "Boolean"}]
    error, registered = plan_dev_expecting_error(feature_store(group(features=features)))

    [problem] = error.problems
    assert problem.key == f"{NS}featureStore.featureGroups[0].features[2].type"
    assert problem.value == "'Boolean'"
    assert problem.accepted == 'one of "Integral", "Fractional", "String"'
    assert registered == []


# --------------------------------------------------------------------------------------------
# Valid configurations


def load(stack: str) -> PlatformConfig:
    return load_platform_config(load_stack_config(PROJECT_DIR, stack).values, stack)


@pytest.mark.parametrize(
    ("stack", "protected", "window", "retention", "budget", "approval", "min_instances"),
    [
        pytest.param("dev", False, 7, 14, 300, "auto", 1, id="dev"),
        pytest.param("staging", True, 14, 90, 1500, "manual", 1, id="staging"),
        pytest.param("prod", True, 30, 365, 8000, "manual", 2, id="prod"),
    ],
)
def test_shipped_stack_validates_with_its_documented_differences(
    stack: str,
    protected: bool,
    window: int,
    retention: int,
    budget: float,
    approval: str,
    min_instances: int,
) -> None:
    cfg = load(stack)

    assert cfg.environment == stack
    assert cfg.tier == stack
    assert cfg.region == "eu-west-1"
    assert cfg.protection.protect_stateful is protected
    assert cfg.protection.retain_on_delete is protected
    assert cfg.data_lake.force_destroy is not protected
    assert cfg.kms.deletion_window_days == window
    assert cfg.logging.retention_days == retention
    assert cfg.cost.monthly_budget_usd == budget
    assert cfg.model_registry.approval == approval
    assert cfg.inference.min_instances == min_instances
    assert cfg.inference.min_instances <= cfg.inference.max_instances
    assert cfg.network is None


def test_only_prod_pins_the_account_and_locks_objects() -> None:
    dev, staging, prod = load("dev"), load("staging"), load("prod")
    assert list(prod.allowed_account_ids) == ["111111111111"]
    assert list(dev.allowed_account_ids) == list(staging.allowed_account_ids) == []
    assert prod.data_lake.object_lock.enabled is True
    assert prod.data_lake.object_lock.retention_days == 90
    assert dev.data_lake.object_lock.enabled is staging.data_lake.object_lock.enabled is False
    assert dict(prod.tags.extra) == {"DataClassification": "confidential"}


def test_dev_may_force_destroy_its_buckets() -> None:
    """The same key staging and prod refuse (see the `staging-force-destroy` case)."""
    cfg = load_platform_config(dev_values(dataLake={"enabled": True, "forceDestroy": True}), "dev")
    assert cfg.tier == "dev"
    assert cfg.data_lake.force_destroy is True


def declared(stack: str) -> dict[str, Any]:
    """The `config:` mapping of a stack file, read as plain YAML (not through the platform)."""
    document = yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config: dict[str, Any] = document["config"]
    return config


CUSTOMER_FEATURES = [
    ("customer_id", "String"),
    ("event_time", "Fractional"),
    ("tenure_months", "Integral"),
    ("monthly_charges", "Fractional"),
    ("contract_type", "String"),
]


@pytest.mark.parametrize(
    ("stack", "ttl_days", "keep_images", "capture", "reports"),
    [
        pytest.param("dev", 7, 10, (7, "GLACIER_IR", 14), (14, "GLACIER_IR", 30), id="dev"),
        pytest.param(
            "staging", 30, 30, (30, "STANDARD_IA", 60), (30, "GLACIER_IR", 180), id="staging"
        ),
        pytest.param("prod", 90, 100, (30, "STANDARD_IA", 180), (90, "GLACIER_IR", 730), id="prod"),
    ],
)
def test_shipped_feature_groups_models_and_lifecycles_are_the_declared_ones(
    stack: str,
    ttl_days: int,
    keep_images: int,
    capture: tuple[int, str, int],
    reports: tuple[int, str, int],
) -> None:
    cfg = load(stack)

    assert cfg.data_lake.enabled
    assert cfg.feature_store.enabled
    assert cfg.model_registry.enabled
    [spec] = cfg.feature_store.feature_groups
    assert spec.name == "customer-features"
    assert spec.description == "Customer attributes for churn prediction"
    assert (spec.record_identifier, spec.event_time) == ("customer_id", "event_time")
    assert [(f.name, f.type) for f in spec.features] == CUSTOMER_FEATURES
    assert spec.online_store.enabled is True
    assert spec.online_store.ttl_days == ttl_days
    assert spec.offline_store.enabled is True
    assert [(m.name, m.description) for m in cfg.model_registry.models] == [
        ("churn", "Customer churn classifier")
    ]
    assert cfg.model_registry.keep_images == keep_images
    assert cfg.model_registry.promotion_account_id is None
    for schedule, (transition, storage_class, expiration) in (
        (cfg.data_lake.capture, capture),
        (cfg.data_lake.reports, reports),
    ):
        assert schedule.transition_days == transition
        assert schedule.storage_class == storage_class
        assert schedule.expiration_days == expiration

    # Nothing is lost or invented on the way: what was set is exactly what the file says.
    config = declared(stack)
    for key, section in (
        ("dataLake", cfg.data_lake),
        ("featureStore", cfg.feature_store),
        ("modelRegistry", cfg.model_registry),
    ):
        assert section.model_dump(by_alias=True, exclude_unset=True) == config[f"{NS}{key}"]


def test_unset_keys_take_the_model_defaults() -> None:
    dev = load("dev")
    assert dev.kms.rotation_period_days == 365
    assert dev.data_lake.object_lock.enabled is False
    assert dev.data_lake.abort_incomplete_upload_days == 7
    assert dev.feature_store.feature_groups[0].offline_store.enabled is True
    assert dev.model_registry.promotion_account_id is None
    assert dev.training.instance_count == 1
    # dev enables retraining and sets its budget share, cooldown and cap; the rest is default.
    assert dev.retraining.audit_retention_days == 400
    assert dev.retraining.reserved_concurrency == 5
    assert dev.retraining.promotion.github_repository is None
    assert dev.retraining.promotion.token_secret_arn is None
    prod = load("prod")
    assert prod.data_lake.noncurrent_version_expiration_days is None
    assert prod.data_lake.force_destroy is False


def test_config_is_frozen() -> None:
    cfg = load("dev")
    with pytest.raises(ValueError, match="frozen"):
        cfg.tier = "prod"


# --------------------------------------------------------------------------------------------
# network


def dev_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(load_stack_config(PROJECT_DIR, "dev").values)
    for key, value in overrides.items():
        values[f"{NS}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return values


def test_empty_network_mapping_from_project_defaults_means_no_network() -> None:
    values = dev_values()
    assert values[f"{NS}network"] == "{}"  # Pulumi.yaml's default, as the CLI passes it
    assert load_platform_config(values, "dev").network is None


def test_empty_network_given_as_a_mapping_means_no_network() -> None:
    values: dict[str, Any] = dev_values()
    values[f"{NS}network"] = {}
    assert load_platform_config(values, "dev").network is None


def test_valid_network_parses() -> None:
    network = {
        "vpcId": "vpc-0a1b2c3d4e5f60718",
        "subnetIds": ["subnet-0a1b2c3d", "subnet-1a2b3c4d"],
        "securityGroupIds": ["sg-0123abcd"],
    }
    cfg = load_platform_config(dev_values(network=network), "dev")
    assert cfg.network is not None
    assert cfg.network.vpc_id == "vpc-0a1b2c3d4e5f60718"
    assert list(cfg.network.subnet_ids) == ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]
    assert list(cfg.network.security_group_ids) == ["sg-0123abcd"]


def test_network_with_one_subnet_names_the_key() -> None:
    values = dev_values(network={"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d"]})
    with pytest.raises(ConfigError) as caught:
        load_platform_config(values, "dev")
    assert [p.key for p in caught.value.problems] == [f"{NS}network.subnetIds"]
    assert "mlops-platform:network.subnetIds: list should have at least 2 items" in str(
        caught.value
    )


def test_network_without_vpc_names_the_missing_key() -> None:
    values = dev_values(network={"subnetIds": ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]})
    with pytest.raises(ConfigError) as caught:
        load_platform_config(values, "dev")
    problem = caught.value.problems[0]
    assert (problem.key, problem.value) == (f"{NS}network.vpcId", "<missing>")
    assert problem.accepted == "string matching `^vpc-[0-9a-f]{8,17}$`"


def test_network_without_security_groups_is_refused_when_training_runs_in_it() -> None:
    network = {"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d", "subnet-1a2b3c4d"]}
    with pytest.raises(ConfigError) as caught:
        load_platform_config(dev_values(network=network), "dev")
    (problem,) = caught.value.problems
    assert (problem.key, problem.value) == (f"{NS}network.securityGroupIds", "[]")
    assert "a SageMaker job in a VPC needs a security group" in problem.problem
    assert problem.accepted.startswith("1 to 5 security group ids (sg-...) of the VPC")
    # without training pipelines, the endpoints' models get a group the platform creates
    cfg = load_platform_config(
        dev_values(network=network, training={"enabled": False}, retraining={"enabled": False}),
        "dev",
    )
    assert cfg.network is not None
    assert list(cfg.network.security_group_ids) == []


# --------------------------------------------------------------------------------------------
# kms.deletionWindowDays, property-based

RAW_DEV = dict(load_stack_config(PROJECT_DIR, "dev").values)


def with_window(days: int) -> dict[str, str]:
    return {**RAW_DEV, f"{NS}kms": json.dumps({"deletionWindowDays": days})}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.integers(min_value=-(10**9), max_value=6), st.integers(min_value=31, max_value=10**9)
    )
)
def test_deletion_window_outside_7_to_30_is_rejected(days: int) -> None:
    with pytest.raises(ConfigError) as caught:
        load_platform_config(with_window(days), "dev")
    [problem] = caught.value.problems
    assert problem.key == f"{NS}kms.deletionWindowDays"
    assert problem.value == str(days)
    assert problem.accepted == KMS_ACCEPTS
    bound = "greater than or equal to 7" if days < 7 else "less than or equal to 30"
    assert problem.problem == f"input should be {bound}"
    assert f"{DEV_FILE}: {NS}kms.deletionWindowDays: " in str(caught.value)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=7, max_value=30))
def test_deletion_window_inside_7_to_30_is_accepted(days: int) -> None:
    assert load_platform_config(with_window(days), "dev").kms.deletion_window_days == days


# --------------------------------------------------------------------------------------------
# Keys and values inside mappings and lists


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"bad!key": "v"},
            line(
                f'{NS}tags.extra["bad!key"] (a key)',
                "string should match pattern '^[\\w.:/=+\\-@][\\w .:/=+\\-@]*$'",
                "'bad!key'",
                "string at most 128 characters, matching `^[\\w.:/=+\\-@][\\w .:/=+\\-@]*$`",
            ),
        ),
        (
            {"k": 5},
            line(
                f'{NS}tags.extra["k"]',
                "input should be a valid string",
                "5",
                "string at most 256 characters, matching `^[\\w .:/=+\\-@]+$`",
            ),
        ),
    ],
    ids=["bad-key", "bad-value"],
)
def test_problems_inside_tags_extra_name_the_entry(extra: dict[str, object], expected: str) -> None:
    overrides = {f"{NS}tags": {"costCenter": "c", "owner": "o", "extra": extra}}
    error, registered = plan_dev_expecting_error(overrides)
    assert registered == []
    assert [p.render(DEV_FILE) for p in error.problems] == [expected]


def test_typo_hint_only_for_one_edit_or_a_swap() -> None:
    error, _ = plan_dev_expecting_error({f"{NS}exgion": "x", f"{NS}regoin": "x"})
    problems = {p.key: p.problem for p in error.problems}
    assert problems[f"{NS}exgion"] == "unknown key"
    assert problems[f"{NS}regoin"] == "unknown key (did you mean region?)"


# --------------------------------------------------------------------------------------------
# featureStore, property-based

FEATURE_NAMES = st.from_regex(r"[a-zA-Z0-9]([-_]?[a-zA-Z0-9]){0,20}", fullmatch=True).filter(
    lambda name: name.lower() not in ("is_deleted", "write_time", "api_invocation_time")
)
FEATURE_TYPES = st.sampled_from(["Integral", "Fractional", "String"])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(FEATURE_NAMES, min_size=2, max_size=30, unique_by=str.lower),
    types=st.lists(FEATURE_TYPES, min_size=30, max_size=30),
    identifier_type=st.sampled_from(["String", "Integral"]),
    event_time_type=st.sampled_from(["String", "Fractional"]),
)
def test_distinct_valid_features_with_a_valid_identifier_and_event_time_are_accepted(
    names: list[str], types: list[str], identifier_type: str, event_time_type: str
) -> None:
    kinds = [identifier_type, event_time_type, *types[2:]]
    features = [{"name": n, "type": t} for n, t in zip(names, kinds, strict=False)]
    spec = group(features=features, recordIdentifier=names[0], eventTime=names[1])
    values = dev_values(featureStore={"enabled": True, "featureGroups": [spec]})

    [parsed] = load_platform_config(values, "dev").feature_store.feature_groups

    assert [(f.name, f.type) for f in parsed.features] == [(f["name"], f["type"]) for f in features]
    assert (parsed.record_identifier, parsed.event_time) == (names[0], names[1])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(r"[a-z0-9](-?[a-z0-9]){0,62}", fullmatch=True).filter(lambda n: len(n) <= 63))
@example("a" * 45)
@example("a" * 46)
@example("a" * 63)
def test_feature_group_name_fits_dev_iff_the_physical_name_is_at_most_64(name: str) -> None:
    values = dev_values(featureStore={"enabled": True, "featureGroups": [group(name=name)]})
    physical = f"mlops-platform-dev-{name}"
    if len(physical) <= 64:
        assert load_platform_config(values, "dev").feature_store.feature_groups[0].name == name
        return
    with pytest.raises(ConfigError) as caught:
        load_platform_config(values, "dev")
    assert [p.render(DEV_FILE) for p in caught.value.problems] == [
        line(
            f"{NS}featureStore.featureGroups[0].name",
            f"the feature group name {physical} would be {len(physical)} characters; "
            "SageMaker allows 64",
            repr(name),
            "a name of at most 45 characters in stack dev",
        )
    ]


@pytest.mark.parametrize(
    ("key", "value", "section"),
    [
        # found by `make fuzz`: `true` equals 1, a retention CloudWatch Logs accepts
        ("logging", True, {"retentionDays": True}),
        ("logging", 7.0, {"retentionDays": 7.0}),
        ("monitoring", True, None),
    ],
)
def test_a_choice_among_integers_takes_only_an_integer(
    key: str, value: object, section: dict[str, Any] | None
) -> None:
    values = dev_values()
    current = json.loads(values[f"{NS}{key}"])
    if section is None:
        current["periodSeconds"] = value
        field = "periodSeconds"
    else:
        current.update(section)
        (field,) = section
    values[f"{NS}{key}"] = json.dumps(current)
    with pytest.raises(ConfigError) as caught:
        load_platform_config(values, "dev")
    (problem,) = caught.value.problems
    assert problem.key == f"{NS}{key}.{field}"
    assert problem.problem == f"value error, must be an integer, not {type(value).__name__}"
