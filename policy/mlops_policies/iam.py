"""IAM controls (SH IAM.1/IAM.21, CKV_AWS_62/63/286..290/355): identity policies grant named
actions on named resources, nothing escalates privileges, no AWS-managed administrator policy is
attached, and a role's trust policy lets in only this account's principals and services acting
for this account.

Identity policies are read wherever the platform writes them: a role's `inlinePolicies`, and the
`policy` of a RolePolicy, Policy, UserPolicy or GroupPolicy. Only Allow statements are judged; a
Deny can only take permissions away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import (
    account_principal_problems,
    allowed_account_ids,
    as_list,
    foreign_source_accounts,
    is_public,
    json_value,
    policy_statements,
    principals,
    restricting_conditions,
    source_conditions,
    statement_label,
)

ROLE = "aws:iam/role:Role"
IDENTITY_POLICIES = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
POLICY_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)

INSTANCE_PROFILE_SERVICES = ("ec2.amazonaws.com",)
"""Services that assume a role for an instance profile (EKS and EC2 nodes): EC2 sends no
aws:SourceAccount or aws:SourceArn when it fetches the instance's credentials, so a condition
on them would leave every instance without its role. Only the instance profile (created in
this account) can hand these roles out; a confused-deputy condition cannot apply."""

UNSCOPABLE_ACTIONS = (
    # The X-Ray SDK and daemon upload traces and read sampling rules; these actions have no
    # resource type (they are what AWSXRayDaemonWriteAccess grants on "*").
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
    # Vended log delivery (Step Functions and other services logging to CloudWatch Logs): AWS
    # documents these for the state machine's role on "*", as they take no resource ARN.
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # Custom metrics have no resource type; a cloudwatch:namespace condition can narrow them.
    "cloudwatch:PutMetricData",
    # Listing operations without a resource type that the drift and promotion steps call.
    "sagemaker:ListModelPackageGroups",
    "sagemaker:ListEndpoints",
    "sagemaker:ListMonitoringSchedules",
    # The registry token has no resource type; which repositories it opens is still decided by
    # the repository-scoped ecr:BatchGetImage / GetDownloadUrlForLayer grants.
    "ecr:GetAuthorizationToken",
    "sts:GetCallerIdentity",
    # What SageMaker looks up with a job's or model's role before it places network interfaces
    # in the stack's VPC: EC2's Describe actions take no resource type, nor does the removal
    # of an interface permission (it names only the permission's id).
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DeleteNetworkInterfacePermission",
)
"""The default of policy config `unscopableActions`: actions that AWS's service authorization
reference lists without any resource type, so `Resource: "*"` is the only way to grant them.
Every other action must name its resources. Extend the list only with such an action and a
comment saying so (docs: "Actions, resources, and condition keys for <service>")."""

ESCALATION_ACTIONS = (
    # Rewriting or attaching policies, or changing who may assume a role.
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:AddUserToGroup",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
    # Minting credentials for another principal.
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    # Running own code under another principal's role.
    "iam:PassRole",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "glue:UpdateDevEndpoint",
    "sagemaker:CreatePresignedNotebookInstanceUrl",
)
"""Actions that let a principal gain permissions it was not granted (the known IAM privilege
escalation paths). Each is accepted only on explicit resource ARNs; iam:PassRole also needs an
iam:PassedToService condition naming the services."""

ADMIN_POLICY = re.compile(
    r"^arn:[a-z0-9-]+:iam::aws:policy/"
    r"(?:AdministratorAccess(?:-[A-Za-z0-9]+)?|PowerUserAccess|IAMFullAccess)$"
)
"""AWS-managed policies that grant (nearly) everything or all of IAM."""

_WILDCARD = re.compile(r"[*?]")


# ---- reading the documents -------------------------------------------------------------------


def _documents(args: ResourceValidationArgs) -> list[tuple[str, Any]]:
    """The identity policy documents of a resource, each with how a message names it; not
    applicable to a role without inline policies."""
    if args.resource_type in IDENTITY_POLICIES:
        return [("policy", args.props.get("policy"))]
    if args.resource_type != ROLE:
        return []
    documents = [
        (f"inline policy {item.get('name')!r}", item.get("policy"))
        for item in (json_value(i) for i in as_list(json_value(args.props.get("inlinePolicies"))))
        if isinstance(item, Mapping) and item.get("policy")
    ]
    if not documents:
        args.not_applicable(
            "the role has no inline policies; its RolePolicy and attached policies are checked "
            "as resources of their own"
        )
    return documents


def _allow_statements(
    args: ResourceValidationArgs, report: ReportViolation | None = None
) -> list[tuple[str, Mapping[str, Any]]]:
    """Every Allow statement of the resource's identity policies, labelled for messages;
    a document that is not a policy document is passed to `report` (given by one policy only,
    so it is reported once)."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for where, document in _documents(args):
        statements = policy_statements(document)
        if statements is None:
            if report is not None:
                report(f"{where} is not a JSON policy document with a Statement list.", None)
            continue
        found.extend(
            (f"{where} {statement_label(index, statement)}", statement)
            for index, statement in enumerate(statements)
            if statement.get("Effect") == "Allow"
        )
    return found


def _actions(statement: Mapping[str, Any], key: str = "Action") -> list[str]:
    return [str(a) for a in as_list(statement.get(key))]


def _wildcard_action(action: str) -> bool:
    """`*`, a whole service (`s3:*`) or a wildcard service prefix (`*:Get*`)."""
    service, _, name = action.partition(":")
    return action == "*" or bool(_WILDCARD.search(service)) or name == "*"


def _granted(statement: Mapping[str, Any], actions: Collection[str]) -> list[str]:
    """Which of `actions` an Allow statement grants, through Action patterns or NotAction."""
    if "NotAction" in statement:
        excluded = _actions(statement, "NotAction")
        return [a for a in actions if not any(fnmatchcase(a.lower(), p.lower()) for p in excluded)]
    patterns = _actions(statement)
    return [a for a in actions if any(fnmatchcase(a.lower(), p.lower()) for p in patterns)]


def _explicit_resources(statement: Mapping[str, Any]) -> bool:
    """Whether a statement names its resources as ARNs without wildcards."""
    if "NotResource" in statement:
        return False
    resources = [str(r) for r in as_list(statement.get("Resource"))]
    return bool(resources) and all(
        r.startswith("arn:") and not _WILDCARD.search(r) for r in resources
    )


# ---- identity policies -----------------------------------------------------------------------


def _least_privilege(args: ResourceValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    unscopable = {str(a).lower() for a in config.get("unscopableActions", UNSCOPABLE_ACTIONS)}
    for label, statement in _allow_statements(args, report):
        if "NotAction" in statement:
            report(f"{label} allows with NotAction, which grants every other action.", None)
        if "NotResource" in statement:
            report(f"{label} allows with NotResource, which grants every other resource.", None)
        wildcards = [a for a in _actions(statement) if _wildcard_action(a)]
        if wildcards:
            report(
                f"{label} allows wildcard action(s) {wildcards}; name the actions "
                "(SH IAM.1/IAM.21, CKV_AWS_62/63).",
                None,
            )
        if "*" in [str(r) for r in as_list(statement.get("Resource"))]:
            scopable = [
                a
                for a in _actions(statement)
                if a.lower() not in unscopable and not _wildcard_action(a)
            ]
            if scopable:
                report(
                    f'{label} allows {scopable} on Resource "*"; these actions can be limited '
                    "to resource ARNs, so name them (only actions without a resource type "
                    'may use "*", CKV_AWS_355).',
                    None,
                )


def _privilege_escalation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for label, statement in _allow_statements(args):
        granted = _granted(statement, ESCALATION_ACTIONS)
        if not granted:
            continue
        if not _explicit_resources(statement):
            report(
                f"{label} allows privilege-escalation action(s) {granted} without naming "
                "explicit resource ARNs (CKV_AWS_286).",
                None,
            )
        if "iam:PassRole" in granted and not restricting_conditions(
            statement, lambda key: key == "iam:passedtoservice"
        ):
            report(
                f"{label} allows iam:PassRole without an iam:PassedToService condition naming "
                "the services the roles may be passed to.",
                None,
            )


def _admin_policies(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == ROLE:
        arns = [str(a) for a in as_list(json_value(args.props.get("managedPolicyArns")))]
    elif args.resource_type in POLICY_ATTACHMENTS:
        arns = [str(args.props.get("policyArn"))]
    else:
        return
    for arn in arns:
        if ADMIN_POLICY.match(arn):
            report(
                f"attaches the AWS-managed policy {arn!r}, which grants far more than any "
                "platform principal needs (SH IAM.1); write a policy for what it calls.",
                None,
            )


# ---- trust policies --------------------------------------------------------------------------


def _federated_conditions(statement: Mapping[str, Any]) -> bool:
    """Whether a statement ties a federated principal to an audience or subject
    (`<provider>:aud`, `<provider>:sub`, `saml:aud`)."""
    return bool(restricting_conditions(statement, lambda key: key.endswith((":aud", ":sub"))))


def _trust_problems(document: Any, own_accounts: Collection[str]) -> list[str]:
    statements = policy_statements(document)
    if statements is None:
        return ["assumeRolePolicy is not a JSON policy document with a Statement list."]
    problems: list[str] = []
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        label = f"trust policy {statement_label(index, statement)}"
        if "NotPrincipal" in statement:
            problems.append(f"{label} allows with NotPrincipal, which trusts everyone not listed.")
            continue
        found = principals(statement)
        if not found:
            problems.append(f"{label} allows without a Principal.")
            continue
        if is_public(found):
            problems.append(f'{label} trusts the public principal "*".')
            continue
        sources = source_conditions(statement)
        for kind, values in sorted(found.items()):
            guarded = [v for v in values if v not in INSTANCE_PROFILE_SERVICES]
            if kind == "Service" and guarded and not sources:
                problems.append(
                    f"{label} trusts service principal(s) {guarded} without an aws:SourceAccount "
                    "or aws:SourceArn condition (confused deputy)."
                )
            elif kind == "AWS":
                problems.extend(
                    account_principal_problems(label, values, own_accounts, account_principals=True)
                )
            elif kind == "Federated" and not _federated_conditions(statement):
                problems.append(
                    f"{label} trusts federated principal(s) {values} without a condition on the "
                    "token's audience or subject (:aud / :sub)."
                )
            elif kind not in ("Service", "AWS", "Federated"):
                problems.append(f"{label} trusts {kind} principal(s) {values}.")
        foreign = foreign_source_accounts(sources, own_accounts)
        if foreign:
            problems.append(
                f"{label} limits aws:SourceAccount to {foreign}, outside this stack's accounts "
                f"{sorted(own_accounts)}."
            )
    return problems


def _trust_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ROLE:
        return
    for problem in _trust_problems(
        args.props.get("assumeRolePolicy"), allowed_account_ids(args.provider)
    ):
        report(problem, None)


# ---- the policies ----------------------------------------------------------------------------


def _policy(
    name: str,
    description: str,
    validate: Callable[[ResourceValidationArgs, ReportViolation], None],
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
    )


IAM_POLICIES = (
    _policy(
        "iam-least-privilege",
        'IAM policies allow no wildcard or NotAction actions, and Resource "*" only for '
        "actions AWS cannot scope to a resource (SH IAM.1/IAM.21, CKV_AWS_62/63/288..290/355).",
        _least_privilege,
        PolicyConfigSchema(
            properties={
                "unscopableActions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": list(UNSCOPABLE_ACTIONS),
                }
            }
        ),
    ),
    _policy(
        "iam-no-privilege-escalation",
        "IAM policies grant privilege-escalation actions only on explicit ARNs, and "
        "iam:PassRole only with an iam:PassedToService condition (CKV_AWS_286/287).",
        _privilege_escalation,
    ),
    _policy(
        "iam-no-admin-managed-policies",
        "No AdministratorAccess, PowerUserAccess or IAMFullAccess managed policy is attached "
        "(SH IAM.1).",
        _admin_policies,
    ),
    _policy(
        "iam-role-trust-policy",
        "Role trust policies trust no public or other-account principal, and services only with "
        "an aws:SourceAccount or aws:SourceArn condition (confused deputy).",
        _trust_policy,
    ),
)
