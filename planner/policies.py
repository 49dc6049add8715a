"""Evaluates the policy pack's own policies over an offline plan's registrations.

The policies are the objects `policy/__main__.py` hands to `PolicyPack`; here they receive the
same arguments the CLI's analyzer would build, with each policy's default config: a resource
policy gets `ResourceValidationArgs` for each registration (inputs, options, provider with its
inputs); a stack policy runs once per plan over `StackValidationArgs` holding one
`PolicyResource` per custom resource, its parent and dependencies resolved to those objects.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
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


def _default_config(policy: Policy) -> dict[str, Any]:
    schema = policy.config_schema
    if schema is None:
        return {}
    return {k: v["default"] for k, v in schema.properties.items() if "default" in v}


def _options(record: Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=record.protect,
        ignore_changes=record.ignore_changes,
        delete_before_replace=record.delete_before_replace,
        aliases=[a for a in record.aliases if isinstance(a, str)],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=record.additional_secret_outputs,
        parent=record.parent or None,
    )


def _provider(
    record: Registration, providers: dict[str, Registration]
) -> PolicyProviderResource | None:
    provider = providers.get(record.provider)
    if provider is None:
        return None
    return PolicyProviderResource(
        resource_type=provider.type, props=provider.inputs, urn=provider.urn, name=provider.name
    )


def validation_args(
    record: Registration, providers: dict[str, Registration], config: dict[str, Any] | None = None
) -> ResourceValidationArgs:
    """The args the analyzer would pass for `record`."""
    return ResourceValidationArgs(
        resource_type=record.type,
        props=record.inputs,
        urn=record.urn,
        name=record.name,
        opts=_options(record),
        provider=_provider(record, providers),
        config=config or {},
    )


def stack_resources(
    registrations: list[Registration], providers: dict[str, Registration]
) -> list[PolicyResource]:
    """One `PolicyResource` per custom resource, as the analyzer builds them for a stack
    policy: parent, dependencies and property dependencies point at these objects, and a URN
    that is not a recorded custom resource (a component, the stack) is left out."""
    custom = [r for r in registrations if r.custom]
    resources = {
        r.urn: PolicyResource(
            resource_type=r.type,
            props=r.inputs,
            urn=r.urn,
            name=r.name,
            opts=_options(r),
            provider=_provider(r, providers),
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for r in custom
    }
    for record in custom:
        resource = resources[record.urn]
        resource.parent = resources.get(record.parent)
        resource.dependencies = [resources[u] for u in record.dependencies if u in resources]
        resource.property_dependencies = {
            prop: [resources[u] for u in urns if u in resources]
            for prop, urns in record.property_dependencies.items()
        }
    return list(resources.values())


def _stack_urn(registrations: list[Registration]) -> str:
    """The URN of the stack resource (not recorded itself): a top-level resource's parent, or
    built from any URN's stack and project."""
    for record in registrations:
        if record.parent.split("::")[2:3] == ["pulumi:pulumi:Stack"]:
            return record.parent
    for record in registrations:
        parts = record.urn.split("::")
        if len(parts) >= 4 and parts[0].startswith("urn:pulumi:"):
            stack, project = parts[0].removeprefix("urn:pulumi:"), parts[1]
            return f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"
    return ""


def evaluate(
    registrations: list[Registration],
    policies: tuple[ResourceValidationPolicy | StackValidationPolicy, ...] = POLICIES,
) -> PolicyReport:
    """Run every resource policy over every custom resource and every stack policy once over
    the whole plan, like the CLI's analyzer does."""
    providers = {r.urn: r for r in registrations if r.type.startswith("pulumi:providers:")}
    stack_urn = _stack_urn(registrations)
    violations: list[Finding] = []
    not_applicable: list[Finding] = []
    checks = 0

    def run(
        policy: ResourceValidationPolicy | StackValidationPolicy,
        validate: Callable[[ReportViolation], object],
        urn: str,
        urn_from_report: bool,
    ) -> None:
        level = (policy.enforcement_level or PACK_DEFAULT).value

        def report(message: str, reported: str | None = None) -> None:
            # A stack policy names the resource at fault (else the stack); a resource
            # policy's urn argument is ignored, as the analyzer always uses the validated one.
            target = reported if urn_from_report and reported else urn
            violations.append(Finding(policy.name, target, message, level))

        try:
            if inspect.isawaitable(validate(report)):
                raise TypeError(f"policy {policy.name} is async; the offline plan runs sync")
        except _NotApplicableError as exc:
            reason = exc.reason or "not applicable"
            not_applicable.append(Finding(policy.name, urn, reason, "not-applicable"))

    resources: list[PolicyResource] | None = None
    for policy in policies:
        config = _default_config(policy)
        if isinstance(policy, StackValidationPolicy):
            checks += 1
            if resources is None:
                resources = stack_resources(registrations, providers)
            stack_args = StackValidationArgs(resources, config)
            run(policy, partial(policy.validate, stack_args), stack_urn, urn_from_report=True)
            continue
        for record in registrations:
            if not record.custom:
                continue
            checks += 1
            args = validation_args(record, providers, config)
            run(policy, partial(policy.validate, args), record.urn, urn_from_report=False)
    return PolicyReport(violations=violations, not_applicable=not_applicable, checks=checks)
