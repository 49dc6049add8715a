"""ECR controls: images are scanned on push (SH ECR.1), tags are immutable (SH ECR.2) and the
repository is encrypted with a customer-managed KMS key (SH ECR.3). One policy per control, so
each failure names its own control."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import as_list, is_aws_managed_key, is_set, mapping

REPOSITORY = "aws:ecr/repository:Repository"
KMS_TYPES = ("KMS", "KMS_DSSE")


def _scan_on_push(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != REPOSITORY:
        return
    if mapping(args.props.get("imageScanningConfiguration")).get("scanOnPush") is not True:
        report(
            "ECR repository must scan images on push "
            "(imageScanningConfiguration.scanOnPush: true, SH ECR.1).",
            None,
        )


def _immutable_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != REPOSITORY:
        return
    mutability = args.props.get("imageTagMutability")
    if mutability != "IMMUTABLE":
        report(
            f"ECR repository has imageTagMutability {mutability!r}; IMMUTABLE is required so "
            "a deployed tag always names the same image (SH ECR.2).",
            None,
        )


def _kms_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != REPOSITORY:
        return
    configurations = [mapping(c) for c in as_list(args.props.get("encryptionConfigurations"))]
    encrypted = [
        c
        for c in configurations
        if c.get("encryptionType") in KMS_TYPES
        and is_set(c, "kmsKey")
        and not is_aws_managed_key(c.get("kmsKey"))
    ]
    if not encrypted:
        report(
            "ECR repository must be encrypted with the platform key "
            '(encryptionConfigurations: [{"encryptionType": "KMS", "kmsKey": <key ARN>}], '
            "SH ECR.3).",
            None,
        )


ECR_POLICIES = (
    ResourceValidationPolicy(
        name="ecr-scan-on-push",
        description="ECR repositories scan images on push (SH ECR.1).",
        validate=_scan_on_push,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="ecr-immutable-tags",
        description="ECR repositories have immutable image tags (SH ECR.2).",
        validate=_immutable_tags,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="ecr-kms-encryption",
        description="ECR repositories are encrypted with a customer-managed KMS key (SH ECR.3).",
        validate=_kms_encryption,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
)
