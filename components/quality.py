"""Quality and fairness checks: predictions joined with the labels that arrived, on a schedule.

`QualityMonitor` (`mlops:quality:QualityMonitor`) deploys `lambdas/drift_check/quality_handler.py`
(the drift checks' engine, archive and layer):

- one hardened function (log group with retention and the platform key, X-Ray, environment
  encrypted with the platform key, reserved concurrency, a dead-letter queue after two async
  retries), its memory, timeout and concurrency from `quality`;
- its role, granting exactly what the handler reads and writes (`function_policy`): the capture
  and ground-truth prefixes of the monitored endpoints, the models' baselines, the reports
  under `quality/<model>/`; no `cloudwatch:PutMetricData` (the metrics are EMF, in its logs);
  with a monitor reading its sensitive attribute from the feature store (`sensitiveFrom`),
  `sagemaker:BatchGetRecord` on exactly those feature groups and `kms:Decrypt` of the platform
  key (their online stores' key) through SageMaker;
- one EventBridge Scheduler schedule per monitor with an explicit retry policy and the
  dead-letter queue, its input the handler's event (`monitor_input`);
- per monitor, one CloudWatch alarm per configured threshold (`alarm_definitions`) on the
  metrics the handler puts in `MLOpsPlatform/Quality`, with alarm and OK actions to the
  platform topic.
  They are the model's "quality" alarms the retraining trigger listens to (`model_alarms`).

Names shared with the handler (environment, namespace, S3 layout) come from
`mlops_drift.settings`, which both import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from mlops_drift import settings

from components import functions, iam
from components.config import QualityAlarms, QualityMonitorSpec
from components.drift import (
    SCHEDULE_MAX_AGE_SECONDS,
    SCHEDULE_RETRIES,
    SCHEDULER_SERVICE,
    code_archive,
    engine_layer,
    production_variants,
    scheduler_policy,
)
from components.feature_store import feature_group_name
from components.functions import LAMBDA_SERVICE, XRAY_ACTIONS
from components.naming import NameKind
from components.platform import PlatformComponent, PlatformContext

HANDLER = "quality_handler.lambda_handler"
ALARM_NAME_RULE = NameKind.SNS_TOPIC
"""Alarm names as the monitoring component builds them (lower case, digits and `-`)."""
MAX_PERIOD_SECONDS = 86_400
"""The alarms' longest period: one day (a cron schedule's, and any slower rate's)."""
MIN_PERIOD_SECONDS = 60
MISSING_DATA = "notBreaching"
MISSING_DATA_WHY = (
    "Missing data is not breaching: a check that has not run, or a metric the window could "
    "not define (too few labels, a single class), is not a quality breach; the function's "
    "errors and its dead-letter queue alarm when checks fail."
)
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}


@dataclass(frozen=True)
class QualityAlarmKind:
    """One configurable threshold: the metric it watches and which side of it breaches."""

    key: str
    """The field of `QualityAlarms`."""
    metric: str
    comparison: str
    suffix: str
    fairness: bool = False
    """Published per sensitive attribute (the `SensitiveAttribute` dimension)."""


LESS, GREATER = "LessThanThreshold", "GreaterThanThreshold"
ALARM_KINDS = (
    QualityAlarmKind("min_accuracy", "Accuracy", LESS, "accuracy"),
    QualityAlarmKind("min_f1", "F1", LESS, "f1"),
    QualityAlarmKind("min_roc_auc", "RocAuc", LESS, "roc-auc"),
    QualityAlarmKind("max_calibration_error", "CalibrationError", GREATER, "calibration-error"),
    QualityAlarmKind("max_mae", "Mae", GREATER, "mae"),
    QualityAlarmKind("max_rmse", "Rmse", GREATER, "rmse"),
    QualityAlarmKind("min_r2", "R2", LESS, "r2"),
    QualityAlarmKind("min_label_coverage", "LabelCoverage", LESS, "label-coverage"),
    QualityAlarmKind(
        "min_disparate_impact", "DisparateImpact", LESS, "disparate-impact", fairness=True
    ),
    QualityAlarmKind(
        "max_demographic_parity_difference",
        "DemographicParityDifference",
        GREATER,
        "demographic-parity",
        fairness=True,
    ),
    # Equalized odds bounds both gaps: one alarm on each.
    QualityAlarmKind(
        "max_equalized_odds_difference", "TprDifference", GREATER, "tpr-difference", fairness=True
    ),
    QualityAlarmKind(
        "max_equalized_odds_difference", "FprDifference", GREATER, "fpr-difference", fairness=True
    ),
)
"""Every threshold of `QualityAlarms`, in the order the alarms are created."""


@dataclass(frozen=True)
class QualityMonitorArgs:
    """Inputs of `QualityMonitor`."""

    context: PlatformContext
    """The platform context (config, naming, provider)."""
    kms_key_arn: pulumi.Input[str]
    """The platform key: environment, logs, queue, schedules, S3 objects."""
    capture_bucket: pulumi.Input[str]
    """The data lake's capture bucket: capture and `groundtruth/` (read)."""
    baseline_bucket: pulumi.Input[str]
    """The model-artifact bucket holding the baselines (read)."""
    reports_bucket: pulumi.Input[str]
    """The reports bucket (`quality/<model>/`: write)."""
    topic_arn: pulumi.Input[str]
    """The platform topic: every alarm's and OK action."""
    layer_arn: pulumi.Input[str] | None = None
    """The drift checks' layer (`DriftMonitor.layer_arn`); None builds the same one here."""


class QualityMonitor(PlatformComponent):
    """Scheduled quality and fairness checks of the configured models and their alarms."""

    function_name: pulumi.Output[str]
    """Name of the quality-check function."""
    function_arn: pulumi.Output[str]
    """ARN of the quality-check function."""
    dead_letter_queue_arn: pulumi.Output[str]
    """Where failed scheduled and async invocations end up."""
    model_alarms: dict[str, list[str]]
    """Model to the names of its quality alarms (what retrains it)."""
    alarm_names: list[str]
    """Every quality alarm's name, in creation order."""

    def __init__(
        self, name: str, args: QualityMonitorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:quality:QualityMonitor", name, args.context, opts)
        self._args = args
        quality = self._ctx.config.quality

        self._queue = self._ctx.dead_letter_queue(
            f"{name}-dlq",
            queue_name=self._physical("dlq", NameKind.SQS_QUEUE),
            kms_key_arn=args.kms_key_arn,
            parent=self,
        )
        self._function = self._check_function()
        self._scheduler_role = self._schedule_role()
        self.model_alarms = {}
        self.alarm_names = []
        for monitor in quality.monitors:
            self._schedule(monitor)
            for alarm in self._alarms(monitor):
                self.model_alarms.setdefault(monitor.model, []).append(alarm)
                self.alarm_names.append(alarm)

        self.function_name = self._function.name
        self.function_arn = self._function.arn
        self.dead_letter_queue_arn = self._queue.arn
        self.register_outputs(
            {
                "function_name": self.function_name,
                "function_arn": self.function_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
                "model_alarms": self.model_alarms,
                "alarm_names": self.alarm_names,
            }
        )

    # ---- resources -----------------------------------------------------------------------------
    def _check_function(self) -> aws.lambda_.Function:
        ctx = self._ctx
        args = self._args
        quality = ctx.config.quality
        function_name = self._physical("check", NameKind.LAMBDA_FUNCTION)
        role = ctx.service_role(
            f"{self._name}-role",
            role_name=self._physical("check", NameKind.IAM_ROLE),
            description="Quality check: read capture, labels and baselines, write reports.",
            service=LAMBDA_SERVICE,
            parent=self,
        )
        monitors = quality.monitors
        # The feature groups' physical names, as the feature store names them (both derive them
        # from the config, so no output of the feature store is needed here).
        groups = sorted(
            {
                feature_group_name(ctx, m.sensitive_from.feature_group)
                for m in monitors
                if m.sensitive_from is not None
            }
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-role-access",
            role=role.id,
            policy=pulumi.Output.all(
                args.capture_bucket,
                args.baseline_bucket,
                args.reports_bucket,
                args.kms_key_arn,
                self._queue.arn,
                functions.log_group_arn(ctx, function_name),
                ctx.account_id,
            ).apply(
                lambda v: function_policy(
                    partition=ctx.partition,
                    region=ctx.config.region,
                    capture_bucket=v[0],
                    baseline_bucket=v[1],
                    reports_bucket=v[2],
                    kms_key_arn=v[3],
                    queue_arn=v[4],
                    log_group_arn=v[5],
                    endpoints=sorted({m.endpoint for m in monitors}),
                    baseline_keys=sorted(
                        {settings.BASELINE_KEY.format(model=m.model) for m in monitors}
                    ),
                    models=sorted({m.model for m in monitors}),
                    feature_group_arns=[
                        f"arn:{ctx.partition}:sagemaker:{ctx.config.region}:{v[6]}:"
                        f"feature-group/{g}"
                        for g in groups
                    ],
                )
            ),
            opts=self._opts(),
        )
        layer = args.layer_arn
        if layer is None:
            layer = engine_layer(
                f"{self._name}-layer",
                self._physical("deps", NameKind.LAMBDA_FUNCTION),
                "Quality-check dependencies: Powertools, numpy, orjson, msgspec (arm64); the "
                "drift checks' layer.",
                self._opts(),
            ).arn
        return functions.hardened_function(
            ctx,
            self,
            f"{self._name}-check",
            functions.FunctionSpec(
                name=function_name,
                description="Quality and fairness check; code in lambdas/drift_check "
                "(quality_handler.py).",
                handler=HANDLER,
                code=code_archive(),
                layers=[layer],
                role_arn=role.arn,
                memory_mb=quality.memory_mb,
                timeout_seconds=quality.timeout_seconds,
                reserved_concurrency=quality.reserved_concurrency,
                environment={
                    settings.QUALITY_ENV_CAPTURE_BUCKET: args.capture_bucket,
                    settings.QUALITY_ENV_BASELINE_BUCKET: args.baseline_bucket,
                    settings.QUALITY_ENV_REPORTS_BUCKET: args.reports_bucket,
                    settings.ENV_METRICS_NAMESPACE: settings.QUALITY_METRICS_NAMESPACE,
                    settings.ENV_SERVICE_NAME: settings.QUALITY_SERVICE_NAME,
                },
            ),
            kms_key_arn=args.kms_key_arn,
            queue_arn=self._queue.arn,
            depends_on=[policy],
        )

    def _schedule_role(self) -> aws.iam.Role:
        ctx = self._ctx
        role = ctx.service_role(
            f"{self._name}-scheduler-role",
            role_name=self._physical("scheduler", NameKind.IAM_ROLE),
            description="EventBridge Scheduler: start the quality checks.",
            service=SCHEDULER_SERVICE,
            parent=self,
        )
        self._scheduler_policy = aws.iam.RolePolicy(
            f"{self._name}-scheduler-access",
            role=role.id,
            policy=pulumi.Output.all(
                self._queue.arn, self._args.kms_key_arn, self._function.arn
            ).apply(
                lambda v: scheduler_policy(
                    region=ctx.config.region,
                    queue_arn=v[0],
                    kms_key_arn=v[1],
                    function_arn=v[2],
                    state_machine_arn=None,
                )
            ),
            opts=self._opts(),
        )
        return role

    def _schedule(self, monitor: QualityMonitorSpec) -> None:
        ctx = self._ctx
        key = f"{monitor.model}-{monitor.endpoint}"
        aws.scheduler.Schedule(
            f"{self._name}-{key}",
            name=self._physical(key, NameKind.SCHEDULE),
            description=f"Quality check of {monitor.model}'s predictions on {monitor.endpoint}.",
            schedule_expression=monitor.schedule,
            schedule_expression_timezone="UTC",
            state="ENABLED",
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            kms_key_arn=self._args.kms_key_arn,
            target=aws.scheduler.ScheduleTargetArgs(
                arn=self._function.arn,
                role_arn=self._scheduler_role.arn,
                input=monitor_input(
                    monitor,
                    production_variants(ctx.config, ctx.naming).get(monitor.endpoint),
                    feature_group=(
                        feature_group_name(ctx, monitor.sensitive_from.feature_group)
                        if monitor.sensitive_from is not None
                        else None
                    ),
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

    def _alarms(self, monitor: QualityMonitorSpec) -> list[str]:
        ctx = self._ctx
        endpoint = monitor.endpoint.removeprefix(f"{ctx.naming.project}-{ctx.naming.stack}-")
        names = []
        for part, definition in alarm_definitions(
            monitor,
            name_of=lambda suffix: self._physical(
                f"{monitor.model}-{endpoint}-{suffix}", ALARM_NAME_RULE
            ),
        ).items():
            aws.cloudwatch.MetricAlarm(
                f"{self._name}-{monitor.model}-{endpoint}-{part}",
                actions_enabled=True,
                alarm_actions=[self._args.topic_arn],
                ok_actions=[self._args.topic_arn],
                **definition,
                opts=self._opts(),
            )
            names.append(str(definition["name"]))
        return names


# ---- inputs and documents (plain functions, tested on their own) ------------------------------


def monitor_input(
    monitor: QualityMonitorSpec,
    variants: list[str] | None = None,
    *,
    feature_group: str | None = None,
) -> str:
    """The JSON each schedule sends: the handler's `QualityRequest`. `variants` limits the
    predictions to those variants' capture (a declared endpoint's production variant, never
    its shadow); None reads every variant of an endpoint the platform does not declare.
    `feature_group` is the physical name of `sensitiveFrom`'s feature group."""
    event: dict[str, Any] = {
        "model": monitor.model,
        "endpoint": monitor.endpoint,
        "window_hours": monitor.window_hours,
        # Scheduler substitutes the invocation's scheduled time (UTC): the run's time, which
        # labels count until; the predictions' window ends `label_delay_hours` before it.
        "window_end": "<aws.scheduler.scheduled-time>",
        "label_delay_hours": monitor.label_delay_hours,
        "problem": monitor.problem,
        "min_group_size": monitor.min_group_size,
    }
    if monitor.problem == "classification":
        event["threshold"] = monitor.threshold
        if monitor.positive_label is not None:
            event["positive_label"] = monitor.positive_label
    if monitor.segment is not None:
        event["segment"] = monitor.segment
    if monitor.sensitive_attribute is not None:
        event["sensitive"] = monitor.sensitive_attribute
    source = monitor.sensitive_from
    if source is not None:
        event["sensitive_from"] = {
            "feature_group": feature_group or source.feature_group,
            "record_identifier_column": source.record_identifier_column,
        }
    if variants is not None:
        event["variants"] = variants
    return json.dumps(event, sort_keys=True)


def alarm_period(schedule: str) -> int:
    """The alarms' period: the schedule's cadence for a rate (one check, one verdict per
    period), between one minute and one day; a cron's (whose cadence is not one number) is a
    day. A verdict then stands until the next check should have put one."""
    match = _RATE.match(schedule)
    if match is None:
        return MAX_PERIOD_SECONDS
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]
    return max(MIN_PERIOD_SECONDS, min(MAX_PERIOD_SECONDS, seconds))


def metric_dimensions(monitor: QualityMonitorSpec, *, fairness: bool = False) -> dict[str, str]:
    """The dimensions the handler puts a monitor's overall (or fairness) metric with:
    Powertools' `service`, `Model`, `Endpoint` (and `SensitiveAttribute`)."""
    dimensions = {
        "service": settings.QUALITY_SERVICE_NAME,
        "Model": monitor.model,
        "Endpoint": monitor.endpoint,
    }
    if fairness and monitor.sensitive_attribute is not None:
        dimensions["SensitiveAttribute"] = monitor.sensitive_attribute
    return dimensions


def alarm_definitions(monitor: QualityMonitorSpec, *, name_of: Any) -> dict[str, dict[str, Any]]:
    """The monitor's alarms (MetricAlarm inputs besides actions), by name suffix: one per
    configured threshold, two for the equalized-odds one (TPR and FPR gaps)."""
    configured: Mapping[str, float | None] = monitor.alarms.model_dump()
    period = alarm_period(monitor.schedule)
    found: dict[str, dict[str, Any]] = {}
    for kind in ALARM_KINDS:
        threshold = configured[kind.key]
        if threshold is None:
            continue
        below = kind.comparison == LESS
        found[kind.suffix] = {
            "name": name_of(kind.suffix),
            "alarm_description": (
                f"The quality check of {monitor.model} on {monitor.endpoint} measured "
                f"{kind.metric} {'below' if below else 'above'} {threshold:g} "
                f"({_field(kind.key)}). {MISSING_DATA_WHY}"
            ),
            "namespace": settings.QUALITY_METRICS_NAMESPACE,
            "metric_name": kind.metric,
            "dimensions": metric_dimensions(monitor, fairness=kind.fairness),
            "period": period,
            # The worst value of the period: a retried run puts its value again.
            "statistic": "Minimum" if below else "Maximum",
            "comparison_operator": kind.comparison,
            "threshold": float(threshold),
            "evaluation_periods": 1,
            "datapoints_to_alarm": 1,
            "treat_missing_data": MISSING_DATA,
        }
    return found


def _field(key: str) -> str:
    """A `QualityAlarms` field as the stack file spells it (`minAccuracy`)."""
    alias = QualityAlarms.model_fields[key].alias
    return alias or key


def function_policy(
    *,
    partition: str,
    region: str,
    capture_bucket: str,
    baseline_bucket: str,
    reports_bucket: str,
    kms_key_arn: str,
    queue_arn: str,
    log_group_arn: str,
    endpoints: list[str],
    baseline_keys: list[str],
    models: list[str],
    feature_group_arns: list[str] | None = None,
) -> str:
    """Exactly what the quality handler reads and writes (and, with `feature_group_arns`, the
    feature groups whose online stores hold a sensitive attribute)."""
    s3 = f"arn:{partition}:s3:::"
    prefixes = [
        p for e in endpoints for p in (settings.capture_prefix(e), settings.groundtruth_prefix(e))
    ]
    reports = [f"{settings.QUALITY_REPORTS_PREFIX}/{m}/" for m in models]
    return iam.document(
        iam.allow(
            "ListCaptureAndLabels",
            ["s3:ListBucket"],
            [f"{s3}{capture_bucket}"],
            Condition={"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
        ),
        iam.allow(
            "ReadCaptureAndLabels",
            ["s3:GetObject"],
            [f"{s3}{capture_bucket}/{p}*" for p in prefixes],
        ),
        iam.allow(
            "ReadBaselines", ["s3:GetObject"], [f"{s3}{baseline_bucket}/{k}" for k in baseline_keys]
        ),
        iam.allow(
            "WriteReports", ["s3:PutObject"], [f"{s3}{reports_bucket}/{p}*" for p in reports]
        ),
        iam.allow(
            "UsePlatformKeyThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
        *_feature_store_statements(feature_group_arns or [], kms_key_arn, region),
        *iam.dead_letter_statements(queue_arn, kms_key_arn, region),
        iam.allow(
            "WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]
        ),
        # xray:PutTraceSegments and xray:PutTelemetryRecords take no resource (AWS cannot
        # scope them).
        iam.allow("WriteTraces", XRAY_ACTIONS, ["*"]),
    )


def _feature_store_statements(
    feature_group_arns: list[str], kms_key_arn: str, region: str
) -> list[dict[str, Any]]:
    """Read records of the feature groups' online stores: `BatchGetRecord` only (the handler
    calls nothing else), and decrypting the platform key, which encrypts the online stores
    (`components/feature_store.py`); the data-plane caller needs `kms:Decrypt` on it, and only
    through SageMaker."""
    if not feature_group_arns:
        return []
    return [
        iam.allow("ReadSensitiveAttributes", ["sagemaker:BatchGetRecord"], feature_group_arns),
        iam.allow(
            "UsePlatformKeyThroughFeatureStore",
            ["kms:Decrypt"],
            [kms_key_arn],
            Condition={"StringEquals": {"kms:ViaService": f"sagemaker.{region}.amazonaws.com"}},
        ),
    ]
