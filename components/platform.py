"""Platform-wide resources: the AWS provider every resource uses, and shared context.

`PlatformContext` is what each capability component receives: the validated config, the
physical-name factory, the explicit AWS provider (default tags included) and the options for
stateful resources. Components never build their own provider, so no resource can escape the
default tags or the account guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import iam
from components.config import PLATFORM_TAG_KEYS, PROJECT, PlatformConfig
from components.naming import NameKind, Naming

MANAGED_BY = "pulumi:mlops-platform"
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
"""The longest SQS keeps a message: two weeks to notice and replay what failed."""


def partition_for(region: str) -> str:
    """The AWS partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def default_tags(cfg: PlatformConfig) -> dict[str, str]:
    """The tags the provider puts on every taggable AWS resource of the stack."""
    values = (PROJECT, cfg.environment, cfg.tags.cost_center, cfg.tags.owner, MANAGED_BY)
    return {**cfg.tags.extra, **dict(zip(PLATFORM_TAG_KEYS, values, strict=True))}


def aws_provider(name: str, cfg: PlatformConfig) -> aws.Provider:
    """The one AWS provider of the stack: region, account guard and default tags."""
    return aws.Provider(
        name,
        region=cfg.region,
        allowed_account_ids=list(cfg.allowed_account_ids) or None,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(cfg)),
        # A stack never picks up credentials' or environment's region by accident.
        skip_region_validation=False,
    )


@dataclass
class Inventory:
    """What the capabilities created that monitoring watches, filled in as they are built:
    every platform Lambda function and every dead-letter queue."""

    function_names: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    """Function name by its Pulumi resource name (a stable key for the alarms' names)."""
    queue_names: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    """Dead-letter queue name by its Pulumi resource name."""
    role_names: list[str] = field(default_factory=list)
    """Every service role the platform created (the cost guardrail's deny policy targets)."""


@dataclass(frozen=True)
class PlatformContext:
    """What every capability component needs from the platform foundation."""

    config: PlatformConfig
    naming: Naming
    provider: aws.Provider
    partition: str
    account_id: pulumi.Output[str]
    """The account the provider deploys to (one caller-identity lookup for the stack)."""
    inventory: Inventory = field(default_factory=Inventory)
    """Functions and dead-letter queues, for the dashboards and alarms."""

    def stateful(self, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """Options for a resource holding data or keys: protected and retained per config."""
        own = pulumi.ResourceOptions(
            protect=self.config.protection.protect_stateful,
            retain_on_delete=self.config.protection.retain_on_delete,
        )
        return pulumi.ResourceOptions.merge(opts, own)

    def child_opts(
        self, parent: pulumi.Resource, opts: pulumi.ResourceOptions | None = None
    ) -> pulumi.ResourceOptions:
        """Options for a component's child: parented, on the platform provider."""
        return pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(parent=parent, provider=self.provider), opts
        )

    def service_role(
        self,
        resource_name: str,
        *,
        role_name: str,
        description: str,
        service: str,
        parent: pulumi.Resource,
        source_arn: pulumi.Input[str] | None = None,
    ) -> aws.iam.Role:
        """A role one AWS service assumes for this account only (and `source_arn`, if given)."""
        self.inventory.role_names.append(role_name)
        trust = pulumi.Output.all(self.account_id, source_arn).apply(
            lambda values: iam.service_trust(service, values[0], values[1])
        )
        return aws.iam.Role(
            resource_name,
            name=role_name,
            description=description,
            assume_role_policy=trust,
            max_session_duration=3600,
            opts=self.child_opts(parent),
        )

    def dead_letter_queue(
        self,
        resource_name: str,
        *,
        queue_name: str,
        kms_key_arn: pulumi.Input[str],
        parent: pulumi.Resource,
    ) -> aws.sqs.Queue:
        """A queue for what could not be delivered: platform key, kept for 14 days."""
        queue = aws.sqs.Queue(
            resource_name,
            name=queue_name,
            kms_master_key_id=kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            opts=self.child_opts(parent),
        )
        self.inventory.queue_names[resource_name] = queue.name
        return queue


class PlatformComponent(pulumi.ComponentResource):
    """Base of the capability components that create many children on the platform provider."""

    def __init__(
        self,
        type_: str,
        name: str,
        context: PlatformContext,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_, name, None, opts)
        self._ctx = context
        self._name = name

    def _opts(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        """A child's options: parented here, on the platform provider, after `depends_on`."""
        return self._ctx.child_opts(self, pulumi.ResourceOptions(depends_on=depends_on))

    def _arn(self, service: str, resource: str) -> pulumi.Output[str]:
        """`arn:<partition>:<service>:<region>:<account>:<resource>` in the stack's account."""
        ctx = self._ctx
        return ctx.account_id.apply(
            lambda account: (
                f"arn:{ctx.partition}:{service}:{ctx.config.region}:{account}:{resource}"
            )
        )

    def _physical(self, part: str, kind: NameKind) -> str:
        """`<project>-<stack>-<component name>-<part>`, valid for `kind`."""
        return self._ctx.naming.physical(f"{self._name}-{part}", kind)
