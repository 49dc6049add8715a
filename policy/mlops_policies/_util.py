"""Small helpers shared by the policies.

Props reach a policy in two shapes: plain dicts and lists (the offline plan), or CrossGuard's
read-only proxies (the CLI's analyzer), which are `Mapping`/`Sequence` but not `dict`/`list` and
raise `UnknownValueError` when a value is not known during a preview. The helpers here test for
the abstract types and say explicitly where an unknown value is tolerated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyProviderResource,
    PolicyResource,
    ResourceValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

PRODUCTION_ENVIRONMENTS = ("prod",)
"""Environment tag values treated as production (policy config `productionEnvironments`)."""

PRODUCTION_SCHEMA = PolicyConfigSchema(
    properties={
        "productionEnvironments": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(PRODUCTION_ENVIRONMENTS),
        }
    }
)
"""Config of the policies that treat production differently (`is_production`)."""


class _Tagged(Protocol):
    """A resource as a policy sees it: `ResourceValidationArgs` or a stack's `PolicyResource`."""

    @property
    def props(self) -> Mapping[str, Any]: ...

    @property
    def provider(self) -> PolicyProviderResource | None: ...


def json_value(value: Any) -> Any:
    """Providers' object inputs reach policies as JSON text; parse them, pass others through."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def as_list(value: Any) -> list[Any]:
    """A JSON-ish value as a list: None is empty, a scalar (or a string) is one item."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is an object (also given as JSON text), else an empty mapping."""
    value = json_value(value)
    return value if isinstance(value, Mapping) else {}


def known(props: Mapping[str, Any], key: str) -> Any:
    """`props[key]`, or None when it is absent or not known yet (during a preview).

    Only for values a policy uses to *find* things (names that link resources); a value that is
    checked against a control is read normally, so an unknown one stops the policy and the CLI
    reports that it could not run during the preview instead of passing silently.
    """
    try:
        return props.get(key)
    except UnknownValueError:
        return None


def is_set(props: Mapping[str, Any], key: str) -> bool:
    """Whether `props[key]` is given and not empty. A value computed from another resource's
    output (unknown during a preview) counts as given: it is wired to something."""
    try:
        value = props.get(key)
    except UnknownValueError:
        return True
    if isinstance(value, str | Mapping | Sequence):
        return len(value) > 0
    return value is not None


def provider_default_tags(args: _Tagged) -> dict[str, str]:
    """The default tags of the resource's provider (empty when none)."""
    if args.provider is None:
        return {}
    default_tags = json_value(args.provider.props.get("defaultTags"))
    if isinstance(default_tags, Mapping):
        tags = default_tags.get("tags")
        if isinstance(tags, Mapping):
            return {str(k): str(v) for k, v in tags.items()}
    return {}


def own_tags(args: _Tagged) -> dict[str, str]:
    """The resource's own `tags` input."""
    own = args.props.get("tags")
    if isinstance(own, Mapping):
        return {str(k): str(v) for k, v in own.items()}
    return {}


def effective_tags(args: _Tagged) -> dict[str, str]:
    """Provider default tags overlaid with the resource's own tags, as AWS would apply them."""
    return {**provider_default_tags(args), **own_tags(args)}


def _production(tags: Mapping[str, str], config: Mapping[str, Any]) -> bool:
    configured = config.get("productionEnvironments", PRODUCTION_ENVIRONMENTS)
    return tags.get("Environment") in tuple(configured)


def is_production(args: ResourceValidationArgs) -> bool:
    return _production(effective_tags(args), args.get_config())


def resource_is_production(resource: PolicyResource, config: Mapping[str, Any]) -> bool:
    """`is_production` for a resource of a stack policy (`config` is the policy's config)."""
    return _production(effective_tags(resource), config)


def allowed_account_ids(provider: PolicyProviderResource | None) -> list[str]:
    """The accounts the resource's AWS provider is pinned to (`allowedAccountIds`)."""
    if provider is None:
        return []
    return [str(a) for a in as_list(json_value(provider.props.get("allowedAccountIds")))]


# ---- resource policies (bucket, topic, queue policies) ----------------------------------------


def policy_statements(document: Any) -> list[Mapping[str, Any]] | None:
    """The statements of an IAM policy document given as JSON text or an object; None when
    `document` is not a policy document with a Statement."""
    document = json_value(document)
    if not isinstance(document, Mapping) or "Statement" not in document:
        return None
    statements = as_list(document["Statement"])
    if not all(isinstance(s, Mapping) for s in statements):
        return None
    return statements


def statement_label(index: int, statement: Mapping[str, Any]) -> str:
    """How a message names a statement: its position and its Sid."""
    return f"statement {index} ({statement.get('Sid') or 'no Sid'})"


def principals(statement: Mapping[str, Any]) -> dict[str, list[str]]:
    """A statement's Principal by kind (`AWS`, `Service`, ...); the bare "*" is kind `*`."""
    principal = statement.get("Principal")
    if principal is None:
        return {}
    if isinstance(principal, str):
        return {"*": [principal]} if principal == "*" else {"AWS": [principal]}
    if isinstance(principal, Mapping):
        return {str(kind): [str(v) for v in as_list(values)] for kind, values in principal.items()}
    return {"?": [str(principal)]}


def is_public(found: Mapping[str, list[str]]) -> bool:
    """Whether a principal map grants everyone (`"*"` or `{"AWS": "*"}`)."""
    return "*" in found or "*" in found.get("AWS", [])


# An account-scoped principal: the account root, a role, user or session of one account.
_ACCOUNT_ARN = re.compile(r"^arn:[a-z0-9-]+:(?:iam|sts)::(\d{12}):")
_ACCOUNT_ID = re.compile(r"^\d{12}$")

# The condition keys that tie a service principal to requests made on behalf of one resource
# or account (the "confused deputy" guard), and the operators that actually restrict with them:
# negated operators and `...IfExists` would let a request without the key through.
_SOURCE_KEYS = ("aws:sourcearn", "aws:sourceaccount")
_RESTRICTING_OPERATORS = ("stringequals", "stringlike", "arnequals", "arnlike")


def restricting_conditions(
    statement: Mapping[str, Any], wanted: Callable[[str], bool]
) -> dict[str, list[str]]:
    """The concrete values a statement's Condition requires for the keys `wanted` accepts
    (given the lower-cased key), by lower-cased key. Only positive operators count (see
    `_RESTRICTING_OPERATORS`, also under `ForAnyValue:`/`ForAllValues:`), and a value of "" or
    "*" restricts nothing."""
    found: dict[str, list[str]] = {}
    for operator, block in mapping(statement.get("Condition")).items():
        base = str(operator).lower().split(":")[-1]
        if base not in _RESTRICTING_OPERATORS or not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            if wanted(str(key).lower()):
                concrete = [str(v) for v in as_list(values) if str(v) not in ("", "*")]
                if concrete:
                    found.setdefault(str(key).lower(), []).extend(concrete)
    return found


def source_conditions(statement: Mapping[str, Any]) -> dict[str, list[str]]:
    """Restricting values of aws:SourceArn / aws:SourceAccount in a statement's Condition."""
    return restricting_conditions(statement, lambda key: key in _SOURCE_KEYS)


def foreign_source_accounts(
    sources: Mapping[str, list[str]], own_accounts: Collection[str]
) -> list[str]:
    """The aws:SourceAccount values (from `source_conditions`) outside `own_accounts`; none
    when the stack's accounts are not known."""
    return [
        a
        for a in sources.get("aws:sourceaccount", [])
        if own_accounts and _ACCOUNT_ID.match(a) and a not in own_accounts
    ]


def principal_account(principal: str) -> str | None:
    """The account of an account-scoped AWS principal (ARN or bare account id)."""
    if _ACCOUNT_ID.match(principal):
        return principal
    match = _ACCOUNT_ARN.match(principal)
    return match.group(1) if match else None


def allow_statement_problems(
    document: Any, *, own_accounts: Collection[str], account_principals: bool
) -> list[str]:
    """Why a resource policy's Allow statements grant the public or another account access.

    An Allow may name an AWS service principal only together with an aws:SourceArn or
    aws:SourceAccount condition (an aws:SourceAccount value must be one of `own_accounts` when
    those are known). With `account_principals`, an AWS principal is accepted when its account
    is one of `own_accounts` (the provider's allowedAccountIds); an unpinned stack cannot show
    that, so its AWS principals are rejected. Without it, no AWS principal is accepted. Deny
    statements are not judged here. Returns one message per problem; empty means compliant.
    """
    statements = policy_statements(document)
    if statements is None:
        return ["the policy is not a JSON policy document with a Statement list."]
    problems: list[str] = []
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        label = statement_label(index, statement)
        if "NotPrincipal" in statement:
            problems.append(f"{label} allows with NotPrincipal, which grants everyone not listed.")
            continue
        found = principals(statement)
        if not found:
            problems.append(f"{label} allows without a Principal.")
            continue
        if is_public(found):
            problems.append(f'{label} allows the public principal "*".')
            continue
        sources = source_conditions(statement)
        for kind, values in sorted(found.items()):
            if kind == "Service":
                if not sources:
                    problems.append(
                        f"{label} allows service principal(s) {values} without an "
                        "aws:SourceArn or aws:SourceAccount condition."
                    )
            elif kind == "AWS":
                problems.extend(
                    account_principal_problems(label, values, own_accounts, account_principals)
                )
            else:
                problems.append(f"{label} allows {kind} principal(s) {values}.")
        foreign = foreign_source_accounts(sources, own_accounts)
        if foreign:
            problems.append(
                f"{label} limits aws:SourceAccount to {foreign}, outside this stack's accounts "
                f"{sorted(own_accounts)}."
            )
    return problems


def account_principal_problems(
    label: str, values: list[str], own_accounts: Collection[str], account_principals: bool
) -> list[str]:
    if not account_principals:
        return [
            f"{label} allows AWS principal(s) {values}; only AWS service principals limited "
            "by aws:SourceArn or aws:SourceAccount may be granted."
        ]
    if not own_accounts:
        return [
            f"{label} allows AWS principal(s) {values}, but the provider pins no "
            "allowedAccountIds, so they cannot be shown to be this account's."
        ]
    foreign = [v for v in values if principal_account(v) not in own_accounts]
    if foreign:
        return [
            f"{label} allows AWS principal(s) {foreign} outside this stack's accounts "
            f"{sorted(own_accounts)}."
        ]
    return []


def is_aws_managed_key(key_id: Any) -> bool:
    """Whether a KMS key reference names an AWS-managed key (`alias/aws/<service>`), which
    the platform's key policy does not govern."""
    return isinstance(key_id, str) and "alias/aws/" in key_id


def customer_key_problem(props: Mapping[str, Any], key: str, what: str) -> str | None:
    """Why `props[key]` does not name a customer-managed KMS key (unset, or an AWS-managed
    `alias/aws/...` key whose policy the platform does not govern); None when it does."""
    if not is_set(props, key):
        return f"{what} sets no {key}; encrypt it with the platform's customer-managed key."
    value = known(props, key)
    if is_aws_managed_key(value):
        return (
            f"{what} {key} {value!r} is an AWS-managed key; use the platform's "
            "customer-managed key, whose policy the platform controls."
        )
    return None


def number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


RETRY_ATTEMPTS = (0, 185)
"""What EventBridge and Scheduler accept for a target's maximumRetryAttempts."""
EVENT_AGE_SECONDS = (60, 86_400)
"""What they accept for maximumEventAgeInSeconds."""


def retry_policy_problems(retry: Mapping[str, Any], subject: str) -> list[str]:
    """What is wrong with an EventBridge or Scheduler target's explicit retry policy."""
    if not retry:
        return [
            f"{subject} sets no retryPolicy; set maximumRetryAttempts and "
            "maximumEventAgeInSeconds explicitly (the default retries for 24 hours)."
        ]
    problems: list[str] = []
    for field, (low, high) in (
        ("maximumRetryAttempts", RETRY_ATTEMPTS),
        ("maximumEventAgeInSeconds", EVENT_AGE_SECONDS),
    ):
        raw = retry.get(field)
        value = number(raw)
        if raw is None:
            problems.append(
                f"{subject} sets no retryPolicy.{field}; set it explicitly ({low} to {high})."
            )
        elif value is None or not low <= value <= high:
            problems.append(f"{subject} retryPolicy.{field} is {raw!r}; {low} to {high} accepted.")
    return problems


# ---- stack policies: linking a resource to the one it configures ------------------------------


class Linker:
    """Finds which of `targets` a resource's input refers to: through the property
    dependencies of that input (which a preview knows even when the value is not), failing that
    through an equal known name; `names` gives the names a target may be referred to by."""

    def __init__(
        self, targets: Iterable[PolicyResource], names: Callable[[PolicyResource], Iterable[str]]
    ) -> None:
        self.targets = list(targets)
        self._by_urn = {t.urn: t for t in self.targets}
        self._by_name: dict[str, PolicyResource] = {}
        for target in self.targets:
            for name in names(target):
                self._by_name.setdefault(name, target)

    def find(
        self, resource: PolicyResource, prop: str, name: str | None = None
    ) -> PolicyResource | None:
        """The target `resource.props[prop]` refers to; `name` overrides the value compared
        with the targets' names (for a nested or normalised value)."""
        for dependency in resource.property_dependencies.get(prop, []):
            if dependency.urn in self._by_urn:
                return self._by_urn[dependency.urn]
        if name is None:
            value = known(resource.props, prop)
            name = value if isinstance(value, str) else None
        return self.named(name)

    def named(self, name: str | None) -> PolicyResource | None:
        """The target known by `name`, if any."""
        return self._by_name.get(name) if name else None
