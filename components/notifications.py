"""The platform's SNS topic and the EventBridge plumbing that publishes to it.

`PlatformTopic` (`mlops:notifications:PlatformTopic`) is a KMS-encrypted topic whose policy lets
AWS services publish only on behalf of this account (no public or cross-account statement);
same-account principals publish through their own IAM policies. `EventRoute`
(`mlops:notifications:EventRoute`) is an EventBridge rule with one target, an explicit retry
policy and a KMS-encrypted dead-letter queue, because EventBridge otherwise retries for 24 hours
and then drops the event silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.kms import NOTIFYING_SERVICES
from components.naming import NameKind
from components.platform import PlatformContext

EVENTS_SERVICE = "events.amazonaws.com"
RETRY_ATTEMPTS = 20
"""EventBridge retries a failed delivery this many times (its default is 185)."""
RETRY_MAX_AGE_SECONDS = 6 * 3600
"""…within this long (default 24 h), then the event goes to the dead-letter queue."""


@dataclass(frozen=True)
class PlatformTopicArgs:
    """Inputs of `PlatformTopic`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key encrypting messages at rest."""
    account_id: pulumi.Input[str]
    """This account: publishing services act only on its behalf."""
    publishers: tuple[str, ...] = (EVENTS_SERVICE, *NOTIFYING_SERVICES)
    """AWS service principals allowed to publish: EventBridge, CloudWatch alarms, Budgets and
    Cost Anomaly Detection."""


class PlatformTopic(pulumi.ComponentResource):
    """A KMS-encrypted SNS topic for platform events (approvals, alarms, drift)."""

    topic_arn: pulumi.Output[str]
    """ARN of the topic."""

    def __init__(
        self, name: str, args: PlatformTopicArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:notifications:PlatformTopic", name, None, opts)
        ctx = args.context
        self._topic = aws.sns.Topic(
            f"{name}-topic",
            name=ctx.naming.physical(name, NameKind.SNS_TOPIC),
            kms_master_key_id=args.kms_key_arn,
            opts=ctx.child_opts(self),
        )
        policy = pulumi.Output.all(self._topic.arn, args.account_id).apply(
            lambda values: topic_policy(values[0], values[1], args.publishers)
        )
        aws.sns.TopicPolicy(
            f"{name}-policy", arn=self._topic.arn, policy=policy, opts=ctx.child_opts(self)
        )
        self.topic_arn = self._topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})


def topic_policy(topic_arn: str, account_id: str, publishers: tuple[str, ...]) -> str:
    """Services may publish for this account only (SNS.4: nothing public, no other account)."""
    return iam.document(
        {
            "Sid": "ServicesPublishForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": sorted(publishers)},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


@dataclass(frozen=True)
class EventRouteArgs:
    """Inputs of `EventRoute`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    description: str
    """What the rule matches, shown in the console."""
    event_pattern: pulumi.Input[dict[str, Any]] | None
    """The EventBridge event pattern (may depend on outputs, e.g. the account id); None for a
    rule that runs on `schedule_expression` instead."""
    target_arn: pulumi.Input[str]
    """Where matching events go (an SNS topic, a Lambda function, …)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key encrypting the dead-letter queue."""
    schedule_expression: str | None = None
    """`rate(…)` or `cron(…)` for a scheduled rule (then `event_pattern` is None)."""
    target_input: str | None = None
    """Constant JSON the target receives instead of the event."""
    event_bus_name: pulumi.Input[str] | None = None
    """The bus the rule watches (the account's default bus when None)."""


class EventRoute(pulumi.ComponentResource):
    """An EventBridge rule, its target with retries, and a dead-letter queue."""

    rule_arn: pulumi.Output[str]
    """ARN of the rule."""
    rule_name: pulumi.Output[str]
    """Name of the rule (later capabilities attach more targets to it)."""
    dead_letter_queue_arn: pulumi.Output[str]
    """ARN of the dead-letter queue receiving events that could not be delivered."""

    def __init__(
        self, name: str, args: EventRouteArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:notifications:EventRoute", name, None, opts)
        if (args.event_pattern is None) == (args.schedule_expression is None):
            raise ValueError(
                f"EventRoute {name!r}: give exactly one of event_pattern and schedule_expression"
            )
        ctx = args.context
        self._rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            name=ctx.naming.physical(name, NameKind.EVENTBRIDGE_RULE),
            description=args.description,
            event_pattern=(
                pulumi.Output.from_input(args.event_pattern).apply(
                    lambda pattern: json.dumps(pattern, sort_keys=True)
                )
                if args.event_pattern is not None
                else None
            ),
            schedule_expression=args.schedule_expression,
            event_bus_name=args.event_bus_name,
            state="ENABLED",
            opts=ctx.child_opts(self),
        )
        self._queue = ctx.dead_letter_queue(
            f"{name}-dlq",
            queue_name=ctx.naming.physical(f"{name}-dlq", NameKind.SQS_QUEUE),
            kms_key_arn=args.kms_key_arn,
            parent=self,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=self._queue.url,
            policy=pulumi.Output.all(self._queue.arn, self._rule.arn).apply(
                lambda values: dead_letter_policy(values[0], values[1])
            ),
            opts=ctx.child_opts(self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=self._rule.name,
            event_bus_name=args.event_bus_name,
            arn=args.target_arn,
            input=args.target_input,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=RETRY_MAX_AGE_SECONDS,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=self._queue.arn),
            opts=ctx.child_opts(self, pulumi.ResourceOptions(depends_on=[queue_policy])),
        )
        self.rule_arn = self._rule.arn
        self.rule_name = self._rule.name
        self.dead_letter_queue_arn = self._queue.arn
        self.register_outputs(
            {
                "rule_arn": self.rule_arn,
                "rule_name": self.rule_name,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
            }
        )


def dead_letter_policy(queue_arn: str, rule_arn: str) -> str:
    """Only this rule's undeliverable events may be sent to the queue."""
    return iam.document(
        {
            "Sid": "RuleSendsUndeliverableEvents",
            "Effect": "Allow",
            "Principal": {"Service": EVENTS_SERVICE},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }
    )


@dataclass(frozen=True)
class PlatformEventBusArgs:
    """Inputs of `PlatformEventBus`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    archive_days: int
    """Days every event on the bus is archived for replay."""


class PlatformEventBus(pulumi.ComponentResource):
    """The platform's own EventBridge bus (drift, retraining events) with an archive.

    The archive keeps every event for `archive_days`, so a consumer that was broken or not yet
    deployed can replay what it missed: nothing the platform announces is lost.
    """

    bus_name: pulumi.Output[str]
    """Name of the bus."""
    bus_arn: pulumi.Output[str]
    """ARN of the bus."""

    def __init__(
        self, name: str, args: PlatformEventBusArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:notifications:PlatformEventBus", name, None, opts)
        ctx = args.context
        self._bus = aws.cloudwatch.EventBus(
            f"{name}-bus",
            name=ctx.naming.physical(name, NameKind.EVENT_BUS),
            description="MLOps platform events: drift checks, retraining.",
            opts=ctx.child_opts(self),
        )
        aws.cloudwatch.EventArchive(
            f"{name}-archive",
            name=ctx.naming.physical(name, NameKind.EVENTBRIDGE_RULE),
            description="Every platform event, kept for replay.",
            event_source_arn=self._bus.arn,
            retention_days=args.archive_days,
            opts=ctx.child_opts(self),
        )
        self.bus_name = self._bus.name
        self.bus_arn = self._bus.arn
        self.register_outputs({"bus_name": self.bus_name, "bus_arn": self.bus_arn})
