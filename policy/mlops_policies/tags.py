"""Required tags: every AWS resource carries Project, Environment, CostCenter, Owner and
ManagedBy (through the provider's default tags or its own), none of them empty."""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import effective_tags, json_value

REQUIRED_TAGS = ("Project", "Environment", "CostCenter", "Owner", "ManagedBy")


def _missing(tags: Mapping[str, object]) -> list[str]:
    return [k for k in REQUIRED_TAGS if not str(tags.get(k, "")).strip()]


def _resource_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.resource_type.startswith("aws:"):
        return
    missing = _missing(effective_tags(args))
    if missing:
        report(
            f"missing or empty required tags {missing}; the platform provider's default tags "
            "set them, so a resource must use that provider and not blank them.",
            None,
        )


def _provider_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "pulumi:providers:aws":
        return
    default_tags = json_value(args.props.get("defaultTags"))
    tags = default_tags.get("tags") if isinstance(default_tags, Mapping) else None
    missing = _missing(tags if isinstance(tags, Mapping) else {})
    if missing:
        report(f"AWS provider default tags lack {missing}.", None)


TAG_POLICIES = (
    ResourceValidationPolicy(
        name="required-tags",
        description="AWS resources carry the platform's cost-allocation and ownership tags.",
        validate=_resource_tags,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="provider-default-tags",
        description="The AWS provider sets every required tag as a default tag.",
        validate=_provider_tags,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
)
