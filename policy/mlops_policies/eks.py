"""EKS controls: the cluster's API endpoint is private or CIDR-restricted (SH EKS.1), it runs a
Kubernetes version in standard support (SH EKS.2), encrypts Kubernetes secrets with a KMS key
(SH EKS.3) and sends every control-plane log type to CloudWatch (SH EKS.8); launch templates
require IMDSv2 (CKV_AWS_79), and a managed node group runs on a launch template of the stack
that requires it with a hop limit of 1, so pods on the pod network cannot reach the node role.

Rules worth stating:
- EKS makes the endpoint public when `endpointPublicAccess` is unset, and open to 0.0.0.0/0
  when `publicAccessCidrs` is: both count as the open endpoint SH EKS.1 rejects.
- `EKS_VERSIONS` is this pack's copy of `components.config.EKS_VERSIONS` (the pack runs in its
  own environment without the platform's packages); a test keeps the two equal. An unset
  version is a violation: EKS would pick its default and the plan would not say which.
- `upgradePolicy.supportType` EXTENDED keeps a version past standard support for extended-
  support fees; it is reported with the version control.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._util import as_list, customer_key_problem, is_set, json_value, mapping, number

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"

EKS_VERSIONS = ("1.34", "1.35", "1.36")
"""Kubernetes versions in EKS standard support; equal to components.config.EKS_VERSIONS."""
CLUSTER_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log type EKS can send to CloudWatch Logs."""
OPEN_CIDRS = ("0.0.0.0/0", "::/0")
NODE_HOP_LIMIT = 1


def _endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    vpc = mapping(args.props.get("vpcConfig"))
    if vpc.get("endpointPublicAccess") is False:
        return
    cidrs = [str(c) for c in as_list(vpc.get("publicAccessCidrs"))]
    if not cidrs:
        report(
            "EKS cluster API endpoint is public to 0.0.0.0/0 (vpcConfig.endpointPublicAccess is "
            "not false and publicAccessCidrs is unset); set endpointPublicAccess false, or list "
            "the administrators' CIDRs in publicAccessCidrs (SH EKS.1).",
            None,
        )
        return
    open_to = [c for c in cidrs if c in OPEN_CIDRS]
    if open_to:
        report(
            f"EKS cluster API endpoint is public to {open_to} (vpcConfig.publicAccessCidrs); "
            "list the administrators' CIDRs instead, or set endpointPublicAccess false "
            "(SH EKS.1).",
            None,
        )


def _version(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    version = args.props.get("version")
    if version is None:
        report(
            f"EKS cluster sets no version; pin one in standard support {list(EKS_VERSIONS)} "
            "(SH EKS.2).",
            None,
        )
    elif str(version) not in EKS_VERSIONS:
        report(
            f"EKS cluster version {version!r} is not in standard support; accepted: "
            f"{list(EKS_VERSIONS)} (SH EKS.2).",
            None,
        )
    support = mapping(args.props.get("upgradePolicy")).get("supportType")
    if support == "EXTENDED":
        report(
            "EKS cluster upgradePolicy.supportType is EXTENDED: a version past standard support "
            "keeps running for extended-support fees; set STANDARD (SH EKS.2).",
            None,
        )


def _encryption_configs(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`encryptionConfig`: one object in pulumi-aws 7, a list before; either is accepted."""
    raw = json_value(props.get("encryptionConfig"))
    return [mapping(item) for item in as_list(raw)]


def _secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    for config in _encryption_configs(args.props):
        if "secrets" in [str(r) for r in as_list(config.get("resources"))]:
            problem = customer_key_problem(
                mapping(config.get("provider")),
                "keyArn",
                "EKS cluster secrets encryption (encryptionConfig.provider)",
            )
            if problem is not None:
                report(f"{problem} (SH EKS.3)", None)
            return
    report(
        "EKS cluster does not encrypt Kubernetes secrets with KMS; set encryptionConfig with "
        "resources [secrets] and the platform key as provider.keyArn (SH EKS.3).",
        None,
    )


def _logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    enabled = {str(t) for t in as_list(args.props.get("enabledClusterLogTypes"))}
    missing = [t for t in CLUSTER_LOG_TYPES if t not in enabled]
    if missing:
        report(
            f"EKS cluster does not send control-plane log types {missing} to CloudWatch; "
            f"enable all of {list(CLUSTER_LOG_TYPES)} in enabledClusterLogTypes (SH EKS.8).",
            None,
        )


def _metadata_problems(props: Mapping[str, Any], hop_limit: int | None = None) -> list[str]:
    """What is wrong with a launch template's instance metadata options."""
    metadata = mapping(props.get("metadataOptions"))
    if metadata.get("httpEndpoint") == "disabled":
        return []
    problems: list[str] = []
    if metadata.get("httpTokens") != "required":
        problems.append(
            f"metadataOptions.httpTokens is {metadata.get('httpTokens')!r}; set 'required' "
            "(IMDSv2 only, CKV_AWS_79)"
        )
    hops = number(metadata.get("httpPutResponseHopLimit"))
    if hop_limit is not None and (hops is None or hops > hop_limit):
        problems.append(
            f"metadataOptions.httpPutResponseHopLimit is "
            f"{metadata.get('httpPutResponseHopLimit')!r}; set {hop_limit}, so pods behind the "
            "node's network interface cannot reach the instance role"
        )
    return problems


def _launch_template(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    for problem in _metadata_problems(args.props):
        report(f"launch template {problem}.", None)


def _template_of(group: PolicyResource, templates: list[PolicyResource]) -> PolicyResource | None:
    """The stack's launch template a node group's `launchTemplate` is wired to."""
    urns = {d.urn for d in group.property_dependencies.get("launchTemplate", [])}
    linked = [t for t in templates if t.urn in urns]
    return linked[0] if len(linked) == 1 else None


def _node_groups(args: StackValidationArgs, report: ReportViolation) -> None:
    groups = [r for r in args.resources if r.resource_type == NODE_GROUP]
    if not groups:
        args.not_applicable("the stack has no EKS managed node groups")
    templates = [r for r in args.resources if r.resource_type == LAUNCH_TEMPLATE]
    for group in groups:
        if not is_set(group.props, "launchTemplate"):
            report(
                f"EKS node group {group.name!r} sets no launchTemplate: its nodes get EKS's "
                "default metadata options (a hop limit of 2, so pods reach the node role); use "
                f"a launch template requiring IMDSv2 with a hop limit of {NODE_HOP_LIMIT}.",
                group.urn,
            )
            continue
        template = _template_of(group, templates)
        if template is None:
            report(
                f"EKS node group {group.name!r} uses a launch template that is not a resource "
                "of this stack, so its metadata options cannot be checked; create it in the "
                f"stack with IMDSv2 required and a hop limit of {NODE_HOP_LIMIT}.",
                group.urn,
            )
            continue
        for problem in _metadata_problems(template.props, NODE_HOP_LIMIT):
            report(
                f"EKS node group {group.name!r}: its launch template {template.name!r} {problem}.",
                group.urn,
            )


EKS_POLICIES = (
    ResourceValidationPolicy(
        name="eks-endpoint-restricted",
        description="EKS cluster API endpoints are private, or public only to listed CIDRs "
        "other than 0.0.0.0/0 (SH EKS.1).",
        validate=_endpoint,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="eks-supported-version",
        description="EKS clusters pin a Kubernetes version in standard support, without "
        "extended support (SH EKS.2).",
        validate=_version,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="eks-secrets-encryption",
        description="EKS clusters encrypt Kubernetes secrets with a customer-managed KMS key "
        "(SH EKS.3).",
        validate=_secrets,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="eks-control-plane-logging",
        description="EKS clusters send every control-plane log type to CloudWatch (SH EKS.8).",
        validate=_logging,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="ec2-launch-template-imdsv2",
        description="Launch templates require IMDSv2 (CKV_AWS_79).",
        validate=_launch_template,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="eks-node-group-imdsv2",
        description="EKS managed node groups run on a launch template of the stack that "
        f"requires IMDSv2 with a hop limit of {NODE_HOP_LIMIT}.",
        validate=_node_groups,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
)
