"""The Firehose policies: the capture proxy's delivery stream, as the platform configures it
(the S3 layout of `capture_settings`), passes the whole pack; each broken control is reported
by its policy on the stream with its exact message; a stream with another source or destination
is held to the part of a control that applies to it, and a policy that does not apply at all
says why; and the same through the analyzer, as the Pulumi CLI runs the pack in a preview."""

from __future__ import annotations

from typing import Any

import capture_settings as settings
import pytest
from pulumi.runtime.proto import analyzer_pb2_grpc

from planner.mocks import Registration
from planner.policies import evaluate
from policy.mlops_policies.firehose import FIREHOSE_POLICIES
from tests.policy.test_lambda_iam_policies import UNKNOWN_STRING, _analyze_request
from tests.policy.test_policies import TAGS, provider, record

ACCOUNT = "111111111111"
REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET_ARN = "arn:aws:s3:::mlops-prod-capture"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-prod-capture-firehose"
SOURCE_STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/mlops-prod-events"
MSK_ARN = (
    f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/mlops-prod/abcd1234-ab12-cd34-ef56-abcdef123456-1"
)
ENDPOINT, VARIANT = "churn-prod", "AllTraffic"
PREFIX = settings.firehose_prefix(ENDPOINT, VARIANT)
ERROR_PREFIX = settings.firehose_error_prefix(ENDPOINT, VARIANT)

DELIVERY_STREAM = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
STREAM = "Firehose delivery stream"
S3 = "Firehose delivery stream extendedS3Configuration"
ENCRYPTION = "firehose-encryption"
ERRORS = "firehose-delivery-errors"


def _inputs() -> dict[str, Any]:
    return {
        "name": f"mlops-prod-capture-{ENDPOINT}",
        "destination": "extended_s3",
        "serverSideEncryption": {
            "enabled": True,
            "keyType": "CUSTOMER_MANAGED_CMK",
            "keyArn": KEY_ARN,
        },
        "extendedS3Configuration": {
            "bucketArn": BUCKET_ARN,
            "roleArn": ROLE_ARN,
            "prefix": PREFIX,
            "errorOutputPrefix": ERROR_PREFIX,
            "kmsKeyArn": KEY_ARN,
            "bufferingInterval": 60,
            "bufferingSize": 5,
            "compressionFormat": "UNCOMPRESSED",
            "cloudwatchLoggingOptions": {
                "enabled": True,
                "logGroupName": "/aws/kinesisfirehose/mlops-prod-capture",
                "logStreamName": "DestinationDelivery",
            },
        },
    }


def stream(**changes: Any) -> Registration:
    """The capture stream; each change sets (or with None, removes) an input, its path
    given with `__` between the levels."""
    inputs = _inputs()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = inputs
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return record(DELIVERY_STREAM, "capture", inputs)


def findings(*resources: Registration) -> list[tuple[str, str, str]]:
    report = evaluate([provider(TAGS), *resources])
    return [(v.policy, v.urn, v.message) for v in report.violations]


def not_applicable(*resources: Registration) -> list[tuple[str, str, str]]:
    report = evaluate([provider(TAGS), *resources])
    return [(n.policy, n.urn, n.message) for n in report.not_applicable]


def test_the_platforms_capture_stream_passes_the_whole_pack() -> None:
    capture = stream()
    assert findings(capture) == []
    assert [f for f in not_applicable(capture) if f[0].startswith("firehose-")] == []


def test_the_capture_layout_keeps_errors_outside_the_data() -> None:
    """The fixture is the platform's layout: an expression prefix and an error prefix of its
    own, with the error output type (the policies' conditions hold for it, not by accident)."""
    assert "!{" in PREFIX
    assert "!{firehose:error-output-type}" in ERROR_PREFIX
    assert not ERROR_PREFIX.startswith(PREFIX.split("!{")[0])


# ---- violations: (id, the stream, policy, exact message) -------------------------------------

AWS_MANAGED_FIREHOSE = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/firehose"
AWS_MANAGED_S3 = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/s3"
SSE_FIX = (
    'set it to true with keyType "CUSTOMER_MANAGED_CMK" and keyArn the platform\'s '
    "customer-managed key."
)
KEY_TYPE_FIX = (
    'a key the platform\'s key policy does not govern; set "CUSTOMER_MANAGED_CMK" with keyArn '
    "the platform's customer-managed key."
)
LOGGING_FIX = (
    "set it to true with a logGroupName and logStreamName so that failed deliveries are logged, "
    "not only dropped into the error prefix."
)
KINESIS_SOURCE = {"kinesisStreamArn": SOURCE_STREAM_ARN, "roleArn": ROLE_ARN}

BAD_CASES: list[tuple[str, Registration, str, str]] = [
    (
        "sse-missing",
        stream(serverSideEncryption=None),
        ENCRYPTION,
        f"{STREAM} serverSideEncryption.enabled is None; {SSE_FIX}",
    ),
    (
        "sse-disabled",
        stream(serverSideEncryption__enabled=False),
        ENCRYPTION,
        f"{STREAM} serverSideEncryption.enabled is False; {SSE_FIX}",
    ),
    (
        "sse-aws-owned-key",
        stream(serverSideEncryption__keyType="AWS_OWNED_CMK", serverSideEncryption__keyArn=None),
        ENCRYPTION,
        f"{STREAM} serverSideEncryption.keyType is 'AWS_OWNED_CMK', {KEY_TYPE_FIX}",
    ),
    (
        "sse-key-type-unset",
        stream(serverSideEncryption__keyType=None),
        ENCRYPTION,
        f"{STREAM} serverSideEncryption.keyType is unset (AWS_OWNED_CMK), {KEY_TYPE_FIX}",
    ),
    (
        "sse-customer-key-without-arn",
        stream(serverSideEncryption__keyArn=None),
        ENCRYPTION,
        f"{STREAM} serverSideEncryption sets no keyArn; encrypt it with the platform's "
        "customer-managed key.",
    ),
    (
        "sse-aws-managed-alias",
        stream(serverSideEncryption__keyArn=AWS_MANAGED_FIREHOSE),
        ENCRYPTION,
        f"{STREAM} serverSideEncryption keyArn {AWS_MANAGED_FIREHOSE!r} is an AWS-managed key; "
        "use the platform's customer-managed key, whose policy the platform controls.",
    ),
    (
        "s3-objects-unencrypted",
        stream(extendedS3Configuration__kmsKeyArn=None),
        ENCRYPTION,
        f"{S3} sets no kmsKeyArn; encrypt it with the platform's customer-managed key.",
    ),
    (
        "s3-objects-aws-managed-key",
        stream(extendedS3Configuration__kmsKeyArn=AWS_MANAGED_S3),
        ENCRYPTION,
        f"{S3} kmsKeyArn {AWS_MANAGED_S3!r} is an AWS-managed key; use the platform's "
        "customer-managed key, whose policy the platform controls.",
    ),
    (
        "sse-on-a-kinesis-sourced-stream",
        stream(kinesisSourceConfiguration=KINESIS_SOURCE),
        ENCRYPTION,
        f"{STREAM} reads from a Kinesis data stream (kinesisSourceConfiguration) and sets "
        "serverSideEncryption.enabled true; Firehose accepts server-side encryption only for "
        "Direct PUT streams, and the source's own encryption protects the records at rest. "
        "Remove serverSideEncryption and encrypt the source with the platform key.",
    ),
    (
        "expression-prefix-without-error-prefix",
        stream(extendedS3Configuration__errorOutputPrefix=None),
        ERRORS,
        f"{S3}.prefix {PREFIX!r} uses !{{...}} expressions but sets no errorOutputPrefix; "
        "Firehose requires one with such a prefix and fails to create the stream without it. "
        "Set an errorOutputPrefix with !{firehose:error-output-type}, outside the data prefix.",
    ),
    (
        "expression-prefix-with-empty-error-prefix",
        stream(extendedS3Configuration__errorOutputPrefix=""),
        ERRORS,
        f"{S3}.prefix {PREFIX!r} uses !{{...}} expressions but sets no errorOutputPrefix; "
        "Firehose requires one with such a prefix and fails to create the stream without it. "
        "Set an errorOutputPrefix with !{firehose:error-output-type}, outside the data prefix.",
    ),
    (
        "error-prefix-expressions-without-error-output-type",
        stream(extendedS3Configuration__errorOutputPrefix="datacapture-errors/!{timestamp:yyyy}/"),
        ERRORS,
        f"{S3}.errorOutputPrefix 'datacapture-errors/!{{timestamp:yyyy}}/' uses !{{...}} "
        "expressions without !{firehose:error-output-type}; Firehose requires it in an error "
        "prefix with expressions and fails to create the stream without it.",
    ),
    (
        "error-prefix-inside-a-static-data-prefix",
        stream(
            extendedS3Configuration__prefix="datacapture/x/",
            extendedS3Configuration__errorOutputPrefix="datacapture/x/errors/",
        ),
        ERRORS,
        f"{S3}.errorOutputPrefix 'datacapture/x/errors/' lies under 'datacapture/x/', the "
        "static part of its prefix 'datacapture/x/', so whatever reads the data by prefix would "
        "read failed records as data; give errorOutputPrefix a prefix of its own outside the "
        "data prefix.",
    ),
    (
        "error-prefix-inside-an-expression-data-prefix",
        stream(
            extendedS3Configuration__errorOutputPrefix=(
                f"datacapture/{ENDPOINT}/{VARIANT}/!{{firehose:error-output-type}}/"
            )
        ),
        ERRORS,
        f"{S3}.errorOutputPrefix 'datacapture/{ENDPOINT}/{VARIANT}/"
        "!{firehose:error-output-type}/' lies under "
        f"'datacapture/{ENDPOINT}/{VARIANT}/', the static part of its prefix {PREFIX!r}, so "
        "whatever reads the data by prefix would read failed records as data; give "
        "errorOutputPrefix a prefix of its own outside the data prefix.",
    ),
    (
        "error-prefix-sharing-an-unterminated-static-part",
        # S3 keys are flat: a reader listing "datacapture" also lists "datacapture-errors/".
        stream(
            extendedS3Configuration__prefix="datacapture!{timestamp:yyyy}/",
            extendedS3Configuration__errorOutputPrefix="datacapture-errors/",
        ),
        ERRORS,
        f"{S3}.errorOutputPrefix 'datacapture-errors/' lies under 'datacapture', the static "
        "part of its prefix 'datacapture!{timestamp:yyyy}/', so whatever reads the data by "
        "prefix would read failed records as data; give errorOutputPrefix a prefix of its own "
        "outside the data prefix.",
    ),
    (
        "error-logging-unset",
        stream(extendedS3Configuration__cloudwatchLoggingOptions=None),
        ERRORS,
        f"{S3}.cloudwatchLoggingOptions.enabled is None; {LOGGING_FIX}",
    ),
    (
        "error-logging-disabled",
        stream(extendedS3Configuration__cloudwatchLoggingOptions__enabled=False),
        ERRORS,
        f"{S3}.cloudwatchLoggingOptions.enabled is False; {LOGGING_FIX}",
    ),
    (
        "error-logging-without-group-and-stream",
        stream(
            extendedS3Configuration__cloudwatchLoggingOptions__logGroupName=None,
            extendedS3Configuration__cloudwatchLoggingOptions__logStreamName="",
        ),
        ERRORS,
        f"{S3}.cloudwatchLoggingOptions is enabled but sets no logGroupName or logStreamName; "
        "Firehose needs a log group and a log stream to log delivery errors to.",
    ),
    (
        "error-logging-without-stream",
        stream(extendedS3Configuration__cloudwatchLoggingOptions__logStreamName=None),
        ERRORS,
        f"{S3}.cloudwatchLoggingOptions is enabled but sets no logStreamName; Firehose needs a "
        "log group and a log stream to log delivery errors to.",
    ),
]


@pytest.mark.parametrize(
    ("resource", "policy", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_violations(resource: Registration, policy: str, message: str) -> None:
    assert findings(resource) == [(policy, resource.urn, message)]


def test_every_firehose_policy_has_a_violating_case() -> None:
    assert {case[2] for case in BAD_CASES} == {p.name for p in FIREHOSE_POLICIES}


def test_a_bare_stream_reports_every_missing_control() -> None:
    bare = record(
        DELIVERY_STREAM,
        "capture",
        {
            "destination": "extended_s3",
            "extendedS3Configuration": {
                "bucketArn": BUCKET_ARN,
                "roleArn": ROLE_ARN,
                "prefix": PREFIX,
            },
        },
    )
    assert [(p, m.split(";")[0]) for p, _, m in findings(bare)] == [
        (ENCRYPTION, f"{STREAM} serverSideEncryption.enabled is None"),
        (ENCRYPTION, f"{S3} sets no kmsKeyArn"),
        (ERRORS, f"{S3}.prefix {PREFIX!r} uses !{{...}} expressions but sets no errorOutputPrefix"),
        (ERRORS, f"{S3}.cloudwatchLoggingOptions.enabled is None"),
    ]


# ---- what is accepted --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        # A customer-managed key may be named by an alias of its own.
        {"serverSideEncryption__keyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/mlops-prod"},
        {"extendedS3Configuration__kmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/mlops-prod"},
        # Without expressions Firehose needs no error prefix.
        {
            "extendedS3Configuration__prefix": "datacapture/x/",
            "extendedS3Configuration__errorOutputPrefix": None,
        },
        # A static error prefix needs no error output type.
        {"extendedS3Configuration__errorOutputPrefix": "datacapture-errors/x/"},
        # No static data part: nothing fixed that the error prefix could lie under.
        {
            "extendedS3Configuration__prefix": "!{timestamp:yyyy/MM/dd/HH}/",
            "extendedS3Configuration__errorOutputPrefix": "errors/!{firehose:error-output-type}/",
        },
        # The default prefix (YYYY/MM/dd/HH) with an error prefix of its own.
        {"extendedS3Configuration__prefix": None},
    ],
    ids=[
        "sse-customer-alias",
        "s3-customer-alias",
        "static-prefix-without-error-prefix",
        "static-error-prefix",
        "prefix-starting-with-an-expression",
        "default-prefix",
    ],
)
def test_accepted_variants(changes: dict[str, Any]) -> None:
    assert findings(stream(**changes)) == []


# ---- other sources and destinations: what applies, and why not -------------------------------

HTTP_ENDPOINT = {
    "url": "https://collector.example.com/ingest",
    "roleArn": ROLE_ARN,
    "s3Configuration": {"bucketArn": BUCKET_ARN, "roleArn": ROLE_ARN},
}


def _other_destination(**changes: Any) -> Registration:
    inputs = _inputs()
    inputs.pop("extendedS3Configuration")
    inputs.update(destination="http_endpoint", httpEndpointConfiguration=HTTP_ENDPOINT)
    inputs.update(changes)
    return record(DELIVERY_STREAM, "capture", {k: v for k, v in inputs.items() if v is not None})


def test_a_kinesis_sourced_stream_is_held_to_the_s3_key_only() -> None:
    """No serverSideEncryption is required of it (the source stream's encryption applies), but
    its extended S3 destination still encrypts the objects, so the policy applies."""
    sourced = stream(kinesisSourceConfiguration=KINESIS_SOURCE, serverSideEncryption=None)
    assert findings(sourced) == []
    assert [f for f in not_applicable(sourced) if f[0].startswith("firehose-")] == []

    unencrypted = stream(
        kinesisSourceConfiguration=KINESIS_SOURCE,
        serverSideEncryption=None,
        extendedS3Configuration__kmsKeyArn=None,
    )
    assert findings(unencrypted) == [
        (
            ENCRYPTION,
            unencrypted.urn,
            f"{S3} sets no kmsKeyArn; encrypt it with the platform's customer-managed key.",
        )
    ]


@pytest.mark.parametrize(
    ("source", "what"),
    [
        (
            {"kinesisSourceConfiguration": KINESIS_SOURCE},
            "a Kinesis data stream (kinesisSourceConfiguration)",
        ),
        (
            {
                "mskSourceConfiguration": {
                    "mskClusterArn": MSK_ARN,
                    "topicName": "events",
                    "authenticationConfiguration": {"connectivity": "PRIVATE", "roleArn": ROLE_ARN},
                }
            },
            "an MSK cluster (mskSourceConfiguration)",
        ),
    ],
    ids=["kinesis-source", "msk-source"],
)
def test_neither_policy_applies_to_a_sourced_stream_without_extended_s3(
    source: dict[str, Any], what: str
) -> None:
    sourced = _other_destination(serverSideEncryption=None, **source)
    assert findings(sourced) == []
    assert [f for f in not_applicable(sourced) if f[0].startswith("firehose-")] == [
        (
            ENCRYPTION,
            sourced.urn,
            f"the stream reads from {what}, whose own encryption protects the records at rest "
            "(Firehose accepts server-side encryption only for Direct PUT streams), and its "
            "destination 'http_endpoint' is not extended_s3",
        ),
        (
            ERRORS,
            sourced.urn,
            "the stream's destination 'http_endpoint' is not extended_s3; the control covers "
            "the extended S3 destination's prefixes and error logging",
        ),
    ]


def test_a_direct_put_stream_to_another_destination_is_held_to_server_side_encryption() -> None:
    other = _other_destination()
    assert findings(other) == []
    assert [f[0] for f in not_applicable(other) if f[0].startswith("firehose-")] == [ERRORS]

    unencrypted = _other_destination(serverSideEncryption=None)
    assert findings(unencrypted) == [
        (
            ENCRYPTION,
            unencrypted.urn,
            f"{STREAM} serverSideEncryption.enabled is None; {SSE_FIX}",
        )
    ]


def test_other_resource_types_are_not_judged() -> None:
    alias = record("aws:kms/alias:Alias", "a", {"name": "alias/mlops-prod"})
    assert [f for f in not_applicable(alias) if f[0].startswith("firehose-")] == []
    assert findings(alias) == []


# ---- through the analyzer, as the Pulumi CLI runs the pack ------------------------------------


def _analyze(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, resource: Registration
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    response = analyzer.Analyze(_analyze_request(resource, provider(TAGS)))
    descriptions = {p.name: p.description for p in FIREHOSE_POLICIES}
    diagnostics = []
    for d in response.diagnostics:
        # The analyzer prefixes the policy's description to the reported message.
        prefix = f"{descriptions.get(d.policyName, '')}\n"
        diagnostics.append((d.policyName, d.message.removeprefix(prefix)))
    skipped = [
        (n.policy_name, n.reason)
        for n in response.not_applicable
        if n.policy_name.startswith("firehose-")
    ]
    return diagnostics, skipped


def test_preview_values_through_the_analyzer(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """In a preview the keys, the bucket, the role and the log group are other resources'
    outputs, not known yet: wired, they count as set. Props are CrossGuard's read-only proxies
    there; a fault is still reported with the offline plan's message."""
    wired = stream(
        serverSideEncryption__keyArn=UNKNOWN_STRING,
        extendedS3Configuration__kmsKeyArn=UNKNOWN_STRING,
        extendedS3Configuration__bucketArn=UNKNOWN_STRING,
        extendedS3Configuration__roleArn=UNKNOWN_STRING,
        extendedS3Configuration__cloudwatchLoggingOptions__logGroupName=UNKNOWN_STRING,
    )
    assert _analyze(analyzer, wired) == ([], [])

    nested = stream(
        extendedS3Configuration__kmsKeyArn=UNKNOWN_STRING,
        extendedS3Configuration__prefix="datacapture/x/",
        extendedS3Configuration__errorOutputPrefix="datacapture/x/errors/",
    )
    [(_, _, policy, message)] = [c for c in BAD_CASES if c[0].endswith("static-data-prefix")]
    assert _analyze(analyzer, nested) == ([(policy, message)], [])


def test_not_applicable_through_the_analyzer(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    sourced = _other_destination(
        serverSideEncryption=None, kinesisSourceConfiguration=KINESIS_SOURCE
    )
    diagnostics, skipped = _analyze(analyzer, sourced)
    assert diagnostics == []
    assert [name for name, _ in skipped] == [ENCRYPTION, ERRORS]
    assert skipped[0][1].startswith(
        "the stream reads from a Kinesis data stream (kinesisSourceConfiguration), whose own "
        "encryption protects the records at rest"
    )
