"""The platform's customer-managed KMS key, used by every encrypted resource.

Rotation is on, the key policy is explicit (no wildcard principal: the account root delegates to
IAM, CloudWatch Logs in this region and account may use the key for log groups, and EventBridge
may encrypt messages to the platform's topic and queues for this account; with an EKS cluster,
Auto Scaling may encrypt its nodes' volumes), the deletion window
comes from config and the key is protected and retained per stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import EksCluster
from components.naming import NameKind
from components.platform import PlatformContext


@dataclass(frozen=True)
class PlatformKeyArgs:
    """Inputs of `PlatformKey`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    description: str = "MLOps platform data key"
    """Human description shown in the KMS console."""


NOTIFYING_SERVICES = (
    "cloudwatch.amazonaws.com",
    "budgets.amazonaws.com",
    "costalerts.amazonaws.com",
)
"""Services that publish the platform's notifications to its encrypted topic."""


AUTOSCALING_ROLE = "aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
"""The Auto Scaling service-linked role: it launches the EKS managed nodes."""


def autoscaling_volume_statements(account_id: str, partition: str) -> list[dict[str, Any]]:
    """Let Auto Scaling launch EKS nodes whose root volumes use the platform key.

    The service-linked role's own policy grants nothing on customer-managed keys and its
    identity policy cannot be changed, so the account root's delegation to IAM does not reach
    it: only the key policy can (AWS's "required KMS key policy for use with encrypted
    volumes"). KMS refuses a key policy naming a role that does not exist; Auto Scaling creates
    this one with the account's first Auto Scaling group, or `aws iam
    create-service-linked-role --aws-service-name autoscaling.amazonaws.com` does.
    """
    role = {"AWS": f"arn:{partition}:iam::{account_id}:role/{AUTOSCALING_ROLE}"}
    return [
        {
            # kms:ReEncrypt* and kms:GenerateDataKey*: AWS's required key policy, verbatim.
            "Sid": "AutoScalingUsesPlatformKeyForNodeVolumes",
            "Effect": "Allow",
            "Principal": role,
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
            ],
            "Resource": "*",
        },
        {
            # EC2 keeps the grant for as long as the volume is attached; nothing else.
            "Sid": "AutoScalingAttachesNodeVolumes",
            "Effect": "Allow",
            "Principal": role,
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}},
        },
    ]


def key_policy(account_id: str, region: str, partition: str, eks_nodes: bool = False) -> str:
    """The key policy document, as JSON; with `eks_nodes`, Auto Scaling may encrypt the root
    volumes of the EKS managed nodes (components/kubernetes_cluster.py)."""
    root = f"arn:{partition}:iam::{account_id}:root"
    nodes = autoscaling_volume_statements(account_id, partition) if eks_nodes else []
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    # Without this the key could become unmanageable; access is then governed
                    # by IAM policies in this account only.
                    "Sid": "AccountRootDelegatesToIam",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    # kms:Encrypt* and the rest: the key policy CloudWatch Logs documents, for
                    # this account's log groups only. Its ArnLike on the encryption context is
                    # CloudWatch Logs' own condition; parliament knows neither the context key
                    # nor that it holds an ARN (UNKNOWN_CONDITION_FOR_ACTION, MISMATCHED_TYPE).
                    "Sid": "CloudWatchLogsEncryptsPlatformLogGroups",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": (
                                f"arn:{partition}:logs:{region}:{account_id}:log-group:*"
                            )
                        }
                    },
                },
                {
                    # EventBridge publishes to the encrypted platform topic and dead-letter
                    # queues; it needs a data key, and only on this account's behalf.
                    "Sid": "EventBridgeEncryptsPlatformMessages",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
                {
                    # CloudWatch alarms, AWS Budgets and Cost Anomaly Detection publish to the
                    # encrypted platform topic; the same data key, the same account only.
                    "Sid": "AlarmsAndCostAlertsEncryptPlatformNotifications",
                    "Effect": "Allow",
                    "Principal": {"Service": sorted(NOTIFYING_SERVICES)},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
                *nodes,
            ],
        },
        sort_keys=True,
    )


class PlatformKey(pulumi.ComponentResource):
    """A rotated customer-managed KMS key with an explicit policy and an alias."""

    key_arn: pulumi.Output[str]
    """ARN of the key."""
    key_id: pulumi.Output[str]
    """Key id."""
    alias_name: pulumi.Output[str]
    """`alias/<project>-<stack>-<name>`."""

    def __init__(
        self, name: str, args: PlatformKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:security:PlatformKey", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        eks_nodes = cfg.kubernetes.enabled and isinstance(cfg.kubernetes.cluster, EksCluster)
        self._key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            rotation_period_in_days=cfg.kms.rotation_period_days,
            deletion_window_in_days=cfg.kms.deletion_window_days,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            bypass_policy_lockout_safety_check=False,
            policy=ctx.account_id.apply(
                lambda account: key_policy(account, cfg.region, ctx.partition, eks_nodes)
            ),
            opts=ctx.stateful(ctx.child_opts(self)),
        )
        self._alias = aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{ctx.naming.physical(name, NameKind.KMS_ALIAS)}",
            target_key_id=self._key.key_id,
            opts=ctx.child_opts(self),
        )
        self.key_arn = self._key.arn
        self.key_id = self._key.key_id
        self.alias_name = self._alias.name
        self.register_outputs(
            {"key_arn": self.key_arn, "key_id": self.key_id, "alias_name": self.alias_name}
        )
