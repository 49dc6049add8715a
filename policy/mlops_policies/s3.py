"""S3 controls for the data-lake buckets, as stack policies.

A bucket's settings live in separate companion resources (public access block, ownership
controls, policy, encryption, versioning, lifecycle, logging, Object Lock), so a control can only
be judged by looking at the bucket together with its companions: each policy checks that every
bucket has exactly one correct companion of its kind. A violation names the bucket's URN when the
companion is missing, and the companion's URN when the companion itself is wrong.

A companion is linked to its bucket through the property dependencies of its `bucket` input
(in a real preview an auto-generated bucket name is not known yet, but the dependency is), and,
failing that, by an equal known bucket name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._util import (
    PRODUCTION_SCHEMA,
    allow_statement_problems,
    allowed_account_ids,
    as_list,
    is_aws_managed_key,
    is_set,
    known,
    mapping,
    own_tags,
    policy_statements,
    principals,
    resource_is_production,
)

# The platform registers the v7 types; the deprecated `...V2` names are the same resources.
BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
OWNERSHIP_CONTROLS = ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",)
BUCKET_ACL = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2",
)
LIFECYCLE = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
OBJECT_LOCK = (
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
)

ROLE_TAG = "mlops:bucket-role"
ROLES = ("raw", "curated", "features", "model-artifacts", "capture", "reports", "access-logs")
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")

_BUCKET_ARN = re.compile(r"^arn:[a-z0-9-]+:s3:::([^/]+)(/\*)?$")


class _Lake:
    """The stack's buckets and their companions."""

    def __init__(self, resources: Iterable[PolicyResource]) -> None:
        self.resources = list(resources)
        self.buckets = [r for r in self.resources if r.resource_type in BUCKET]
        self._by_urn = {b.urn: b for b in self.buckets}
        self._by_name: dict[str, PolicyResource] = {}
        for bucket in self.buckets:
            name = known(bucket.props, "bucket")
            if isinstance(name, str) and name:
                self._by_name[name] = bucket
        self.log_targets = {
            target.urn
            for logging in self.of_type(LOGGING)
            if (target := self.linked(logging, "targetBucket")) is not None
        }

    def of_type(self, types: tuple[str, ...]) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type in types]

    def linked(self, resource: PolicyResource, prop: str = "bucket") -> PolicyResource | None:
        """The stack's bucket that `resource`'s `prop` input names, if any."""
        for dependency in resource.property_dependencies.get(prop, []):
            if dependency.urn in self._by_urn:
                return self._by_urn[dependency.urn]
        name = known(resource.props, prop)
        return self._by_name.get(name) if isinstance(name, str) else None

    def companions(self, bucket: PolicyResource, types: tuple[str, ...]) -> list[PolicyResource]:
        return [r for r in self.of_type(types) if self.linked(r) is bucket]

    def companion(
        self,
        bucket: PolicyResource,
        types: tuple[str, ...],
        needed: str,
        report: ReportViolation,
    ) -> PolicyResource | None:
        """The bucket's one companion of `types`; reports when there is none or several."""
        found = self.companions(bucket, types)
        kind = types[0].rsplit(":", 1)[-1]
        if not found:
            report(f"S3 bucket {bucket.name!r} has no {kind}; {needed}", bucket.urn)
            return None
        if len(found) > 1:
            names = sorted(r.name for r in found)
            report(
                f"S3 bucket {bucket.name!r} has {len(found)} {kind} resources {names}; AWS keeps "
                "one per bucket, so they would overwrite each other.",
                bucket.urn,
            )
        return found[0]

    def bucket_name(self, bucket: PolicyResource, companion: PolicyResource) -> str | None:
        """The bucket's physical name: its own input, else the name its companion was given."""
        for props in (bucket.props, companion.props):
            name = known(props, "bucket")
            if isinstance(name, str) and name:
                return name
        return None


def _lake(args: StackValidationArgs) -> _Lake:
    lake = _Lake(args.resources)
    if not lake.buckets:
        args.not_applicable("the stack has no S3 buckets")
    return lake


def _inline(bucket: PolicyResource, prop: str, resource: str, report: ReportViolation) -> None:
    """Reject a deprecated inline bucket argument that a companion resource replaces."""
    if is_set(bucket.props, prop):
        report(
            f"S3 bucket {bucket.name!r} sets the deprecated inline `{prop}`; configure it with "
            f"a {resource} instead (the two would overwrite each other).",
            bucket.urn,
        )


def _role(bucket: PolicyResource) -> str | None:
    return own_tags(bucket).get(ROLE_TAG)


# ---- policies --------------------------------------------------------------------------------


def _bucket_role(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in _lake(args).buckets:
        role = _role(bucket)
        if role not in ROLES:
            report(
                f"S3 bucket {bucket.name!r} has {ROLE_TAG} tag {role!r}; one of {list(ROLES)} "
                "is required (the S3 controls depend on it).",
                bucket.urn,
            )


def _public_access_block(args: StackValidationArgs, report: ReportViolation) -> None:
    lake = _lake(args)
    for bucket in lake.buckets:
        block = lake.companion(
            bucket, PUBLIC_ACCESS_BLOCK, "add one with all four flags true.", report
        )
        if block is None:
            continue
        off = [flag for flag in PUBLIC_ACCESS_FLAGS if block.props.get(flag) is not True]
        if off:
            report(
                f"public access block of S3 bucket {bucket.name!r} does not set {off} to true.",
                block.urn,
            )


def _acls_disabled(args: StackValidationArgs, report: ReportViolation) -> None:
    lake = _lake(args)
    for bucket in lake.buckets:
        for prop in ("acl", "grants"):
            if is_set(bucket.props, prop):
                report(
                    f"S3 bucket {bucket.name!r} sets `{prop}`; ACLs stay disabled "
                    "(BucketOwnerEnforced) and access is granted by the bucket policy.",
                    bucket.urn,
                )
        controls = lake.companion(
            bucket,
            OWNERSHIP_CONTROLS,
            'add one with rule {"objectOwnership": "BucketOwnerEnforced"}.',
            report,
        )
        if controls is not None:
            ownership = mapping(controls.props.get("rule")).get("objectOwnership")
            if ownership != "BucketOwnerEnforced":
                report(
                    f"ownership controls of S3 bucket {bucket.name!r} set objectOwnership "
                    f"{ownership!r}; BucketOwnerEnforced disables ACLs.",
                    controls.urn,
                )
    for acl in lake.of_type(BUCKET_ACL):
        report(
            f"{acl.resource_type.rsplit(':', 1)[-1]} {acl.name!r} sets an S3 ACL; ACLs stay "
            "disabled (BucketOwnerEnforced).",
            acl.urn,
        )


def _statement_covers(statement: Mapping[str, Any], name: str | None) -> bool:
    """Whether a statement's Resource holds both the bucket ARN and its objects' ARN."""
    buckets: set[str] = set()
    objects: set[str] = set()
    for resource in as_list(statement.get("Resource")):
        match = _BUCKET_ARN.match(str(resource))
        if match:
            (objects if match.group(2) else buckets).add(match.group(1))
    both = buckets & objects
    return name in both if name is not None else bool(both)


def _denies_plain_http(statement: Mapping[str, Any], name: str | None) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    found = principals(statement)
    if found not in ({"*": ["*"]}, {"AWS": ["*"]}):
        return False
    if "s3:*" not in as_list(statement.get("Action")):
        return False
    if not _statement_covers(statement, name):
        return False
    condition = mapping(mapping(statement.get("Condition")).get("Bool"))
    # Condition keys are case-insensitive in IAM; the value may be the string or the boolean.
    values = [
        str(v).lower()
        for key, value in condition.items()
        if str(key).lower() == "aws:securetransport"
        for v in as_list(value)
    ]
    return values == ["false"]


def _tls_only_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    lake = _lake(args)
    for bucket in lake.buckets:
        _inline(bucket, "policy", "BucketPolicy", report)
        policy = lake.companion(
            bucket,
            BUCKET_POLICY,
            "add one that denies requests without TLS (aws:SecureTransport false).",
            report,
        )
        if policy is None:
            continue
        statements = policy_statements(policy.props.get("policy")) or []
        name = lake.bucket_name(bucket, policy)
        if not any(_denies_plain_http(s, name) for s in statements):
            report(
                f'policy of S3 bucket {bucket.name!r} has no statement denying s3:* to "*" on '
                "the bucket and its objects when aws:SecureTransport is false (SH S3.5).",
                policy.urn,
            )
    # Every bucket policy of the stack, linked to a known bucket or not, grants nothing to the
    # public or to other accounts (SH S3.6).
    for policy in lake.of_type(BUCKET_POLICY):
        for problem in allow_statement_problems(
            policy.props.get("policy"),
            own_accounts=allowed_account_ids(policy.provider),
            account_principals=False,
        ):
            report(f"bucket policy {policy.name!r}: {problem} (SH S3.6)", policy.urn)


def _kms_encryption(args: StackValidationArgs, report: ReportViolation) -> None:
    lake = _lake(args)
    for bucket in lake.buckets:
        _inline(
            bucket,
            "serverSideEncryptionConfiguration",
            "BucketServerSideEncryptionConfiguration",
            report,
        )
        log_target = bucket.urn in lake.log_targets
        config = lake.companion(
            bucket,
            ENCRYPTION,
            "add one with sseAlgorithm AES256 (it receives server access logs)."
            if log_target
            else "add one with sseAlgorithm aws:kms and the platform key.",
            report,
        )
        if config is None:
            continue
        rules = [mapping(r) for r in as_list(config.props.get("rules"))]
        if not rules:
            report(f"encryption of S3 bucket {bucket.name!r} has no rules.", config.urn)
        for rule in rules:
            default = mapping(rule.get("applyServerSideEncryptionByDefault"))
            algorithm = default.get("sseAlgorithm")
            if log_target:
                # S3 server access logging cannot write to a bucket whose default encryption
                # is SSE-KMS (the logging service has no grant on the key), so the log bucket
                # is the one bucket that keeps SSE-S3.
                if algorithm != "AES256":
                    report(
                        f"S3 bucket {bucket.name!r} receives server access logs, so it must "
                        f"use sseAlgorithm AES256, not {algorithm!r}: S3 access logging cannot "
                        "deliver to a bucket encrypted with SSE-KMS by default.",
                        config.urn,
                    )
                continue
            if algorithm not in KMS_ALGORITHMS:
                report(
                    f"S3 bucket {bucket.name!r} uses sseAlgorithm {algorithm!r}; aws:kms with "
                    "the platform key is required (SH S3.17).",
                    config.urn,
                )
            elif not is_set(default, "kmsMasterKeyId") or is_aws_managed_key(
                default.get("kmsMasterKeyId")
            ):
                report(
                    f"S3 bucket {bucket.name!r} encrypts with aws:kms but no customer-managed "
                    "kmsMasterKeyId; set the platform key's ARN (SH S3.17).",
                    config.urn,
                )
            if algorithm in KMS_ALGORITHMS and rule.get("bucketKeyEnabled") is not True:
                # Without a bucket key every object request calls KMS: cost and throttling.
                report(
                    f"S3 bucket {bucket.name!r} encrypts with aws:kms without "
                    "bucketKeyEnabled: true.",
                    config.urn,
                )


def _versioning(args: StackValidationArgs, report: ReportViolation) -> None:
    lake = _lake(args)
    for bucket in lake.buckets:
        _inline(bucket, "versioning", "BucketVersioning", report)
        versioning = lake.companion(
            bucket, VERSIONING, 'add one with versioningConfiguration status "Enabled".', report
        )
        if versioning is None:
            continue
        status = mapping(versioning.props.get("versioningConfiguration")).get("status")
        if status != "Enabled":
            report(
                f"versioning of S3 bucket {bucket.name!r} has status {status!r}; "
                '"Enabled" is required (SH S3.14).',
                versioning.urn,
            )


def _whole_bucket(rule: Mapping[str, Any]) -> bool:
    """Whether a lifecycle rule applies to every object (no prefix, tag or size filter)."""
    if rule.get("prefix"):
        return False
    if "filter" not in rule or rule.get("filter") is None:
        return True
    return all(
        value in (None, "") if key == "prefix" else value is None
        for key, value in mapping(rule.get("filter")).items()
    )


def _aborts_uploads(rule: Mapping[str, Any]) -> bool:
    days = mapping(rule.get("abortIncompleteMultipartUpload")).get("daysAfterInitiation")
    return (
        rule.get("status") == "Enabled"
        and isinstance(days, int | float)
        and not isinstance(days, bool)
        and days >= 1
        and _whole_bucket(rule)
    )


def _lifecycle(args: StackValidationArgs, report: ReportViolation) -> None:
    lake = _lake(args)
    for bucket in lake.buckets:
        _inline(bucket, "lifecycleRules", "BucketLifecycleConfiguration", report)
        lifecycle = lake.companion(
            bucket,
            LIFECYCLE,
            "add one that aborts incomplete multipart uploads (SH S3.13).",
            report,
        )
        if lifecycle is None:
            continue
        rules = [mapping(r) for r in as_list(lifecycle.props.get("rules"))]
        if not any(_aborts_uploads(rule) for rule in rules):
            report(
                f"lifecycle of S3 bucket {bucket.name!r} has no enabled whole-bucket rule with "
                "abortIncompleteMultipartUpload.daysAfterInitiation (SH S3.13).",
                lifecycle.urn,
            )


def _access_logging(args: StackValidationArgs, report: ReportViolation) -> None:
    lake = _lake(args)
    for logging in lake.of_type(LOGGING):
        source, target = lake.linked(logging), lake.linked(logging, "targetBucket")
        if source is not None and source is target:
            report(
                f"S3 bucket {source.name!r} delivers access logs to itself; every delivery "
                "would log again.",
                logging.urn,
            )
        elif target is not None and _role(target) not in (None, "access-logs"):
            report(
                f"access logs of bucket logging {logging.name!r} go to bucket {target.name!r} "
                f"(role {_role(target)!r}); deliver them to the access-logs bucket.",
                logging.urn,
            )
    for bucket in lake.buckets:
        _inline(bucket, "logging", "BucketLogging", report)
        if bucket.urn in lake.log_targets:
            # The bucket receiving the access logs does not log to itself (a loop) and there
            # is no further log bucket; reading it is visible in CloudTrail instead.
            continue
        own = lake.companion(
            bucket, LOGGING, "add one delivering to the access-logs bucket (SH S3.9).", report
        )
        if own is not None and not is_set(own.props, "targetBucket"):
            report(f"bucket logging of S3 bucket {bucket.name!r} has no targetBucket.", own.urn)


def _lock_rule_problem(config: PolicyResource) -> str | None:
    retention = mapping(mapping(config.props.get("rule")).get("defaultRetention"))
    mode = retention.get("mode")
    if mode not in LOCK_MODES:
        return f"default retention mode {mode!r}; GOVERNANCE (or COMPLIANCE) is required."
    periods = [retention.get(unit) for unit in ("days", "years")]
    if not any(isinstance(p, int | float) and not isinstance(p, bool) and p > 0 for p in periods):
        return "no positive default retention in days or years."
    return None


def _object_lock(args: StackValidationArgs, report: ReportViolation) -> None:
    lake = _lake(args)
    config = args.get_config()
    required = [
        b
        for b in lake.buckets
        if _role(b) == "model-artifacts" and resource_is_production(b, config)
    ]
    configs = lake.of_type(OBJECT_LOCK)
    if not required and not configs:
        args.not_applicable(
            "no production model-artifacts bucket and no Object Lock configuration in the stack"
        )
    for bucket in lake.buckets:
        _inline(bucket, "objectLockConfiguration", "BucketObjectLockConfiguration", report)
    for bucket in required:
        if bucket.props.get("objectLockEnabled") is not True:
            report(
                f"production model-artifacts bucket {bucket.name!r} must be created with "
                "objectLockEnabled: true (SH S3.15).",
                bucket.urn,
            )
        lake.companion(
            bucket,
            OBJECT_LOCK,
            "add one with a GOVERNANCE default retention (SH S3.15).",
            report,
        )
    for lock in configs:
        problem = _lock_rule_problem(lock)
        if problem is not None:
            report(f"Object Lock configuration {lock.name!r} has {problem}", lock.urn)


def _policy(
    name: str,
    description: str,
    validate: Callable[[StackValidationArgs, ReportViolation], None],
    config_schema: PolicyConfigSchema | None = None,
) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
    )


S3_POLICIES = (
    _policy(
        "s3-bucket-role",
        f"Every S3 bucket declares its role in the {ROLE_TAG} tag.",
        _bucket_role,
    ),
    _policy(
        "s3-public-access-block",
        "Every S3 bucket blocks all public access (SH S3.1/S3.8, CKV_AWS_53..56).",
        _public_access_block,
    ),
    _policy(
        "s3-acls-disabled",
        "S3 ACLs are disabled: BucketOwnerEnforced, no acl or grants (SH S3.12).",
        _acls_disabled,
    ),
    _policy(
        "s3-tls-only-policy",
        "Every S3 bucket policy denies plain HTTP and grants nothing to the public or other "
        "accounts (SH S3.5, S3.6).",
        _tls_only_policy,
    ),
    _policy(
        "s3-kms-encryption",
        "S3 buckets default to SSE-KMS with a customer-managed key; the access-log bucket to "
        "SSE-S3 (SH S3.17, CKV_AWS_145).",
        _kms_encryption,
    ),
    _policy("s3-versioning", "Every S3 bucket is versioned (SH S3.14).", _versioning),
    _policy(
        "s3-lifecycle",
        "Every S3 bucket aborts incomplete multipart uploads (SH S3.13).",
        _lifecycle,
    ),
    _policy(
        "s3-access-logging",
        "Every S3 bucket but the log bucket logs server access to the log bucket (SH S3.9).",
        _access_logging,
    ),
    _policy(
        "s3-object-lock",
        "The production model-artifacts bucket has Object Lock with a default retention "
        "(SH S3.15).",
        _object_lock,
        PRODUCTION_SCHEMA,
    ),
)
