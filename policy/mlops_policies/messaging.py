"""Messaging controls: SNS topics and SQS queues are encrypted with a customer-managed key
(CKV_AWS_26 for SNS) and their policies grant nothing to the public or other accounts (SH SNS.4);
queues keep messages for an explicit period; EventBridge targets set a retry policy and a
dead-letter queue explicitly, since by default a target retries for 24 hours and then drops the
event."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import (
    allow_statement_problems,
    allowed_account_ids,
    is_aws_managed_key,
    is_set,
    known,
    mapping,
    number,
    retry_policy_problems,
)

TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"

RETENTION_SECONDS = (60, 1_209_600)
"""SQS accepts a message retention from one minute to 14 days."""
"""EventBridge's limits for a target's retry policy."""


def _customer_key(args: ResourceValidationArgs, report: ReportViolation, what: str) -> None:
    key = args.props.get("kmsMasterKeyId")
    if not is_set(args.props, "kmsMasterKeyId"):
        report(f"{what} sets no kmsMasterKeyId; encrypt it with the platform key.", None)
    elif is_aws_managed_key(key):
        report(
            f"{what} uses the AWS-managed key {key!r}; encrypt it with the platform key, whose "
            "policy the platform controls.",
            None,
        )


def _topic_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == TOPIC:
        _customer_key(args, report, "SNS topic (CKV_AWS_26)")


def _queue_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == QUEUE:
        _customer_key(args, report, "SQS queue")


def _resource_policy(
    args: ResourceValidationArgs, report: ReportViolation, types: tuple[str, str], what: str
) -> None:
    """The own `policy` of a topic or queue, or of its separate policy resource."""
    if args.resource_type not in types:
        return
    if args.resource_type == types[0] and args.props.get("policy") is None:
        return  # no inline policy: the separate policy resource (if any) is checked itself
    for problem in allow_statement_problems(
        args.props.get("policy"),
        own_accounts=allowed_account_ids(args.provider),
        account_principals=True,
    ):
        report(f"{what} policy: {problem}", None)


def _topic_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    _resource_policy(args, report, (TOPIC, TOPIC_POLICY), "SNS topic (SH SNS.4)")


def _queue_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    _resource_policy(args, report, (QUEUE, QUEUE_POLICY), "SQS queue")


def _queue_retention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != QUEUE:
        return
    raw = args.props.get("messageRetentionSeconds")
    seconds = number(raw)
    low, high = RETENTION_SECONDS
    if raw is None:
        report(
            "SQS queue sets no messageRetentionSeconds; state how long messages are kept "
            f"({low} to {high} seconds).",
            None,
        )
    elif seconds is None or not low <= seconds <= high:
        report(f"SQS queue messageRetentionSeconds is {raw!r}; {low} to {high} accepted.", None)


def _event_target(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != EVENT_TARGET:
        return
    for problem in retry_policy_problems(
        mapping(args.props.get("retryPolicy")), "EventBridge target"
    ):
        report(problem, None)
    dead_letter = mapping(args.props.get("deadLetterConfig"))
    if not is_set(dead_letter, "arn"):
        report(
            "EventBridge target sets no deadLetterConfig.arn; without a dead-letter queue an "
            "event is dropped once its retries run out.",
            None,
        )
        return
    arn = known(dead_letter, "arn")
    if isinstance(arn, str) and ":sqs:" not in arn:
        report(f"EventBridge target deadLetterConfig.arn {arn!r} is not an SQS queue.", None)


def _policy(name: str, description: str, validate: ResourceValidation) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


MESSAGING_POLICIES = (
    _policy(
        "sns-topic-kms-encryption",
        "SNS topics are encrypted with a customer-managed KMS key (CKV_AWS_26).",
        _topic_encryption,
    ),
    _policy(
        "sns-topic-policy-not-public",
        "SNS topic policies grant nothing to the public or other accounts (SH SNS.4).",
        _topic_policy,
    ),
    _policy(
        "sqs-queue-kms-encryption",
        "SQS queues are encrypted with a customer-managed KMS key.",
        _queue_encryption,
    ),
    _policy(
        "sqs-queue-message-retention",
        "SQS queues set their message retention explicitly.",
        _queue_retention,
    ),
    _policy(
        "sqs-queue-policy-not-public",
        "SQS queue policies grant nothing to the public or other accounts.",
        _queue_policy,
    ),
    _policy(
        "eventbridge-target-retry-and-dlq",
        "EventBridge targets set a retry policy and an SQS dead-letter queue explicitly.",
        _event_target,
    ),
)
