"""SageMaker controls: feature groups encrypt both stores with KMS (SH SageMaker.17/.18), and
a model package group's resource policy shares the registry read-only, never publicly."""

from __future__ import annotations

import re

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import as_list, is_public, is_set, mapping, policy_statements, principals
from ._util import statement_label as _label

FEATURE_GROUP = "aws:sagemaker/featureGroup:FeatureGroup"
MODEL_PACKAGE_GROUP_POLICY = "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"

# A read-only SageMaker action: the whole verb comes before any wildcard, so `sagemaker:D*`
# (which would match Delete*) does not pass. Action names are case-insensitive in IAM.
_READ_ONLY_ACTION = re.compile(
    r"^sagemaker:(?:Describe|List|Get|BatchDescribe)[A-Za-z0-9]*\*?$", re.IGNORECASE
)


def _feature_group_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != FEATURE_GROUP:
        return
    offline = mapping(args.props.get("offlineStoreConfig"))
    online = mapping(args.props.get("onlineStoreConfig"))
    online_enabled = online.get("enableOnlineStore") is True
    if not offline and not online_enabled:
        report("feature group has neither an offline store nor an enabled online store.", None)
    if offline and not is_set(mapping(offline.get("s3StorageConfig")), "kmsKeyId"):
        report(
            "feature group's offline store sets no s3StorageConfig.kmsKeyId; encrypt it with "
            "the platform key (SH SageMaker.17).",
            None,
        )
    if online_enabled and not is_set(mapping(online.get("securityConfig")), "kmsKeyId"):
        report(
            "feature group's online store sets no securityConfig.kmsKeyId; encrypt it with the "
            "platform key (SH SageMaker.18).",
            None,
        )


def _registry_sharing(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != MODEL_PACKAGE_GROUP_POLICY:
        return
    statements = policy_statements(args.props.get("resourcePolicy"))
    if statements is None:
        report("resourcePolicy is not a JSON policy document with a Statement list.", None)
        return
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        label = _label(index, statement)
        if "NotPrincipal" in statement:
            report(f"{label} allows with NotPrincipal, which grants everyone not listed.", None)
        elif is_public(principals(statement)):
            report(f'{label} allows the public principal "*".', None)
        if "NotAction" in statement:
            report(f"{label} allows with NotAction, which grants every other action.", None)
        writes = [
            str(a) for a in as_list(statement.get("Action")) if not _READ_ONLY_ACTION.match(str(a))
        ]
        if writes:
            report(
                f"{label} allows {writes}; the registry is shared read-only "
                "(sagemaker:Describe*, List*, Get*, BatchDescribe*).",
                None,
            )


SAGEMAKER_POLICIES = (
    ResourceValidationPolicy(
        name="sagemaker-feature-group-encryption",
        description=(
            "Feature groups encrypt the offline and online stores with KMS "
            "(SH SageMaker.17, SageMaker.18)."
        ),
        validate=_feature_group_encryption,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="sagemaker-registry-read-only-sharing",
        description=(
            "A model package group policy grants only read-only SageMaker actions, never to "
            'the public principal "*".'
        ),
        validate=_registry_sharing,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
)
