"""The S3 stack policies over a hand-built data lake: the compliant lake passes every policy,
and each broken control is reported by its policy, on the bucket when a companion is missing and
on the companion when the companion is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from planner.mocks import Registration
from planner.policies import evaluate
from policy.mlops_policies.s3 import S3_POLICIES
from tests.policy.test_policies import TAGS, provider, record

STACK_URN = "urn:pulumi:prod::mlops-platform::pulumi:pulumi:Stack::mlops-platform-prod"
ACCOUNT = "111111111111"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"

Lake = dict[str, Registration]


def _tls_deny(name: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _log_delivery(name: str) -> dict[str, Any]:
    return {
        "Sid": "S3ServerAccessLogs",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{name}/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _companion(type_: str, name: str, bucket: Registration, inputs: dict[str, Any]) -> Registration:
    physical = f"mlops-prod-{bucket.name}-0a1b2c3"
    return record(
        type_,
        name,
        {"bucket": physical, **inputs},
        parent=bucket.urn,
        dependencies=[bucket.urn],
        property_dependencies={"bucket": [bucket.urn]},
    )


def _bucket(role: str, lake: Lake, logs: Registration | None, **inputs: Any) -> None:
    name = role
    bucket = record(
        BUCKET,
        name,
        {"bucketPrefix": f"mlops-prod-{name}-", "forceDestroy": False, **inputs},
    )
    bucket.inputs["tags"] = {"mlops:bucket-role": role}
    physical = f"mlops-prod-{name}-0a1b2c3"
    lake[name] = bucket
    statements = [_tls_deny(physical)]
    if logs is None:
        statements.append(_log_delivery(physical))
    algorithm: dict[str, Any] = (
        {"sseAlgorithm": "AES256"}
        if logs is None
        else {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}
    )
    companions: dict[str, tuple[str, dict[str, Any]]] = {
        "pab": (PAB, dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                    "restrictPublicBuckets"), True)),
        "ownership": (OWNERSHIP, {"rule": {"objectOwnership": "BucketOwnerEnforced"}}),
        "policy": (POLICY, {"policy": _document(*statements)}),
        "sse": (SSE, {"rules": [{"applyServerSideEncryptionByDefault": algorithm,
                                 "bucketKeyEnabled": True}]}),
        "versioning": (VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}),
        "lifecycle": (LIFECYCLE, {"rules": [
            {"id": "expire-noncurrent", "status": "Enabled", "filter": {"prefix": "tmp/"},
             "noncurrentVersionExpiration": {"noncurrentDays": 30}},
            {"id": "abort-uploads", "status": "Enabled", "filter": {},
             "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}},
        ]}),
    }  # fmt: skip
    for suffix, (type_, companion_inputs) in companions.items():
        lake[f"{name}-{suffix}"] = _companion(type_, f"{name}-{suffix}", bucket, companion_inputs)
    if logs is not None:
        logging = _companion(
            LOGGING,
            f"{name}-logging",
            bucket,
            {"targetBucket": logs.inputs["bucketPrefix"] + "0a1b2c3", "targetPrefix": f"{name}/"},
        )
        logging.property_dependencies["targetBucket"] = [logs.urn]
        lake[f"{name}-logging"] = logging


def data_lake(environment: str = "prod") -> Lake:
    """A compliant lake: an access-log bucket, a raw bucket and a locked model-artifacts bucket."""
    lake: Lake = {"aws": provider({**TAGS, "Environment": environment})}
    _bucket("access-logs", lake, None)
    _bucket("raw", lake, lake["access-logs"])
    _bucket("model-artifacts", lake, lake["access-logs"], objectLockEnabled=True)
    lake["model-artifacts-lock"] = _companion(
        LOCK,
        "model-artifacts-lock",
        lake["model-artifacts"],
        {"rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 90}}},
    )
    return lake


def s3_findings(lake: Lake) -> list[tuple[str, str, str]]:
    report = evaluate(list(lake.values()), S3_POLICIES)
    return [(v.policy, v.urn, v.message) for v in report.violations]


def set_inputs(lake: Lake, name: str, **changes: Any) -> None:
    """Change inputs of `lake[name]`; None removes an input."""
    inputs = {**lake[name].inputs, **changes}
    lake[name] = replace(lake[name], inputs={k: v for k, v in inputs.items() if v is not None})


def set_policy(lake: Lake, name: str, *statements: dict[str, Any]) -> None:
    set_inputs(lake, name, policy=_document(*statements))


def test_compliant_lake_passes_every_s3_policy() -> None:
    lake = data_lake()
    report = evaluate(list(lake.values()), S3_POLICIES)
    assert report.violations == []
    assert report.not_applicable == []
    assert report.checks == len(S3_POLICIES)


def test_the_whole_pack_passes_the_compliant_lake() -> None:
    assert evaluate(list(data_lake().values())).violations == []


def test_no_buckets_means_not_applicable_with_a_reason() -> None:
    report = evaluate([provider()], S3_POLICIES)
    assert report.violations == []
    assert [(n.policy, n.urn, n.message) for n in report.not_applicable] == [
        (p.name, STACK_URN, "the stack has no S3 buckets") for p in S3_POLICIES
    ]


def test_companions_link_by_bucket_name_without_property_dependencies() -> None:
    lake = data_lake()
    set_inputs(lake, "raw", bucketPrefix=None, bucket="mlops-prod-raw-0a1b2c3")
    for name, companion in list(lake.items()):
        if name.startswith("raw-"):
            lake[name] = replace(companion, property_dependencies={}, dependencies=[])
    assert s3_findings(lake) == []
    del lake["raw-versioning"]
    assert [(p, u) for p, u, _ in s3_findings(lake)] == [("s3-versioning", lake["raw"].urn)]


def test_object_lock_is_not_required_outside_production() -> None:
    lake = data_lake("dev")
    del lake["model-artifacts-lock"]
    set_inputs(lake, "model-artifacts", objectLockEnabled=None)
    report = evaluate(list(lake.values()), S3_POLICIES)
    assert report.violations == []
    assert [(n.policy, n.message) for n in report.not_applicable] == [
        (
            "s3-object-lock",
            "no production model-artifacts bucket and no Object Lock configuration in the stack",
        )
    ]


def _statement(**fields: Any) -> dict[str, Any]:
    return {"Sid": "Extra", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **fields}


def _remove(*names: str) -> Callable[[Lake], None]:
    def mutate(lake: Lake) -> None:
        for name in names:
            del lake[name]

    return mutate


def _inputs(name: str, **changes: Any) -> Callable[[Lake], None]:
    return lambda lake: set_inputs(lake, name, **changes)


def _policy(*statements: dict[str, Any]) -> Callable[[Lake], None]:
    return lambda lake: set_policy(lake, "raw-policy", *statements)


def _duplicate_pab(lake: Lake) -> None:
    lake["raw-pab-2"] = replace(lake["raw-pab"], name="raw-pab-2", urn=lake["raw-pab"].urn + "-2")


def _bucket_acl(lake: Lake) -> None:
    lake["raw-acl"] = _companion(
        "aws:s3/bucketAcl:BucketAcl", "raw-acl", lake["raw"], {"acl": "private"}
    )


def _log_to(target: str) -> Callable[[Lake], None]:
    def mutate(lake: Lake) -> None:
        logging = lake["raw-logging"]
        deps = {**logging.property_dependencies, "targetBucket": [lake[target].urn]}
        lake["raw-logging"] = replace(logging, property_dependencies=deps)

    return mutate


RAW_PHYSICAL = "mlops-prod-raw-0a1b2c3"
BAD_CASES: list[tuple[str, Callable[[Lake], None], str, str, str]] = [
    # (id, mutation, policy, name of the resource reported, message fragment)
    (
        "role-missing",
        _inputs("raw", tags={"Team": "x"}),
        "s3-bucket-role",
        "raw",
        "S3 bucket 'raw' has mlops:bucket-role tag None; one of ['raw', 'curated', 'features', "
        "'model-artifacts', 'capture', 'reports', 'access-logs'] is required",
    ),
    (
        "pab-missing",
        _remove("raw-pab"),
        "s3-public-access-block",
        "raw",
        "S3 bucket 'raw' has no BucketPublicAccessBlock; add one with all four flags true.",
    ),
    (
        "pab-flag-off",
        _inputs("raw-pab", restrictPublicBuckets=False, ignorePublicAcls=None),
        "s3-public-access-block",
        "raw-pab",
        "public access block of S3 bucket 'raw' does not set ['ignorePublicAcls', "
        "'restrictPublicBuckets'] to true.",
    ),
    (
        "pab-twice",
        _duplicate_pab,
        "s3-public-access-block",
        "raw",
        "S3 bucket 'raw' has 2 BucketPublicAccessBlock resources ['raw-pab', 'raw-pab-2']",
    ),
    (
        "bucket-acl-input",
        _inputs("raw", acl="private"),
        "s3-acls-disabled",
        "raw",
        "S3 bucket 'raw' sets `acl`; ACLs stay disabled",
    ),
    (
        "bucket-grants-input",
        _inputs("raw", grants=[{"type": "Group", "permissions": ["READ"]}]),
        "s3-acls-disabled",
        "raw",
        "S3 bucket 'raw' sets `grants`",
    ),
    (
        "ownership-object-writer",
        _inputs("raw-ownership", rule={"objectOwnership": "ObjectWriter"}),
        "s3-acls-disabled",
        "raw-ownership",
        "ownership controls of S3 bucket 'raw' set objectOwnership 'ObjectWriter'",
    ),
    (
        "ownership-missing",
        _remove("raw-ownership"),
        "s3-acls-disabled",
        "raw",
        "S3 bucket 'raw' has no BucketOwnershipControls",
    ),
    ("bucket-acl-resource", _bucket_acl, "s3-acls-disabled", "raw-acl", "BucketAcl 'raw-acl'"),
    (
        "policy-missing",
        _remove("raw-policy"),
        "s3-tls-only-policy",
        "raw",
        "S3 bucket 'raw' has no BucketPolicy; add one that denies requests without TLS",
    ),
    (
        "inline-policy",
        _inputs("raw", policy=_document(_tls_deny(RAW_PHYSICAL))),
        "s3-tls-only-policy",
        "raw",
        "S3 bucket 'raw' sets the deprecated inline `policy`; configure it with a BucketPolicy",
    ),
    (
        "no-tls-deny",
        _policy(),
        "s3-tls-only-policy",
        "raw-policy",
        "policy of S3 bucket 'raw' has no statement denying s3:* to \"*\" on the bucket and its "
        "objects when aws:SecureTransport is false (SH S3.5).",
    ),
    (
        "tls-deny-misses-objects",
        _policy({**_tls_deny(RAW_PHYSICAL), "Resource": f"arn:aws:s3:::{RAW_PHYSICAL}"}),
        "s3-tls-only-policy",
        "raw-policy",
        "has no statement denying s3:*",
    ),
    (
        "tls-deny-other-bucket",
        _policy(_tls_deny("someone-elses-bucket")),
        "s3-tls-only-policy",
        "raw-policy",
        "has no statement denying s3:*",
    ),
    (
        "tls-deny-true",
        _policy({**_tls_deny(RAW_PHYSICAL), "Condition": {"Bool": {"aws:SecureTransport": True}}}),
        "s3-tls-only-policy",
        "raw-policy",
        "has no statement denying s3:*",
    ),
    (
        "allow-public",
        _policy(_tls_deny(RAW_PHYSICAL), _statement(Principal="*")),
        "s3-tls-only-policy",
        "raw-policy",
        "bucket policy 'raw-policy': statement 1 (Extra) allows the public principal \"*\". "
        "(SH S3.6)",
    ),
    (
        "allow-public-aws",
        _policy(_tls_deny(RAW_PHYSICAL), _statement(Principal={"AWS": ["*"]})),
        "s3-tls-only-policy",
        "raw-policy",
        'allows the public principal "*"',
    ),
    (
        "allow-account",
        _policy(
            _tls_deny(RAW_PHYSICAL), _statement(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
        ),
        "s3-tls-only-policy",
        "raw-policy",
        "statement 1 (Extra) allows AWS principal(s) ['arn:aws:iam::111111111111:root']; only "
        "AWS service principals limited by aws:SourceArn or aws:SourceAccount may be granted.",
    ),
    (
        "allow-service-unconditioned",
        _policy(
            _tls_deny(RAW_PHYSICAL), _statement(Principal={"Service": "logging.s3.amazonaws.com"})
        ),
        "s3-tls-only-policy",
        "raw-policy",
        "allows service principal(s) ['logging.s3.amazonaws.com'] without an aws:SourceArn or "
        "aws:SourceAccount condition.",
    ),
    (
        "allow-service-if-exists",
        _policy(
            _tls_deny(RAW_PHYSICAL),
            _statement(
                Principal={"Service": "logging.s3.amazonaws.com"},
                Condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}},
            ),
        ),
        "s3-tls-only-policy",
        "raw-policy",
        "without an aws:SourceArn or aws:SourceAccount condition.",
    ),
    (
        "allow-not-principal",
        _policy(_tls_deny(RAW_PHYSICAL), _statement(NotPrincipal={"AWS": "arn:aws:iam::1:root"})),
        "s3-tls-only-policy",
        "raw-policy",
        "allows with NotPrincipal",
    ),
    (
        "sse-missing",
        _remove("raw-sse"),
        "s3-kms-encryption",
        "raw",
        "S3 bucket 'raw' has no BucketServerSideEncryptionConfiguration; add one with "
        "sseAlgorithm aws:kms and the platform key.",
    ),
    (
        "sse-s3",
        _inputs(
            "raw-sse",
            rules=[
                {
                    "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"},
                    "bucketKeyEnabled": True,
                }
            ],
        ),
        "s3-kms-encryption",
        "raw-sse",
        "S3 bucket 'raw' uses sseAlgorithm 'AES256'; aws:kms with the platform key is required",
    ),
    (
        "sse-kms-without-key",
        _inputs(
            "raw-sse",
            rules=[
                {
                    "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"},
                    "bucketKeyEnabled": True,
                }
            ],
        ),
        "s3-kms-encryption",
        "raw-sse",
        "S3 bucket 'raw' encrypts with aws:kms but no customer-managed kmsMasterKeyId",
    ),
    (
        "sse-aws-managed-key",
        _inputs(
            "raw-sse",
            rules=[
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": "alias/aws/s3",
                    },
                    "bucketKeyEnabled": True,
                }
            ],
        ),
        "s3-kms-encryption",
        "raw-sse",
        "no customer-managed kmsMasterKeyId",
    ),
    (
        "sse-no-bucket-key",
        _inputs(
            "raw-sse",
            rules=[
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": KEY_ARN,
                    }
                }
            ],
        ),
        "s3-kms-encryption",
        "raw-sse",
        "S3 bucket 'raw' encrypts with aws:kms without bucketKeyEnabled: true.",
    ),
    (
        "log-bucket-sse-kms",
        _inputs(
            "access-logs-sse",
            rules=[
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": KEY_ARN,
                    },
                    "bucketKeyEnabled": True,
                }
            ],
        ),
        "s3-kms-encryption",
        "access-logs-sse",
        "S3 bucket 'access-logs' receives server access logs, so it must use sseAlgorithm "
        "AES256, not 'aws:kms': S3 access logging cannot deliver to a bucket encrypted with "
        "SSE-KMS by default.",
    ),
    (
        "inline-sse",
        _inputs("raw", serverSideEncryptionConfiguration={"rule": {}}),
        "s3-kms-encryption",
        "raw",
        "sets the deprecated inline `serverSideEncryptionConfiguration`",
    ),
    (
        "versioning-missing",
        _remove("raw-versioning"),
        "s3-versioning",
        "raw",
        "S3 bucket 'raw' has no BucketVersioning",
    ),
    (
        "versioning-suspended",
        _inputs("raw-versioning", versioningConfiguration={"status": "Suspended"}),
        "s3-versioning",
        "raw-versioning",
        "versioning of S3 bucket 'raw' has status 'Suspended'; \"Enabled\" is required (SH S3.14).",
    ),
    (
        "lifecycle-missing",
        _remove("raw-lifecycle"),
        "s3-lifecycle",
        "raw",
        "S3 bucket 'raw' has no BucketLifecycleConfiguration; add one that aborts incomplete "
        "multipart uploads (SH S3.13).",
    ),
    (
        "lifecycle-without-abort",
        _inputs(
            "raw-lifecycle",
            rules=[{"id": "expire", "status": "Enabled", "expiration": {"days": 30}}],
        ),
        "s3-lifecycle",
        "raw-lifecycle",
        "lifecycle of S3 bucket 'raw' has no enabled whole-bucket rule with "
        "abortIncompleteMultipartUpload.daysAfterInitiation (SH S3.13).",
    ),
    (
        "lifecycle-abort-disabled",
        _inputs(
            "raw-lifecycle",
            rules=[
                {
                    "id": "abort",
                    "status": "Disabled",
                    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
                }
            ],
        ),
        "s3-lifecycle",
        "raw-lifecycle",
        "has no enabled whole-bucket rule",
    ),
    (
        "lifecycle-abort-only-under-a-prefix",
        _inputs(
            "raw-lifecycle",
            rules=[
                {
                    "id": "abort",
                    "status": "Enabled",
                    "filter": {"prefix": "uploads/"},
                    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
                }
            ],
        ),
        "s3-lifecycle",
        "raw-lifecycle",
        "has no enabled whole-bucket rule",
    ),
    (
        "logging-missing",
        _remove("raw-logging"),
        "s3-access-logging",
        "raw",
        "S3 bucket 'raw' has no BucketLogging; add one delivering to the access-logs bucket "
        "(SH S3.9).",
    ),
    (
        "logging-to-itself",
        _log_to("raw"),
        "s3-access-logging",
        "raw-logging",
        "S3 bucket 'raw' delivers access logs to itself",
    ),
    (
        "logging-to-a-data-bucket",
        _log_to("model-artifacts"),
        "s3-access-logging",
        "raw-logging",
        "access logs of bucket logging 'raw-logging' go to bucket 'model-artifacts' (role "
        "'model-artifacts'); deliver them to the access-logs bucket.",
    ),
    (
        "inline-logging",
        _inputs("raw", logging={"targetBucket": "x"}),
        "s3-access-logging",
        "raw",
        "sets the deprecated inline `logging`",
    ),
    (
        "lock-not-enabled",
        _inputs("model-artifacts", objectLockEnabled=None),
        "s3-object-lock",
        "model-artifacts",
        "production model-artifacts bucket 'model-artifacts' must be created with "
        "objectLockEnabled: true (SH S3.15).",
    ),
    (
        "lock-configuration-missing",
        _remove("model-artifacts-lock"),
        "s3-object-lock",
        "model-artifacts",
        "S3 bucket 'model-artifacts' has no BucketObjectLockConfiguration; add one with a "
        "GOVERNANCE default retention (SH S3.15).",
    ),
    (
        "lock-without-mode",
        _inputs("model-artifacts-lock", rule={"defaultRetention": {"days": 90}}),
        "s3-object-lock",
        "model-artifacts-lock",
        "Object Lock configuration 'model-artifacts-lock' has default retention mode None; "
        "GOVERNANCE (or COMPLIANCE) is required.",
    ),
    (
        "lock-without-period",
        _inputs("model-artifacts-lock", rule={"defaultRetention": {"mode": "GOVERNANCE"}}),
        "s3-object-lock",
        "model-artifacts-lock",
        "has no positive default retention in days or years.",
    ),
]


# A bucket that receives access logs must keep SSE-S3, so redirecting the logs to a KMS-encrypted
# bucket also breaks that bucket's encryption control (S3 could not deliver the logs).
ALSO_FOUND = {
    "logging-to-itself": [("s3-kms-encryption", "raw-sse")],
    "logging-to-a-data-bucket": [("s3-kms-encryption", "model-artifacts-sse")],
}


@pytest.mark.parametrize(
    ("case", "mutate", "policy", "culprit", "message"),
    BAD_CASES,
    ids=[case[0] for case in BAD_CASES],
)
def test_s3_violations(
    case: str, mutate: Callable[[Lake], None], policy: str, culprit: str, message: str
) -> None:
    lake = data_lake()
    mutate(lake)
    found = s3_findings(lake)
    also = [(p, lake[name].urn) for p, name in ALSO_FOUND.get(case, [])]
    assert sorted((p, u) for p, u, _ in found) == sorted([(policy, lake[culprit].urn), *also])
    [own] = [m for p, _, m in found if p == policy]
    assert message in own


def test_every_s3_policy_has_a_violating_case() -> None:
    assert {case[2] for case in BAD_CASES} == {p.name for p in S3_POLICIES}


def test_allowed_accounts_limit_a_service_source_account() -> None:
    lake = data_lake()
    pinned = {**lake["aws"].inputs, "allowedAccountIds": json.dumps([ACCOUNT])}
    lake["aws"] = replace(lake["aws"], inputs=pinned)
    assert s3_findings(lake) == []
    set_policy(
        lake,
        "access-logs-policy",
        _tls_deny("mlops-prod-access-logs-0a1b2c3"),
        {
            **_log_delivery("x"),
            "Condition": {"StringEquals": {"aws:SourceAccount": "222222222222"}},
        },
    )
    assert s3_findings(lake) == [
        (
            "s3-tls-only-policy",
            lake["access-logs-policy"].urn,
            "bucket policy 'access-logs-policy': statement 1 (S3ServerAccessLogs) limits "
            "aws:SourceAccount to ['222222222222'], outside this stack's accounts "
            "['111111111111']. (SH S3.6)",
        )
    ]
