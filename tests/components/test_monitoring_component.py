"""Monitoring under Pulumi mocks: the exact dashboard of a model, each kind of alarm, the
composite "unhealthy" rule, the topic's subscriptions; every widget's and alarm's metric checked
against the catalog of what is really emitted, and the catalog checked against the handlers'
source; the policy pack over the component's resources.

Everything runs the real program (`plan_with`, as `make plan` does), so the component sees what
`Platform._monitoring` gives it: the real platform topic, the real endpoint and pipeline names,
and every function and dead-letter queue of the stack keyed by its Pulumi resource name (which
names its alarms). The exact-input tests plan dev with the monitoring settings below, a second
model without any signal (`fraud`) and a second, real-time endpoint of churn (`churn-rt`); the
last section runs over the shipped stacks as they are.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import capture_settings
import pulumi
import pytest
import retrain_settings
import verifier_settings
from mlops_drift import settings as drift_settings
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components import metric_catalog
from components.config import PROJECT, ConfigError, PlatformConfig, load_platform_config
from components.metric_catalog import EMITTERS, Emitter, problems
from components.monitoring import (
    ModelSignals,
    MonitoringArgs,
    PlatformMonitoring,
    QualitySignals,
    model_signals,
    stale_window,
)
from components.naming import Naming
from components.platform import PlatformContext, aws_provider
from planner.mocks import PlatformMocks, RecordingMonitor, Registration
from planner.policies import evaluate
from planner.run import PROJECT_DIR, Plan
from planner.stackfile import load_stack_config
from tests.conftest import SHIPPED_STACKS, plan_with

NS = "mlops-platform:"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
DEV_FILE = "stacks/Pulumi.dev.yaml"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-platform-dev-platform-events"
"""The platform topic `Platform.platform_topic()` creates in dev."""
CHAT = f"arn:aws:sns:{REGION}:{ACCOUNT}:chatbot-ml"
ACTIONS = [TOPIC, CHAT]
PREFIX = "mlops-platform-dev-monitoring-"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
FUNCTION = "aws:lambda/function:Function"
QUEUE = "aws:sqs/queue:Queue"

MONITORING: dict[str, Any] = {
    "enabled": True,
    "alarmEmails": ["oncall@example.com", "ml-team@example.com"],
    "httpsEndpoints": ["https://events.incidents.example/integration/sns"],
    "chatTopicArns": [CHAT],
    "periodSeconds": 60,
    "evaluationPeriods": 5,
    "maxErrorPercent": 1.5,
    "maxLatencyP99Ms": 750,
    "maxDriftShare": 0.25,
    "driftCheckStaleHours": 30,
}
SERVERLESS, REALTIME = "mlops-platform-dev-churn", "mlops-platform-dev-churn-rt"
PIPELINE = "mlops-platform-dev-churn-training"
FUNCTIONS = {  # the dev platform's functions: Pulumi resource name -> function name
    "drift-check": "mlops-platform-dev-drift-check",
    "inference-churn-capture-proxy": "mlops-platform-dev-churn-capture-proxy",
    "inference-verifier": "mlops-platform-dev-inference-verifier",
    "quality-check": "mlops-platform-dev-quality-check",
    "retraining-trigger": "mlops-platform-dev-retraining-trigger",
}
QUEUES = {  # its dead-letter queues: Pulumi resource name -> queue name
    key: f"mlops-platform-dev-{key}"
    for key in (
        "drift-dlq",
        "inference-dlq",
        "inference-verify-hourly-dlq",
        "inference-verify-state-dlq",
        "quality-dlq",
        "registry-approvals-dlq",
        "retraining-alarms-dlq",
        "retraining-approvals-dlq",
        "retraining-dlq",
        "retraining-drift-dlq",
        "retraining-requests-dlq",
        "training-dlq",
        "training-failures-dlq",
    )
}


# ---- planning dev with the settings above -----------------------------------------------------


def dev_section(key: str) -> dict[str, Any]:
    """A structured section of the shipped dev stack, as the program reads it."""
    section: dict[str, Any] = json.loads(load_stack_config(PROJECT_DIR, "dev").values[NS + key])
    return section


def overrides(monitoring: dict[str, Any] = MONITORING) -> dict[str, Any]:
    """Dev with `monitoring`, a model `fraud` that has no endpoint, pipeline or drift monitor,
    and a real-time endpoint `churn-rt` next to churn's serverless one."""
    registry, inference = dev_section("modelRegistry"), dev_section("inference")
    registry["models"] = [*registry["models"], {"name": "fraud"}]
    inference["endpoints"] = [
        *inference["endpoints"],
        {"name": "churn-rt", "model": "churn", "modelVersion": 1, "kind": "realtime"},
    ]
    return {
        f"{NS}monitoring": monitoring,
        f"{NS}modelRegistry": registry,
        f"{NS}inference": inference,
    }


@pytest.fixture(scope="module")
def plan() -> Plan:
    return plan_with("dev", overrides())


def named(plan: Plan, name: str) -> Registration:
    (record,) = [r for r in plan.registrations if r.name == name]
    return record


def children(plan: Plan) -> list[Registration]:
    """The resources the monitoring component registered."""
    component = named(plan, "monitoring")
    return [r for r in plan.registrations if r.parent == component.urn]


def alarm(plan: Plan, name: str) -> dict[str, Any]:
    """A metric alarm's inputs, its actions checked and removed."""
    inputs = dict(named(plan, f"monitoring-{name}").inputs)
    assert inputs.pop("actionsEnabled") is True
    assert inputs.pop("alarmActions") == ACTIONS
    assert inputs.pop("okActions") == ACTIONS
    return inputs


def body(plan: Plan, model: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        named(plan, f"monitoring-{model}-dashboard").inputs["dashboardBody"]
    )
    return loaded


def test_the_settings_plan_the_models_functions_and_queues_above(plan: Plan) -> None:
    """The tables above are what dev really builds, so the exact inputs below are the real
    ones."""
    assert plan.outputs["platformTopicArn"] == TOPIC
    assert plan.outputs["trainingPipelines"] == {"churn": PIPELINE}
    assert {r.name: r.inputs["name"] for r in plan.by_type(FUNCTION)} == FUNCTIONS
    assert {r.name: r.inputs["name"] for r in plan.by_type(QUEUE)} == QUEUES
    endpoints = {r.inputs["name"] for r in plan.by_type("aws:sagemaker/endpoint:Endpoint")}
    assert endpoints == {SERVERLESS, REALTIME}


# ---- subscriptions ----------------------------------------------------------------------------


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def test_topic_subscriptions_are_the_configured_emails_and_https_endpoints(plan: Plan) -> None:
    found = {r.name: r.inputs for r in plan.by_type(SUBSCRIPTION)}
    assert found == {
        f"monitoring-email-{digest('oncall@example.com')}": {
            "topic": TOPIC,
            "protocol": "email",
            "endpoint": "oncall@example.com",
        },
        f"monitoring-email-{digest('ml-team@example.com')}": {
            "topic": TOPIC,
            "protocol": "email",
            "endpoint": "ml-team@example.com",
        },
        f"monitoring-https-{digest('https://events.incidents.example/integration/sns')}": {
            "topic": TOPIC,
            "protocol": "https",
            "endpoint": "https://events.incidents.example/integration/sns",
            "endpointAutoConfirms": False,
            "rawMessageDelivery": False,
        },
    }


def test_reordering_the_subscribers_keeps_every_resource_name(plan: Plan) -> None:
    reordered = {**MONITORING, "alarmEmails": list(reversed(MONITORING["alarmEmails"]))}
    again = plan_with("dev", overrides(reordered))
    assert {r.name for r in again.by_type(SUBSCRIPTION)} == {
        r.name for r in plan.by_type(SUBSCRIPTION)
    }


# ---- alarms -----------------------------------------------------------------------------------


def variant(endpoint: str) -> dict[str, str]:
    return {"EndpointName": endpoint, "VariantName": "AllTraffic"}


@pytest.mark.parametrize(("endpoint", "part"), [(SERVERLESS, "churn"), (REALTIME, "churn-rt")])
def test_latency_alarm_per_endpoint(plan: Plan, endpoint: str, part: str) -> None:
    assert alarm(plan, f"{part}-p99-latency") == {
        "name": f"{PREFIX}{part}-p99-latency",
        "alarmDescription": f"{endpoint}'s p99 model latency is above 750 ms for 5 periods of "
        "60 s. Missing data is not breaching: without traffic there is no latency, and a quiet "
        "endpoint is not a slow one.",
        "namespace": "AWS/SageMaker",
        "metricName": "ModelLatency",
        "dimensions": variant(endpoint),
        "period": 60,
        "extendedStatistic": "p99",
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 750_000,  # microseconds
        "evaluationPeriods": 5,
        "datapointsToAlarm": 5,
        "treatMissingData": "notBreaching",
    }


@pytest.mark.parametrize(("endpoint", "part"), [(SERVERLESS, "churn"), (REALTIME, "churn-rt")])
def test_error_rate_alarm_per_endpoint(plan: Plan, endpoint: str, part: str) -> None:
    def metric(metric_id: str, name: str) -> dict[str, Any]:
        return {
            "id": metric_id,
            "returnData": False,
            "metric": {
                "namespace": "AWS/SageMaker",
                "metricName": name,
                "dimensions": variant(endpoint),
                "period": 60,
                "stat": "Sum",
            },
        }

    assert alarm(plan, f"{part}-error-rate") == {
        "name": f"{PREFIX}{part}-error-rate",
        "alarmDescription": f"More than 1.5% of {endpoint}'s invocations fail with a 4xx or 5xx "
        "error for 5 periods of 60 s. Missing data is not breaching: without invocations there "
        "are no errors.",
        "metricQueries": [
            metric("client", "Invocation4XXErrors"),
            metric("server", "Invocation5XXErrors"),
            metric("invocations", "Invocations"),
            {
                "id": "rate",
                "label": "4xx+5xx (% of invocations)",
                "returnData": True,
                "expression": "IF(invocations > 0, 100 * (client + server) / invocations, 0)",
            },
        ],
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 1.5,
        "evaluationPeriods": 5,
        "datapointsToAlarm": 5,
        "treatMissingData": "notBreaching",
    }


def test_drift_alarm_one_check_decides_and_stands_until_the_next(plan: Plan) -> None:
    assert alarm(plan, "churn-drift") == {
        "name": f"{PREFIX}churn-drift",
        "alarmDescription": "The last drift check of churn found more than 25% of its "
        "features drifted. Missing data is ignored: checks run hours apart, and the last "
        "check's verdict stands until the next one.",
        "namespace": "MLOpsPlatform/Drift",
        "metricName": "DriftedShare",
        "dimensions": {"service": "drift-check", "model": "churn"},
        "period": 60,
        "statistic": "Maximum",
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 0.25,
        "evaluationPeriods": 1,
        "datapointsToAlarm": 1,
        "treatMissingData": "ignore",
    }


def test_stale_drift_checks_alarm_on_missing_data(plan: Plan) -> None:
    assert alarm(plan, "churn-drift-checks-stale") == {
        "name": f"{PREFIX}churn-drift-checks-stale",
        "alarmDescription": "No drift check of churn reported for 30 hours. Missing data is "
        "breaching: it is the signal, no check reported.",
        "namespace": "MLOpsPlatform/Drift",
        "metricName": "RowsChecked",
        "dimensions": {"service": "drift-check", "model": "churn"},
        "period": 3600,
        "statistic": "SampleCount",
        "comparisonOperator": "LessThanThreshold",
        "threshold": 1,
        "evaluationPeriods": 30,
        "datapointsToAlarm": 30,
        "treatMissingData": "breaching",
    }


@pytest.mark.parametrize("hours", [1, 30, 168])
def test_stale_window_is_hourly(hours: int) -> None:
    assert stale_window(hours) == (3600, hours)


def test_a_stale_window_past_seven_days_is_refused_by_the_config() -> None:
    """PutMetricAlarm: period times evaluation periods at most 604,800 s, whatever the period;
    the config takes at most 168 hours, so the stack is refused before any resource."""
    registered: list[Registration] = []
    expected = (
        f"{DEV_FILE}: {NS}monitoring.driftCheckStaleHours: input should be less than or equal "
        "to 168 (got 169); accepted: integer >= 1, <= 168"
    )
    with pytest.raises(ConfigError) as caught:
        plan_with("dev", overrides({**MONITORING, "driftCheckStaleHours": 169}), (), registered)
    assert [p.render(DEV_FILE) for p in caught.value.problems] == [expected]
    assert str(caught.value) == (
        f"invalid configuration in {DEV_FILE} (1 problem):\n  - {expected}"
    )
    assert registered == []


def test_pipeline_failure_alarm(plan: Plan) -> None:
    assert alarm(plan, "churn-pipeline-failed") == {
        "name": f"{PREFIX}churn-pipeline-failed",
        "alarmDescription": f"An execution of the training pipeline {PIPELINE} failed. Missing "
        "data is not breaching: a failure is an event, and without executions nothing failed.",
        "namespace": "AWS/Sagemaker/ModelBuildingPipeline",
        "metricName": "ExecutionFailed",
        "dimensions": {"PipelineName": PIPELINE},
        "period": 60,
        "statistic": "Sum",
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 0,
        "evaluationPeriods": 1,
        "datapointsToAlarm": 1,
        "treatMissingData": "notBreaching",
    }


@pytest.mark.parametrize("key", sorted(FUNCTIONS))
@pytest.mark.parametrize(("metric", "suffix"), [("Errors", "errors"), ("Throttles", "throttles")])
def test_function_alarms_fire_on_any_error_or_throttle(
    plan: Plan, key: str, metric: str, suffix: str
) -> None:
    assert alarm(plan, f"{key}-{suffix}") == {
        "name": f"{PREFIX}{key}-{suffix}",
        "alarmDescription": f"The platform function {key} reported {metric} in the last 5 "
        f"periods of 60 s. Missing data is not breaching: without invocations there are no "
        f"{suffix}.",
        "namespace": "AWS/Lambda",
        "metricName": metric,
        "dimensions": {"FunctionName": FUNCTIONS[key]},
        "period": 60,
        "statistic": "Sum",
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 0,
        "evaluationPeriods": 5,
        "datapointsToAlarm": 1,
        "treatMissingData": "notBreaching",
    }


@pytest.mark.parametrize("key", sorted(QUEUES))
def test_dead_letter_queue_alarm_fires_on_one_message(plan: Plan, key: str) -> None:
    assert alarm(plan, f"{key}-not-empty") == {
        "name": f"{PREFIX}{key}-not-empty",
        "alarmDescription": f"The dead-letter queue {key} holds messages: look at them, fix "
        "the cause, redrive. Missing data is ignored: SQS publishes only while a queue is "
        "active (a message in it or a call within six hours), so an idle queue keeps its last "
        "state.",
        "namespace": "AWS/SQS",
        "metricName": "ApproximateNumberOfMessagesVisible",
        "dimensions": {"QueueName": QUEUES[key]},
        "period": 300,  # SQS publishes every five minutes, whatever the configured period
        "statistic": "Maximum",
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 0,
        "evaluationPeriods": 1,
        "datapointsToAlarm": 1,
        "treatMissingData": "ignore",
    }


HEALTH = ["churn-p99-latency", "churn-error-rate", "churn-rt-p99-latency",
          "churn-rt-error-rate", "churn-drift"]  # fmt: skip


def test_composite_alarm_is_any_of_the_models_latency_error_and_drift_alarms(plan: Plan) -> None:
    composite = named(plan, "monitoring-churn-unhealthy")
    assert composite.type == COMPOSITE_ALARM
    assert composite.inputs == {
        "alarmName": f"{PREFIX}churn-unhealthy",
        "alarmDescription": "Model churn is unhealthy: an endpoint's p99 latency or error rate, "
        "or the model's drift, is over its monitoring threshold.",
        "alarmRule": " OR ".join(f'ALARM("{PREFIX}{part}")' for part in HEALTH),
        "actionsEnabled": True,
        "alarmActions": ACTIONS,
        "okActions": ACTIONS,
    }
    # CloudWatch refuses a rule naming an alarm that does not exist yet; the platform topic it
    # notifies is a dependency through its ARN.
    assert set(composite.dependencies) == {
        *(named(plan, f"monitoring-{part}").urn for part in HEALTH),
        named(plan, "platform-events-topic").urn,
    }


def test_alarm_names_by_model_and_platform(plan: Plan) -> None:
    assert plan.outputs["modelAlarms"] == {
        "churn": [
            *(f"{PREFIX}{part}" for part in HEALTH),
            f"{PREFIX}churn-drift-checks-stale",
            f"{PREFIX}churn-pipeline-failed",
            f"{PREFIX}churn-unhealthy",
        ],
        "fraud": [],
    }
    # Named after the functions' and queues' Pulumi resource names, each group in their order.
    assert plan.outputs["platformAlarms"] == [
        f"{PREFIX}drift-check-errors",
        f"{PREFIX}drift-check-throttles",
        f"{PREFIX}inference-churn-capture-proxy-errors",
        f"{PREFIX}inference-churn-capture-proxy-throttles",
        f"{PREFIX}inference-verifier-errors",
        f"{PREFIX}inference-verifier-throttles",
        f"{PREFIX}quality-check-errors",
        f"{PREFIX}quality-check-throttles",
        f"{PREFIX}retraining-trigger-errors",
        f"{PREFIX}retraining-trigger-throttles",
        f"{PREFIX}drift-dlq-not-empty",
        f"{PREFIX}inference-dlq-not-empty",
        f"{PREFIX}inference-verify-hourly-dlq-not-empty",
        f"{PREFIX}inference-verify-state-dlq-not-empty",
        f"{PREFIX}quality-dlq-not-empty",
        f"{PREFIX}registry-approvals-dlq-not-empty",
        f"{PREFIX}retraining-alarms-dlq-not-empty",
        f"{PREFIX}retraining-approvals-dlq-not-empty",
        f"{PREFIX}retraining-dlq-not-empty",
        f"{PREFIX}retraining-drift-dlq-not-empty",
        f"{PREFIX}retraining-requests-dlq-not-empty",
        f"{PREFIX}training-dlq-not-empty",
        f"{PREFIX}training-failures-dlq-not-empty",
    ]
    # Every alarm the component created is listed (the endpoints' own alarms are not its).
    own = children(plan)
    alarms = {r.inputs["name"] for r in own if r.type == METRIC_ALARM}
    composites = {r.inputs["alarmName"] for r in own if r.type == COMPOSITE_ALARM}
    listed = {n for names in plan.outputs["modelAlarms"].values() for n in names}
    assert alarms | composites == listed | set(plan.outputs["platformAlarms"])


def test_a_model_with_no_signals_gets_no_composite(plan: Plan) -> None:
    assert [r.name for r in plan.by_type(COMPOSITE_ALARM)] == ["monitoring-churn-unhealthy"]


CHATS = [f"arn:aws:sns:{REGION}:{ACCOUNT}:chat-{i}" for i in range(5)]


def test_more_actions_than_cloudwatch_takes_are_refused_by_the_config() -> None:
    """CloudWatch takes five actions per alarm: the platform topic and four chat topics."""
    registered: list[Registration] = []
    expected = (
        f"{DEV_FILE}: {NS}monitoring.chatTopicArns: list should have at most 4 items after "
        "validation, not 5 (got "
        # The value is cut at 120 characters.
        '["arn:aws:sns:eu-west-1:123456789012:chat-0", "arn:aws:sns:eu-west-1:123456789012:'
        'chat-1", "arn:aws:sns:eu-west-1:123...); accepted: list of (string matching '
        "`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\\d{12}:[A-Za-z0-9_-]{1,256}$`) at most 4 items"
    )
    with pytest.raises(ConfigError) as caught:
        plan_with("dev", overrides({**MONITORING, "chatTopicArns": CHATS}), (), registered)
    assert [p.render(DEV_FILE) for p in caught.value.problems] == [expected]
    assert str(caught.value) == (
        f"invalid configuration in {DEV_FILE} (1 problem):\n  - {expected}"
    )
    assert registered == []


def build_directly(config: PlatformConfig, registered: list[Registration]) -> None:
    """`PlatformMonitoring` built by a caller of its own, with `config` as given (not checked by
    the config model), under the planner's mocks; every registration appended to
    `registered`."""
    mocks = PlatformMocks(ACCOUNT, REGION, "aws")
    monitor = RecordingMonitor(mocks, registered.append)
    runtime_settings.ROOT.set(None)
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="dev", preview=False, monitor=monitor)

    def program() -> None:
        context = PlatformContext(
            config=config,
            naming=Naming(PROJECT, "dev"),
            provider=aws_provider("aws", config),
            partition="aws",
            account_id=pulumi.Output.from_input(ACCOUNT),
        )
        PlatformMonitoring(
            "monitoring",
            MonitoringArgs(
                context=context,
                topic_arn=TOPIC,
                models={},
                function_names={},
                queue_names={},
            ),
        )

    _sync_await(run_pulumi_func(program))


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        pytest.param(
            {"drift_check_stale_hours": 169},
            "monitoring.driftCheckStaleHours is 169; a CloudWatch alarm looks back at most 168 "
            "hours (seven days)",
            id="stale-window",
        ),
        pytest.param(
            {"chat_topic_arns": CHATS},
            "PlatformMonitoring 'monitoring': the platform topic and 5 chat topics make 6 alarm "
            "actions; CloudWatch accepts 5 (at most 4 chatTopicArns)",
            id="actions",
        ),
    ],
)
def test_built_directly_the_component_refuses_what_cloudwatch_cannot_take(
    change: dict[str, Any], refused: str
) -> None:
    """The config refuses both (above); the component does too, for a caller that builds it
    from settings the config model never checked, before it registers anything."""
    values = dict(load_stack_config(PROJECT_DIR, "dev").values)
    checked = load_platform_config(values, "dev", str(PROJECT_DIR / "stacks"))
    # model_copy does not validate: the settings are what the config would refuse.
    unchecked = checked.model_copy(
        update={"monitoring": checked.monitoring.model_copy(update=change)}
    )
    registered: list[Registration] = []
    with pytest.raises(ValueError, match=f"^{re.escape(refused)}$"):
        build_directly(unchecked, registered)
    assert [r.type for r in registered] == ["pulumi:providers:aws"]


# ---- the dashboard ----------------------------------------------------------------------------


def widget(
    index: int, title: str, period: int, stat: str, metrics: list[Any], **extra: Any
) -> dict[str, Any]:
    properties = {
        "title": title,
        "region": REGION,
        "view": "timeSeries",
        "stacked": False,
        "period": period,
        "stat": stat,
        "metrics": metrics,
        **extra,
    }
    return {
        "type": "metric",
        "properties": properties,
        "x": (index % 3) * 8,
        "y": (index // 3) * 6,
        "width": 8,
        "height": 6,
    }


def platform_widgets(first: int) -> list[dict[str, Any]]:
    """The platform's graphs: each function's errors and throttles, each queue's messages, in
    the order of their resource names."""
    functions = [FUNCTIONS[key] for key in sorted(FUNCTIONS)]
    queues = [QUEUES[key] for key in sorted(QUEUES)]
    return [
        widget(first, "Platform functions: errors and throttles", 60, "Sum", [
            ["AWS/Lambda", metric, "FunctionName", function, {"label": f"{function} {metric}"}]
            for function in functions
            for metric in ("Errors", "Throttles")
        ]),
        widget(first + 1, "Dead-letter queues: messages", 300, "Maximum", [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, {"label": queue}]
            for queue in queues
        ]),
    ]  # fmt: skip


def test_dashboard_of_a_model_with_every_signal(plan: Plan) -> None:
    s, r = SERVERLESS, REALTIME
    sm = "AWS/SageMaker"
    drift = ["service", "drift-check", "model", "churn"]
    retraining = ["service", "retrain-trigger", "model", "churn"]
    top_features = (
        'SORT(SEARCH(\'{"MLOpsPlatform/Drift",feature,model,service} MetricName="FeaturePSI" '
        'model="churn" service="drift-check"\', \'Maximum\', 3600), MAX, DESC, 5)'
    )
    skipped = (
        'SEARCH(\'{"MLOpsPlatform/Retraining",model,reason,service} '
        'MetricName="RetrainingSkipped" model="churn" service="retrain-trigger"\', \'Sum\', 60)'
    )
    pipeline = ["PipelineName", PIPELINE]
    verifier = "MLOpsPlatform/Endpoints"
    capture = "MLOpsPlatform/Capture"
    # dev's quality monitor: classification, daily, alarms on accuracy and label coverage
    quality = ["service", "quality-check", "Model", "churn", "Endpoint", s]
    judged = f"Quality of churn on {s}"
    assert body(plan, "churn") == {"widgets": [
        widget(0, "Invocations", 60, "Sum", [
            [sm, "Invocations", "EndpointName", s, "VariantName", "AllTraffic", {"label": s}],
            [sm, "Invocations", "EndpointName", r, "VariantName", "AllTraffic", {"label": r}],
        ]),
        widget(1, "Model latency (ms)", 60, "Average", [
            [sm, "ModelLatency", "EndpointName", s, "VariantName", "AllTraffic",
             {"stat": "p50", "id": "p50_0", "visible": False}],
            [{"expression": "p50_0 / 1000", "label": f"{s} p50", "id": "p50_0_ms"}],
            [sm, "ModelLatency", "EndpointName", s, "VariantName", "AllTraffic",
             {"stat": "p99", "id": "p99_0", "visible": False}],
            [{"expression": "p99_0 / 1000", "label": f"{s} p99", "id": "p99_0_ms"}],
            [sm, "ModelLatency", "EndpointName", r, "VariantName", "AllTraffic",
             {"stat": "p50", "id": "p50_1", "visible": False}],
            [{"expression": "p50_1 / 1000", "label": f"{r} p50", "id": "p50_1_ms"}],
            [sm, "ModelLatency", "EndpointName", r, "VariantName", "AllTraffic",
             {"stat": "p99", "id": "p99_1", "visible": False}],
            [{"expression": "p99_1 / 1000", "label": f"{r} p99", "id": "p99_1_ms"}],
        ], annotations={"horizontal": [{"label": "p99 alarm", "value": 750}]}),
        widget(2, "4xx and 5xx errors", 60, "Sum", [
            [sm, "Invocation4XXErrors", "EndpointName", s, "VariantName", "AllTraffic",
             {"label": f"{s} 4xx"}],
            [sm, "Invocation5XXErrors", "EndpointName", s, "VariantName", "AllTraffic",
             {"label": f"{s} 5xx"}],
            [sm, "Invocation4XXErrors", "EndpointName", r, "VariantName", "AllTraffic",
             {"label": f"{r} 4xx"}],
            [sm, "Invocation5XXErrors", "EndpointName", r, "VariantName", "AllTraffic",
             {"label": f"{r} 5xx"}],
        ]),
        widget(3, "Drift: share of features drifted", 3600, "Maximum", [
            ["MLOpsPlatform/Drift", "DriftedShare", *drift, {"label": "drifted share"}],
        ], annotations={"horizontal": [{"label": "drift alarm", "value": 0.25}]}),
        widget(4, "Drift: the 5 most drifted features (PSI)", 3600, "Maximum", [
            [{"expression": top_features, "label": "", "id": "top"}],
        ]),
        widget(5, "Drift checks: rows", 3600, "Sum", [
            ["MLOpsPlatform/Drift", "RowsChecked", *drift, {"label": "rows checked"}],
            ["MLOpsPlatform/Drift", "MalformedLines", *drift, {"label": "malformed lines"}],
            ["MLOpsPlatform/Drift", "SchemaMismatch", *drift,
             {"label": "checks refused: schema mismatch"}],
        ]),
        widget(6, f"{judged}: Accuracy, F1 and ROC AUC", 86400, "Average", [
            ["MLOpsPlatform/Quality", "Accuracy", *quality, {"label": "Accuracy"}],
            ["MLOpsPlatform/Quality", "F1", *quality, {"label": "F1"}],
            ["MLOpsPlatform/Quality", "RocAuc", *quality, {"label": "RocAuc"}],
        ], annotations={"horizontal": [{"label": "Accuracy alarm", "value": 0.7}]}),
        widget(7, f"{judged}: Label coverage", 86400, "Average", [
            ["MLOpsPlatform/Quality", "LabelCoverage", *quality, {"label": "LabelCoverage"}],
        ], annotations={"horizontal": [{"label": "LabelCoverage alarm", "value": 0.2}]}),
        widget(8, f"{judged}: Calibration error", 86400, "Average", [
            ["MLOpsPlatform/Quality", "CalibrationError", *quality, {"label": "CalibrationError"}],
        ]),
        widget(9, "Retraining decisions", 60, "Sum", [
            ["MLOpsPlatform/Retraining", "RetrainingStarted", *retraining, {"label": "started"}],
            ["MLOpsPlatform/Retraining", "RetrainingFailed", *retraining,
             {"label": "failed to start"}],
            ["MLOpsPlatform/Retraining", "PromotionRequested", *retraining,
             {"label": "promotion requested"}],
            ["MLOpsPlatform/Retraining", "PromotionFailed", *retraining,
             {"label": "promotion failed"}],
            [{"expression": skipped, "label": "skipped:", "id": "skipped"}],
        ]),
        widget(10, f"Training pipeline {PIPELINE}", 60, "Sum", [
            ["AWS/Sagemaker/ModelBuildingPipeline", "ExecutionStarted", *pipeline,
             {"label": "started"}],
            ["AWS/Sagemaker/ModelBuildingPipeline", "ExecutionSucceeded", *pipeline,
             {"label": "succeeded"}],
            ["AWS/Sagemaker/ModelBuildingPipeline", "ExecutionFailed", *pipeline,
             {"label": "failed"}],
            ["AWS/Sagemaker/ModelBuildingPipeline", "ExecutionStopped", *pipeline,
             {"label": "stopped"}],
        ]),
        widget(11, "Endpoint verification", 60, "Maximum", [
            [verifier, "EndpointMismatch", "service", "endpoint-verifier", "endpoint", s,
             {"stat": "Maximum", "label": f"{s} differs from its intended state"}],
            [verifier, "EndpointVerificationError", "service", "endpoint-verifier", "endpoint", s,
             {"stat": "Sum", "label": f"{s} could not be verified"}],
            [verifier, "EndpointMismatch", "service", "endpoint-verifier", "endpoint", r,
             {"stat": "Maximum", "label": f"{r} differs from its intended state"}],
            [verifier, "EndpointVerificationError", "service", "endpoint-verifier", "endpoint", r,
             {"stat": "Sum", "label": f"{r} could not be verified"}],
        ]),
        widget(12, "Capture proxy", 60, "Sum", [
            [capture, "Captured", "service", "capture-proxy", "endpoint", s,
             {"label": f"{s} captured"}],
            [capture, "CaptureFailed", "service", "capture-proxy", "endpoint", s,
             {"label": f"{s} capture failed"}],
            [capture, "CaptureTooLarge", "service", "capture-proxy", "endpoint", s,
             {"label": f"{s} too large to capture"}],
            [capture, "InvokeFailed", "service", "capture-proxy", "endpoint", s,
             {"label": f"{s} invocation failed"}],
        ]),
        *platform_widgets(13),
    ]}  # fmt: skip


def test_dashboard_of_a_model_with_no_signals_shows_the_platform(plan: Plan) -> None:
    assert body(plan, "fraud") == {"widgets": platform_widgets(0)}


def test_dashboard_names(plan: Plan) -> None:
    assert plan.outputs["dashboards"] == {
        "churn": "mlops-platform-dev-monitoring-churn",
        "fraud": "mlops-platform-dev-monitoring-fraud",
    }
    assert {r.inputs["dashboardName"] for r in plan.by_type(DASHBOARD)} == set(
        plan.outputs["dashboards"].values()
    )


# ---- every metric against the catalog ---------------------------------------------------------

ANY = "*"
"""A dimension a SEARCH does not filter on (every value)."""
SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)'")
TERM = re.compile(r'(\w+)="([^"]*)"')
IDENTIFIER = re.compile(r"\b[a-z][A-Za-z0-9_]*\b")


def search_references(expression: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """The metrics each SEARCH in an expression looks for: its schema's namespace and dimension
    names, the MetricName, and the dimension values it filters on."""
    for match in SEARCH.finditer(expression):
        namespace, *dimensions = [
            json.loads(p) if p.startswith('"') else p for p in match["schema"].split(",")
        ]
        terms = dict(TERM.findall(match["terms"]))
        name = terms.pop("MetricName")
        assert set(terms) <= set(dimensions), expression
        yield namespace, name, {d: terms.get(d, ANY) for d in dimensions}


def dashboard_references(dashboard: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for item in dashboard["widgets"]:
        lines = item["properties"]["metrics"]
        ids = {line[-1]["id"] for line in lines if isinstance(line[-1], dict) and "id" in line[-1]}
        for line in lines:
            if isinstance(line[0], str):
                namespace, name, *rest = line
                pairs = rest[:-1] if rest and isinstance(rest[-1], dict) else rest
                found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
                continue
            expression = line[0]["expression"]
            searched = list(search_references(expression))
            found += searched
            if not searched:  # math over the widget's own metrics
                assert set(IDENTIFIER.findall(expression)) <= ids, expression
    return found


def alarm_references(inputs: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    found = []
    if "metricName" in inputs:
        found.append((inputs["namespace"], inputs["metricName"], inputs["dimensions"]))
    for query in inputs.get("metricQueries", []):
        if "metric" in query:
            metric = query["metric"]
            found.append((metric["namespace"], metric["metricName"], metric["dimensions"]))
    return found


def catalog_problems(plan: Plan) -> list[str]:
    references = [ref for r in plan.by_type(METRIC_ALARM) for ref in alarm_references(r.inputs)] + [
        ref
        for r in plan.by_type(DASHBOARD)
        for ref in dashboard_references(json.loads(r.inputs["dashboardBody"]))
    ]
    assert references
    return [p for namespace, name, dims in references for p in problems(namespace, name, dims)]


def test_every_widget_and_alarm_names_a_metric_the_catalog_has(plan: Plan) -> None:
    assert catalog_problems(plan) == []
    # Every kind of metric the component uses was seen (a widget without metrics would pass).
    seen = {
        (namespace, name)
        for r in plan.by_type(DASHBOARD)
        for namespace, name, _ in dashboard_references(json.loads(r.inputs["dashboardBody"]))
    }
    assert seen == {
        ("AWS/SageMaker", "Invocations"),
        ("AWS/SageMaker", "ModelLatency"),
        ("AWS/SageMaker", "Invocation4XXErrors"),
        ("AWS/SageMaker", "Invocation5XXErrors"),
        ("MLOpsPlatform/Drift", "DriftedShare"),
        ("MLOpsPlatform/Drift", "FeaturePSI"),
        ("MLOpsPlatform/Drift", "RowsChecked"),
        ("MLOpsPlatform/Drift", "MalformedLines"),
        ("MLOpsPlatform/Drift", "SchemaMismatch"),
        ("MLOpsPlatform/Quality", "Accuracy"),
        ("MLOpsPlatform/Quality", "F1"),
        ("MLOpsPlatform/Quality", "RocAuc"),
        ("MLOpsPlatform/Quality", "LabelCoverage"),
        ("MLOpsPlatform/Quality", "CalibrationError"),
        ("MLOpsPlatform/Retraining", "RetrainingStarted"),
        ("MLOpsPlatform/Retraining", "RetrainingFailed"),
        ("MLOpsPlatform/Retraining", "RetrainingSkipped"),
        ("MLOpsPlatform/Retraining", "PromotionRequested"),
        ("MLOpsPlatform/Retraining", "PromotionFailed"),
        ("AWS/Sagemaker/ModelBuildingPipeline", "ExecutionStarted"),
        ("AWS/Sagemaker/ModelBuildingPipeline", "ExecutionSucceeded"),
        ("AWS/Sagemaker/ModelBuildingPipeline", "ExecutionFailed"),
        ("AWS/Sagemaker/ModelBuildingPipeline", "ExecutionStopped"),
        ("MLOpsPlatform/Endpoints", "EndpointMismatch"),
        ("MLOpsPlatform/Endpoints", "EndpointVerificationError"),
        ("MLOpsPlatform/Capture", "Captured"),
        ("MLOpsPlatform/Capture", "CaptureFailed"),
        ("MLOpsPlatform/Capture", "CaptureTooLarge"),
        ("MLOpsPlatform/Capture", "InvokeFailed"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    }


def test_the_catalog_check_catches_a_typo_a_dimension_and_a_service() -> None:
    endpoint = variant(SERVERLESS)
    assert problems("AWS/SageMaker", "ModelLatancy", endpoint) == [
        "AWS/SageMaker ModelLatancy ['EndpointName', 'VariantName']: no such metric in the "
        "catalog (nobody emits ModelLatancy in AWS/SageMaker)"
    ]
    assert problems("MLOpsPlatform/Drift", "DriftedShare", {"model": "churn"}) == [
        "MLOpsPlatform/Drift DriftedShare ['model']: DriftedShare is published with the "
        "dimensions [['model', 'service']] only"
    ]
    assert problems(
        "MLOpsPlatform/Drift", "DriftedShare", {"service": "drift", "model": "churn"}
    ) == [
        "MLOpsPlatform/Drift DriftedShare ['model', 'service']: dimension service is 'drift'; "
        "lambdas/drift_check/handler.py puts 'drift-check'"
    ]
    # A SEARCH that does not pin the service would find another emitter's metrics too.
    assert problems("MLOpsPlatform/Drift", "FeaturePSI", {"service": ANY, "model": "churn",
                                                          "feature": ANY}) != []  # fmt: skip


def test_pipeline_metrics_use_the_documented_namespace_spelling() -> None:
    # The pipelines' namespace spells Sagemaker with a lower-case m; the endpoints' does not.
    assert metric_catalog.PIPELINES == "AWS/Sagemaker/ModelBuildingPipeline"
    assert metric_catalog.SAGEMAKER == "AWS/SageMaker"


# ---- the catalog against the handlers' source -------------------------------------------------

SETTINGS: dict[str, ModuleType] = {
    metric_catalog.DRIFT_CHECK.handler: drift_settings,
    metric_catalog.RETRAIN_TRIGGER.handler: retrain_settings,
    metric_catalog.ENDPOINT_VERIFIER.handler: verifier_settings,
    metric_catalog.CAPTURE_PROXY.handler: capture_settings,
    metric_catalog.QUALITY_CHECK.handler: drift_settings,
}
VARIABLE = "<variable>"


class Emissions:
    """What a handler's metric functions add, read from their source: metric names (literal
    or `settings.X`) and dimension names per receiver (`metrics`, `feature_metrics`), and the
    `settings.METRIC_*` constants they refer to."""

    def __init__(self, emitter: Emitter) -> None:
        self.settings = SETTINGS[emitter.handler]
        self.tree = ast.parse((PROJECT_DIR / emitter.handler).read_text())
        functions = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
        self.functions = [functions[name] for name in emitter.functions]
        self.metrics: dict[str, set[str]] = defaultdict(set)
        self.dimensions: dict[str, set[str]] = defaultdict(set)
        self.constants: set[str] = set()
        for function in self.functions:
            for node in ast.walk(function):
                self._visit(node)

    def value(self, node: ast.expr | None) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "settings"
        ):
            return str(getattr(self.settings, node.attr))
        return VARIABLE

    def _visit(self, node: ast.AST) -> None:
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "settings"
            and node.attr.startswith("METRIC_")
        ):
            self.constants.add(getattr(self.settings, node.attr))
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ):
            return
        named = next((k.value for k in node.keywords if k.arg == "name"), None)
        argument = named if named is not None else (node.args[0] if node.args else None)
        if node.func.attr == "add_metric":
            self.metrics[node.func.value.id].add(self.value(argument))
        elif node.func.attr == "add_dimension":
            self.dimensions[node.func.value.id].add(self.value(argument))

    def module_assignment(self, name: str) -> str:
        (node,) = [
            n
            for n in self.tree.body
            if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
        ]
        return ast.unparse(node.value)


@pytest.mark.parametrize("emitter", EMITTERS, ids=lambda e: e.handler)
def test_the_handler_puts_its_metrics_in_its_namespace_with_its_service(emitter: Emitter) -> None:
    """Powertools reads the namespace and service from the environment (set by the component
    to the settings' values, checked below over the shipped plans), falling back to them."""
    found = Emissions(emitter)
    prefix = emitter.settings_prefix
    assert found.module_assignment("NAMESPACE") == (
        f"os.environ.get(settings.ENV_METRICS_NAMESPACE, settings.{prefix}METRICS_NAMESPACE)"
    )
    assert found.module_assignment("SERVICE") == (
        f"os.environ.get(settings.ENV_SERVICE_NAME, settings.{prefix}SERVICE_NAME)"
    )
    assert emitter.namespace == getattr(found.settings, f"{prefix}METRICS_NAMESPACE")
    assert emitter.service == getattr(found.settings, f"{prefix}SERVICE_NAME")
    # Every Metrics/EphemeralMetrics of the module gets that namespace and service (Powertools
    # then adds `service` to each metric as a default dimension).
    constructed = [
        ast.unparse(n)
        for n in ast.walk(found.tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id in {"Metrics", "EphemeralMetrics"}
    ]
    assert constructed
    assert {c.split("(", 1)[1] for c in constructed} == {"namespace=NAMESPACE, service=SERVICE)"}


def test_the_drift_check_puts_the_cataloged_metrics_with_their_dimensions() -> None:
    found = Emissions(metric_catalog.DRIFT_CHECK)
    # The check's metrics, on the handler's `metrics`, with `model`.
    assert found.metrics["metrics"] == set(metric_catalog.DRIFT_CHECK_METRICS)
    assert found.dimensions["metrics"] == {"model"}
    # The per-feature ones, on `feature_metrics`, with `model` and `feature`: FeatureDrifted by
    # name, the statistics from FEATURE_METRICS in a loop.
    assert found.metrics["feature_metrics"] == {"FeatureDrifted", VARIABLE}
    assert found.dimensions["feature_metrics"] == {"model", "feature"}
    statistics = ast.literal_eval(found.module_assignment("FEATURE_METRICS"))
    assert {"FeatureDrifted", *(name for name, _ in statistics)} == set(
        metric_catalog.DRIFT_FEATURE_METRICS
    )
    (loop,) = [
        n
        for n in ast.walk(found.functions[0])
        if isinstance(n, ast.For) and ast.unparse(n.iter) == "FEATURE_METRICS"
    ]
    assert ast.unparse(loop.target) == "(name, statistic)"
    assert "feature_metrics.add_metric(name=name," in ast.unparse(loop)
    assert {k for k, v in metric_catalog.DRIFT_CHECK.metrics.items() if v == ("model",)} == set(
        metric_catalog.DRIFT_CHECK_METRICS
    )


def test_the_retraining_trigger_puts_the_cataloged_metrics_with_their_dimensions() -> None:
    emitter = metric_catalog.RETRAIN_TRIGGER
    found = Emissions(emitter)
    assert found.constants == set(emitter.metrics)
    assert found.metrics["metrics"] == {VARIABLE}  # the decision's metric, from the constants
    assert found.dimensions["metrics"] == {"model", "reason"}
    # `reason` only on RetrainingSkipped.
    (guard,) = [
        n
        for n in ast.walk(found.functions[0])
        if isinstance(n, ast.If)
        and "add_dimension(name='reason'" in "\n".join(ast.unparse(b) for b in n.body)
    ]
    assert ast.unparse(guard.test) == "name == settings.METRIC_SKIPPED"
    assert {k for k, v in emitter.metrics.items() if "reason" in v} == {
        retrain_settings.METRIC_SKIPPED
    }


@pytest.mark.parametrize(
    "emitter", [metric_catalog.ENDPOINT_VERIFIER, metric_catalog.CAPTURE_PROXY], ids=str
)
def test_the_endpoint_handlers_put_the_cataloged_metrics_per_endpoint(emitter: Emitter) -> None:
    found = Emissions(emitter)
    assert found.constants == set(emitter.metrics)
    assert found.dimensions == {"metrics": {"endpoint"}}
    assert set(emitter.metrics.values()) == {("endpoint",)}


def test_the_components_give_each_handler_its_namespace_and_service(
    plans: dict[str, Plan],
) -> None:
    deployed = set()
    for plan in plans.values():
        for function in plan.by_type("aws:lambda/function:Function"):
            variables = function.inputs.get("environment", {}).get("variables", {})
            namespace = variables.get("POWERTOOLS_METRICS_NAMESPACE")
            if namespace is None:
                continue
            (emitter,) = [e for e in EMITTERS if e.namespace == namespace]
            assert variables["POWERTOOLS_SERVICE_NAME"] == emitter.service, function.name
            deployed.add(emitter.handler)
    assert deployed == {e.handler for e in EMITTERS}


# ---- the policy pack ----------------------------------------------------------------------------


def test_the_pack_passes_over_the_components_resources(plan: Plan) -> None:
    report = evaluate(plan.registrations)
    assert report.violations == []
    assert {r.type for r in children(plan)} == {
        SUBSCRIPTION,
        METRIC_ALARM,
        COMPOSITE_ALARM,
        DASHBOARD,
    }


def test_every_child_is_parented_on_the_platform_provider(plan: Plan) -> None:
    component = named(plan, "monitoring")
    assert component.type == "mlops:monitoring:PlatformMonitoring"
    provider = named(plan, "aws")
    assert provider.type == "pulumi:providers:aws"
    own = [r for r in plan.registrations if r.name.startswith("monitoring-")]
    assert own
    for record in own:
        assert record.parent == component.urn, record.name
        assert record.provider == provider.urn, record.name
    assert {r.urn for r in own} == {r.urn for r in children(plan)}


# ---- on the shipped stacks as they are ----------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_on_the_shipped_stacks_every_metric_is_cataloged_and_the_pack_passes(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    assert [r.inputs["dashboardName"] for r in plan.by_type(DASHBOARD)] == [
        f"mlops-platform-{stack}-monitoring-churn"
    ]
    # The endpoints' own rollback alarms (components/inference.py) are checked too.
    assert catalog_problems(plan) == []
    assert evaluate(plan.registrations).violations == []


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_function_and_queue_is_alarmed_under_its_resource_name(
    plans: dict[str, Plan], stack: str
) -> None:
    """The program hands the component the stack's inventory, keyed by Pulumi resource name:
    `drift-check` gets `mlops-platform-<stack>-monitoring-drift-check-errors`."""
    plan = plans[stack]
    prefix = f"mlops-platform-{stack}-monitoring-"
    functions = sorted(plan.by_type(FUNCTION), key=lambda r: r.name)
    queues = sorted(plan.by_type(QUEUE), key=lambda r: r.name)
    assert {"drift-check", "inference-verifier", "retraining-trigger"} <= {
        r.name for r in functions
    }
    assert {"drift-dlq", "retraining-dlq", "training-dlq"} <= {r.name for r in queues}
    for function in functions:
        for metric, suffix in (("Errors", "errors"), ("Throttles", "throttles")):
            inputs = named(plan, f"monitoring-{function.name}-{suffix}").inputs
            assert inputs["name"] == f"{prefix}{function.name}-{suffix}"
            assert (inputs["metricName"], inputs["dimensions"]) == (
                metric,
                {"FunctionName": function.inputs["name"]},
            )
    for queue in queues:
        inputs = named(plan, f"monitoring-{queue.name}-not-empty").inputs
        assert inputs["name"] == f"{prefix}{queue.name}-not-empty"
        assert inputs["dimensions"] == {"QueueName": queue.inputs["name"]}
    assert plan.outputs["platformAlarms"] == [
        *(f"{prefix}{f.name}-{s}" for f in functions for s in ("errors", "throttles")),
        *(f"{prefix}{q.name}-not-empty" for q in queues),
    ]


def test_on_dev_the_model_is_watched_through_its_real_endpoint_pipeline_and_checks(
    plans: dict[str, Plan],
) -> None:
    plan = plans["dev"]
    own = children(plan)
    alarms = sorted(r.inputs["name"] for r in own if r.type == METRIC_ALARM)
    model_alarms = [a for a in alarms if a.startswith(f"{PREFIX}churn-")]
    assert model_alarms == [
        f"{PREFIX}churn-drift",
        f"{PREFIX}churn-drift-checks-stale",
        f"{PREFIX}churn-error-rate",
        f"{PREFIX}churn-p99-latency",
        f"{PREFIX}churn-pipeline-failed",
    ]
    # The shipped dev thresholds (stacks/Pulumi.dev.yaml), and only the platform topic to tell.
    latency = named(plan, "monitoring-churn-p99-latency").inputs
    assert latency["dimensions"] == variant(SERVERLESS)
    assert (latency["threshold"], latency["period"], latency["evaluationPeriods"]) == (
        3_000_000,
        300,
        3,
    )
    assert latency["alarmActions"] == latency["okActions"] == [TOPIC]
    pipeline = named(plan, "monitoring-churn-pipeline-failed").inputs
    assert pipeline["dimensions"] == {"PipelineName": PIPELINE}
    assert not [r for r in own if r.type == SUBSCRIPTION]
    # Every platform function and dead-letter queue of the stack has its alarms and graphs.
    functions = {r.inputs["name"] for r in plan.by_type(FUNCTION)}
    queues = {r.inputs["name"] for r in plan.by_type(QUEUE)}
    assert functions == set(FUNCTIONS.values())
    assert queues == set(QUEUES.values())
    watched = {
        r.inputs["dimensions"].get("FunctionName") or r.inputs["dimensions"].get("QueueName")
        for r in own
        if r.type == METRIC_ALARM and r.inputs.get("namespace") in {"AWS/Lambda", "AWS/SQS"}
    }
    assert watched == functions | queues
    (dashboard,) = plan.by_type(DASHBOARD)
    graphs = json.dumps(json.loads(dashboard.inputs["dashboardBody"]))
    assert all(f'"{name}"' in graphs for name in functions | queues)


DEV_QUALITY = QualitySignals(
    endpoint="mlops-platform-dev-churn",
    problem="classification",
    sensitive_attribute=None,
    period=86400,
    thresholds={"Accuracy": 0.7, "LabelCoverage": 0.2},
)
"""dev's quality monitor of churn (stacks/Pulumi.dev.yaml), as the dashboard sees it."""


def test_model_signals_from_the_config_and_the_built_names() -> None:
    values = dict(load_stack_config(PROJECT_DIR, "dev").values)
    cfg = load_platform_config(values, "dev", str(PROJECT_DIR / "stacks"))
    signals = model_signals(
        cfg, {"churn": "mlops-platform-dev-churn"}, {"churn": "mlops-platform-dev-churn"}
    )
    assert signals == {
        "churn": ModelSignals(
            endpoints=["mlops-platform-dev-churn"],
            serverless_endpoints=["mlops-platform-dev-churn"],
            pipeline="mlops-platform-dev-churn",
            drift_monitored=True,
            quality=[DEV_QUALITY],
        )
    }
    # Without inference or training built, the model is still watched for what it has.
    assert model_signals(cfg, {}, {}) == {
        "churn": ModelSignals(
            endpoints=[],
            serverless_endpoints=[],
            pipeline=None,
            drift_monitored=True,
            quality=[DEV_QUALITY],
        )
    }


def test_monitoring_config_outside_its_limits_is_refused() -> None:
    values = dict(load_stack_config(PROJECT_DIR, "dev").values)
    values[f"{NS}monitoring"] = json.dumps({"enabled": True, "driftCheckStaleHours": 0})
    with pytest.raises(ConfigError, match="driftCheckStaleHours"):
        load_platform_config(values, "dev", str(PROJECT_DIR / "stacks"))


def test_catalog_sources_name_a_handler_or_an_aws_page() -> None:
    for entry in metric_catalog.CATALOG.values():
        assert entry.source.startswith("https://docs.aws.amazon.com/") or (
            Path(PROJECT_DIR / entry.source).is_file()
        ), entry
