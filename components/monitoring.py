"""Dashboards, alarms and subscriptions: who sees, and who hears, when a model or the platform
is unwell.

`PlatformMonitoring` (`mlops:monitoring:PlatformMonitoring`), with `monitoring.enabled`:

- **A CloudWatch dashboard per model**: its endpoints' invocations, p50 and p99 model latency,
  4xx and 5xx errors; its drift checks (the drifted share of features, the most drifted features
  by PSI, rows checked and rejected); per quality monitor, a row of quality graphs (accuracy, F1
  and ROC AUC or MAE, RMSE and R², label coverage, calibration error) and, with a sensitive
  attribute, a row of fairness graphs (disparate impact, demographic parity, TPR and FPR
  differences), each with its alarm's threshold; its retraining decisions and training pipeline
  executions; the endpoint verifier's mismatches and, for serverless endpoints, the capture
  proxy; and the platform's Lambda errors and throttles and dead-letter queues.
- **Alarms** to the platform topic (and the chat topics): per endpoint, p99 latency and the
  4xx+5xx error rate; per model, drift, drift checks gone quiet, pipeline failures, and the
  composite "unhealthy" (latency, error rate or drift); per platform function, errors and
  throttles; per dead-letter queue, a message in it. Each kind states how missing data counts,
  and why (`AlarmKind`).
- **Subscriptions** of the platform topic: the configured emails and HTTPS endpoints.

Every metric a widget or an alarm names is one `components/metric_catalog.py` lists: what the
platform's handlers and AWS really publish, with the dimensions they publish it with.

The endpoints' own alarms stay with the endpoints (`components/inference.py`): they roll a
rollout back on each endpoint's thresholds; these page on the stack's monitoring thresholds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import capture_settings
import pulumi
import pulumi_aws as aws
import retrain_settings
import verifier_settings
from mlops_drift import settings as drift_settings

from components.config import Monitoring, PlatformConfig, QualityMonitorSpec
from components.inference import PRODUCTION_VARIANT
from components.metric_catalog import LAMBDA, PIPELINES, SAGEMAKER, SQS
from components.naming import NameKind
from components.platform import PlatformComponent, PlatformContext
from components.quality import ALARM_KINDS, alarm_period

NAME_RULE = NameKind.SNS_TOPIC
"""Dashboard and alarm names: CloudWatch takes up to 255 characters, letters, digits, `-` and
`_` for a dashboard; the SNS topic rule (256, lower case, digits and `-`) is the closest kind
`components/naming.py` has, and the names built here stay far below either limit."""
MAX_ACTIONS = 5
"""CloudWatch accepts at most five alarm (and five OK) actions per alarm."""
SQS_PERIOD_SECONDS = 300
"""SQS publishes its metrics every five minutes: a shorter period would read no data."""
MAX_EVALUATION_SECONDS = 7 * 24 * 3600
"""PutMetricAlarm: period times evaluation periods at most seven days (one day for periods under
an hour)."""
DRIFT_GRAPH_PERIOD = 3600
"""Drift checks run hours apart: one point per hour shows each check."""
TOP_FEATURES = 5
"""How many of the most drifted features the dashboard shows."""
WIDGET_WIDTH, WIDGET_HEIGHT, COLUMNS = 8, 6, 3
"""The dashboard grid is 24 units wide: three graphs a row."""
DIGEST_LENGTH = 8


@dataclass(frozen=True)
class ModelSignals:
    """Where a model's signals come from."""

    endpoints: Sequence[str]
    """Physical endpoint names serving the model (variant AllTraffic)."""
    serverless_endpoints: Sequence[str]
    """The subset that is serverless (the capture proxy's metrics)."""
    pipeline: str | None
    """The model's training pipeline name; None without training."""
    drift_monitored: bool
    """A drift monitor checks this model."""
    quality: Sequence[QualitySignals] = ()
    """The model's quality monitors (one per endpoint judged); none by default."""


@dataclass(frozen=True)
class QualitySignals:
    """One quality monitor of a model: what its dashboard rows show."""

    endpoint: str
    """The endpoint whose predictions are judged (the metrics' `Endpoint`)."""
    problem: str
    """`classification` or `regression`: which quality metrics exist."""
    sensitive_attribute: str | None
    """The fairness metrics' `SensitiveAttribute`; None: no fairness row."""
    period: int
    """Seconds between checks (the alarms' period): one point per check."""
    thresholds: Mapping[str, float]
    """Metric name to its alarm's threshold (drawn as a line)."""


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of `PlatformMonitoring`."""

    context: PlatformContext
    """The platform context; its `config.monitoring` holds thresholds and subscribers."""
    topic_arn: pulumi.Input[str]
    """The platform topic: every alarm's and OK action, and the subscriptions."""
    models: Mapping[str, ModelSignals]
    """Model name to its signals: one dashboard each."""
    function_names: Mapping[str, pulumi.Input[str]]
    """Every platform Lambda function, by its Pulumi resource name (which names its alarms)."""
    queue_names: Mapping[str, pulumi.Input[str]]
    """Every dead-letter queue, by its Pulumi resource name (which names its alarm)."""


@dataclass(frozen=True)
class AlarmKind:
    """One kind of alarm: its name's suffix, how it treats missing data, and why (a sentence
    that ends its description)."""

    suffix: str
    treat_missing_data: str
    why: str


LATENCY = AlarmKind(
    "p99-latency",
    "notBreaching",
    "Missing data is not breaching: without traffic there is no latency, and a quiet endpoint "
    "is not a slow one.",
)
ERROR_RATE = AlarmKind(
    "error-rate",
    "notBreaching",
    "Missing data is not breaching: without invocations there are no errors.",
)
DRIFT = AlarmKind(
    "drift",
    "ignore",
    "Missing data is ignored: checks run hours apart, and the last check's verdict stands "
    "until the next one.",
)
DRIFT_STALE = AlarmKind(
    "drift-checks-stale",
    "breaching",
    "Missing data is breaching: it is the signal, no check reported.",
)
PIPELINE_FAILED = AlarmKind(
    "pipeline-failed",
    "notBreaching",
    "Missing data is not breaching: a failure is an event, and without executions nothing failed.",
)
FUNCTION_ERRORS = AlarmKind(
    "errors",
    "notBreaching",
    "Missing data is not breaching: without invocations there are no errors.",
)
FUNCTION_THROTTLES = AlarmKind(
    "throttles",
    "notBreaching",
    "Missing data is not breaching: without invocations there are no throttles.",
)
QUEUE_NOT_EMPTY = AlarmKind(
    "not-empty",
    "ignore",
    "Missing data is ignored: SQS publishes only while a queue is active (a message in it or a "
    "call within six hours), so an idle queue keeps its last state.",
)
UNHEALTHY = "unhealthy"
"""The composite alarm's suffix."""


def short_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


class PlatformMonitoring(PlatformComponent):
    """The stack's dashboards, alarms and topic subscriptions."""

    dashboard_names: dict[str, pulumi.Output[str]]
    """Model to its dashboard's name."""
    alarm_names: dict[str, list[str]]
    """Model to its alarms' names, the composite "unhealthy" alarm last."""
    platform_alarm_names: list[str]
    """The functions' and dead-letter queues' alarms."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        settings = args.context.config.monitoring
        stale_window(settings.drift_check_stale_hours)  # refused before anything is registered
        actions: list[pulumi.Input[str]] = [args.topic_arn, *settings.chat_topic_arns]
        if len(actions) > MAX_ACTIONS:
            raise ValueError(
                f"PlatformMonitoring {name!r}: the platform topic and "
                f"{len(settings.chat_topic_arns)} chat topics make {len(actions)} alarm actions; "
                f"CloudWatch accepts {MAX_ACTIONS} (at most {MAX_ACTIONS - 1} chatTopicArns)"
            )
        super().__init__("mlops:monitoring:PlatformMonitoring", name, args.context, opts)
        self._args = args
        self._settings = settings
        self._actions = actions
        self._subscriptions()
        self.alarm_names = {}
        self.dashboard_names = {}
        for model, signals in sorted(args.models.items()):
            self.alarm_names[model] = self._model_alarms(model, signals)
            self.dashboard_names[model] = self._dashboard(model, signals)
        self.platform_alarm_names = self._function_alarms() + self._queue_alarms()
        self.register_outputs(
            {
                "dashboard_names": self.dashboard_names,
                "alarm_names": self.alarm_names,
                "platform_alarm_names": self.platform_alarm_names,
            }
        )

    # ---- subscriptions -------------------------------------------------------------------------
    def _subscriptions(self) -> None:
        """Named after a digest of the address, so reordering the list replaces nothing."""
        topic = self._args.topic_arn
        for email in self._settings.alarm_emails:
            aws.sns.TopicSubscription(
                f"{self._name}-email-{short_digest(email)}",
                topic=topic,
                protocol="email",
                endpoint=email,
                opts=self._opts(),
            )
        for url in self._settings.https_endpoints:
            aws.sns.TopicSubscription(
                f"{self._name}-https-{short_digest(url)}",
                topic=topic,
                protocol="https",
                endpoint=url,
                # The endpoint confirms itself (SubscriptionConfirmation) or a person does; it
                # gets SNS's JSON envelope, which incident tools parse.
                endpoint_auto_confirms=False,
                raw_message_delivery=False,
                opts=self._opts(),
            )

    # ---- alarms --------------------------------------------------------------------------------
    def _alarm_name(self, part: str) -> str:
        return self._physical(part, NAME_RULE)

    def _metric_alarm(self, part: str, definition: dict[str, Any]) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{part}",
            actions_enabled=True,
            alarm_actions=self._actions,
            ok_actions=self._actions,
            **definition,
            opts=self._opts(),
        )

    def _model_alarms(self, model: str, signals: ModelSignals) -> list[str]:
        """The model's alarms; latency, error rate and drift also make up its composite."""
        settings = self._settings
        health: dict[str, dict[str, Any]] = {}
        others: dict[str, dict[str, Any]] = {}
        for endpoint in signals.endpoints:
            for kind, build in ((LATENCY, latency_alarm), (ERROR_RATE, error_rate_alarm)):
                part = f"{endpoint_part(self._ctx, endpoint)}-{kind.suffix}"
                health[part] = build(self._alarm_name(part), endpoint, settings)
        if signals.drift_monitored:
            part = f"{model}-{DRIFT.suffix}"
            health[part] = drift_alarm(self._alarm_name(part), model, settings)
            part = f"{model}-{DRIFT_STALE.suffix}"
            others[part] = stale_alarm(self._alarm_name(part), model, settings)
        if signals.pipeline is not None:
            part = f"{model}-{PIPELINE_FAILED.suffix}"
            others[part] = pipeline_alarm(self._alarm_name(part), signals.pipeline, settings)
        members = [self._metric_alarm(part, d) for part, d in health.items()]
        for part, definition in others.items():
            self._metric_alarm(part, definition)
        names = [str(d["name"]) for d in (*health.values(), *others.values())]
        if members:
            names.append(self._unhealthy(model, [str(d["name"]) for d in health.values()], members))
        return names

    def _unhealthy(
        self, model: str, member_names: list[str], members: list[aws.cloudwatch.MetricAlarm]
    ) -> str:
        part = f"{model}-{UNHEALTHY}"
        name = self._alarm_name(part)
        aws.cloudwatch.CompositeAlarm(
            f"{self._name}-{part}",
            alarm_name=name,
            alarm_description=(
                f"Model {model} is unhealthy: an endpoint's p99 latency or error rate, or the "
                "model's drift, is over its monitoring threshold."
            ),
            alarm_rule=any_alarm(member_names),
            actions_enabled=True,
            alarm_actions=self._actions,
            ok_actions=self._actions,
            # CloudWatch refuses a rule naming an alarm that does not exist yet.
            opts=self._opts(list(members)),
        )
        return name

    def _function_alarms(self) -> list[str]:
        names = []
        for key, function in sorted(self._args.function_names.items()):
            for kind, metric in ((FUNCTION_ERRORS, "Errors"), (FUNCTION_THROTTLES, "Throttles")):
                part = f"{key}-{kind.suffix}"
                name = self._alarm_name(part)
                self._metric_alarm(
                    part,
                    function_alarm(
                        name,
                        key,
                        function=function,
                        metric=metric,
                        kind=kind,
                        settings=self._settings,
                    ),
                )
                names.append(name)
        return names

    def _queue_alarms(self) -> list[str]:
        names = []
        for key, queue in sorted(self._args.queue_names.items()):
            part = f"{key}-{QUEUE_NOT_EMPTY.suffix}"
            name = self._alarm_name(part)
            self._metric_alarm(part, queue_alarm(name, key, queue))
            names.append(name)
        return names

    # ---- dashboards ----------------------------------------------------------------------------
    def _dashboard(self, model: str, signals: ModelSignals) -> pulumi.Output[str]:
        functions = self._args.function_names
        queues = self._args.queue_names
        function_keys, queue_keys = sorted(functions), sorted(queues)
        settings, region = self._settings, self._ctx.config.region
        body = pulumi.Output.all(
            *(functions[k] for k in function_keys), *(queues[k] for k in queue_keys)
        ).apply(
            lambda names: json.dumps(
                dashboard_body(
                    model,
                    signals,
                    settings,
                    region,
                    function_names=[str(n) for n in names[: len(function_keys)]],
                    queue_names=[str(n) for n in names[len(function_keys) :]],
                )
            )
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{self._name}-{model}-dashboard",
            dashboard_name=self._physical(model, NAME_RULE),
            dashboard_body=body,
            opts=self._opts(),
        )
        return dashboard.dashboard_name


# ---- names ---------------------------------------------------------------------------------------


def endpoint_part(ctx: PlatformContext, endpoint: str) -> str:
    """An endpoint's name without the `<project>-<stack>-` its physical name starts with."""
    return endpoint.removeprefix(f"{ctx.naming.project}-{ctx.naming.stack}-")


def any_alarm(alarm_names: Sequence[str]) -> str:
    """A composite alarm rule in ALARM when any of the alarms is."""
    return " OR ".join(f'ALARM("{name}")' for name in alarm_names)


def model_signals(
    cfg: PlatformConfig, endpoint_names: Mapping[str, str], pipeline_names: Mapping[str, str]
) -> dict[str, ModelSignals]:
    """Every model of the stack (the registry's, and any an endpoint or drift monitor names) and
    its signals, from the config and what the inference (`endpoint_names`, config name to
    physical name) and training (`pipeline_names`, model to pipeline) components built."""
    endpoints = [e for e in cfg.inference.endpoints if e.name in endpoint_names]
    monitors = cfg.drift.monitors if cfg.drift.enabled else []
    quality = cfg.quality.monitors if cfg.quality.enabled else []
    models = sorted(
        {m.name for m in cfg.model_registry.models}
        | {e.model for e in endpoints}
        | {m.model for m in monitors}
        | {m.model for m in quality}
        | set(pipeline_names)
    )
    return {
        model: ModelSignals(
            endpoints=[endpoint_names[e.name] for e in endpoints if e.model == model],
            serverless_endpoints=[
                endpoint_names[e.name]
                for e in endpoints
                if e.model == model and e.kind == "serverless"
            ],
            pipeline=pipeline_names.get(model),
            drift_monitored=any(m.model == model for m in monitors),
            quality=[quality_signals(m) for m in quality if m.model == model],
        )
        for model in models
    }


def quality_signals(monitor: QualityMonitorSpec) -> QualitySignals:
    """What a quality monitor's dashboard rows need from its config."""
    configured = monitor.alarms.model_dump()
    return QualitySignals(
        endpoint=monitor.endpoint,
        problem=monitor.problem,
        sensitive_attribute=monitor.sensitive_attribute,
        period=alarm_period(monitor.schedule),
        thresholds={
            kind.metric: float(configured[kind.key])
            for kind in ALARM_KINDS
            if configured[kind.key] is not None
        },
    )


# ---- alarm definitions (the MetricAlarm inputs besides actions) ----------------------------------


def _evaluation(kind: AlarmKind, periods: int, datapoints: int | None = None) -> dict[str, Any]:
    return {
        "evaluation_periods": periods,
        "datapoints_to_alarm": periods if datapoints is None else datapoints,
        "treat_missing_data": kind.treat_missing_data,
    }


def _described(text: str, kind: AlarmKind) -> str:
    return f"{text} {kind.why}"


def _variant(endpoint: str) -> dict[str, str]:
    return {"EndpointName": endpoint, "VariantName": PRODUCTION_VARIANT}


def _drift_dimensions(model: str) -> dict[str, str]:
    return {"service": drift_settings.SERVICE_NAME, "model": model}


def latency_alarm(name: str, endpoint: str, settings: Monitoring) -> dict[str, Any]:
    """p99 ModelLatency (reported in microseconds) over `maxLatencyP99Ms` for
    `evaluationPeriods` consecutive periods."""
    periods = settings.evaluation_periods
    return {
        "name": name,
        "alarm_description": _described(
            f"{endpoint}'s p99 model latency is above {settings.max_latency_p99_ms} ms for "
            f"{periods} periods of {settings.period_seconds} s.",
            LATENCY,
        ),
        "namespace": SAGEMAKER,
        "metric_name": "ModelLatency",
        "dimensions": _variant(endpoint),
        "period": settings.period_seconds,
        "extended_statistic": "p99",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": float(settings.max_latency_p99_ms * 1000),
        **_evaluation(LATENCY, periods),
    }


def error_rate_alarm(name: str, endpoint: str, settings: Monitoring) -> dict[str, Any]:
    """4xx plus 5xx as a percentage of invocations, over `maxErrorPercent`."""
    periods = settings.evaluation_periods

    def metric(metric_id: str, metric_name: str) -> dict[str, Any]:
        return {
            "id": metric_id,
            "return_data": False,
            "metric": {
                "namespace": SAGEMAKER,
                "metric_name": metric_name,
                "dimensions": _variant(endpoint),
                "period": settings.period_seconds,
                "stat": "Sum",
            },
        }

    return {
        "name": name,
        "alarm_description": _described(
            f"More than {settings.max_error_percent}% of {endpoint}'s invocations fail with a "
            f"4xx or 5xx error for {periods} periods of {settings.period_seconds} s.",
            ERROR_RATE,
        ),
        "metric_queries": [
            metric("client", "Invocation4XXErrors"),
            metric("server", "Invocation5XXErrors"),
            metric("invocations", "Invocations"),
            {
                "id": "rate",
                "label": "4xx+5xx (% of invocations)",
                "return_data": True,
                "expression": "IF(invocations > 0, 100 * (client + server) / invocations, 0)",
            },
        ],
        "comparison_operator": "GreaterThanThreshold",
        "threshold": settings.max_error_percent,
        **_evaluation(ERROR_RATE, periods),
    }


def drift_alarm(name: str, model: str, settings: Monitoring) -> dict[str, Any]:
    """A drift check's share of drifted features over `maxDriftShare`: one check is one verdict,
    so a single period decides."""
    return {
        "name": name,
        "alarm_description": _described(
            f"The last drift check of {model} found more than {settings.max_drift_share * 100:g}% "
            "of its features drifted.",
            DRIFT,
        ),
        "namespace": drift_settings.METRICS_NAMESPACE,
        "metric_name": "DriftedShare",
        "dimensions": _drift_dimensions(model),
        "period": settings.period_seconds,
        "statistic": "Maximum",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": settings.max_drift_share,
        **_evaluation(DRIFT, 1),
    }


def stale_window(hours: int) -> tuple[int, int]:
    """(period in seconds, evaluation periods) of `hours` without data: hourly periods. An
    alarm looks back at most seven days, whatever its period, so more hours are refused."""
    if hours * 3600 > MAX_EVALUATION_SECONDS:
        raise ValueError(
            f"monitoring.driftCheckStaleHours is {hours}; a CloudWatch alarm looks back at most "
            f"{MAX_EVALUATION_SECONDS // 3600} hours (seven days)"
        )
    return 3600, hours


def stale_alarm(name: str, model: str, settings: Monitoring) -> dict[str, Any]:
    """No `RowsChecked` data point (every check puts one, whatever its verdict) for
    `driftCheckStaleHours`: the checks stopped, or fail before they report."""
    period, periods = stale_window(settings.drift_check_stale_hours)
    return {
        "name": name,
        "alarm_description": _described(
            f"No drift check of {model} reported for {settings.drift_check_stale_hours} hours.",
            DRIFT_STALE,
        ),
        "namespace": drift_settings.METRICS_NAMESPACE,
        "metric_name": "RowsChecked",
        "dimensions": _drift_dimensions(model),
        "period": period,
        "statistic": "SampleCount",
        "comparison_operator": "LessThanThreshold",
        "threshold": 1.0,
        **_evaluation(DRIFT_STALE, periods),
    }


def pipeline_alarm(name: str, pipeline: str, settings: Monitoring) -> dict[str, Any]:
    """Any failed execution of the training pipeline."""
    return {
        "name": name,
        "alarm_description": _described(
            f"An execution of the training pipeline {pipeline} failed.", PIPELINE_FAILED
        ),
        "namespace": PIPELINES,
        "metric_name": "ExecutionFailed",
        "dimensions": {"PipelineName": pipeline},
        "period": settings.period_seconds,
        "statistic": "Sum",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": 0.0,
        **_evaluation(PIPELINE_FAILED, 1),
    }


def function_alarm(
    name: str,
    key: str,
    *,
    function: pulumi.Input[str],
    metric: str,
    kind: AlarmKind,
    settings: Monitoring,
) -> dict[str, Any]:
    """Any error (or throttle) of a platform function within `evaluationPeriods` periods; it
    clears after that many quiet periods."""
    periods = settings.evaluation_periods
    return {
        "name": name,
        "alarm_description": _described(
            f"The platform function {key} reported {metric} in the last {periods} periods of "
            f"{settings.period_seconds} s.",
            kind,
        ),
        "namespace": LAMBDA,
        "metric_name": metric,
        "dimensions": {"FunctionName": function},
        "period": settings.period_seconds,
        "statistic": "Sum",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": 0.0,
        **_evaluation(kind, periods, datapoints=1),
    }


def queue_alarm(name: str, key: str, queue: pulumi.Input[str]) -> dict[str, Any]:
    """A message in a dead-letter queue: something the platform could not deliver or run."""
    return {
        "name": name,
        "alarm_description": _described(
            f"The dead-letter queue {key} holds messages: look at them, fix the cause, redrive.",
            QUEUE_NOT_EMPTY,
        ),
        "namespace": SQS,
        "metric_name": "ApproximateNumberOfMessagesVisible",
        "dimensions": {"QueueName": queue},
        "period": SQS_PERIOD_SECONDS,
        "statistic": "Maximum",
        "comparison_operator": "GreaterThanThreshold",
        "threshold": 0.0,
        **_evaluation(QUEUE_NOT_EMPTY, 1),
    }


# ---- the dashboard body --------------------------------------------------------------------------


def metric_line(
    namespace: str, name: str, dimensions: Mapping[str, str], **options: Any
) -> list[Any]:
    """A widget's metric: `[namespace, name, dimension, value, ..., {options}]`."""
    line: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        line += [key, value]
    if options:
        line.append(options)
    return line


def expression_line(expression: str, label: str, metric_id: str) -> list[Any]:
    return [{"expression": expression, "label": label, "id": metric_id}]


def search(namespace: str, dimensions: Sequence[str], metric: str, **filters: str) -> str:
    """A SEARCH term over the metrics with exactly `dimensions` (namespace quoted: it has a
    `/`), named `metric`, with these dimension values."""
    schema = ",".join([json.dumps(namespace), *dimensions])
    terms = " ".join([f'MetricName="{metric}"', *(f'{k}="{v}"' for k, v in filters.items())])
    return f"{{{schema}}} {terms}"


def graph(
    title: str,
    metrics: list[list[Any]],
    *,
    region: str,
    period: int,
    stat: str,
    threshold: tuple[str, float] | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "period": period,
        "stat": stat,
        "metrics": metrics,
    }
    if threshold is not None:
        label, value = threshold
        properties["annotations"] = {"horizontal": [{"label": label, "value": value}]}
    return {"type": "metric", "properties": properties}


def dashboard_body(
    model: str,
    signals: ModelSignals,
    settings: Monitoring,
    region: str,
    *,
    function_names: Sequence[str],
    queue_names: Sequence[str],
) -> dict[str, Any]:
    """The model's dashboard: endpoints, drift, retraining and training, verification and
    capture, then the platform's functions and queues; a row of three graphs at a time."""
    period = settings.period_seconds
    widgets: list[dict[str, Any]] = []
    if signals.endpoints:
        widgets += _endpoint_graphs(signals.endpoints, settings, region)
    if signals.drift_monitored:
        widgets += _drift_graphs(model, settings, region)
    for monitor in signals.quality:
        widgets += _quality_graphs(model, monitor, region)
    if signals.pipeline is not None:
        widgets += _training_graphs(model, signals.pipeline, period, region)
    if signals.endpoints:
        widgets.append(_verification_graph(signals.endpoints, period, region))
    if signals.serverless_endpoints:
        widgets.append(_capture_graph(signals.serverless_endpoints, period, region))
    if function_names:
        lines = [
            metric_line(LAMBDA, metric, {"FunctionName": function}, label=f"{function} {metric}")
            for function in function_names
            for metric in ("Errors", "Throttles")
        ]
        widgets.append(
            graph("Platform functions: errors and throttles", lines, region=region,
                  period=period, stat="Sum")
        )  # fmt: skip
    if queue_names:
        lines = [
            metric_line(SQS, "ApproximateNumberOfMessagesVisible", {"QueueName": q}, label=q)
            for q in queue_names
        ]
        widgets.append(
            graph("Dead-letter queues: messages", lines, region=region,
                  period=max(period, SQS_PERIOD_SECONDS), stat="Maximum")
        )  # fmt: skip
    for index, widget in enumerate(widgets):
        widget.update(
            x=(index % COLUMNS) * WIDGET_WIDTH,
            y=(index // COLUMNS) * WIDGET_HEIGHT,
            width=WIDGET_WIDTH,
            height=WIDGET_HEIGHT,
        )
    return {"widgets": widgets}


def _endpoint_graphs(
    endpoints: Sequence[str], settings: Monitoring, region: str
) -> list[dict[str, Any]]:
    period = settings.period_seconds
    invocations = [metric_line(SAGEMAKER, "Invocations", _variant(e), label=e) for e in endpoints]
    latency: list[list[Any]] = []
    errors: list[list[Any]] = []
    for index, endpoint in enumerate(endpoints):
        for stat in ("p50", "p99"):
            metric_id = f"{stat}_{index}"
            latency.append(
                metric_line(
                    SAGEMAKER, "ModelLatency", _variant(endpoint),
                    stat=stat, id=metric_id, visible=False,
                )
            )  # fmt: skip
            # ModelLatency is in microseconds; the graph shows milliseconds.
            latency.append(
                expression_line(f"{metric_id} / 1000", f"{endpoint} {stat}", f"{metric_id}_ms")
            )
        for metric, label in (("Invocation4XXErrors", "4xx"), ("Invocation5XXErrors", "5xx")):
            errors.append(
                metric_line(SAGEMAKER, metric, _variant(endpoint), label=f"{endpoint} {label}")
            )
    return [
        graph("Invocations", invocations, region=region, period=period, stat="Sum"),
        graph(
            "Model latency (ms)", latency, region=region, period=period, stat="Average",
            threshold=("p99 alarm", settings.max_latency_p99_ms),
        ),
        graph("4xx and 5xx errors", errors, region=region, period=period, stat="Sum"),
    ]  # fmt: skip


def _drift_graphs(model: str, settings: Monitoring, region: str) -> list[dict[str, Any]]:
    namespace = drift_settings.METRICS_NAMESPACE
    dimensions = _drift_dimensions(model)
    top = search(
        namespace,
        ("feature", "model", "service"),
        "FeaturePSI",
        model=model,
        service=drift_settings.SERVICE_NAME,
    )
    rows = [
        metric_line(namespace, metric, dimensions, label=label)
        for metric, label in (
            ("RowsChecked", "rows checked"),
            ("MalformedLines", "malformed lines"),
            ("SchemaMismatch", "checks refused: schema mismatch"),
        )
    ]
    return [
        graph(
            "Drift: share of features drifted",
            [metric_line(namespace, "DriftedShare", dimensions, label="drifted share")],
            region=region, period=DRIFT_GRAPH_PERIOD, stat="Maximum",
            threshold=("drift alarm", settings.max_drift_share),
        ),
        graph(
            f"Drift: the {TOP_FEATURES} most drifted features (PSI)",
            [expression_line(
                f"SORT(SEARCH('{top}', 'Maximum', {DRIFT_GRAPH_PERIOD}), MAX, DESC, "
                f"{TOP_FEATURES})",
                "",
                "top",
            )],
            region=region, period=DRIFT_GRAPH_PERIOD, stat="Maximum",
        ),
        graph("Drift checks: rows", rows, region=region, period=DRIFT_GRAPH_PERIOD, stat="Sum"),
    ]  # fmt: skip


QUALITY_ROWS = {
    "classification": (
        ("Accuracy, F1 and ROC AUC", ("Accuracy", "F1", "RocAuc")),
        ("Label coverage", ("LabelCoverage",)),
        ("Calibration error", ("CalibrationError",)),
    ),
    "regression": (
        ("MAE and RMSE", ("Mae", "Rmse")),
        ("R²", ("R2",)),
        ("Label coverage", ("LabelCoverage",)),
    ),
}
"""The quality row of a monitor, by problem: three graphs (title, metrics)."""
FAIRNESS_ROW = (
    ("Disparate impact", ("DisparateImpact",)),
    ("Demographic parity difference", ("DemographicParityDifference",)),
    ("Equalized odds: TPR and FPR differences", ("TprDifference", "FprDifference")),
)
"""The fairness row of a monitor with a sensitive attribute."""


def _quality_graphs(model: str, monitor: QualitySignals, region: str) -> list[dict[str, Any]]:
    """A row of quality graphs and, with a sensitive attribute, a row of fairness graphs; each
    alarm's threshold drawn on its metric's graph."""
    namespace = drift_settings.QUALITY_METRICS_NAMESPACE
    overall = {
        "service": drift_settings.QUALITY_SERVICE_NAME,
        "Model": model,
        "Endpoint": monitor.endpoint,
    }
    rows: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
        (f"Quality of {model} on {monitor.endpoint}: {title}", metrics, overall)
        for title, metrics in QUALITY_ROWS[monitor.problem]
    ]
    if monitor.sensitive_attribute is not None:
        fairness = {**overall, "SensitiveAttribute": monitor.sensitive_attribute}
        rows += [
            (f"Fairness of {model} by {monitor.sensitive_attribute}: {title}", metrics, fairness)
            for title, metrics in FAIRNESS_ROW
        ]
    widgets = []
    for title, metrics, dimensions in rows:
        widget = graph(
            title,
            [metric_line(namespace, name, dimensions, label=name) for name in metrics],
            region=region,
            period=monitor.period,
            stat="Average",
        )
        lines = [
            {"label": f"{name} alarm", "value": monitor.thresholds[name]}
            for name in metrics
            if name in monitor.thresholds
        ]
        if lines:
            widget["properties"]["annotations"] = {"horizontal": lines}
        widgets.append(widget)
    return widgets


def _training_graphs(model: str, pipeline: str, period: int, region: str) -> list[dict[str, Any]]:
    namespace = retrain_settings.METRICS_NAMESPACE
    dimensions = {"service": retrain_settings.SERVICE_NAME, "model": model}
    decisions = [
        metric_line(namespace, metric, dimensions, label=label)
        for metric, label in (
            (retrain_settings.METRIC_STARTED, "started"),
            (retrain_settings.METRIC_FAILED, "failed to start"),
            (retrain_settings.METRIC_PROMOTION, "promotion requested"),
            (retrain_settings.METRIC_PROMOTION_FAILED, "promotion failed"),
        )
    ]
    skipped = search(
        namespace,
        ("model", "reason", "service"),
        retrain_settings.METRIC_SKIPPED,
        model=model,
        service=retrain_settings.SERVICE_NAME,
    )
    decisions.append(
        expression_line(f"SEARCH('{skipped}', 'Sum', {period})", "skipped:", "skipped")
    )
    executions = [
        metric_line(PIPELINES, metric, {"PipelineName": pipeline}, label=label)
        for metric, label in (
            ("ExecutionStarted", "started"),
            ("ExecutionSucceeded", "succeeded"),
            ("ExecutionFailed", "failed"),
            ("ExecutionStopped", "stopped"),
        )
    ]
    return [
        graph("Retraining decisions", decisions, region=region, period=period, stat="Sum"),
        graph(f"Training pipeline {pipeline}", executions, region=region, period=period,
              stat="Sum"),
    ]  # fmt: skip


def _verification_graph(endpoints: Sequence[str], period: int, region: str) -> dict[str, Any]:
    namespace = verifier_settings.METRICS_NAMESPACE
    lines = []
    for endpoint in endpoints:
        dimensions = {"service": verifier_settings.SERVICE_NAME, "endpoint": endpoint}
        lines += [
            metric_line(namespace, verifier_settings.METRIC_MISMATCH, dimensions,
                        stat="Maximum", label=f"{endpoint} differs from its intended state"),
            metric_line(namespace, verifier_settings.METRIC_ERROR, dimensions,
                        stat="Sum", label=f"{endpoint} could not be verified"),
        ]  # fmt: skip
    return graph("Endpoint verification", lines, region=region, period=period, stat="Maximum")


def _capture_graph(endpoints: Sequence[str], period: int, region: str) -> dict[str, Any]:
    namespace = capture_settings.METRICS_NAMESPACE
    lines = [
        metric_line(
            namespace,
            metric,
            {"service": capture_settings.SERVICE_NAME, "endpoint": endpoint},
            label=f"{endpoint} {label}",
        )
        for endpoint in endpoints
        for metric, label in (
            (capture_settings.METRIC_CAPTURED, "captured"),
            (capture_settings.METRIC_CAPTURE_FAILED, "capture failed"),
            (capture_settings.METRIC_CAPTURE_TOO_LARGE, "too large to capture"),
            (capture_settings.METRIC_INVOKE_FAILED, "invocation failed"),
        )
    ]
    return graph("Capture proxy", lines, region=region, period=period, stat="Sum")
