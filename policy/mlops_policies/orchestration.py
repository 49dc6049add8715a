"""Orchestration controls: EventBridge Scheduler schedules and Step Functions state machines.

A schedule's target retries for 24 hours by default (185 attempts) and then drops the
invocation unless a dead-letter queue is set, so both are stated explicitly; its payload is
encrypted with the platform key. A state machine logs its executions to CloudWatch (at least
its errors), is traced with X-Ray and encrypts its definition and execution data with the
platform key.
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from ._util import customer_key_problem, is_set, known, mapping, retry_policy_problems

SCHEDULE = "aws:scheduler/schedule:Schedule"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"

"""EventBridge Scheduler's limits for a target's retry policy."""
LOG_LEVELS = ("ALL", "ERROR", "FATAL")
"""Step Functions log levels that log something (OFF does not)."""


def _schedule_retry(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SCHEDULE:
        return
    target = mapping(args.props.get("target"))
    for problem in retry_policy_problems(mapping(target.get("retryPolicy")), "schedule target"):
        report(problem, None)
    dead_letter = mapping(target.get("deadLetterConfig"))
    if not is_set(dead_letter, "arn"):
        report(
            "schedule target sets no deadLetterConfig.arn; without a dead-letter queue an "
            "invocation is dropped once its retries run out.",
            None,
        )
        return
    arn = known(dead_letter, "arn")
    if isinstance(arn, str) and ":sqs:" not in arn:
        report(f"schedule target deadLetterConfig.arn {arn!r} is not an SQS queue.", None)


def _schedule_kms(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SCHEDULE:
        return
    problem = customer_key_problem(args.props, "kmsKeyArn", "schedule")
    if problem is not None:
        report(problem, None)


def _state_machine_logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != STATE_MACHINE:
        return
    logging = mapping(args.props.get("loggingConfiguration"))
    level = logging.get("level")
    if level not in LOG_LEVELS:
        report(
            f"state machine loggingConfiguration.level is {level!r}; log at least errors "
            f"(one of {list(LOG_LEVELS)}).",
            None,
        )
    if not is_set(logging, "logDestination"):
        report("state machine loggingConfiguration sets no logDestination (a log group).", None)
        return
    destination = known(logging, "logDestination")
    if isinstance(destination, str) and not (
        ":logs:" in destination and ":log-group:" in destination and destination.endswith(":*")
    ):
        report(
            f"state machine logDestination {destination!r} is not a log group ARN ending in "
            '":*", which Step Functions requires.',
            None,
        )


def _state_machine_tracing(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != STATE_MACHINE:
        return
    if mapping(args.props.get("tracingConfiguration")).get("enabled") is not True:
        report("state machine X-Ray tracing is off; set tracingConfiguration.enabled: true.", None)


def _state_machine_kms(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != STATE_MACHINE:
        return
    encryption = mapping(args.props.get("encryptionConfiguration"))
    kind = encryption.get("type")
    if kind != "CUSTOMER_MANAGED_KMS_KEY":
        report(
            f"state machine encryptionConfiguration.type is {kind!r}; CUSTOMER_MANAGED_KMS_KEY "
            "with the platform key is required.",
            None,
        )
        return
    problem = customer_key_problem(encryption, "kmsKeyId", "state machine encryptionConfiguration")
    if problem is not None:
        report(problem, None)


def _policy(
    name: str,
    description: str,
    validate: Callable[[ResourceValidationArgs, ReportViolation], None],
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


ORCHESTRATION_POLICIES = (
    _policy(
        "scheduler-schedule-retry-and-dlq",
        "EventBridge Scheduler targets set a retry policy and an SQS dead-letter queue explicitly.",
        _schedule_retry,
    ),
    _policy(
        "scheduler-schedule-kms",
        "EventBridge Scheduler schedules are encrypted with a customer-managed KMS key.",
        _schedule_kms,
    ),
    _policy(
        "sfn-state-machine-logging",
        "Step Functions state machines log at least errors to a CloudWatch log group.",
        _state_machine_logging,
    ),
    _policy(
        "sfn-state-machine-tracing",
        "Step Functions state machines have X-Ray tracing enabled.",
        _state_machine_tracing,
    ),
    _policy(
        "sfn-state-machine-kms",
        "Step Functions state machines are encrypted with a customer-managed KMS key.",
        _state_machine_kms,
    ),
)
