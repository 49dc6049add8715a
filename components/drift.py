"""Drift checks: the functions, their schedules, the scale-out state machine and their role.

`DriftMonitor` (`mlops:drift:DriftMonitor`) deploys the handlers of `lambdas/drift_check/`:

- one layer with the handlers' dependencies (Powertools, numpy, orjson, msgspec), built reproducibly
  from `lambdas/drift_check/requirements.txt` for arm64 by `make lambda-layer`;
- the single-window check function, and when a monitor asks for `scaleout`, the plan, profile
  and reduce functions plus a Step Functions state machine whose Distributed Map runs the
  profile function over batches of the window's capture objects;
- one EventBridge Scheduler schedule per monitor, with an explicit retry policy and the
  dead-letter queue, invoking the check function (asynchronously: Lambda retries twice, then
  the event goes to the same queue) or starting the state machine;
- log groups with retention and the platform key, X-Ray on, environments encrypted with the
  platform key, reserved concurrency;
- one role for the functions that grants exactly their reads and writes (see `function_policy`),
  one for the scheduler and one for the state machine.

Names shared with the handlers (environment variables, S3 layout, events) come from
`mlops_drift.settings`, which both import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
from mlops_drift import settings

from components import functions, iam, inference, kubernetes_inference
from components.config import DriftMonitorSpec, DriftThresholds, PlatformConfig
from components.functions import ARCHITECTURE, LAMBDA_SERVICE, RUNTIME, XRAY_ACTIONS
from components.kubernetes_inference import served_variants
from components.naming import NameKind, Naming
from components.platform import PlatformComponent, PlatformContext

HANDLER_DIR = Path(__file__).resolve().parent.parent / "lambdas" / "drift_check"
LAYER_ZIP = Path(__file__).resolve().parent.parent / "build" / "lambda" / "drift-layer.zip"
SCHEDULER_SERVICE = "scheduler.amazonaws.com"
STATES_SERVICE = "states.amazonaws.com"
SCHEDULE_RETRIES = 10
SCHEDULE_MAX_AGE_SECONDS = 6 * 3600
HANDLERS = {
    "check": "handler.check_handler",
    "plan": "handler.plan_handler",
    "profile": "handler.profile_handler",
    "reduce": "handler.reduce_handler",
}
# glibc keeps large numpy buffers mapped and reused instead of returning them to the kernel
# after each chunk (measured 1.4-2.2x faster on these workloads; see PERF-NOTES and bench/).
MALLOC_TUNING = {
    "MALLOC_MMAP_THRESHOLD_": "1073741824",
    "MALLOC_TRIM_THRESHOLD_": "1073741824",
    "MALLOC_TOP_PAD_": "268435456",
}


def engine_layer(
    resource_name: str, layer_name: str, description: str, opts: pulumi.ResourceOptions
) -> aws.lambda_.LayerVersion:
    """The drift engine's dependencies layer (`make lambda-layer`): the drift checks' and, in a
    stack without them, the quality checks'."""
    return aws.lambda_.LayerVersion(
        resource_name,
        layer_name=layer_name,
        description=description,
        code=pulumi.FileArchive(str(LAYER_ZIP)),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        opts=opts,
    )


@dataclass(frozen=True)
class DriftMonitorArgs:
    """Inputs of `DriftMonitor`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key: environments, logs, queue, schedules, state machine, S3 objects."""
    capture_bucket: pulumi.Input[str]
    """The data lake's capture bucket (read)."""
    baseline_bucket: pulumi.Input[str]
    """The model-artifact bucket holding baselines (read)."""
    reports_bucket: pulumi.Input[str]
    """The reports bucket (reports and scale-out partials: write)."""
    event_bus_name: pulumi.Input[str]
    """The platform event bus the checks put their events on."""
    event_bus_arn: pulumi.Input[str]
    """ARN of that bus."""


CLI_ONLY = frozenset({"mlops_drift/cli.py", "mlops_drift/datasets.py"})
"""Engine modules only the `mlops` CLI imports (they need pyarrow); not deployed."""


def code_files() -> list[str]:
    """The deployed files, relative to `lambdas/drift_check`: the handlers and the engine."""
    return sorted(
        rel
        for p in HANDLER_DIR.rglob("*.py")
        if "__pycache__" not in p.parts
        and (rel := p.relative_to(HANDLER_DIR).as_posix()) not in CLI_ONLY
    )


def code_archive() -> pulumi.AssetArchive:
    """The handlers' code: `handler.py` and the engine's modules, nothing else."""
    return pulumi.AssetArchive(
        {rel: pulumi.FileAsset(str(HANDLER_DIR / rel)) for rel in code_files()}
    )


def monitor_input(
    monitor: DriftMonitorSpec,
    defaults: DriftThresholds,
    min_rows: int,
    variants: list[str] | None = None,
) -> str:
    """The JSON each schedule sends: the handlers' input event. `variants` limits the check to
    those variants' capture (an endpoint of this stack: its production variant, never its
    shadow); None reads every variant of an endpoint the platform does not declare."""
    thresholds = {**defaults.engine(), **monitor.thresholds.engine()}
    event: dict[str, Any] = {
        "model": monitor.model,
        "endpoint": monitor.endpoint,
        "window_hours": monitor.window_hours,
        # Scheduler substitutes the invocation's scheduled time (UTC) for this placeholder.
        "window_end": "<aws.scheduler.scheduled-time>",
        "critical": list(monitor.critical),
        "min_rows": min_rows,
    }
    if thresholds:
        event["thresholds"] = thresholds
    features = {
        name: values
        for name, feature in sorted(monitor.feature_thresholds.items())
        if (values := feature.engine())
    }
    if features:
        event["feature_thresholds"] = features
    if monitor.baseline_key is not None:
        event["baseline_key"] = monitor.baseline_key
    if variants is not None:
        event["variants"] = variants
    return json.dumps(event, sort_keys=True)


def production_variants(cfg: PlatformConfig, naming: Naming) -> dict[str, list[str]]:
    """The production variant of each endpoint the stack declares (SageMaker's, and the
    Kubernetes services' served variants), by physical name: what its drift checks read (a
    shadow variant's copied requests would count twice)."""
    variants: dict[str, list[str]] = {}
    if cfg.inference.enabled:
        variants.update(
            (naming.physical(e.name, NameKind.SAGEMAKER), [inference.PRODUCTION_VARIANT])
            for e in cfg.inference.endpoints
        )
    if cfg.kubernetes.enabled:
        variants.update(
            (kubernetes_inference.capture_endpoint(naming, s.name), served_variants(s))
            for s in cfg.kubernetes.services
        )
    return variants


class DriftMonitor(PlatformComponent):
    """Scheduled drift checks of the configured endpoints, single or scaled out."""

    check_function_arn: pulumi.Output[str]
    """ARN of the single-window check function."""
    state_machine_arn: pulumi.Output[str] | None
    """ARN of the scale-out state machine (None when no monitor scales out)."""
    dead_letter_queue_arn: pulumi.Output[str]
    """Where failed scheduled invocations and failed async invocations end up."""
    layer_arn: pulumi.Output[str]
    """The checks' dependencies layer (the quality checks run on it too)."""

    def __init__(
        self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:drift:DriftMonitor", name, args.context, opts)
        self._args = args
        drift = self._ctx.config.drift
        self._scaleout = any(m.mode == "scaleout" for m in drift.monitors)

        self._queue = self._dead_letter_queue()
        self._role = self._function_role()
        self._layer = self._layer_version()
        self._functions = {"check": self._function("check")}
        self.state_machine_arn = None
        if self._scaleout:
            for kind in ("plan", "profile", "reduce"):
                self._functions[kind] = self._function(kind)
            self._machine = self._state_machine()
            self.state_machine_arn = self._machine.arn
        self._scheduler_role = self._schedule_role()
        for monitor in drift.monitors:
            self._schedule(monitor)

        self.check_function_arn = self._functions["check"].arn
        self.dead_letter_queue_arn = self._queue.arn
        self.layer_arn = self._layer.arn
        self.register_outputs(
            {
                "check_function_arn": self.check_function_arn,
                "layer_arn": self.layer_arn,
                "state_machine_arn": self.state_machine_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
            }
        )

    # ---- resources -----------------------------------------------------------------------------
    def _dead_letter_queue(self) -> aws.sqs.Queue:
        return self._ctx.dead_letter_queue(
            f"{self._name}-dlq",
            queue_name=self._physical("dlq", NameKind.SQS_QUEUE),
            kms_key_arn=self._args.kms_key_arn,
            parent=self,
        )

    def _function_role(self) -> aws.iam.Role:
        ctx = self._ctx
        args = self._args
        role = ctx.service_role(
            f"{self._name}-role",
            role_name=self._physical("functions", NameKind.IAM_ROLE),
            description="Drift-check functions: read capture and baselines, write reports.",
            service=LAMBDA_SERVICE,
            parent=self,
        )
        monitors = ctx.config.drift.monitors
        log_prefix = self._physical("", NameKind.LOG_GROUP)
        self._role_policy = aws.iam.RolePolicy(
            f"{self._name}-role-access",
            role=role.id,
            policy=pulumi.Output.all(
                args.capture_bucket,
                args.baseline_bucket,
                args.reports_bucket,
                args.kms_key_arn,
                args.event_bus_arn,
                self._queue.arn,
                ctx.account_id,
            ).apply(
                lambda v: function_policy(
                    partition=ctx.partition,
                    region=ctx.config.region,
                    account_id=v[6],
                    capture_bucket=v[0],
                    baseline_bucket=v[1],
                    reports_bucket=v[2],
                    kms_key_arn=v[3],
                    event_bus_arn=v[4],
                    queue_arn=v[5],
                    endpoints=sorted({m.endpoint for m in monitors}),
                    baseline_keys=sorted(
                        {
                            m.baseline_key or settings.BASELINE_KEY.format(model=m.model)
                            for m in monitors
                        }
                    ),
                    models=sorted({m.model for m in monitors}),
                    log_group_prefix=f"/aws/lambda/{log_prefix}",
                    scaleout_models=sorted({m.model for m in monitors if m.mode == "scaleout"}),
                )
            ),
            opts=self._opts(),
        )
        return role

    def _layer_version(self) -> aws.lambda_.LayerVersion:
        return engine_layer(
            f"{self._name}-layer",
            self._physical("deps", NameKind.LAMBDA_FUNCTION),
            "Drift-check dependencies: Powertools, numpy, orjson, msgspec (arm64).",
            self._opts(),
        )

    def _function(self, kind: str) -> aws.lambda_.Function:
        args = self._args
        drift = self._ctx.config.drift
        return functions.hardened_function(
            self._ctx,
            self,
            f"{self._name}-{kind}",
            functions.FunctionSpec(
                name=self._physical(kind, NameKind.LAMBDA_FUNCTION),
                description=f"Drift check ({kind}); code in lambdas/drift_check.",
                handler=HANDLERS[kind],
                code=code_archive(),
                layers=[self._layer.arn],
                role_arn=self._role.arn,
                memory_mb=drift.memory_mb,
                timeout_seconds=drift.timeout_seconds,
                reserved_concurrency=drift.reserved_concurrency,
                environment={
                    settings.ENV_CAPTURE_BUCKET: args.capture_bucket,
                    settings.ENV_BASELINE_BUCKET: args.baseline_bucket,
                    settings.ENV_REPORTS_BUCKET: args.reports_bucket,
                    settings.ENV_EVENT_BUS: args.event_bus_name,
                    settings.ENV_METRICS_NAMESPACE: settings.METRICS_NAMESPACE,
                    settings.ENV_SERVICE_NAME: settings.SERVICE_NAME,
                    **MALLOC_TUNING,
                },
            ),
            kms_key_arn=args.kms_key_arn,
            queue_arn=self._queue.arn,
            depends_on=[self._role_policy],
        )

    def _state_machine(self) -> aws.sfn.StateMachine:
        ctx = self._ctx
        args = self._args
        drift = ctx.config.drift
        name = self._physical("scaleout", NameKind.SFN_STATE_MACHINE)
        logs = aws.cloudwatch.LogGroup(
            f"{self._name}-scaleout-logs",
            name=f"/aws/vendedlogs/states/{name}",
            retention_in_days=ctx.config.logging.retention_days,
            kms_key_id=args.kms_key_arn,
            opts=self._opts(),
        )
        functions = [self._functions[k] for k in ("plan", "profile", "reduce")]
        machine_arn = self._arn("states", f"stateMachine:{name}")
        role = ctx.service_role(
            f"{self._name}-scaleout-role",
            role_name=self._physical("scaleout", NameKind.IAM_ROLE),
            description="Drift scale-out state machine: invoke the drift functions.",
            service=STATES_SERVICE,
            parent=self,
            source_arn=machine_arn,
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-scaleout-access",
            role=role.id,
            policy=pulumi.Output.all(
                *[f.arn for f in functions],
                args.reports_bucket,
                args.kms_key_arn,
                machine_arn,
                self._arn("states", f"execution:{name}/*"),
            ).apply(
                lambda v: state_machine_policy(
                    partition=ctx.partition,
                    region=ctx.config.region,
                    function_arns=list(v[0:3]),
                    reports_bucket=v[3],
                    kms_key_arn=v[4],
                    machine_arn=v[5],
                    executions_arn=v[6],
                )
            ),
            opts=self._opts(),
        )
        definition = pulumi.Output.all(*[f.arn for f in functions], args.reports_bucket).apply(
            lambda v: scaleout_definition(
                plan_arn=v[0],
                profile_arn=v[1],
                reduce_arn=v[2],
                reports_bucket=v[3],
                batch_size=drift.map_batch_size,
                concurrency=drift.map_concurrency,
            )
        )
        return aws.sfn.StateMachine(
            f"{self._name}-scaleout",
            name=name,
            type="STANDARD",
            role_arn=role.arn,
            definition=definition,
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                log_destination=logs.arn.apply(lambda arn: f"{arn}:*"),
                include_execution_data=False,
                level="ERROR",
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
            encryption_configuration=aws.sfn.StateMachineEncryptionConfigurationArgs(
                type="CUSTOMER_MANAGED_KMS_KEY",
                kms_key_id=args.kms_key_arn,
                kms_data_key_reuse_period_seconds=300,
            ),
            opts=self._opts([policy]),
        )

    def _schedule_role(self) -> aws.iam.Role:
        ctx = self._ctx
        args = self._args
        role = ctx.service_role(
            f"{self._name}-scheduler-role",
            role_name=self._physical("scheduler", NameKind.IAM_ROLE),
            description="EventBridge Scheduler: start the drift checks.",
            service=SCHEDULER_SERVICE,
            parent=self,
        )
        # The check function for the monitors that run in one invocation, the state machine
        # for those that scale out: each only where a schedule targets it.
        single = any(m.mode == "single" for m in ctx.config.drift.monitors)
        self._scheduler_policy = aws.iam.RolePolicy(
            f"{self._name}-scheduler-access",
            role=role.id,
            policy=pulumi.Output.all(
                self._queue.arn,
                args.kms_key_arn,
                self._functions["check"].arn,
                self.state_machine_arn,
            ).apply(
                lambda v: scheduler_policy(
                    region=ctx.config.region,
                    queue_arn=v[0],
                    kms_key_arn=v[1],
                    function_arn=v[2] if single else None,
                    state_machine_arn=v[3],
                )
            ),
            opts=self._opts(),
        )
        return role

    def _schedule(self, monitor: DriftMonitorSpec) -> None:
        ctx = self._ctx
        drift = ctx.config.drift
        target = (
            self.state_machine_arn
            if monitor.mode == "scaleout" and self.state_machine_arn is not None
            else self._functions["check"].arn
        )
        key = f"{monitor.model}-{monitor.endpoint}"
        aws.scheduler.Schedule(
            f"{self._name}-{key}",
            name=self._physical(key, NameKind.SCHEDULE),
            description=f"Drift check of {monitor.endpoint} against {monitor.model}'s baseline.",
            schedule_expression=monitor.schedule,
            schedule_expression_timezone="UTC",
            state="ENABLED",
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            kms_key_arn=self._args.kms_key_arn,
            target=aws.scheduler.ScheduleTargetArgs(
                arn=target,
                role_arn=self._scheduler_role.arn,
                input=monitor_input(
                    monitor,
                    drift.thresholds,
                    drift.min_rows,
                    production_variants(ctx.config, ctx.naming).get(monitor.endpoint),
                ),
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=SCHEDULE_RETRIES,
                    maximum_event_age_in_seconds=SCHEDULE_MAX_AGE_SECONDS,
                ),
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(
                    arn=self._queue.arn
                ),
            ),
            opts=self._opts([self._scheduler_policy]),
        )


# ---- documents (plain functions, tested on their own) ---------------------------------------


def function_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    capture_bucket: str,
    baseline_bucket: str,
    reports_bucket: str,
    kms_key_arn: str,
    event_bus_arn: str,
    queue_arn: str,
    endpoints: list[str],
    baseline_keys: list[str],
    models: list[str],
    log_group_prefix: str,
    scaleout_models: list[str] | None = None,
) -> str:
    """Exactly what the drift handlers read and write; the scale-out partials only for the
    models whose monitors scale out (`scaleout_models`, default none)."""
    s3 = f"arn:{partition}:s3:::"
    capture_prefixes = [settings.capture_prefix(e) for e in endpoints]
    report_prefixes = [f"{settings.REPORTS_PREFIX}/{m}/" for m in models]
    partial_prefixes = [f"{settings.PARTIALS_PREFIX}/{m}/" for m in scaleout_models or []]
    logs = f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group_prefix}"
    statements = [
        iam.allow(
            "ListWindowCapture",
            ["s3:ListBucket"],
            [f"{s3}{capture_bucket}"],
            Condition={"StringLike": {"s3:prefix": [f"{p}*" for p in capture_prefixes]}},
        ),
        iam.allow(
            "ReadWindowCapture",
            ["s3:GetObject"],
            [f"{s3}{capture_bucket}/{p}*" for p in capture_prefixes],
        ),
        iam.allow(
            "ReadBaselines", ["s3:GetObject"], [f"{s3}{baseline_bucket}/{k}" for k in baseline_keys]
        ),
        iam.allow(
            "WriteReports",
            ["s3:PutObject"],
            [f"{s3}{reports_bucket}/{p}*" for p in report_prefixes + partial_prefixes],
        ),
        *(
            [
                iam.allow(
                    "ReadPartials",
                    ["s3:GetObject"],
                    [f"{s3}{reports_bucket}/{p}*" for p in partial_prefixes],
                ),
                iam.allow(
                    "ListPartials",
                    ["s3:ListBucket"],
                    [f"{s3}{reports_bucket}"],
                    Condition={"StringLike": {"s3:prefix": [f"{p}*" for p in partial_prefixes]}},
                ),
            ]
            if partial_prefixes
            else []
        ),
        iam.allow(
            "UsePlatformKeyThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
        iam.allow("PutDriftEvents", ["events:PutEvents"], [event_bus_arn]),
        *iam.dead_letter_statements(queue_arn, kms_key_arn, region),
        iam.allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{logs}*:log-stream:*"],
        ),
        # xray:PutTraceSegments and xray:PutTelemetryRecords take no resource (AWS cannot
        # scope them).
        iam.allow("WriteTraces", XRAY_ACTIONS, ["*"]),
    ]
    return iam.document(*statements)


def scheduler_policy(
    *,
    region: str,
    queue_arn: str,
    kms_key_arn: str,
    function_arn: str | None,
    state_machine_arn: str | None,
) -> str:
    """Start the checks (invoke the check function, start the scale-out state machine: each
    when given); park undeliverable invocations in the dead-letter queue."""
    statements = [
        *(
            [iam.allow("InvokeCheck", ["lambda:InvokeFunction"], [function_arn])]
            if function_arn
            else []
        ),
        # Schedules are encrypted with the platform key; Scheduler decrypts the target's input
        # with this role when it runs one.
        iam.allow("DecryptSchedules", ["kms:Decrypt"], [kms_key_arn]),
        *iam.dead_letter_statements(queue_arn, kms_key_arn, region),
    ]
    if state_machine_arn is not None:
        statements += [
            iam.allow("StartScaleOut", ["states:StartExecution"], [state_machine_arn]),
            # The state machine is encrypted with the platform key: Step Functions encrypts an
            # execution's input with the caller's kms:GenerateDataKey (its guide's table of
            # the permissions callers need for a customer managed key).
            iam.allow(
                "EncryptScaleOutInput",
                ["kms:GenerateDataKey"],
                [kms_key_arn],
                Condition={"StringEquals": {"kms:ViaService": f"states.{region}.amazonaws.com"}},
            ),
        ]
    return iam.document(*statements)


def state_machine_policy(
    *,
    partition: str,
    region: str,
    function_arns: list[str],
    reports_bucket: str,
    kms_key_arn: str,
    machine_arn: str,
    executions_arn: str,
) -> str:
    """Invoke the three functions, read the manifest, run the Distributed Map's children."""
    manifests = f"arn:{partition}:s3:::{reports_bucket}/{settings.PARTIALS_PREFIX}/*"
    return iam.document(
        iam.allow("InvokeDriftFunctions", ["lambda:InvokeFunction"], function_arns),
        iam.allow("ReadManifest", ["s3:GetObject"], [manifests]),
        iam.allow(
            "UsePlatformKeyThroughS3",
            ["kms:Decrypt"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
        iam.allow(
            "UsePlatformKeyForState",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"states.{region}.amazonaws.com"}},
        ),
        # A Distributed Map runs its batches as child executions of the same state machine.
        iam.allow("RunMapChildren", ["states:StartExecution"], [machine_arn]),
        # states:DescribeExecution/StopExecution on the children, whose ARNs are
        # execution:<machine>/<map run>:<id> (parliament's ARN format predates Distributed Map
        # and reports RESOURCE_MISMATCH; tests/security/test_iam_lint.py accepts it).
        iam.allow(
            "ManageMapChildren",
            ["states:DescribeExecution", "states:StopExecution"],
            [executions_arn],
        ),
        # logs:CreateLogDelivery and the other vended-log-delivery actions take no resource
        # (AWS cannot scope them); logs:PutResourcePolicy is part of the policy AWS documents
        # for Step Functions logging to CloudWatch Logs.
        iam.allow(
            "DeliverLogs",
            [
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            ],
            ["*"],
        ),
        # xray:PutTraceSegments, xray:GetSamplingRules and the other X-Ray actions take no
        # resource (AWS cannot scope them).
        iam.allow(
            "WriteTraces",
            [*XRAY_ACTIONS, "xray:GetSamplingRules", "xray:GetSamplingTargets"],
            ["*"],
        ),
    )


def scaleout_definition(
    *,
    plan_arn: str,
    profile_arn: str,
    reduce_arn: str,
    reports_bucket: str,
    batch_size: int,
    concurrency: int,
) -> str:
    """Plan the window, profile its objects in a Distributed Map, reduce to one report."""
    retry = [
        {
            "ErrorEquals": [
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
            ],
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2.0,
            "JitterStrategy": "FULL",
        }
    ]
    definition = {
        "Comment": "Drift check of one window, scaled out over its capture objects.",
        "StartAt": "PlanWindow",
        "States": {
            "PlanWindow": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": plan_arn, "Payload.$": "$"},
                "ResultSelector": {"plan.$": "$.Payload"},
                "OutputPath": "$.plan",
                "Retry": retry,
                "Next": "ProfileObjects",
            },
            "ProfileObjects": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": reports_bucket, "Key.$": "$.manifest_key"},
                },
                "ItemBatcher": {
                    "MaxItemsPerBatch": batch_size,
                    "BatchInput": {"run_id.$": "$.run_id", "request.$": "$.request"},
                },
                "MaxConcurrency": concurrency,
                "ToleratedFailurePercentage": 0,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "ProfileBatch",
                    "States": {
                        "ProfileBatch": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": profile_arn, "Payload.$": "$"},
                            "ResultSelector": {"partial.$": "$.Payload"},
                            "Retry": retry,
                            "End": True,
                        }
                    },
                },
                # The reducer lists the partials itself; the Map's own results are not needed.
                "ResultPath": None,
                "Next": "Reduce",
            },
            "Reduce": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": reduce_arn, "Payload.$": "$"},
                "ResultSelector": {"report.$": "$.Payload"},
                "Retry": retry,
                "End": True,
            },
        },
    }
    return json.dumps(definition, sort_keys=True)
