"""The retraining trigger: drift, alarms and requests start a model's training pipeline.

`RetrainingTrigger` (`mlops:retraining:RetrainingTrigger`) deploys `lambdas/retrain_trigger`:

- the function (the platform's hardened function: Powertools layer, arm64, X-Ray, reserved
  concurrency, KMS environment, log retention, dead-letter queue after two async retries);
- its DynamoDB table: idempotency records, each model's guard state (last start, starts
  today) and the audit trail of every decision, with TTL, point-in-time recovery, the
  platform key and deletion protection in prod;
- four EventBridge routes, each with a retry policy, a dead-letter queue and a Lambda
  permission scoped to its rule: `DriftDetected` and manual `RetrainingRequested` events on the
  platform bus, CloudWatch alarm state changes of the models' alarms and registry approvals
  ("SageMaker Model Package State Change" to `Approved`) on the default bus;
- one role granting exactly what the handler calls (`trigger_policy`).

Names shared with the handler (environment, events, table keys) come from
`retrain_settings`, which both import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import retrain_settings
from mlops_drift import settings as drift_settings

from components import functions, iam
from components.naming import NameKind
from components.notifications import EventRoute, EventRouteArgs
from components.platform import PlatformComponent, PlatformContext

HANDLER_DIR = Path(__file__).resolve().parent.parent / "lambdas" / "retrain_trigger"
MEMORY_MB = 256
TIMEOUT_SECONDS = 60
EVENTS_SERVICE = "events.amazonaws.com"


@dataclass(frozen=True)
class RetrainingArgs:
    """Inputs of `RetrainingTrigger`."""

    context: PlatformContext
    kms_key_arn: pulumi.Input[str]
    """The platform key: table, environment, logs, queues."""
    topic_arn: pulumi.Input[str]
    """The platform topic every decision is published to."""
    event_bus_name: pulumi.Input[str]
    """The platform bus: drift events and manual requests in, decisions out."""
    event_bus_arn: pulumi.Input[str]
    pipeline_names: Mapping[str, str]
    """Model to its training pipeline's name (the models the trigger can retrain)."""
    data_bucket: pulumi.Input[str]
    """The curated bucket: each model's default `DataUri` is `s3://<bucket>/<model>/training/`."""
    model_package_groups: Mapping[str, str]
    """Model to its registry group (approvals of these groups are promoted)."""
    alarm_names: Mapping[str, Sequence[str]]
    """Model to the CloudWatch alarms whose firing retrains it."""
    powertools_layer_arn: pulumi.Input[str]
    budget_name: str | None = None
    """The stack's monthly budget; None turns the budget guard off."""
    watch_drift: bool = True
    """Route the drift checks' `DriftDetected` events (False when the stack has no checks)."""


class RetrainingTrigger(PlatformComponent):
    """The retraining trigger, its table, its routes and its role."""

    function_arn: pulumi.Output[str]
    table_name: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: RetrainingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:retraining:RetrainingTrigger", name, args.context, opts)
        self._args = args
        self._queue = self._ctx.dead_letter_queue(
            f"{name}-dlq",
            queue_name=self._physical("dlq", NameKind.SQS_QUEUE),
            kms_key_arn=args.kms_key_arn,
            parent=self,
        )
        self._table = self._decision_table()
        function = self._function()
        self._routes(function)
        self.function_arn = function.arn
        self.table_name = self._table.name
        self.dead_letter_queue_arn = self._queue.arn
        self.register_outputs(
            {
                "function_arn": self.function_arn,
                "table_name": self.table_name,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
            }
        )

    def _decision_table(self) -> aws.dynamodb.Table:
        ctx = self._ctx
        return aws.dynamodb.Table(
            f"{self._name}-table",
            name=self._physical("decisions", NameKind.DYNAMODB_TABLE),
            billing_mode="PAY_PER_REQUEST",
            hash_key=retrain_settings.KEY_ATTRIBUTE,
            range_key=retrain_settings.SORT_KEY_ATTRIBUTE,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=retrain_settings.KEY_ATTRIBUTE, type="S"),
                aws.dynamodb.TableAttributeArgs(name=retrain_settings.SORT_KEY_ATTRIBUTE, type="S"),
            ],
            ttl=aws.dynamodb.TableTtlArgs(
                attribute_name=retrain_settings.TTL_ATTRIBUTE, enabled=True
            ),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=self._args.kms_key_arn
            ),
            deletion_protection_enabled=ctx.config.tier == "prod",
            opts=ctx.stateful(self._opts()),
        )

    def _targets(self) -> dict[str, retrain_settings.ModelTarget]:
        args = self._args
        return {
            model: retrain_settings.ModelTarget(
                pipeline=pipeline,
                data_uri="",  # filled in with the bucket's name
                alarms=tuple(sorted(args.alarm_names.get(model, ()))),
                package_group=args.model_package_groups[model],
            )
            for model, pipeline in sorted(args.pipeline_names.items())
        }

    def _function(self) -> aws.lambda_.Function:
        ctx = self._ctx
        args = self._args
        retraining = ctx.config.retraining
        function_name = self._physical("trigger", NameKind.LAMBDA_FUNCTION)
        role = ctx.service_role(
            f"{self._name}-role",
            role_name=self._physical("trigger", NameKind.IAM_ROLE),
            description="Retraining trigger: guard, start training pipelines, record, notify.",
            service=functions.LAMBDA_SERVICE,
            parent=self,
        )
        promotion = retraining.promotion
        role_policy = aws.iam.RolePolicy(
            f"{self._name}-access",
            role=role.id,
            policy=pulumi.Output.all(
                ctx.account_id,
                self._table.arn,
                args.event_bus_arn,
                args.topic_arn,
                args.kms_key_arn,
                self._queue.arn,
                functions.log_group_arn(ctx, function_name),
            ).apply(
                lambda v: trigger_policy(
                    partition=ctx.partition,
                    region=ctx.config.region,
                    account_id=v[0],
                    table_arn=v[1],
                    event_bus_arn=v[2],
                    topic_arn=v[3],
                    kms_key_arn=v[4],
                    queue_arn=v[5],
                    log_group_arn=v[6],
                    pipeline_names=sorted(args.pipeline_names.values()),
                    budget_name=args.budget_name,
                    token_secret_arn=promotion.token_secret_arn,
                )
            ),
            opts=self._opts(),
        )
        targets = self._targets()
        models = pulumi.Output.from_input(args.data_bucket).apply(
            lambda bucket: retrain_settings.models_env(
                {
                    model: retrain_settings.ModelTarget(
                        pipeline=t.pipeline,
                        data_uri=f"s3://{bucket}/{model}/training/",
                        alarms=t.alarms,
                        package_group=t.package_group,
                    )
                    for model, t in targets.items()
                }
            )
        )
        environment: dict[str, pulumi.Input[str]] = {
            retrain_settings.ENV_TABLE: self._table.name,
            retrain_settings.ENV_EVENT_BUS: args.event_bus_name,
            retrain_settings.ENV_TOPIC_ARN: args.topic_arn,
            retrain_settings.ENV_MODELS: models,
            retrain_settings.ENV_COOLDOWN_HOURS: str(retraining.cooldown_hours),
            retrain_settings.ENV_DAILY_CAP: str(retraining.daily_cap),
            retrain_settings.ENV_BUDGET_MAX_SHARE: str(retraining.budget_max_share),
            retrain_settings.ENV_AUDIT_TTL_DAYS: str(retraining.audit_retention_days),
            retrain_settings.ENV_PROMOTION_EVENT_TYPE: promotion.event_type,
            retrain_settings.ENV_METRICS_NAMESPACE: retrain_settings.METRICS_NAMESPACE,
            retrain_settings.ENV_SERVICE_NAME: retrain_settings.SERVICE_NAME,
        }
        if args.budget_name is not None:
            environment[retrain_settings.ENV_BUDGET_NAME] = args.budget_name
        if promotion.github_repository is not None and promotion.token_secret_arn is not None:
            environment[retrain_settings.ENV_PROMOTION_REPOSITORY] = promotion.github_repository
            environment[retrain_settings.ENV_PROMOTION_TOKEN_SECRET] = promotion.token_secret_arn
        return functions.hardened_function(
            ctx,
            self,
            f"{self._name}-trigger",
            functions.FunctionSpec(
                name=function_name,
                description="Starts training pipelines on drift, alarms and requests, behind "
                "its guards (lambdas/retrain_trigger).",
                handler="trigger.lambda_handler",
                code=code_archive(),
                layers=[args.powertools_layer_arn],
                role_arn=role.arn,
                memory_mb=MEMORY_MB,
                timeout_seconds=TIMEOUT_SECONDS,
                reserved_concurrency=retraining.reserved_concurrency,
                environment=environment,
            ),
            kms_key_arn=args.kms_key_arn,
            queue_arn=self._queue.arn,
            depends_on=[role_policy],
        )

    def _routes(self, function: aws.lambda_.Function) -> None:
        ctx = self._ctx
        args = self._args
        models = sorted(args.pipeline_names)
        alarms = sorted({a for names in args.alarm_names.values() for a in names})
        groups = sorted({args.model_package_groups[m] for m in models})
        routes: list[tuple[str, str, dict[str, Any], pulumi.Input[str] | None]] = [
            (
                "requests",
                "Retraining requested by a person or CI.",
                request_pattern(models),
                args.event_bus_name,
            ),
            (
                "approvals",
                "A version of a retrained model approved in the registry.",
                approval_pattern(groups),
                None,
            ),
        ]
        if args.watch_drift:
            routes.insert(
                0,
                (
                    "drift",
                    "Drift detected on a model the trigger retrains.",
                    drift_pattern(models),
                    args.event_bus_name,
                ),
            )
        if alarms:
            routes.append(("alarms", "A model's alarm fired.", alarm_pattern(alarms), None))
        for kind, description, pattern, bus in routes:
            route = EventRoute(
                f"{self._name}-{kind}",
                EventRouteArgs(
                    context=ctx,
                    description=description,
                    event_pattern=pattern,
                    target_arn=function.arn,
                    kms_key_arn=args.kms_key_arn,
                    event_bus_name=bus,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.lambda_.Permission(
                f"{self._name}-{kind}-invoke",
                function=function.name,
                action="lambda:InvokeFunction",
                principal=EVENTS_SERVICE,
                source_arn=route.rule_arn,
                opts=self._opts(),
            )


# ---- patterns, code and documents (plain functions, tested on their own) ----------------------


def code_archive() -> pulumi.AssetArchive:
    """The handler's modules (no tests, no docs)."""
    return pulumi.AssetArchive(
        {p.name: pulumi.FileAsset(str(p)) for p in sorted(HANDLER_DIR.glob("*.py"))}
    )


def drift_pattern(models: list[str]) -> dict[str, Any]:
    """The drift check's `DriftDetected` events of these models."""
    return {
        "source": [drift_settings.EVENT_SOURCE],
        "detail-type": [drift_settings.EVENT_DETECTED],
        "detail": {"model": models},
    }


def request_pattern(models: list[str]) -> dict[str, Any]:
    """Manual `RetrainingRequested` events (by a person or CI) of these models."""
    return {
        "source": [retrain_settings.REQUEST_SOURCE],
        "detail-type": [retrain_settings.REQUEST_DETAIL_TYPE],
        "detail": {"model": models},
    }


def alarm_pattern(alarm_names: list[str]) -> dict[str, Any]:
    """These alarms going into ALARM."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": alarm_names, "state": {"value": ["ALARM"]}},
    }


def approval_pattern(group_names: list[str]) -> dict[str, Any]:
    """Approvals of versions in these model package groups."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": group_names, "ModelApprovalStatus": ["Approved"]},
    }


def trigger_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    table_arn: str,
    event_bus_arn: str,
    topic_arn: str,
    kms_key_arn: str,
    queue_arn: str,
    log_group_arn: str,
    pipeline_names: list[str],
    budget_name: str | None,
    token_secret_arn: str | None,
) -> str:
    """What the trigger calls, on exactly its resources."""
    sm = f"arn:{partition}:sagemaker:{region}:{account_id}"
    statements = [
        iam.allow(
            "DecisionsTable",
            [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            [table_arn],
        ),
        iam.allow(
            "UsePlatformKeyThroughServices",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={
                "StringEquals": {
                    "kms:ViaService": [
                        f"{service}.{region}.amazonaws.com"
                        # The dispatch token's secret, when it is under the platform key.
                        for service in ("dynamodb", "sns")
                        + (("secretsmanager",) if token_secret_arn is not None else ())
                    ]
                }
            },
        ),
        iam.allow(
            "StartTraining",
            ["sagemaker:StartPipelineExecution", "sagemaker:ListPipelineExecutions"],
            [f"{sm}:pipeline/{name.lower()}" for name in pipeline_names],
        ),
        iam.allow("PutDecisions", ["events:PutEvents"], [event_bus_arn]),
        iam.allow("Notify", ["sns:Publish"], [topic_arn]),
        iam.allow(
            "WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]
        ),
        # xray:PutTraceSegments and xray:PutTelemetryRecords take no resource: AWS cannot
        # scope them.
        iam.allow("Trace", functions.XRAY_ACTIONS, ["*"]),
        *iam.dead_letter_statements(queue_arn, kms_key_arn, region),
    ]
    if budget_name is not None:
        statements.append(
            iam.allow(
                "ReadBudget",
                ["budgets:ViewBudget"],
                [f"arn:{partition}:budgets::{account_id}:budget/{budget_name}"],
            )
        )
    if token_secret_arn is not None:
        statements.append(
            iam.allow("ReadDispatchToken", ["secretsmanager:GetSecretValue"], [token_secret_arn])
        )
    return iam.document(*statements)
