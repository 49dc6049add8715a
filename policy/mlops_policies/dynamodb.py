"""DynamoDB controls: a table holding the platform's records can be restored to a point in time
(SH DynamoDB.2), cannot be deleted by accident in production (SH DynamoDB.6), and is encrypted
with the platform's customer-managed key rather than an AWS-owned one."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import is_aws_managed_key, is_production, is_set, mapping

TABLE = "aws:dynamodb/table:Table"


def _point_in_time_recovery(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != TABLE:
        return
    recovery = mapping(args.props.get("pointInTimeRecovery"))
    if recovery.get("enabled") is not True:
        report(
            "DynamoDB table has no pointInTimeRecovery.enabled: true; without it a deleted or "
            "overwritten item cannot be restored (SH DynamoDB.2).",
            None,
        )


def _deletion_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != TABLE or not is_production(args):
        return
    if args.props.get("deletionProtectionEnabled") is not True:
        report(
            "DynamoDB table in production has no deletionProtectionEnabled: true (SH DynamoDB.6).",
            None,
        )


def _encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != TABLE:
        return
    sse = mapping(args.props.get("serverSideEncryption"))
    if sse.get("enabled") is not True or not is_set(sse, "kmsKeyArn"):
        report(
            "DynamoDB table sets no serverSideEncryption with a kmsKeyArn; encrypt it with the "
            "platform key (the default AWS-owned key is outside the platform's key policy).",
            None,
        )
    elif is_aws_managed_key(sse.get("kmsKeyArn")):
        report("DynamoDB table uses an AWS-managed key; encrypt it with the platform key.", None)


def _policy(name: str, description: str, validate: ResourceValidation) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


DYNAMODB_POLICIES = (
    _policy(
        "dynamodb-point-in-time-recovery",
        "DynamoDB tables have point-in-time recovery on (SH DynamoDB.2).",
        _point_in_time_recovery,
    ),
    _policy(
        "dynamodb-deletion-protection",
        "DynamoDB tables in production have deletion protection on (SH DynamoDB.6).",
        _deletion_protection,
    ),
    _policy(
        "dynamodb-kms-encryption",
        "DynamoDB tables are encrypted with a customer-managed KMS key.",
        _encryption,
    ),
)
