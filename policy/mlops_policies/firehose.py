"""Kinesis Data Firehose controls: a delivery stream encrypts at rest with a customer-managed key
and writes its extended S3 destination's objects with one; the destination's prefixes are valid
and keep failed records apart from the data, and its delivery errors are logged.

The platform's capture proxy puts each serverless endpoint's capture records to a Direct PUT
delivery stream whose `extended_s3` destination is the capture bucket (layout in
`lambdas/capture_proxy/capture_settings.py`).

Encryption has two parts, each applying on its own:
- Server-side encryption of the stream (`serverSideEncryption`) applies to Direct PUT streams
  only. A stream that reads from a Kinesis data stream (`kinesisSourceConfiguration`) or an MSK
  cluster (`mskSourceConfiguration`) keeps no records at rest itself: the source's encryption
  protects them, and Firehose refuses server-side encryption for such a stream.
- The objects' key (`extendedS3Configuration.kmsKeyArn`) applies to an `extended_s3`
  destination. The S3 backups of other destinations are not used by the platform and are not
  checked here.
The policy is marked not applicable only when neither part applies, with the reason.

Firehose's own rules for the S3 prefixes are checked because breaking them fails the stream's
creation: a `prefix` with `!{...}` expressions needs an `errorOutputPrefix`, and an
`errorOutputPrefix` with expressions must use `!{firehose:error-output-type}`. Beyond them, the
error prefix must not lie under the static part of the data prefix (what precedes its first
expression): S3 keys are flat strings, so anything reading the data by prefix would read the
failed records as data too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import customer_key_problem, is_set, mapping

DELIVERY_STREAM = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"

EXTENDED_S3 = "extended_s3"
"""The `destination` whose settings are in `extendedS3Configuration`."""
CUSTOMER_KEY = "CUSTOMER_MANAGED_CMK"
"""`serverSideEncryption.keyType` of a customer-managed key (the default is AWS_OWNED_CMK)."""
ERROR_OUTPUT_TYPE = "!{firehose:error-output-type}"

_SOURCES = (
    ("kinesisSourceConfiguration", "a Kinesis data stream"),
    ("mskSourceConfiguration", "an MSK cluster"),
)

_STREAM = "Firehose delivery stream"
_S3 = f"{_STREAM} extendedS3Configuration"


def _source(props: Mapping[str, Any]) -> tuple[str, str] | None:
    """The property and a description of a stream's source other than Direct PUT, if any."""
    for prop, what in _SOURCES:
        if is_set(props, prop):
            return prop, what
    return None


def _extended_s3(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """The extended S3 destination's settings; None when the destination is another one."""
    if args.props.get("destination") != EXTENDED_S3:
        return None
    return mapping(args.props.get("extendedS3Configuration"))


# ---- encryption ------------------------------------------------------------------------------


def _server_side_encryption(props: Mapping[str, Any], report: ReportViolation) -> None:
    sse = mapping(props.get("serverSideEncryption"))
    enabled = sse.get("enabled")
    key_type = sse.get("keyType")
    if enabled is not True:
        report(
            f"{_STREAM} serverSideEncryption.enabled is {enabled!r}; set it to true with "
            f'keyType "{CUSTOMER_KEY}" and keyArn the platform\'s customer-managed key.',
            None,
        )
    elif key_type != CUSTOMER_KEY:
        shown = repr(key_type) if key_type is not None else "unset (AWS_OWNED_CMK)"
        report(
            f"{_STREAM} serverSideEncryption.keyType is {shown}, a key the platform's key "
            f'policy does not govern; set "{CUSTOMER_KEY}" with keyArn the platform\'s '
            "customer-managed key.",
            None,
        )
    else:
        problem = customer_key_problem(sse, "keyArn", f"{_STREAM} serverSideEncryption")
        if problem is not None:
            report(problem, None)


def _encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != DELIVERY_STREAM:
        return
    source = _source(args.props)
    destination = _extended_s3(args)
    if source is None:
        _server_side_encryption(args.props, report)
    elif mapping(args.props.get("serverSideEncryption")).get("enabled") is True:
        prop, what = source
        report(
            f"{_STREAM} reads from {what} ({prop}) and sets serverSideEncryption.enabled true; "
            "Firehose accepts server-side encryption only for Direct PUT streams, and the "
            "source's own encryption protects the records at rest. Remove serverSideEncryption "
            "and encrypt the source with the platform key.",
            None,
        )
    elif destination is None:
        prop, what = source
        args.not_applicable(
            f"the stream reads from {what} ({prop}), whose own encryption protects the records "
            "at rest (Firehose accepts server-side encryption only for Direct PUT streams), and "
            f"its destination {args.props.get('destination')!r} is not {EXTENDED_S3}"
        )
    if destination is not None:
        problem = customer_key_problem(destination, "kmsKeyArn", _S3)
        if problem is not None:
            report(problem, None)


# ---- delivery errors -------------------------------------------------------------------------


def _static_part(prefix: str) -> str:
    """What precedes a prefix's first `!{...}` expression: the same for every object."""
    return prefix.split("!{", 1)[0]


def _prefixes(destination: Mapping[str, Any], report: ReportViolation) -> None:
    raw = destination.get("prefix")
    prefix = raw if isinstance(raw, str) else ""
    error_prefix = destination.get("errorOutputPrefix")
    if not isinstance(error_prefix, str) or not error_prefix:
        if "!{" in prefix:
            report(
                f"{_S3}.prefix {prefix!r} uses !{{...}} expressions but sets no "
                "errorOutputPrefix; Firehose requires one with such a prefix and fails to create "
                f"the stream without it. Set an errorOutputPrefix with {ERROR_OUTPUT_TYPE}, "
                "outside the data prefix.",
                None,
            )
        return
    if "!{" in error_prefix and ERROR_OUTPUT_TYPE not in error_prefix:
        report(
            f"{_S3}.errorOutputPrefix {error_prefix!r} uses !{{...}} expressions without "
            f"{ERROR_OUTPUT_TYPE}; Firehose requires it in an error prefix with expressions and "
            "fails to create the stream without it.",
            None,
        )
    static = _static_part(prefix)
    if static and error_prefix.startswith(static):
        report(
            f"{_S3}.errorOutputPrefix {error_prefix!r} lies under {static!r}, the static part of "
            f"its prefix {prefix!r}, so whatever reads the data by prefix would read failed "
            "records as data; give errorOutputPrefix a prefix of its own outside the data "
            "prefix.",
            None,
        )


def _error_logging(destination: Mapping[str, Any], report: ReportViolation) -> None:
    logging = mapping(destination.get("cloudwatchLoggingOptions"))
    enabled = logging.get("enabled")
    if enabled is not True:
        report(
            f"{_S3}.cloudwatchLoggingOptions.enabled is {enabled!r}; set it to true with a "
            "logGroupName and logStreamName so that failed deliveries are logged, not only "
            "dropped into the error prefix.",
            None,
        )
        return
    missing = [key for key in ("logGroupName", "logStreamName") if not is_set(logging, key)]
    if missing:
        report(
            f"{_S3}.cloudwatchLoggingOptions is enabled but sets no {' or '.join(missing)}; "
            "Firehose needs a log group and a log stream to log delivery errors to.",
            None,
        )


def _delivery_errors(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != DELIVERY_STREAM:
        return
    destination = _extended_s3(args)
    if destination is None:
        args.not_applicable(
            f"the stream's destination {args.props.get('destination')!r} is not {EXTENDED_S3}; "
            "the control covers the extended S3 destination's prefixes and error logging"
        )
        return
    _prefixes(destination, report)
    _error_logging(destination, report)


# ---- the policies ----------------------------------------------------------------------------


def _policy(name: str, description: str, validate: ResourceValidation) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


FIREHOSE_POLICIES = (
    _policy(
        "firehose-encryption",
        "Firehose delivery streams fed by Direct PUT encrypt at rest with a customer-managed "
        "key, and extended S3 destinations encrypt their objects with one.",
        _encryption,
    ),
    _policy(
        "firehose-delivery-errors",
        "Firehose extended S3 destinations set a valid error prefix outside the data prefix "
        "and log delivery errors to CloudWatch.",
        _delivery_errors,
    ),
)
