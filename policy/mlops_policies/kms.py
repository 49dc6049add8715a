"""KMS controls: rotation (SH KMS.4, CKV_AWS_7), an explicit key policy without a wildcard
principal (SH KMS.5, CKV2_AWS_64), and a deletion window with protect in production (SH KMS.3)."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import PRODUCTION_SCHEMA, is_production

KEY = "aws:kms/key:Key"
MAX_ROTATION_DAYS = 365


def _rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KEY:
        return
    if args.props.get("enableKeyRotation") is not True:
        report("KMS key rotation must be enabled (enableKeyRotation: true).", None)
        return
    period = args.props.get("rotationPeriodInDays")
    if period is not None and float(period) > MAX_ROTATION_DAYS:
        report(
            f"KMS key rotation period is {period:g} days; at most {MAX_ROTATION_DAYS} accepted.",
            None,
        )


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal is None:
        return []
    if isinstance(principal, str):
        return [principal]
    found: list[str] = []
    if isinstance(principal, dict):
        for value in principal.values():
            found.extend([value] if isinstance(value, str) else list(value))
    return found


def _key_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KEY:
        return
    raw = args.props.get("policy")
    if not raw:
        report(
            "KMS key has no explicit key policy; set `policy` so access is not left to the "
            "AWS default.",
            None,
        )
        return
    try:
        document = json.loads(raw) if isinstance(raw, str) else raw
        statements = document["Statement"]
    except (ValueError, KeyError, TypeError):
        report("KMS key policy is not a JSON policy document with a Statement list.", None)
        return
    if isinstance(statements, dict):
        statements = [statements]
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement:
            report(f"KMS key policy statement {index} allows with NotPrincipal.", None)
        wildcards = [p for p in _principals(statement) if p == "*" or p.endswith(":*")]
        if wildcards:
            report(
                f"KMS key policy statement {index} ({statement.get('Sid', 'no Sid')}) allows "
                f"a wildcard principal {wildcards}; name the account, role or service.",
                None,
            )


def _deletion(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KEY:
        return
    window = args.props.get("deletionWindowInDays")
    if window is None:
        report("KMS key has no explicit deletionWindowInDays (7 to 30 accepted).", None)
    elif not 7 <= float(window) <= 30:
        report(f"KMS key deletionWindowInDays is {window:g}; 7 to 30 accepted.", None)
    if is_production(args) and not args.opts.protect:
        report("A production KMS key must be protected (protect: true).", None)


KMS_POLICIES = (
    ResourceValidationPolicy(
        name="kms-key-rotation",
        description="KMS keys rotate their key material at least yearly (SH KMS.4, CKV_AWS_7).",
        validate=_rotation,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kms-key-policy",
        description=(
            "KMS keys have an explicit key policy without wildcard principals "
            "(SH KMS.5, CKV2_AWS_64)."
        ),
        validate=_key_policy,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kms-key-deletion-protection",
        description=(
            "KMS keys set a 7-30 day deletion window and are protected in production (SH KMS.3)."
        ),
        validate=_deletion,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PRODUCTION_SCHEMA,
    ),
)
