"""Cost controls: the environment's budget, capability budgets, anomaly alerts and a guardrail.

`CostControls` (`mlops:cost:CostControls`), with `cost.enabled`:

- **The environment's monthly budget**, on the cost of resources tagged
  `Environment=<environment>` (every platform resource carries it: the provider's default tags,
  and the tags the training pipelines put on their jobs), notifying the platform topic and the
  configured emails at 50, 80 and 100% of actual spend and at 100% of forecast spend.
- **Capability budgets** (optional): training and inference, on the `Capability` tag the
  training jobs and the SageMaker endpoints, configurations and models carry.
- **Cost Anomaly Detection**: a monitor of the environment's tag and a subscription alerting the
  topic at once for anomalies whose total impact reaches `anomalyThresholdUsd`.
- **Cost-allocation tags** activated for the platform's tag keys, so Budgets and Cost Explorer
  can filter on them (an account-wide, payer-account setting; see the README).
- **The guardrail** (`guardrail.enabled`, dev and staging only): a budget action that, at 100%
  of actual spend, attaches a deny policy for new SageMaker training jobs, pipeline runs and
  endpoints to the platform's roles, automatically, and tells the topic. Lifting it: the README.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam
from components.config import PLATFORM_TAG_KEYS
from components.naming import NameKind, Naming
from components.platform import PlatformComponent, PlatformContext

CAPABILITY_TAG = "Capability"
"""The tag naming the capability a cost-driving resource belongs to (training, inference)."""
ACTUAL_THRESHOLDS = (50, 80, 100)
FORECAST_THRESHOLDS = (100,)
GUARDRAIL_THRESHOLD = 100
BUDGETS_SERVICE = "budgets.amazonaws.com"
DENIED_ACTIONS = [
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTransformJob",
    "sagemaker:StartPipelineExecution",
    "sagemaker:CreateEndpoint",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:UpdateEndpoint",
]
"""What the guardrail stops: everything that starts new SageMaker compute."""


def monthly_budget_name(naming: Naming) -> str:
    """The stack's monthly cost budget, which the retraining trigger also reads."""
    return naming.physical("monthly", NameKind.BUDGET)


@dataclass(frozen=True)
class CostArgs:
    """Inputs of `CostControls`."""

    context: PlatformContext
    topic_arn: pulumi.Input[str]
    """The platform topic: budget notifications, anomalies and the guardrail's action."""
    guarded_role_names: Sequence[str] = ()
    """The platform's roles the guardrail's deny policy is attached to."""


class CostControls(PlatformComponent):
    """The stack's budgets, anomaly detection, allocation tags and guardrail."""

    budget_name: str
    anomaly_monitor_arn: pulumi.Output[str]
    guardrail_policy_arn: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: CostArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:cost:CostControls", name, args.context, opts)
        self._args = args
        cost = self._ctx.config.cost
        self.budget_name = monthly_budget_name(self._ctx.naming)
        environment = self._ctx.config.environment
        budget = self._budget(
            "monthly", self.budget_name, cost.monthly_budget_usd, tag_filter(environment)
        )
        capabilities = cost.capability_budgets
        for capability, limit in (
            ("training", capabilities.training_usd),
            ("inference", capabilities.inference_usd),
        ):
            if limit is not None:
                self._budget(
                    capability,
                    self._ctx.naming.physical(f"{capability}-monthly", NameKind.BUDGET),
                    limit,
                    tag_filter(environment, capability),
                )
        self.anomaly_monitor_arn = self._anomaly_alerts()
        self._allocation_tags()
        self.guardrail_policy_arn = self._guardrail(budget) if cost.guardrail.enabled else None
        self.register_outputs(
            {
                "budget_name": self.budget_name,
                "anomaly_monitor_arn": self.anomaly_monitor_arn,
                "guardrail_policy_arn": self.guardrail_policy_arn,
            }
        )

    def _budget(
        self,
        kind: str,
        name: str,
        limit: float,
        expression: aws.budgets.BudgetFilterExpressionArgs,
    ) -> aws.budgets.Budget:
        cost = self._ctx.config.cost
        topic = self._args.topic_arn
        return aws.budgets.Budget(
            f"{self._name}-{kind}",
            name=name,
            budget_type="COST",
            limit_amount=f"{limit:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            filter_expression=expression,
            notifications=[
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    notification_type=kind_of,
                    threshold=float(threshold),
                    threshold_type="PERCENTAGE",
                    subscriber_sns_topic_arns=[topic],
                    subscriber_email_addresses=list(cost.budget_emails) or None,
                )
                for kind_of, thresholds in (
                    ("ACTUAL", ACTUAL_THRESHOLDS),
                    ("FORECASTED", FORECAST_THRESHOLDS),
                )
                for threshold in thresholds
            ],
            opts=self._opts(),
        )

    def _anomaly_alerts(self) -> pulumi.Output[str]:
        ctx = self._ctx
        monitor = aws.costexplorer.AnomalyMonitor(
            f"{self._name}-anomalies",
            name=self._physical("anomalies", NameKind.BUDGET),
            monitor_type="CUSTOM",
            monitor_specification=anomaly_specification(ctx.config.environment),
            opts=self._opts(),
        )
        aws.costexplorer.AnomalySubscription(
            f"{self._name}-anomaly-alerts",
            name=self._physical("anomaly-alerts", NameKind.BUDGET),
            # SNS subscribers need IMMEDIATE: each anomaly is told when it is detected.
            frequency="IMMEDIATE",
            monitor_arn_lists=[monitor.arn],
            subscribers=[
                aws.costexplorer.AnomalySubscriptionSubscriberArgs(
                    type="SNS", address=self._args.topic_arn
                )
            ],
            threshold_expression=anomaly_threshold(ctx.config.cost.anomaly_threshold_usd),
            opts=self._opts(),
        )
        return monitor.arn

    def _allocation_tags(self) -> None:
        for key in (*PLATFORM_TAG_KEYS, CAPABILITY_TAG):
            aws.costexplorer.CostAllocationTag(
                f"{self._name}-tag-{key.lower()}",
                tag_key=key,
                status="Active",
                opts=self._opts(),
            )

    def _guardrail(self, budget: aws.budgets.Budget) -> pulumi.Output[str]:
        ctx = self._ctx
        roles = sorted(set(self._args.guarded_role_names))
        deny = aws.iam.Policy(
            f"{self._name}-guardrail-deny",
            name=self._physical("guardrail-deny", NameKind.IAM_POLICY),
            description="Attached by the budget action when the environment is over budget: "
            "no new SageMaker training, pipeline runs or endpoints.",
            policy=guardrail_policy(),
            opts=self._opts(),
        )
        role = ctx.service_role(
            f"{self._name}-guardrail-role",
            role_name=self._physical("guardrail", NameKind.IAM_ROLE),
            description="AWS Budgets: attach and detach the guardrail's deny policy.",
            service=BUDGETS_SERVICE,
            parent=self,
        )
        access = aws.iam.RolePolicy(
            f"{self._name}-guardrail-access",
            role=role.id,
            policy=pulumi.Output.all(ctx.account_id, deny.arn).apply(
                lambda v: budget_action_policy(
                    partition=ctx.partition, account_id=v[0], policy_arn=v[1], role_names=roles
                )
            ),
            opts=self._opts(),
        )
        aws.budgets.BudgetAction(
            f"{self._name}-guardrail",
            budget_name=budget.name,
            action_type="APPLY_IAM_POLICY",
            approval_model="AUTOMATIC",
            notification_type="ACTUAL",
            action_threshold=aws.budgets.BudgetActionActionThresholdArgs(
                action_threshold_type="PERCENTAGE",
                action_threshold_value=float(GUARDRAIL_THRESHOLD),
            ),
            definition=aws.budgets.BudgetActionDefinitionArgs(
                iam_action_definition=aws.budgets.BudgetActionDefinitionIamActionDefinitionArgs(
                    policy_arn=deny.arn, roles=roles
                )
            ),
            execution_role_arn=role.arn,
            subscribers=[
                aws.budgets.BudgetActionSubscriberArgs(
                    subscription_type="SNS", address=self._args.topic_arn
                )
            ],
            opts=self._opts([access]),
        )
        return deny.arn


# ---- documents and filters (plain functions, tested on their own) ----------------------------


def tag_filter(
    environment: str, capability: str | None = None
) -> aws.budgets.BudgetFilterExpressionArgs:
    """Budgets' filter expression: resources tagged `Environment=<environment>` (and, for a
    capability budget, `Capability=<capability>` too)."""
    if capability is None:
        return aws.budgets.BudgetFilterExpressionArgs(
            tags=aws.budgets.BudgetFilterExpressionTagsArgs(key="Environment", values=[environment])
        )
    return aws.budgets.BudgetFilterExpressionArgs(
        ands=[
            aws.budgets.BudgetFilterExpressionAndArgs(
                tags=aws.budgets.BudgetFilterExpressionAndTagsArgs(
                    key="Environment", values=[environment]
                )
            ),
            aws.budgets.BudgetFilterExpressionAndArgs(
                tags=aws.budgets.BudgetFilterExpressionAndTagsArgs(
                    key=CAPABILITY_TAG, values=[capability]
                )
            ),
        ]
    )


def anomaly_specification(environment: str) -> str:
    """The anomaly monitor's expression (JSON): costs tagged with this environment."""
    return json.dumps(
        {"Tags": {"Key": "Environment", "Values": [environment], "MatchOptions": ["EQUALS"]}},
        sort_keys=True,
    )


def anomaly_threshold(
    usd: float,
) -> aws.costexplorer.AnomalySubscriptionThresholdExpressionArgsDict:
    """Alert when an anomaly's total impact reaches `usd` dollars."""
    return {
        "dimension": {
            "key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
            "match_options": ["GREATER_THAN_OR_EQUAL"],
            "values": [f"{usd:g}"],
        }
    }


def guardrail_policy() -> str:
    """Deny everything that starts new SageMaker compute (existing jobs and endpoints run on)."""
    return iam.document(
        {
            "Sid": "OverBudgetNoNewSageMakerCompute",
            "Effect": "Deny",
            "Action": DENIED_ACTIONS,
            # A deny of sagemaker:CreateTrainingJob and the other compute-starting actions on
            # every resource: the point is that no new compute starts anywhere.
            "Resource": "*",
        }
    )


def budget_action_policy(
    *, partition: str, account_id: str, policy_arn: str, role_names: list[str]
) -> str:
    """AWS Budgets attaches and detaches exactly the deny policy, on exactly these roles."""
    return iam.document(
        # iam:AttachRolePolicy/DetachRolePolicy (permissions management): only the one deny
        # policy (the iam:PolicyARN condition), only on the named roles.
        iam.allow(
            "AttachTheGuardrail",
            ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            [f"arn:{partition}:iam::{account_id}:role/{name}" for name in role_names],
            Condition={"ArnEquals": {"iam:PolicyARN": policy_arn}},
        )
    )
