"""Every IAM policy document in every shipped stack's plan is linted (Security Hub IAM.1/IAM.21,
CKV_AWS_62/63/286..290/355; docs: ../shared/SECURITY-CONTROLS.md, "IAM").

The documents are read from the plan (the exact JSON AWS would receive), not rebuilt:

- identity policies (`aws:iam/rolePolicy:RolePolicy`, `aws:iam/policy:Policy`) and resource
  policies (bucket, topic, queue, ECR repository, model package group and KMS key policies) run
  through parliament's analyzer in-process, with its community auditors (credentials exposure,
  permissions management, privilege escalation). No finding above LOW severity is accepted
  unless `PARLIAMENT_ALLOWED` lists it, naming the policy, the statement's Sid and the finding,
  with a justification that points at the comment next to the statement in components/.
- trust policies (`aws:iam/role:Role.assumeRolePolicy`) are not given to parliament: it
  analyses identity policies, so every trust statement would be MALFORMED (a trust policy has
  no Resource) and the analysis stops there, and `sts:AssumeRole` is by definition what a trust
  policy grants. They are checked here instead: one AWS service (never `*` or an account) may
  assume the role, only the STS actions role assumption needs, and a confused-deputy condition
  unless `TRUST_WITHOUT_SOURCE_CONDITION` explains why the service cannot carry one.
- no statement has a wildcard Action and no Allow has a NotAction, except what
  `WILDCARD_ACTIONS` lists (a Deny, or a KMS key policy following AWS's documented form); every
  Allow on `Resource: "*"` names only the actions in `RESOURCE_STAR_ACTIONS`, and the source line
  building it has a comment naming the action; `iam:PassRole` names roles and services.

Each check is proven to fire on a planted violation, so a clean run is not a blind one.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.resources
import json
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.run import PROJECT_DIR, Plan
from tests.conftest import plan_with

SHIPPED_STACKS = ("dev", "staging", "prod")
NETWORK = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    "securityGroupIds": ["sg-0123456789abcdef0"],
}
"""A network for each shipped stack: what a platform team with a VPC deploys adds the VPC
placement statements (models, pipeline jobs), which are linted as well."""
LINTED = (*SHIPPED_STACKS, *(f"{stack}+network" for stack in SHIPPED_STACKS))
COMPONENTS = PROJECT_DIR / "components"

IDENTITY = "identity"
RESOURCE = "resource"
KEY = "key"
TRUST = "trust"

POLICY_FIELDS: dict[tuple[str, str], str] = {
    ("aws:iam/rolePolicy:RolePolicy", "policy"): IDENTITY,
    ("aws:iam/policy:Policy", "policy"): IDENTITY,
    ("aws:iam/role:Role", "assumeRolePolicy"): TRUST,
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"): RESOURCE,
    ("aws:sns/topicPolicy:TopicPolicy", "policy"): RESOURCE,
    ("aws:sqs/queuePolicy:QueuePolicy", "policy"): RESOURCE,
    ("aws:ecr/repositoryPolicy:RepositoryPolicy", "policy"): RESOURCE,
    ("aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy", "resourcePolicy"): RESOURCE,
    # In a key policy, `Resource: "*"` is the key the policy is attached to, never another key
    # (AWS KMS developer guide, "Key policies"): the Resource-"*" rule does not apply to it.
    ("aws:kms/key:Key", "policy"): KEY,
}
"""Where a policy document lives in a registration's inputs, and what kind of policy it is."""

EXPECTED_KINDS = {
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/role:Role",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:kms/key:Key",
}
"""Types every shipped stack has documents for: a collector that finds none is broken."""

ABOVE_LOW = ("MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True)
class Document:
    """One policy document of one registration, parsed."""

    stack: str
    type: str
    name: str
    field: str
    kind: str
    text: str

    @property
    def statements(self) -> list[dict[str, Any]]:
        parsed = json.loads(self.text)
        statements = parsed["Statement"]
        return statements if isinstance(statements, list) else [statements]

    def where(self, statement: dict[str, Any]) -> str:
        return f"{self.stack}: {self.type} {self.name}.{self.field} Sid={statement.get('Sid')}"


@dataclass(frozen=True)
class Finding:
    """A parliament finding, attributed to one statement (Sid `*`: the document as a whole)."""

    name: str
    sid: str
    issue: str
    severity: str
    detail: str


# --- parliament's findings that are accepted, each explained next to its statement -------------

PARLIAMENT_ALLOWED: dict[tuple[str, str, str], str] = {
    # (policy resource name, fnmatch pattern; statement Sid; finding id): justification.
    (
        "inference-*-model-access",
        "ManageModelNetworkInterfaces",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
    ): (
        "components/inference.py: ManageModelNetworkInterfaces: "
        "ec2:CreateNetworkInterfacePermission is how SageMaker attaches the interface it creates "
        "in the stack's subnets; scoped to the account's interfaces in the region"
    ),
    ("training-*-access", "ManageJobNetworkInterfaces", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/training.py: ManageJobNetworkInterfaces: "
        "ec2:CreateNetworkInterfacePermission is how SageMaker attaches a job's interface in the "
        "stack's subnets; scoped to the account's interfaces in the region"
    ),
    ("inference-*-model-access", "LookUpNetwork", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/iam.py: LookUpNetwork: ec2:DeleteNetworkInterfacePermission removes the "
        "attachment permission SageMaker made; it names only the permission's id"
    ),
    ("training-*-access", "LookUpNetwork", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/iam.py: LookUpNetwork: ec2:DeleteNetworkInterfacePermission removes the "
        "attachment permission SageMaker made; it names only the permission's id"
    ),
    ("inference-*-model-access", "LogInToRegistries", "CREDENTIALS_EXPOSURE"): (
        "components/inference.py: LogInToRegistries: ecr:GetAuthorizationToken is how the "
        "endpoint pulls its image; the token only serves the pull actions, scoped to named repos"
    ),
    ("training-*-access", "LogInToRegistries", "CREDENTIALS_EXPOSURE"): (
        "components/training.py: LogInToRegistries: ecr:GetAuthorizationToken is how a job "
        "pulls its image; the token only serves the pull actions, scoped to named repos"
    ),
    ("training-*-access", "PassOwnRoleToSageMaker", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/training.py: PassOwnRoleToSageMaker: iam:PassRole of the role itself, to "
        "sagemaker.amazonaws.com only (the pipeline's steps run as it)"
    ),
    ("training-*-access", "GrantVolumeEncryption", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/training.py: GrantVolumeEncryption: kms:CreateGrant on the platform key, "
        "only for AWS resources (kms:GrantIsForAWSResource), for encrypted job volumes"
    ),
    ("cost-guardrail-access", "AttachTheGuardrail", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/cost.py: AttachTheGuardrail: iam:AttachRolePolicy/DetachRolePolicy of the "
        "one deny policy (iam:PolicyARN) on named roles: the budget action's whole purpose"
    ),
    ("drift-scaleout-access", "DeliverLogs", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/drift.py: DeliverLogs: logs:PutResourcePolicy is part of the policy AWS "
        "documents for Step Functions logging to CloudWatch Logs (vended log delivery)"
    ),
    ("drift-scaleout-access", "ManageMapChildren", "RESOURCE_MISMATCH"): (
        "components/drift.py: ManageMapChildren: a Distributed Map child execution's ARN is "
        "execution:<machine>/<map run>:<id>; parliament's ARN format predates it"
    ),
    ("platform-key", "AccountRootDelegatesToIam", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/kms.py: AccountRootDelegatesToIam: AWS's default key policy statement; "
        "without it the key is unmanageable, with it IAM policies govern access"
    ),
    ("platform-key", "AutoScalingAttachesNodeVolumes", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "components/kms.py: AutoScalingAttachesNodeVolumes: kms:CreateGrant for AWS resources "
        "only, AWS's required key policy for encrypted Auto Scaling volumes"
    ),
    ("platform-key", "CloudWatchLogsEncryptsPlatformLogGroups", "MISMATCHED_TYPE"): (
        "components/kms.py: CloudWatchLogsEncryptsPlatformLogGroups: ArnLike on "
        "kms:EncryptionContext:aws:logs:arn is CloudWatch Logs' documented condition; "
        "parliament types every encryption-context key as a String"
    ),
    ("platform-key", "CloudWatchLogsEncryptsPlatformLogGroups", "UNKNOWN_CONDITION_FOR_ACTION"): (
        "components/kms.py: CloudWatchLogsEncryptsPlatformLogGroups: parliament knows only "
        "the kms:EncryptionContext:${Key} template, not the aws:logs:arn key CloudWatch Logs sets"
    ),
    ("lake-*-policy", "DenyTlsBelow12", "MISMATCHED_TYPE"): (
        "components/iam.py: DenyTlsBelow12: IAM's numeric operators accept the number as a JSON "
        'string ("1.2"), which is what the plan pins (tests/components/test_data_lake.py)'
    ),
    ("lake-*-policy", "DenyTlsBelow12", "UNKNOWN_CONDITION_FOR_ACTION"): (
        "components/iam.py: DenyTlsBelow12: s3:TlsVersion is not documented for two of s3:*'s "
        "actions; DenyInsecureTransport still denies them over plain HTTP"
    ),
}
"""Findings above LOW accepted in the shipped plans. Parliament reports nothing for unknown
services or actions (UNKNOWN_ACTION/UNKNOWN_PREFIX, LOW) in these plans: every action granted is
in its IAM definition, so no entry judges one."""


# --- wildcard actions and Resource "*" ---------------------------------------------------------

WILDCARD_ACTIONS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    # (policy resource name, fnmatch pattern; statement Sid): (the exact wildcard actions, why).
    ("lake-*-policy", "DenyInsecureTransport"): (
        frozenset({"s3:*"}),
        "components/iam.py: DenyInsecureTransport: a Deny; every S3 action, including ones "
        "AWS adds later, is refused over plain HTTP (SH S3.5)",
    ),
    ("lake-*-policy", "DenyTlsBelow12"): (
        frozenset({"s3:*"}),
        "components/iam.py: DenyTlsBelow12: a Deny; every S3 action is refused below TLS 1.2",
    ),
    ("platform-key", "AccountRootDelegatesToIam"): (
        frozenset({"kms:*"}),
        "components/kms.py: AccountRootDelegatesToIam: AWS's default key policy; the account "
        "root delegates the key to IAM policies, which grant no wildcard",
    ),
    ("platform-key", "CloudWatchLogsEncryptsPlatformLogGroups"): (
        frozenset(
            {
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            }
        ),
        "components/kms.py: CloudWatchLogsEncryptsPlatformLogGroups: the key policy CloudWatch "
        "Logs documents, limited to this account's log groups by encryption context",
    ),
    ("platform-key", "AutoScalingUsesPlatformKeyForNodeVolumes"): (
        frozenset({"kms:ReEncrypt*", "kms:GenerateDataKey*"}),
        "components/kms.py: AutoScalingUsesPlatformKeyForNodeVolumes: AWS's required key policy "
        "for encrypted Auto Scaling volumes, for the service-linked role only",
    ),
    ("platform-key", "EventBridgeEncryptsPlatformMessages"): (
        frozenset({"kms:GenerateDataKey*"}),
        "components/kms.py: EventBridgeEncryptsPlatformMessages: the data-key actions EventBridge "
        "documents for encrypted SNS/SQS targets, this account only",
    ),
    ("platform-key", "AlarmsAndCostAlertsEncryptPlatformNotifications"): (
        frozenset({"kms:GenerateDataKey*"}),
        "components/kms.py: AlarmsAndCostAlertsEncryptPlatformNotifications: the data-key "
        "actions these services document for an encrypted topic, this account only",
    ),
}
"""Statements allowed a wildcard action: Denies (wider is safer) and key-policy statements in
the form AWS documents. An Allow in an identity policy never has one: there is no entry for it."""

RESOURCE_STAR_ACTIONS: dict[str, str] = {
    "ecr:GetAuthorizationToken": "the registry login has no resource type; the pull actions "
    "it enables are scoped to named repositories",
    "cloudwatch:PutMetricData": "has no resource type; scoped by the cloudwatch:namespace "
    "condition instead",
    "xray:PutTraceSegments": "has no resource type",
    "xray:PutTelemetryRecords": "has no resource type",
    "xray:GetSamplingRules": "has no resource type",
    "xray:GetSamplingTargets": "has no resource type",
    "logs:CreateLogDelivery": "vended log delivery (Step Functions logging) has no resource type",
    "logs:GetLogDelivery": "vended log delivery has no resource type",
    "logs:UpdateLogDelivery": "vended log delivery has no resource type",
    "logs:DeleteLogDelivery": "vended log delivery has no resource type",
    "logs:ListLogDeliveries": "vended log delivery has no resource type",
    "logs:PutResourcePolicy": "the account's log resource policy has no resource type",
    "logs:DescribeResourcePolicies": "has no resource type",
    "logs:DescribeLogGroups": "lists the account's log groups; Step Functions' documented "
    "logging policy grants it on *",
    "ec2:DescribeNetworkInterfaces": "EC2's describe actions have no resource type (SageMaker's "
    "VPC placement looks the network up with the job's or model's role)",
    "ec2:DescribeVpcs": "has no resource type",
    "ec2:DescribeDhcpOptions": "has no resource type",
    "ec2:DescribeSubnets": "has no resource type",
    "ec2:DescribeSecurityGroups": "has no resource type",
    "ec2:DeleteNetworkInterfacePermission": "names only the permission's id; no resource type",
}
"""Actions an Allow may grant on `Resource: "*"`, each with why it cannot be scoped."""

PENDING_COMMENTS: dict[tuple[str, str], str] = {}
"""Sources whose Resource-"*" comment explains the reason without naming the action, in files
this change may not edit: the reason alone is accepted for now."""

ASSUME_ACTIONS = {"sts:AssumeRole", "sts:TagSession"}
SOURCE_CONDITION_KEYS = {"aws:SourceAccount", "aws:SourceArn"}
TRUST_WITHOUT_SOURCE_CONDITION: dict[tuple[str, str], str] = {
    ("cluster-node-role", "Ec2AssumesNodeRole"): "components/kubernetes_cluster.py: "
    "node_trust: EC2 sets no aws:SourceAccount when it fetches an instance profile's credentials",
}
"""Trust statements without a confused-deputy condition, each with why the service cannot
carry one."""

PASSED_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")
SERVICE_PRINCIPAL = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com$")


# --- collecting the documents ----------------------------------------------------------------


def _policy_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string anywhere in an input that is a JSON policy document, with its input path."""
    if isinstance(value, str):
        if '"Statement"' in value:
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                return
            if isinstance(parsed, dict) and "Statement" in parsed:
                yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _policy_strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _policy_strings(item, f"{path}[{index}]")


def documents(plan: Plan) -> list[Document]:
    """Every policy document registered in `plan`; one in an unknown place is an error."""
    found = []
    for registration in plan.registrations:
        for field, text in _policy_strings(registration.inputs, ""):
            kind = POLICY_FIELDS.get((registration.type, field))
            if kind is None:
                raise AssertionError(
                    f"{plan.stack}: {registration.type} {registration.name}.{field} holds a "
                    "policy document this test does not know: add it to POLICY_FIELDS"
                )
            found.append(
                Document(plan.stack, registration.type, registration.name, field, kind, text)
            )
    return found


# --- parliament --------------------------------------------------------------------------------


@cache
def _parliament() -> types.ModuleType:
    """parliament 1.6.4 imports `pkg_resources` only to locate its two data files at import time;
    setuptools >= 81 no longer ships it. A stand-in answering `resource_filename` from
    importlib.resources is put in place for the import and removed again."""
    if "parliament" in sys.modules:
        return sys.modules["parliament"]
    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_filename = (  # type: ignore[attr-defined]
        lambda package, name: str(importlib.resources.files(package) / name)
    )
    had = sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = had or stand_in
    try:
        return importlib.import_module("parliament")
    finally:
        if had is None:
            del sys.modules["pkg_resources"]


@cache
def _severities() -> dict[str, str]:
    """Severity per finding id: parliament's config with its community auditors' overrides (what
    `parliament --include-community-auditors` reports with)."""
    root = importlib.resources.files(_parliament())
    config: dict[str, Any] = yaml.safe_load((root / "config.yaml").read_text())
    override = root / "community_auditors" / "config_override.yaml"
    config.update(yaml.safe_load(override.read_text()))
    return {issue: str(settings["severity"]) for issue, settings in config.items()}


def _analyze(text: str) -> list[tuple[str, str]]:
    policy = _parliament().analyze_policy_string(
        text, ignore_private_auditors=True, include_community_auditors=True
    )
    return [(finding.issue, str(finding.detail)) for finding in policy.findings]


def parliament_findings(document: Document) -> list[Finding]:
    """Parliament's findings on `document`, each attributed to a statement: every statement is
    analysed alone, then the whole document, whose findings no single statement explains (a
    duplicate Sid, a privilege escalation across statements) are attributed to Sid `*`."""
    severity = _severities()
    version = json.loads(document.text).get("Version", "2012-10-17")
    findings: list[Finding] = []
    for statement in document.statements:
        alone = json.dumps({"Version": version, "Statement": [statement]})
        sid = str(statement.get("Sid", "?"))
        findings.extend(
            Finding(document.name, sid, issue, severity[issue], detail)
            for issue, detail in _analyze(alone)
        )
    explained = {finding.issue for finding in findings}
    findings.extend(
        Finding(document.name, "*", issue, severity[issue], detail)
        for issue, detail in _analyze(document.text)
        if issue not in explained
    )
    return findings


def _allowed(table: dict[tuple[str, str, str], str], finding: Finding) -> str | None:
    for (name, sid, issue), why in table.items():
        if fnmatch.fnmatchcase(finding.name, name) and (sid, issue) == (finding.sid, finding.issue):
            return why
    return None


def unexplained(findings: list[Finding]) -> list[Finding]:
    return [
        finding
        for finding in findings
        if finding.severity in ABOVE_LOW and _allowed(PARLIAMENT_ALLOWED, finding) is None
    ]


# --- the wildcard, Resource "*" and PassRole rules ---------------------------------------------


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard_exception(document: Document, sid: str) -> frozenset[str] | None:
    for (name, listed_sid), (actions, _) in WILDCARD_ACTIONS.items():
        if fnmatch.fnmatchcase(document.name, name) and listed_sid == sid:
            return actions
    return None


def wildcard_violations(document: Document) -> list[str]:
    """A wildcard in an Action or NotAction, or an Allow with NotAction, not listed."""
    problems = []
    for statement in document.statements:
        where = document.where(statement)
        if statement.get("Effect") == "Allow" and "NotAction" in statement:
            problems.append(f"{where}: Allow with NotAction {statement['NotAction']}")
        wild = {
            action
            for key in ("Action", "NotAction")
            for action in _list(statement.get(key))
            if "*" in action or "?" in action
        }
        if not wild:
            continue
        listed = _wildcard_exception(document, str(statement.get("Sid")))
        if listed is None or not wild <= listed:
            problems.append(f"{where}: wildcard actions {sorted(wild)}")
    return problems


def resource_star_statements(document: Document) -> list[dict[str, Any]]:
    """Statements of `document` on `Resource: "*"` (key policies excepted: "*" is the key)."""
    if document.kind == KEY:
        return []
    return [s for s in document.statements if "*" in _list(s.get("Resource"))]


def resource_star_violations(document: Document) -> list[str]:
    """An Allow on `Resource: "*"` (or with NotResource) granting an action not listed."""
    problems = []
    for statement in document.statements:
        if statement.get("Effect") == "Allow" and "NotResource" in statement:
            problems.append(f"{document.where(statement)}: Allow with NotResource")
    for statement in resource_star_statements(document):
        if statement.get("Effect") != "Allow":
            continue
        unlisted = [a for a in _list(statement.get("Action")) if a not in RESOURCE_STAR_ACTIONS]
        if unlisted:
            problems.append(f'{document.where(statement)}: {unlisted} on Resource "*"')
    return problems


def passrole_violations(document: Document) -> list[str]:
    """`iam:PassRole` (or a wildcard covering it) only on named roles, only to named services."""
    problems = []
    for statement in document.statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = _list(statement.get("Action"))
        if not any(fnmatch.fnmatch("iam:passrole", a.lower()) for a in actions):
            continue
        where = document.where(statement)
        resources = _list(statement.get("Resource"))
        if "NotResource" in statement or not resources:
            problems.append(f"{where}: PassRole without named Resource")
        for resource in resources:
            if "*" in resource or not PASSED_ROLE.match(resource):
                problems.append(f"{where}: PassRole on {resource!r}, not a named role")
        services = _list(
            statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
        )
        if not services:
            problems.append(f"{where}: PassRole without StringEquals iam:PassedToService")
        for service in services:
            if not isinstance(service, str) or not SERVICE_PRINCIPAL.match(service):
                problems.append(f"{where}: PassRole to {service!r}, not a named service")
    return problems


def trust_violations(document: Document) -> list[str]:
    """One AWS service principal, the role-assumption actions only, a confused-deputy condition
    (unless listed), and no NotPrincipal / NotAction."""
    problems = []
    for statement in document.statements:
        where = document.where(statement)
        sid = str(statement.get("Sid"))
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement or "NotAction" in statement:
            problems.append(f"{where}: NotPrincipal/NotAction in a trust policy")
        principal = statement.get("Principal")
        if not isinstance(principal, dict) or set(principal) != {"Service"}:
            problems.append(f"{where}: principal {principal!r} is not an AWS service")
        else:
            for service in _list(principal["Service"]):
                if not SERVICE_PRINCIPAL.match(service):
                    problems.append(f"{where}: service principal {service!r}")
        actions = set(_list(statement.get("Action")))
        if not actions or not actions <= ASSUME_ACTIONS or "sts:AssumeRole" not in actions:
            problems.append(f"{where}: actions {sorted(actions)}")
        keys = {key for block in statement.get("Condition", {}).values() for key in block}
        if not keys & SOURCE_CONDITION_KEYS and (document.name, sid) not in (
            TRUST_WITHOUT_SOURCE_CONDITION
        ):
            problems.append(f"{where}: no aws:SourceAccount/aws:SourceArn condition")
    return problems


# --- comments next to the statements in components/ ---------------------------------------------

COMMENT_WINDOW_ABOVE = 8
COMMENT_WINDOW_BELOW = 3


def comments_near(source: str, sid: str) -> list[str]:
    """For each place `source` spells the Sid as a string literal, the `#` comments in the few
    lines around it (above, and inside the statement's first lines), joined."""
    lines = source.splitlines()
    found = []
    for index, line in enumerate(lines):
        if f'"{sid}"' not in line:
            continue
        window = lines[max(0, index - COMMENT_WINDOW_ABOVE) : index + COMMENT_WINDOW_BELOW + 1]
        found.append(" ".join(w.split("#", 1)[1].strip() for w in window if "#" in w))
    return found


def _sources() -> dict[str, str]:
    return {f"components/{path.name}": path.read_text() for path in sorted(COMPONENTS.glob("*.py"))}


def comment_violations(sid: str, actions: list[str], sources: dict[str, str]) -> list[str]:
    """Every source place building statement `sid` has a comment naming one of its actions
    (PENDING_COMMENTS: a comment saying why it cannot be scoped)."""
    problems = []
    places = 0
    for path, source in sources.items():
        for comment in comments_near(source, sid):
            places += 1
            text = comment.lower()
            if any(action.lower() in text for action in actions):
                continue
            pending = (path, sid) in PENDING_COMMENTS and re.search(
                r"take[s]? no resource|cannot (be )?scope", text
            )
            if not pending:
                problems.append(f"{path}: {sid}: no comment naming one of {actions}")
    if not places:
        problems.append(f"{sid}: not found in components/")
    return problems


def _pointer(justification: str) -> tuple[str, str]:
    """`components/x.py: Sid: why` -> (path, Sid)."""
    path, sid, _ = justification.split(": ", 2)
    return path, sid


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_documents(plans: dict[str, Plan]) -> dict[str, list[Document]]:
    found = {stack: documents(plans[stack]) for stack in SHIPPED_STACKS}
    for stack in SHIPPED_STACKS:
        found[f"{stack}+network"] = documents(plan_with(stack, {"mlops-platform:network": NETWORK}))
    return found


def _linted(docs: list[Document]) -> list[Document]:
    return [d for d in docs if d.kind != TRUST]


# --- the shipped plans -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", LINTED)
def test_every_kind_of_policy_document_is_collected(
    stack: str, all_documents: dict[str, list[Document]]
) -> None:
    types_found = {d.type for d in all_documents[stack]}
    assert types_found >= EXPECTED_KINDS, EXPECTED_KINDS - types_found


@pytest.mark.parametrize("stack", LINTED)
def test_parliament_finds_nothing_above_low_that_is_not_explained(
    stack: str, all_documents: dict[str, list[Document]]
) -> None:
    problems = [
        f"{d.type} {f.name} Sid={f.sid}: {f.issue} ({f.severity}) {f.detail[:200]}"
        for d in _linted(all_documents[stack])
        for f in unexplained(parliament_findings(d))
    ]
    assert not problems, "\n".join(problems)


def test_every_accepted_parliament_finding_still_occurs(
    all_documents: dict[str, list[Document]],
) -> None:
    seen = {
        key
        for docs in all_documents.values()
        for d in _linted(docs)
        for f in parliament_findings(d)
        for key in PARLIAMENT_ALLOWED
        if _allowed({key: ""}, f) is not None
    }
    assert set(PARLIAMENT_ALLOWED) - seen == set()


def test_no_unknown_service_or_action_for_parliament(
    all_documents: dict[str, list[Document]],
) -> None:
    """Parliament's LOW findings for what it does not know would hide a typo in an action."""
    unknown = [
        f"{f.name} Sid={f.sid}: {f.issue} {f.detail}"
        for docs in all_documents.values()
        for d in _linted(docs)
        for f in parliament_findings(d)
        if f.issue in {"UNKNOWN_ACTION", "UNKNOWN_PREFIX", "UNKNOWN_PRINCIPAL"}
    ]
    assert not unknown, "\n".join(unknown)


@pytest.mark.parametrize("stack", LINTED)
def test_no_wildcard_action_outside_the_listed_denies_and_key_policy(
    stack: str, all_documents: dict[str, list[Document]]
) -> None:
    problems = [p for d in _linted(all_documents[stack]) for p in wildcard_violations(d)]
    assert not problems, "\n".join(problems)


def test_every_listed_wildcard_is_still_in_a_plan(
    all_documents: dict[str, list[Document]],
) -> None:
    used = {
        (name, sid)
        for docs in all_documents.values()
        for d in _linted(docs)
        for s in d.statements
        for (name, sid) in WILDCARD_ACTIONS
        if fnmatch.fnmatchcase(d.name, name) and s.get("Sid") == sid
    }
    assert set(WILDCARD_ACTIONS) - used == set()


@pytest.mark.parametrize("stack", LINTED)
def test_resource_star_grants_only_actions_that_cannot_be_scoped(
    stack: str, all_documents: dict[str, list[Document]]
) -> None:
    problems = [p for d in _linted(all_documents[stack]) for p in resource_star_violations(d)]
    assert not problems, "\n".join(problems)


def test_every_resource_star_statement_has_a_comment_naming_its_action(
    all_documents: dict[str, list[Document]],
) -> None:
    sources = _sources()
    statements = {
        (str(s.get("Sid")), tuple(_list(s.get("Action"))))
        for docs in all_documents.values()
        for d in _linted(docs)
        for s in resource_star_statements(d)
    }
    assert statements, "no Resource-'*' statement in any plan: the check would be blind"
    problems = [
        p
        for sid, actions in sorted(statements)
        for p in comment_violations(sid, list(actions), sources)
    ]
    assert not problems, "\n".join(problems)


def test_every_justification_points_at_a_comment_next_to_its_statement() -> None:
    sources = _sources()
    justifications = [
        *PARLIAMENT_ALLOWED.values(),
        *(why for _, why in WILDCARD_ACTIONS.values()),
    ]
    problems = []
    for justification in justifications:
        path, sid = _pointer(justification)
        comments = comments_near(sources.get(path, ""), sid)
        if not comments or not all(comments):
            problems.append(f"{path}: {sid}: no comment next to the statement")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", LINTED)
def test_passrole_only_for_named_roles_to_named_services(
    stack: str, all_documents: dict[str, list[Document]]
) -> None:
    docs = _linted(all_documents[stack])
    passing = [s for d in docs for s in d.statements if "iam:PassRole" in _list(s.get("Action"))]
    assert passing, "no iam:PassRole in the plan: the check would be blind"
    problems = [p for d in docs for p in passrole_violations(d)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", LINTED)
def test_trust_policies_let_one_service_assume_the_role_for_this_account(
    stack: str, all_documents: dict[str, list[Document]]
) -> None:
    trusts = [d for d in all_documents[stack] if d.kind == TRUST]
    assert trusts
    problems = [p for d in trusts for p in trust_violations(d)]
    assert not problems, "\n".join(problems)


# --- planted violations: each check fires ------------------------------------------------------


def _planted(*statements: dict[str, Any], name: str = "planted", kind: str = IDENTITY) -> Document:
    text = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return Document("planted", "aws:iam/rolePolicy:RolePolicy", name, "policy", kind, text)


def _allow(sid: str, actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


@pytest.mark.parametrize("action", ["*", "s3:*", "s3:Get*", "iam:Pass?ole"])
def test_planted_wildcard_action_is_caught(action: str) -> None:
    document = _planted(_allow("Wild", [action], ["arn:aws:s3:::bucket/*"]))
    assert wildcard_violations(document) == [
        f"planted: aws:iam/rolePolicy:RolePolicy planted.policy Sid=Wild: "
        f"wildcard actions {[action]}"
    ]


def test_planted_wildcard_in_a_listed_statement_beyond_its_listed_actions_is_caught() -> None:
    document = _planted(
        {"Sid": "DenyTlsBelow12", "Effect": "Deny", "Action": ["s3:*", "kms:*"], "Resource": "*"},
        name="lake-raw-policy",
    )
    assert len(wildcard_violations(document)) == 1


def test_planted_not_action_allow_is_caught() -> None:
    document = _planted({"Sid": "Not", "Effect": "Allow", "NotAction": "iam:Get", "Resource": "*"})
    assert any("NotAction" in p for p in wildcard_violations(document))


def test_planted_resource_star_with_an_unlisted_action_is_caught() -> None:
    document = _planted(
        _allow("ReadEverything", ["s3:GetObject", "xray:PutTraceSegments"], ["*"]),
        {"Sid": "Everywhere", "Effect": "Allow", "Action": "s3:GetObject", "NotResource": "x"},
    )
    assert resource_star_violations(document) == [
        "planted: aws:iam/rolePolicy:RolePolicy planted.policy Sid=Everywhere: "
        "Allow with NotResource",
        "planted: aws:iam/rolePolicy:RolePolicy planted.policy Sid=ReadEverything: "
        "['s3:GetObject'] on Resource \"*\"",
    ]


def test_planted_parliament_findings_are_seen_and_not_excused() -> None:
    document = _planted(
        _allow("MintKeys", ["iam:CreateAccessKey"], ["*"]),
        _allow("WrongResource", ["s3:GetObject"], ["arn:aws:s3:::bucket"]),
        # The Sid of an accepted finding, in a policy the allow-list does not name.
        _allow("LogInToRegistries", ["ecr:GetAuthorizationToken"], ["*"]),
    )
    found = {(f.sid, f.issue) for f in unexplained(parliament_findings(document))}
    assert {
        ("MintKeys", "CREDENTIALS_EXPOSURE"),
        ("WrongResource", "RESOURCE_MISMATCH"),
        ("LogInToRegistries", "CREDENTIALS_EXPOSURE"),
    } <= found


def test_planted_cross_statement_finding_is_attributed_to_the_document() -> None:
    document = _planted(_allow("A", ["s3:GetObject"], ["*"]), _allow("A", ["s3:PutObject"], ["*"]))
    assert ("*", "DUPLICATE_SID") in {(f.sid, f.issue) for f in parliament_findings(document)}


@pytest.mark.parametrize(
    ("resources", "condition"),
    [
        (["*"], {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
        (["arn:aws:iam::123456789012:role/*"], {"StringEquals": {"iam:PassedToService": "x"}}),
        (["arn:aws:iam::123456789012:role/training"], {}),
        (
            ["arn:aws:iam::123456789012:role/training"],
            {"StringLike": {"iam:PassedToService": "*.amazonaws.com"}},
        ),
        (
            ["arn:aws:iam::123456789012:role/training"],
            {"StringEquals": {"iam:PassedToService": "*"}},
        ),
    ],
)
def test_planted_passrole_without_named_role_or_service_is_caught(
    resources: list[str], condition: dict[str, Any]
) -> None:
    document = _planted(_allow("Pass", ["iam:PassRole"], resources, Condition=condition))
    assert passrole_violations(document)


def test_planted_passrole_through_a_wildcard_is_caught() -> None:
    document = _planted(_allow("Pass", ["iam:Pass*"], ["*"]))
    assert passrole_violations(document)


def test_named_passrole_to_a_named_service_passes() -> None:
    document = _planted(
        _allow(
            "Pass",
            ["iam:PassRole"],
            ["arn:aws:iam::123456789012:role/training"],
            Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
    assert passrole_violations(document) == []


@pytest.mark.parametrize(
    "statement",
    [
        {"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
        {
            "Sid": "S",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        },
        {
            "Sid": "S",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        },
        {
            "Sid": "S",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        },
    ],
)
def test_planted_trust_violation_is_caught(statement: dict[str, Any]) -> None:
    assert trust_violations(_planted(statement, kind=TRUST))


def test_planted_missing_comment_is_caught() -> None:
    source = (
        "def policy():\n"
        "    return [\n"
        '        iam.allow("Named", ["s3:GetObject"], ["arn:aws:s3:::b/*"]),\n'
        '        iam.allow("Bare", ["xray:PutTraceSegments"], ["*"]),\n'
        "        # xray:PutTelemetryRecords takes no resource.\n"
        '        iam.allow("Commented", ["xray:PutTelemetryRecords"], ["*"]),\n'
        "    ]\n"
    )
    # The comment above `Commented` is also within `Bare`'s window below: a comment must name
    # `Bare`'s own action to count for it.
    sources = {"components/planted.py": source}
    assert comment_violations("Bare", ["xray:PutTraceSegments"], sources) == [
        "components/planted.py: Bare: no comment naming one of ['xray:PutTraceSegments']"
    ]
    assert comment_violations("Commented", ["xray:PutTelemetryRecords"], sources) == []
    assert comment_violations("Missing", ["xray:PutTelemetryRecords"], sources) == [
        "Missing: not found in components/"
    ]


def test_planted_policy_document_in_an_unknown_input_is_an_error() -> None:
    from planner.mocks import Registration

    text = json.dumps({"Version": "2012-10-17", "Statement": []})
    registration = Registration(
        urn="urn",
        type="aws:iam/role:Role",
        name="r",
        custom=True,
        parent="",
        provider="",
        inputs={"inlinePolicies": [{"policy": text}]},
        protect=False,
        retain_on_delete=False,
        delete_before_replace=False,
        ignore_changes=[],
        replace_on_changes=[],
        aliases=[],
        dependencies=[],
        property_dependencies={},
        additional_secret_outputs=[],
        deleted_with="",
    )
    plan = Plan("planted", [registration], {}, 0.0, "123456789012", "us-east-1")
    with pytest.raises(AssertionError, match=r"inlinePolicies\[0\]\.policy"):
        documents(plan)


def test_pending_comments_are_only_in_files_this_change_may_not_edit() -> None:
    assert {path for path, _ in PENDING_COMMENTS} <= {"components/quality.py"}
    assert all(Path(PROJECT_DIR, path).exists() for path, _ in PENDING_COMMENTS)
