"""CloudWatch Logs controls: every log group states how long it keeps its events
(SH CloudWatch.16, CKV_AWS_338) and is encrypted with the platform's key (CKV_AWS_158).

CloudWatch reads a retention of 0 (or none) as "never expire". The platform does not accept
that: logs of functions and pipelines may carry data, and keeping them forever is a cost and a
liability that nobody chose. A log group therefore sets a retention from the periods CloudWatch
accepts, at least the policy config's `minimumRetentionDays` (default 1: how long each
environment keeps its logs is the stack's choice). Security Hub's CloudWatch.16 uses a minimum
of 365 days unless its parameter is changed; set `minimumRetentionDays` to 365 to match it.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import customer_key_problem, number

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

RETENTION_DAYS: tuple[int, ...] = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827),
    *(2192, 2557, 2922, 3288, 3653),
)
"""The retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days."""
MINIMUM_RETENTION_DAYS = 1


def _retention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LOG_GROUP:
        return
    raw = args.props.get("retentionInDays")
    days = number(raw)
    if raw is None or days == 0:
        report(
            f"log group sets retentionInDays {raw!r}, which CloudWatch keeps forever; set an "
            "explicit retention of at least 1 day (SH CloudWatch.16, CKV_AWS_338).",
            None,
        )
    elif days not in RETENTION_DAYS:
        report(
            f"log group retentionInDays is {raw!r}; CloudWatch accepts only "
            f"{list(RETENTION_DAYS)}.",
            None,
        )
    else:
        minimum = number(args.get_config().get("minimumRetentionDays", MINIMUM_RETENTION_DAYS))
        if minimum is not None and days < minimum:
            report(
                f"log group retentionInDays is {raw!r}; at least {minimum:g} days are required "
                "(SH CloudWatch.16).",
                None,
            )


def _encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LOG_GROUP:
        return
    problem = customer_key_problem(args.props, "kmsKeyId", "log group (CKV_AWS_158)")
    if problem is not None:
        report(problem, None)


LOG_POLICIES = (
    ResourceValidationPolicy(
        name="cloudwatch-log-group-retention",
        description="Log groups set an explicit retention, never 0 (never expire), of at least "
        "minimumRetentionDays (default 1) (SH CloudWatch.16, CKV_AWS_338).",
        validate=_retention,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={
                "minimumRetentionDays": {
                    "type": "integer",
                    "minimum": 1,
                    "default": MINIMUM_RETENTION_DAYS,
                }
            }
        ),
    ),
    ResourceValidationPolicy(
        name="cloudwatch-log-group-kms",
        description="Log groups are encrypted with a customer-managed KMS key (CKV_AWS_158).",
        validate=_encryption,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
)
