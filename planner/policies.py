"""Evaluates the policy pack's own policies over an offline plan's registrations.

The policies are the objects `policy/__main__.py` hands to `PolicyPack`; here they receive the
same `ResourceValidationArgs` the CLI's analyzer would build from each registration (inputs,
options, provider with its inputs), with each policy's default config.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError

from planner.mocks import Registration
from policy.mlops_policies import POLICIES

PACK_DEFAULT = EnforcementLevel.MANDATORY


@dataclass(frozen=True)
class Finding:
    """A violation, or a policy declared not applicable to a resource."""

    policy: str
    urn: str
    message: str
    enforcement: str

    def to_json(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "urn": self.urn,
            "message": self.message,
            "enforcementLevel": self.enforcement,
        }


@dataclass(frozen=True)
class PolicyReport:
    violations: list[Finding]
    not_applicable: list[Finding]
    checks: int

    @property
    def mandatory(self) -> list[Finding]:
        return [v for v in self.violations if v.enforcement == EnforcementLevel.MANDATORY.value]


def _default_config(policy: ResourceValidationPolicy) -> dict[str, Any]:
    schema = policy.config_schema
    if schema is None:
        return {}
    return {k: v["default"] for k, v in schema.properties.items() if "default" in v}


def validation_args(
    record: Registration, providers: dict[str, Registration], config: dict[str, Any] | None = None
) -> ResourceValidationArgs:
    """The args the analyzer would pass for `record`."""
    provider = providers.get(record.provider)
    return ResourceValidationArgs(
        resource_type=record.type,
        props=record.inputs,
        urn=record.urn,
        name=record.name,
        opts=PolicyResourceOptions(
            protect=record.protect,
            ignore_changes=record.ignore_changes,
            delete_before_replace=record.delete_before_replace,
            aliases=[a for a in record.aliases if isinstance(a, str)],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=record.additional_secret_outputs,
            parent=record.parent or None,
        ),
        provider=(
            PolicyProviderResource(
                resource_type=provider.type,
                props=provider.inputs,
                urn=provider.urn,
                name=provider.name,
            )
            if provider is not None
            else None
        ),
        config=config or {},
    )


def evaluate(
    registrations: list[Registration],
    policies: tuple[ResourceValidationPolicy, ...] = POLICIES,
) -> PolicyReport:
    """Run every resource policy over every custom resource, like the CLI's analyzer does."""
    providers = {r.urn: r for r in registrations if r.type.startswith("pulumi:providers:")}
    violations: list[Finding] = []
    not_applicable: list[Finding] = []
    checks = 0
    for policy in policies:
        level = (policy.enforcement_level or PACK_DEFAULT).value
        config = _default_config(policy)
        for record in registrations:
            if not record.custom:
                continue
            checks += 1
            args = validation_args(record, providers, config)

            def report(
                message: str,
                urn: str | None = None,
                *,
                _policy: str = policy.name,
                _urn: str = record.urn,
                _level: str = level,
            ) -> None:
                violations.append(Finding(_policy, _urn, message, _level))

            try:
                result = policy.validate(args, report)
                if inspect.isawaitable(result):
                    raise TypeError(f"policy {policy.name} is async; the offline plan runs sync")
            except _NotApplicableError as exc:
                reason = exc.reason or "not applicable"
                not_applicable.append(Finding(policy.name, record.urn, reason, "not-applicable"))
    return PolicyReport(violations=violations, not_applicable=not_applicable, checks=checks)
