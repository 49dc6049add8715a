"""Provider usage: every AWS resource is managed through an explicit, named AWS provider (the
platform's, with its region, account guard and default tags), never a default provider."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)


def _explicit_provider(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.resource_type.startswith("aws:"):
        return
    provider = args.provider
    if provider is None:
        report("AWS resource has no explicit provider; pass the platform provider.", None)
        return
    if provider.resource_type != "pulumi:providers:aws":
        report(f"AWS resource uses a {provider.resource_type} provider.", None)
    if provider.name.startswith("default"):
        report(
            f"AWS resource uses the default provider {provider.name!r}, which has neither the "
            "platform's default tags nor its account guard; pass the platform provider.",
            None,
        )
    if not provider.props.get("region"):
        report("the AWS provider of this resource sets no explicit region.", None)


PROVIDER_POLICIES = (
    ResourceValidationPolicy(
        name="aws-explicit-provider",
        description="AWS resources use the platform's explicit AWS provider, never a default one.",
        validate=_explicit_provider,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
)
